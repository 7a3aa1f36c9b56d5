"""Windows and runs over sample arrays, shared by the converter (training, evaluation) and the
demo app. Numpy only."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """``[start, end)`` index pairs of the runs of True in a 1-D ``mask``."""
    d = np.diff(np.r_[0, np.asarray(mask).astype(np.int8), 0])
    return list(zip(np.flatnonzero(d == 1).tolist(), np.flatnonzero(d == -1).tolist()))


@dataclass(frozen=True)
class StreamWindows:
    """Every ``length``-sample window starting at a multiple of ``hop`` of one stream."""

    start: np.ndarray  # (n,) index of each window's first sample
    xyz: np.ndarray  # (n, length, 3) a view into the stream
    label: np.ndarray  # (n,) majority label
    purity: np.ndarray  # (n,) share of the majority label


def labelled_windows(xyz: np.ndarray, labels: np.ndarray, length: int, hop: int, n_classes: int) -> StreamWindows:
    """Windows of ``xyz`` (n, 3) with the majority of ``labels`` (n,) in ``0..n_classes-1``;
    empty when the stream is shorter than ``length``."""
    n = len(xyz)
    if n < length:
        return StreamWindows(np.empty(0, int), np.empty((0, length, 3)), np.empty(0, int), np.empty(0))
    idx = np.arange(0, n - length + 1, hop)
    win = np.lib.stride_tricks.sliding_window_view(xyz, length, axis=0)[idx].transpose(0, 2, 1)
    lab = np.lib.stride_tricks.sliding_window_view(np.asarray(labels, np.int64), length)[idx]
    counts = np.stack([(lab == c).sum(axis=1) for c in range(n_classes)], axis=1)
    return StreamWindows(idx, win, counts.argmax(axis=1), counts.max(axis=1) / length)


def window_spread(x: np.ndarray, window: int) -> np.ndarray:
    """Per-axis std within each non-overlapping ``window`` of ``x`` (n, d), averaged over the
    windows (the spread of the dynamics, not of a slow wander of the level); zeros when
    ``x`` is shorter than one window."""
    x = np.asarray(x, np.float64)
    n = len(x) // window
    if n == 0:
        return np.zeros(x.shape[1:])
    return x[: n * window].reshape(n, window, *x.shape[1:]).std(axis=1).mean(axis=0)
