"""Training windows for the generator in its level-removed frame.

The generator models ``z = (x - level) / scale`` where ``level`` is the mean of the priming
context (the last ``priming`` samples before a window, as the SDK does before a replaced
segment) and ``scale`` is a per-axis constant. The person-specific gravity direction is
thus carried by the context, not learned into the weights (see DESIGN.md on realism).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sdk.activities import ACTIVITIES


def remove_level(xyz: np.ndarray, width: int = 100) -> np.ndarray:
    """x minus its centred moving average over ``width`` samples (edges use a shorter window)."""
    kernel = np.ones(width) / width
    out = np.empty_like(xyz, dtype=np.float64)
    norm = np.convolve(np.ones(len(xyz)), kernel, mode="same")
    for a in range(xyz.shape[1]):
        out[:, a] = xyz[:, a] - np.convolve(xyz[:, a], kernel, mode="same") / norm
    return out


@dataclass
class WindowSet:
    """Arrays for teacher-forced training: predict ``target[t]`` from inputs up to ``t``."""

    inputs: np.ndarray  # (n, L, 3) float32, level-removed and scaled
    cond: np.ndarray  # (n, L, K) float32 one-hot of the *target* step's activity (rows of zeros = unknown)
    target: np.ndarray  # (n, L, 3) float32
    label: np.ndarray  # (n,) int majority activity of the window's targets
    user: np.ndarray  # (n,) int

    def __len__(self) -> int:
        return len(self.inputs)


def make_windows(
    experiments,
    length: int,
    priming: int,
    scale,
    stride: int | None = None,
    unknown_prefix_prob: float = 0.5,
    seed: int = 0,
) -> WindowSet:
    """Cut windows of ``priming + length + 1`` samples, as the SDK sees them.

    The level is the mean of the first ``priming`` samples (the context the SDK primes on).
    Steps whose target lies in that context get an "unknown" condition (zeros), like the
    SDK's priming; later steps get the target's activity. With probability
    ``unknown_prefix_prob`` the unknown prefix is extended by a random length, so the model
    also learns to continue without a label.
    """
    stride = stride or length // 2
    k = len(ACTIVITIES)
    scale = np.asarray(scale, dtype=np.float32)
    rng = np.random.default_rng(seed)
    span = priming + length + 1
    ins, conds, tgts, labels, users = [], [], [], [], []
    for e in experiments:
        for s in range(0, len(e.xyz) - span + 1, stride):
            raw = e.xyz[s : s + span]
            z = (raw - raw[:priming].mean(axis=0)) / scale
            lab = e.labels[s + 1 : s + span]
            onehot = np.eye(k, dtype=np.float32)[lab]
            blank = priming - 1
            if rng.random() < unknown_prefix_prob:
                blank += int(rng.integers(0, length // 2 + 1))
            onehot[:blank] = 0.0
            ins.append(z[:-1])
            tgts.append(z[1:])
            conds.append(onehot)
            labels.append(np.bincount(lab[priming - 1 :], minlength=k).argmax())
            users.append(e.user)
    if not ins:
        raise ValueError("no window fits in the given experiments")
    return WindowSet(
        np.asarray(ins, np.float32),
        np.asarray(conds, np.float32),
        np.asarray(tgts, np.float32),
        np.asarray(labels),
        np.asarray(users),
    )
