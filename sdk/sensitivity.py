"""Sources that say whether a sample is sensitive. Any source sensitive => the sample is
replaced. A source is asked at release time, after the release delay, so a source that
decides late (a detector, a switch flipped a moment after the onset) still covers samples
that are waiting in the release buffer."""
from __future__ import annotations

import threading
from typing import Iterable, Protocol, runtime_checkable

import numpy as np


@runtime_checkable
class SensitivitySource(Protocol):
    def observe(self, t: np.ndarray, xyz: np.ndarray) -> None:
        """Every accepted block of input samples, in order: ``t`` (n,), ``xyz`` (n, 3)."""

    def is_sensitive(self, t: float) -> bool:
        """Whether the sample stamped ``t`` must be replaced (asked once, at release)."""

    def finish(self) -> None:
        """End of stream: decide on whatever is still pending."""

    def forget_before(self, t: float) -> None:
        """Every sample before ``t`` has been released: drop state about it."""


class _Intervals:
    """Sorted closed intervals [start, end]; ``end`` may be +inf while open."""

    def __init__(self) -> None:
        self.items: list[list[float]] = []

    def contains(self, t: float) -> bool:
        return any(a <= t <= b for a, b in self.items)

    def forget_before(self, t: float) -> None:
        self.items = [iv for iv in self.items if iv[1] >= t]


class PrivateSpans:
    """Time windows the owner declared private, in the stream's clock (seconds).

    Args:
        spans: (start, end) pairs; a sample with ``start <= t <= end`` is sensitive.
    """

    def __init__(self, spans: Iterable[tuple[float, float]] = ()):
        self._lock = threading.Lock()
        self._spans = _Intervals()
        for start, end in spans:
            self.add(start, end)

    def add(self, start: float, end: float) -> None:
        if not (np.isfinite(start) and end >= start):
            raise ValueError(f"private span needs a finite start <= end, got ({start}, {end})")
        with self._lock:
            self._spans.items.append([float(start), float(end)])
            self._spans.items.sort()

    @property
    def spans(self) -> list[tuple[float, float]]:
        with self._lock:
            return [(a, b) for a, b in self._spans.items]

    def observe(self, t: np.ndarray, xyz: np.ndarray) -> None:
        pass

    def is_sensitive(self, t: float) -> bool:
        with self._lock:
            return self._spans.contains(t)

    def finish(self) -> None:
        pass

    def forget_before(self, t: float) -> None:
        with self._lock:
            self._spans.forget_before(t)


class ManualSwitch:
    """A "private now" switch (e.g. a button in the app), safe to flip from any thread.

    Switching on covers every sample stamped after the newest sample observed so far;
    switching off ends the cover at the newest sample observed so far.
    """

    def __init__(self, on: bool = False):
        self._lock = threading.Lock()
        self._intervals = _Intervals()
        self._newest = -np.inf
        self._on = False
        if on:
            self.set(True)

    @property
    def on(self) -> bool:
        return self._on

    def set(self, on: bool) -> None:
        with self._lock:
            if on and not self._on:
                self._intervals.items.append([np.nextafter(self._newest, np.inf), np.inf])
            elif not on and self._on:
                self._intervals.items[-1][1] = self._newest
            self._on = bool(on)

    def observe(self, t: np.ndarray, xyz: np.ndarray) -> None:
        with self._lock:
            if len(t):
                self._newest = float(t[-1])

    def is_sensitive(self, t: float) -> bool:
        with self._lock:
            return self._intervals.contains(t)

    def finish(self) -> None:
        pass

    def forget_before(self, t: float) -> None:
        with self._lock:
            self._intervals.forget_before(t)
