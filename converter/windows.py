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
from sdk.gait import CLOCK_WIDTH, DYNAMIC, clock_rows, step_phase


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
    cond: np.ndarray  # (n, L, C) float32: one-hot of the *target* step's activity (rows of zeros =
    # unknown), then with ``clock`` the target step's gait clock (zeros unless the condition is dynamic)
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
    clock: bool = False,
    rate_hz: float = 50.0,
    reference: int = 0,
    clock_width: int = CLOCK_WIDTH,
    reference_prob: float = 0.75,
) -> WindowSet:
    """Cut windows of ``priming + length + 1`` samples, as the SDK sees them.

    The level is the mean of the first ``priming`` samples (the context the SDK primes on).
    Steps whose target lies in that context get an "unknown" condition (zeros), like the
    SDK's priming; later steps get the target's activity. With probability
    ``unknown_prefix_prob`` the unknown prefix is extended by a random length, so the model
    also learns to continue without a label. With ``clock``, steps conditioned on a dynamic
    activity also get the target's gait clock (``sdk.gait``), read from the experiment.

    With ``reference > 0`` every window starts with a *reference clip* of ``reference``
    samples: with probability ``reference_prob`` real samples of the window's activity from
    elsewhere in the same recording (the same person and placement, as the SDK's cover bank
    holds), in their own level-removed frame, with the activity's condition (and clock);
    otherwise, or when the recording has no such clip, zeros (an empty bank). The model so
    learns to carry the reference's style into the window.
    """
    stride = stride or length // 2
    k = len(ACTIVITIES)
    scale = np.asarray(scale, dtype=np.float32)
    rng = np.random.default_rng(seed)
    span = priming + length + 1
    ins, conds, tgts, labels, users = [], [], [], [], []
    dynamic = np.isin(np.arange(k), [ACTIVITIES.index(a) for a in DYNAMIC])
    for e in experiments:
        clk = clock_rows(step_phase(e.xyz, rate_hz)[0], clock_width) if clock else None
        for s in range(0, len(e.xyz) - span + 1, stride):
            raw = e.xyz[s : s + span]
            z = (raw - raw[:priming].mean(axis=0)) / scale
            lab = e.labels[s + 1 : s + span]
            onehot = np.eye(k, dtype=np.float32)[lab]
            blank = priming - 1
            if rng.random() < unknown_prefix_prob:
                blank += int(rng.integers(0, length // 2 + 1))
            onehot[:blank] = 0.0
            if clk is not None:
                gate = onehot[:, dynamic].sum(axis=1, keepdims=True)
                onehot = np.concatenate([onehot, clk[s + 1 : s + span] * gate], axis=1)
            label = np.bincount(lab[priming - 1 :], minlength=k).argmax()
            if reference:
                rz, rc = _reference_clip(e, label, s, span, reference, priming, scale, clk, dynamic, rng, reference_prob)
                z = np.concatenate([rz, z])
                onehot = np.concatenate([rc, onehot])
            ins.append(z[:-1])
            tgts.append(z[1:])
            conds.append(onehot)
            labels.append(label)
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


def _reference_clip(e, label, start, span, n, priming, scale, clk, dynamic, rng, prob):
    """``n`` input rows and ``n`` condition rows of a reference clip for the window at
    ``start`` (see ``make_windows``): rows laid out so that, like the SDK's priming, the
    clip's step ``j`` reads sample ``j`` with the condition of sample ``j + 1``."""
    width = len(dynamic) + (clk.shape[1] if clk is not None else 0)
    zeros = (np.zeros((n, 3), np.float32), np.zeros((n, width), np.float32))
    if label == 0 or rng.random() >= prob:
        return zeros
    edges = np.flatnonzero(np.diff(np.r_[0, (e.labels == label).astype(np.int8), 0]))
    starts = [
        a + i for a, b in zip(edges[::2], edges[1::2]) for i in range(0, b - a - n - 1, 10)
        if a + i + n + 1 <= start or a + i >= start + span  # never overlaps the window
    ]
    if not starts:
        return zeros
    a = int(starts[int(rng.integers(len(starts)))])
    raw = e.xyz[a : a + n + 1]
    rz = ((raw - raw.mean(axis=0)) / scale).astype(np.float32)
    cond = np.zeros((n, width), np.float32)
    cond[:, label] = 1.0
    if clk is not None and dynamic[label]:
        cond[:, len(dynamic) :] = clk[a + 1 : a + n + 1]
    return rz[:n], cond
