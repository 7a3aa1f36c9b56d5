"""Replay a recording in real time: the desktop stand-in for a phone's accelerometer."""
from __future__ import annotations

import logging
import math
import time
from pathlib import Path
from typing import Callable

import numpy as np

from sdk.errors import DataError, InputError
from sdk.recording import Recording, read_recording
from sdk.resample import resample

from . import PollingSource, empty_block

log = logging.getLogger(__name__)


class ReplaySource(PollingSource):
    """Plays a HAPT raw file or ``t,ax,ay,az`` CSV (or a ``Recording``) at real time, looping.

    The recording is put on the ``rate_hz`` grid first if it is not already on it. Delivered
    timestamps are seconds since ``start()``: sample ``i`` of the (looped) recording is due
    at ``i / rate_hz``, and every poll delivers all samples that are due, so a stalled
    process catches up instead of drifting.

    Args:
        recording: a file path or a ``Recording``.
        rate_hz: rate of the delivered samples (the model's).
        start_s: skip this many seconds of the recording (e.g. to start in a walk).
        speed: playback speed (1.0 = real time).
        loop: start over at the end; otherwise the source stops there.
        clock: monotonic clock in seconds (tests pass a fake one).

    A file that cannot be read does not raise here: ``why_unavailable()`` says why.
    """

    poll_interval_s = 0.04

    def __init__(
        self,
        recording: str | Path | Recording,
        rate_hz: float = 50.0,
        start_s: float = 0.0,
        speed: float = 1.0,
        loop: bool = True,
        clock: Callable[[], float] = time.monotonic,
    ):
        super().__init__(clock)
        if not (speed > 0 and math.isfinite(speed)):
            raise ValueError(f"speed must be a positive number, got {speed!r}")
        self.rate_hz = float(rate_hz)
        self.speed = float(speed)
        self.loop = bool(loop)
        self.start_s = float(start_s)
        self.path = None if isinstance(recording, Recording) else Path(recording)
        self.name = f"replay {self.path.name}" if self.path else "replay (recording)"
        self._reason: str | None = None
        self._xyz = np.empty((0, 3))
        try:
            rec = recording if isinstance(recording, Recording) else read_recording(self.path)
            self._xyz = self._on_grid(rec)
        except (DataError, InputError, OSError) as exc:
            self._reason = f"cannot replay {self.path or 'recording'}: {exc}"
        self._t_start = 0.0
        self._next = 0  # index of the next sample to deliver (counts across loops)
        self.finished = False

    def _on_grid(self, rec: Recording) -> np.ndarray:
        t, xyz = rec.t, rec.xyz
        if len(rec) >= 2:
            dts = np.diff(t)
            on_grid = np.allclose(dts, 1.0 / self.rate_hz, rtol=0.01, atol=0)
            if not on_grid:
                log.info("%s: resampling from %.2f Hz to %g Hz", self.name, rec.rate_hz, self.rate_hz)
                t, xyz = resample(t, xyz, self.rate_hz, max_gap_s=max(0.5, 3 * float(np.median(dts))))
        skip = int(round(self.start_s * self.rate_hz))
        if skip >= len(xyz):
            raise DataError(f"start {self.start_s} s is past the end of the recording ({len(xyz) / self.rate_hz:.1f} s)")
        return np.ascontiguousarray(xyz[max(skip, 0) :], dtype=np.float64)

    @property
    def duration_s(self) -> float:
        """Length of one pass through the recording."""
        return len(self._xyz) / self.rate_hz

    def why_unavailable(self) -> str | None:
        if self._reason is None and len(self._xyz) == 0:
            return "the recording is empty"
        return self._reason

    def _begin(self) -> None:
        self._t_start = self.clock()
        self._next = 0
        self.finished = False

    def _poll(self) -> tuple[np.ndarray, np.ndarray]:
        n = len(self._xyz)
        elapsed = (self.clock() - self._t_start) * self.speed
        due = int(math.floor(elapsed * self.rate_hz + 1e-9)) + 1  # samples with i / rate <= elapsed
        if not self.loop:
            due = min(due, n)
            if self._next >= n:
                self.finished = True
                self._stop.set()
                return empty_block()
        if due <= self._next:
            return empty_block()
        idx = np.arange(self._next, due)
        self._next = due
        return idx / self.rate_hz, self._xyz[idx % n]
