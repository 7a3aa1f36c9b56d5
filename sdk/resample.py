"""Streaming resampler: samples at irregular times in, samples on a fixed-rate grid out.

Phone sensors deliver samples at jittery, device-dependent intervals; the filter and the
generator need the model's rate (50 Hz). ``Resampler`` puts the stream on the grid
``t0 + k / rate_hz`` (``t0`` = the first timestamp it saw) by linear interpolation between
the two input samples around each grid point. It never extrapolates: a grid point is
emitted only once an input sample at or after it has arrived, so the output lags the input
by less than one input interval. Across a gap longer than ``max_gap_s`` it does not invent
data either: the grid points inside the gap are skipped (the grid keeps its phase) and the
filter downstream sees the gap.

Numpy only, so it runs on the phone.
"""
from __future__ import annotations

import math

import numpy as np

from .errors import SampleValueError, TimestampError
from .samples import as_sample_block


class Resampler:
    """Linear-interpolation resampler onto a ``rate_hz`` grid.

    Args:
        rate_hz: output rate, e.g. the model's 50 Hz.
        max_gap_s: input intervals longer than this are not interpolated across;
            ``None`` means 0.5 s.

    Raises:
        ValueError: ``rate_hz`` or ``max_gap_s`` is not a positive finite number.
    """

    def __init__(self, rate_hz: float = 50.0, max_gap_s: float | None = None):
        if not (math.isfinite(rate_hz) and rate_hz > 0):
            raise ValueError(f"rate_hz must be a positive finite number, got {rate_hz!r}")
        max_gap_s = 0.5 if max_gap_s is None else max_gap_s
        if not (math.isfinite(max_gap_s) and max_gap_s > 0):
            raise ValueError(f"max_gap_s must be a positive finite number, got {max_gap_s!r}")
        self.rate_hz = float(rate_hz)
        self.max_gap_s = float(max_gap_s)
        self._period = 1.0 / self.rate_hz
        self.reset()

    def reset(self) -> None:
        """Forget the stream: the next sample starts a new grid."""
        self._t0: float | None = None  # grid origin
        self._k = 0  # index of the next grid point to emit
        self._last_t = -math.inf
        self._last_x = np.zeros(3)
        self.samples_in = 0
        self.samples_out = 0
        self.gaps = 0

    @property
    def next_grid_time(self) -> float | None:
        """Timestamp of the next grid point to be emitted (``None`` before the first sample)."""
        return None if self._t0 is None else self._grid(self._k)

    def _grid(self, k: int) -> float:
        return self._t0 + k * self._period

    def push(self, t: float, xyz) -> tuple[np.ndarray, np.ndarray]:
        """Push one sample; return the grid samples it completed: ``t`` (m,), ``xyz`` (m, 3).

        Raises:
            SampleValueError: not three finite numbers.
            TimestampError: ``t`` not finite or not after the previous timestamp.
        """
        x = np.asarray(xyz, dtype=np.float64)
        if x.shape != (3,):
            raise SampleValueError(f"a sample needs 3 values (ax, ay, az), got shape {x.shape}")
        return self.push_block([t], x[None, :])

    def push_block(self, t, xyz) -> tuple[np.ndarray, np.ndarray]:
        """Push ``n`` samples, ``t`` (n,) strictly increasing and ``xyz`` (n, 3); return the
        grid samples they completed. The block is validated as a whole: if any sample is bad,
        none is consumed and the resampler is unchanged.

        Raises:
            SampleValueError: wrong shapes, non-numeric, NaN or inf values.
            TimestampError: a timestamp not finite or not after the previous one.
        """
        ts, xs = as_sample_block(t, xyz)
        if not np.isfinite(ts).all():
            raise TimestampError(f"timestamps must be finite, got {float(ts[~np.isfinite(ts)][0])!r}")
        if len(ts) == 0:
            return np.empty(0), np.empty((0, 3))
        dts = np.diff(np.concatenate([[self._last_t], ts]))
        if np.any(dts <= 0):
            i = int(np.argmax(dts <= 0))
            prev = self._last_t if i == 0 else float(ts[i - 1])
            raise TimestampError(f"timestamp {float(ts[i])!r} is not after the previous one {prev!r}")

        n_in = len(ts)
        out_t: list[np.ndarray] = []
        out_x: list[np.ndarray] = []
        if self._t0 is None:
            self._t0, self._k = float(ts[0]), 0
            self._last_t, self._last_x = float(ts[0]), xs[0].copy()
            out_t.append(np.array([self._t0]))
            out_x.append(xs[:1].copy())
            self._k = 1
            ts, xs = ts[1:], xs[1:]
        # previous sample of every input sample (the first one's is the stored last sample)
        prev_t = np.concatenate([[self._last_t], ts[:-1]])
        prev_x = np.vstack([self._last_x[None, :], xs[:-1]]) if len(ts) else np.empty((0, 3))
        for i in range(len(ts)):
            t1, t_prev = float(ts[i]), float(prev_t[i])
            if t1 - t_prev > self.max_gap_s:
                # skip the grid points inside the gap; keep the grid's phase
                self.gaps += 1
                self._k = max(self._k, math.ceil((t1 - self._t0) / self._period - 1e-9))
                if self._grid(self._k) <= t1 + 1e-12 * max(1.0, abs(t1)):
                    out_t.append(np.array([self._grid(self._k)]))
                    out_x.append(xs[i : i + 1].copy())
                    self._k += 1
                continue
            # grid points in (t_prev, t1]
            k_end = math.floor((t1 - self._t0) / self._period + 1e-9)
            if k_end < self._k:
                continue
            ks = np.arange(self._k, k_end + 1)
            g = self._t0 + ks * self._period
            w = np.clip((g - t_prev) / (t1 - t_prev), 0.0, 1.0)[:, None]
            out_t.append(g)
            out_x.append((1.0 - w) * prev_x[i] + w * xs[i])
            self._k = k_end + 1
        if len(ts):
            self._last_t, self._last_x = float(ts[-1]), xs[-1].copy()
        self.samples_in += n_in
        if not out_t:
            return np.empty(0), np.empty((0, 3))
        t_out = np.concatenate(out_t)
        x_out = np.vstack(out_x)
        self.samples_out += len(t_out)
        return t_out, x_out


def resample(t, xyz, rate_hz: float = 50.0, max_gap_s: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Resample a whole recording onto a ``rate_hz`` grid starting at ``t[0]``.

    Raises:
        SampleValueError, TimestampError: as ``Resampler.push_block``.
    """
    return Resampler(rate_hz, max_gap_s).push_block(t, xyz)
