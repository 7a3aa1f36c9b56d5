"""Sources that say whether a sample is sensitive. Any source sensitive => the sample is
replaced. A source is asked at release time, after the release delay, so a source that
decides late (a detector, a switch flipped a moment after the onset) still covers samples
that are waiting in the release buffer.

A source subclasses ``SensitivitySource`` (only ``is_sensitive`` is required) or provides
its four methods itself; ``check_source`` verifies the shape when a filter is built."""
from __future__ import annotations

import difflib
import inspect
import threading
from bisect import bisect_left, bisect_right
from typing import Callable, Iterable, Iterator

import numpy as np


class SensitivitySource:
    """Base class of sensitivity sources: ``is_sensitive`` is required; ``observe``,
    ``finish`` and ``forget_before`` default to doing nothing."""

    def observe(self, t: np.ndarray, xyz: np.ndarray) -> None:
        """Every accepted block of input samples, in order: ``t`` (n,), ``xyz`` (n, 3)."""

    def is_sensitive(self, t: float) -> bool:
        """Whether the sample stamped ``t`` must be replaced (asked once, at release)."""
        raise NotImplementedError(f"{type(self).__name__} must implement is_sensitive(t)")

    def finish(self) -> None:
        """End of stream: decide on whatever is still pending."""

    def forget_before(self, t: float) -> None:
        """Every sample before ``t`` has been released: drop state about it."""


#: the methods a source must have, with the positional arguments the filter passes
SOURCE_METHODS: dict[str, int] = {"observe": 2, "is_sensitive": 1, "finish": 0, "forget_before": 1}


def check_source(source: object) -> None:
    """Check that ``source`` has the shape of a sensitivity source.

    Raises:
        TypeError: a method is missing, not callable, overridden with the wrong arguments,
            or a public method's name is a near miss of one (``obsreve``), or a subclass of
            ``SensitivitySource`` does not implement ``is_sensitive``.
    """
    name = type(source).__name__
    for method, n_args in SOURCE_METHODS.items():
        fn = getattr(source, method, None)
        if not callable(fn):
            raise TypeError(
                f"sensitivity source {name} has no method {method}(); subclass sdk.SensitivitySource for no-op defaults"
            )
        try:
            inspect.signature(fn).bind(*([0.0] * n_args))
        except TypeError:
            raise TypeError(f"sensitivity source {name}.{method} must take {n_args} argument(s), has {inspect.signature(fn)}") from None
        except ValueError:  # builtins without a signature: trust them
            pass
    if isinstance(source, SensitivitySource) and type(source).is_sensitive is SensitivitySource.is_sensitive:
        raise TypeError(f"sensitivity source {name} must implement is_sensitive(t)")
    for attr in dir(type(source)):
        if attr.startswith("_") or attr in SOURCE_METHODS or not callable(getattr(type(source), attr, None)):
            continue
        near = difflib.get_close_matches(attr, SOURCE_METHODS, n=1, cutoff=0.8)
        if near:
            raise TypeError(f"sensitivity source {name} defines {attr}(): did you mean {near[0]}()?")


class Intervals:
    """Closed time intervals ``[start, end]`` in the stream's clock; ``end`` may be +inf while
    an interval is open. Not locked: the owner holds its own lock."""

    def __init__(self, spans: Iterable[tuple[float, float]] = ()) -> None:
        self._items: list[list[float]] = []
        self._last: list[float] | None = None
        for a, b in spans:
            self.add(a, b)

    def add(self, start: float, end: float) -> None:
        """Add ``[start, end]`` (kept sorted by start)."""
        item = self._last = [float(start), float(end)]
        sort = bool(self._items) and item[0] < self._items[-1][0]
        self._items.append(item)
        if sort:
            self._items.sort()

    def open(self, start: float) -> None:
        """Start an interval with no end yet (``end = inf``)."""
        self.add(start, np.inf)

    def close_last(self, end: float) -> None:
        """Set the end of the most recently added interval (if it was not forgotten)."""
        if self._last is not None:
            self._last[1] = float(end)

    def contains(self, t: float) -> bool:
        for a, b in self._items:
            if a <= t <= b:
                return True
        return False

    def mask(self, ts: list[float]) -> list[bool]:
        """``[contains(t) for t in ts]`` for increasing ``ts``, an interval at a time."""
        out = [False] * len(ts)
        for a, b in self._items:
            lo, hi = bisect_left(ts, a), bisect_right(ts, b)
            if lo < hi:
                out[lo:hi] = [True] * (hi - lo)
        return out

    def forget_before(self, t: float) -> None:
        """Drop the intervals that end before ``t``."""
        if self._items:
            self._items = [iv for iv in self._items if iv[1] >= t]

    def __bool__(self) -> bool:
        return bool(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[tuple[float, float]]:
        return iter([(a, b) for a, b in self._items])


def batch_query(source) -> Callable[[list[float]], list[bool]] | None:
    """The source's ``_sensitive_mask(ts)`` (``is_sensitive`` of increasing times at once),
    if it has one and ``is_sensitive`` is the method defined next to it (a subclass that
    overrides ``is_sensitive`` is asked one sample at a time); else ``None``."""
    cls = type(source)
    owner = next((c for c in cls.__mro__ if "_sensitive_mask" in c.__dict__), None)
    if owner is None or cls.is_sensitive is not owner.__dict__.get("is_sensitive"):
        return None
    return source._sensitive_mask


class PrivateSpans(SensitivitySource):
    """Time windows the owner declared private, in the stream's clock (seconds).

    Args:
        spans: (start, end) pairs; a sample with ``start <= t <= end`` is sensitive.
    """

    def __init__(self, spans: Iterable[tuple[float, float]] = ()):
        self._lock = threading.Lock()
        self._spans = Intervals()
        for start, end in spans:
            self.add(start, end)

    def add(self, start: float, end: float) -> None:
        if not (np.isfinite(start) and end >= start):
            raise ValueError(f"private span needs a finite start <= end, got ({start}, {end})")
        with self._lock:
            self._spans.add(start, end)

    @property
    def spans(self) -> list[tuple[float, float]]:
        with self._lock:
            return list(self._spans)

    def is_sensitive(self, t: float) -> bool:
        with self._lock:
            return self._spans.contains(t)

    def _sensitive_mask(self, ts: list[float]) -> list[bool]:
        with self._lock:
            return self._spans.mask(ts)

    def forget_before(self, t: float) -> None:
        with self._lock:
            self._spans.forget_before(t)


class ManualSwitch(SensitivitySource):
    """A "private now" switch (e.g. a button in the app), safe to flip from any thread.

    Switching on covers every sample stamped after the newest sample observed so far;
    switching off ends the cover at the newest sample observed so far.
    """

    def __init__(self, on: bool = False):
        self._lock = threading.Lock()
        self._intervals = Intervals()
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
                self._intervals.open(np.nextafter(self._newest, np.inf))
            elif not on and self._on:
                self._intervals.close_last(self._newest)
            self._on = bool(on)

    def observe(self, t: np.ndarray, xyz: np.ndarray) -> None:
        with self._lock:
            if len(t):
                self._newest = float(t[-1])

    def is_sensitive(self, t: float) -> bool:
        with self._lock:
            return self._intervals.contains(t)

    def _sensitive_mask(self, ts: list[float]) -> list[bool]:
        with self._lock:
            return self._intervals.mask(ts)

    def forget_before(self, t: float) -> None:
        with self._lock:
            self._intervals.forget_before(t)
