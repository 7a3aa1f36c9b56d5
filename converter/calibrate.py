"""Calibrate the generator's sampling on users it is not tested on: the sigma scale that makes
generated per-activity spread match real data (autoregressive sampling lets small per-step
errors accumulate, most visibly in static postures)."""
from __future__ import annotations

import numpy as np

from sdk.activities import ACTIVITIES
from sdk.gait import DYNAMIC
from sdk.generator import Generator, SyntheticStream
from sdk.mdn import SamplingOptions
from sdk.windowing import window_spread

GRID = (1.0, 0.85, 0.7, 0.55, 0.45, 0.35, 0.25, 0.18, 0.12)
WINDOW = 128  # samples per window, as the detector's and the evaluation's


def activity_segments(ds, activity: int, length: int, limit: int = 12) -> list[np.ndarray]:
    """Up to ``limit`` real segments of ``length`` samples of one activity, spread over ``ds``."""
    out = []
    for e in ds.experiments:
        edges = np.flatnonzero(np.diff(np.concatenate([[0], (e.labels == activity).astype(np.int8), [0]])))
        for a, b in zip(edges[::2], edges[1::2]):
            if b - a >= length:
                out.append(e.xyz[a : a + length].astype(np.float64))
    return out[:: max(1, len(out) // limit)][:limit]


def spread_ratios(gen: Generator, ds, activity: str, sigma_scale, prime: int = 50, steps: int = 2 * WINDOW) -> np.ndarray | None:
    """Per axis, generated / real spread (plus 2 mg each), summed over real segments of one
    activity, each generated after priming on the segment's first ``prime`` real samples.

    The spread of a static posture is its within-window std (``sdk.windowing.window_spread``
    over 2.56 s windows: what the evaluation compares); that of a dynamic activity is the std
    over all ``steps`` (5 s: the gait's amplitude)."""
    window = steps if activity in DYNAMIC else WINDOW
    gen_sum, real_sum = np.zeros(3), np.zeros(3)
    for i, seg in enumerate(activity_segments(ds, ACTIVITIES.index(activity), prime + steps)):
        s = SyntheticStream(gen, activity, seed=i, sampling=SamplingOptions(sigma_scale=sigma_scale))
        s.prime(seg[:prime])
        gen_sum += window_spread(np.array([s.next() for _ in range(steps)]), window) + 0.002
        real_sum += window_spread(seg[prime:], window) + 0.002
    return gen_sum / real_sum if real_sum.any() else None


def calibrate_sigma_scales(gen: Generator, ds, grid=GRID, activities=ACTIVITIES[1:]) -> dict[str, dict]:
    """Per activity (of ``activities``), the grid value minimising the mean |log spread ratio|
    over axes, then refined per axis (one step ``s_a / ratio_a``, kept when it matches better).

    Returns ``{activity: {"sigma_scale": s or [sx, sy, sz], "spread_ratio": [...]}}`` for
    activities with data.
    """
    out = {}
    for name in activities:
        best = None
        for s in grid:
            r = spread_ratios(gen, ds, name, s)
            if r is None:
                break
            score = float(np.abs(np.log(r)).mean())
            if best is None or score < best[0]:
                best = (score, s, r)
        if best is not None:
            per_axis = [round(float(np.clip(best[1] / r, 0.05, 2.0)), 3) for r in best[2]]
            r = spread_ratios(gen, ds, name, tuple(per_axis))
            if r is not None and float(np.abs(np.log(r)).mean()) < best[0]:
                best = (float(np.abs(np.log(r)).mean()), per_axis, r)
            out[name] = {"sigma_scale": best[1], "spread_ratio": [round(float(v), 3) for v in best[2]]}
    return out
