"""Figures (matplotlib, desktop only)."""
from __future__ import annotations

from pathlib import Path

import numpy as np


def _spans(mask: np.ndarray) -> list[tuple[int, int]]:
    edges = np.flatnonzero(np.diff(np.concatenate([[0], mask.astype(np.int8), [0]])))
    return list(zip(edges[::2], edges[1::2]))


def plot_filtered(t, raw, released, replaced, path: str | Path, title: str = "") -> Path:
    """Raw vs released, one panel per axis, replaced spans shaded."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(3, 1, figsize=(12, 6.5), sharex=True)
    for a, (ax, name) in enumerate(zip(axes, ("ax", "ay", "az"))):
        ax.plot(t, raw[:, a], lw=0.6, color="0.55", label="raw")
        ax.plot(t, released[:, a], lw=0.6, color="tab:blue", label="released")
        for i, j in _spans(np.asarray(replaced, bool)):
            ax.axvspan(t[i], t[j - 1], color="tab:orange", alpha=0.25, lw=0, label="replaced" if (i, j) == _spans(np.asarray(replaced, bool))[0] else None)
        ax.set_ylabel(f"{name} (g)")
    axes[0].legend(loc="upper right", ncol=3, fontsize=8)
    axes[-1].set_xlabel("time (s)")
    fig.suptitle(title or "SenseGen Privacy: raw vs released")
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
