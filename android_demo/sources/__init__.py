"""Where the demo's accelerometer samples come from.

One small interface, ``SensorSource``, with one implementation per origin (as plyer separates
its facades from its platforms):

* ``android_demo.sources.android.AndroidSource``: the phone's accelerometer through plyer,
  stamped with a monotonic clock, converted to g and resampled to the model's rate;
* ``android_demo.sources.replay.ReplaySource``: a HAPT raw file or ``t,ax,ay,az`` CSV played
  back in real time (for desktops, which have no accelerometer).

Every source delivers blocks ``(t (n,), xyz (n, 3))`` in g on a fixed ``rate_hz`` grid, with
timestamps in seconds since ``start()``, from its own thread. Unlike plyer, a source says up
front whether it can work (``available`` / ``why_unavailable``) and ``start()`` raises
``SourceUnavailableError`` instead of failing silently later.
"""
from __future__ import annotations

import abc
import logging
import threading
import time
from typing import Callable

import numpy as np

from sdk.errors import SenseGenError

log = logging.getLogger(__name__)

#: ``callback(t, xyz)``: ``t`` (n,) seconds, ``xyz`` (n, 3) in g, on the source's thread.
SampleCallback = Callable[[np.ndarray, np.ndarray], None]
#: ``on_error(exc)``: the source stopped because reading it (or the callback) failed.
ErrorCallback = Callable[[BaseException], None]

STANDARD_GRAVITY = 9.80665  # m/s^2 per g


class SourceUnavailableError(SenseGenError, RuntimeError):
    """A sensor source cannot deliver samples on this device (the message says why)."""


class SensorSource(abc.ABC):
    """A stream of accelerometer samples on a fixed-rate grid.

    Attributes:
        name: shown in the app, e.g. ``"replay acc_exp01_user01.txt"``.
        rate_hz: rate of the delivered samples.
    """

    name: str = "sensor"
    rate_hz: float = 50.0

    @abc.abstractmethod
    def why_unavailable(self) -> str | None:
        """``None`` if the source can deliver samples, else a message saying why not."""

    @property
    def available(self) -> bool:
        return self.why_unavailable() is None

    @abc.abstractmethod
    def start(self, callback: SampleCallback, on_error: ErrorCallback | None = None) -> None:
        """Start delivering samples to ``callback``; timestamps restart at 0.

        Raises:
            SourceUnavailableError: the source cannot work here (``why_unavailable()``).
            RuntimeError: already running.
        """

    @abc.abstractmethod
    def stop(self) -> None:
        """Stop delivering samples; returns once the source's thread has ended. Idempotent."""

    @property
    @abc.abstractmethod
    def running(self) -> bool:
        """Whether samples are being delivered."""


class PollingSource(SensorSource):
    """A source driven by a thread that calls ``_poll()`` every ``poll_interval_s`` seconds.

    Subclasses implement ``_begin()`` (called by ``start()`` on the caller's thread, before the
    polling thread starts; it may raise), ``_poll()`` returning the block ``(t, xyz)`` that
    became due (maybe empty), and ``_end()`` (called on the polling thread as it ends).
    """

    poll_interval_s: float = 0.02

    def __init__(self, clock: Callable[[], float] = time.monotonic):
        self.clock = clock
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._callback: SampleCallback | None = None
        self._on_error: ErrorCallback | None = None
        self.error: BaseException | None = None
        self.samples_delivered = 0

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self, callback: SampleCallback, on_error: ErrorCallback | None = None) -> None:
        reason = self.why_unavailable()
        if reason is not None:
            raise SourceUnavailableError(f"{self.name}: {reason}")
        if self.running:
            raise RuntimeError(f"{self.name} is already running")
        self._callback, self._on_error = callback, on_error
        self._stop.clear()
        self.error = None
        self.samples_delivered = 0
        self._begin()
        self._thread = threading.Thread(target=self._run, name=f"source:{self.name}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=5.0)

    def deliver_due(self) -> int:
        """Poll once and hand the block to the callback; returns the number of samples.
        (The thread calls this; tests may call it directly with a fake clock.)"""
        t, xyz = self._poll()
        if len(t):
            self._callback(t, xyz)
            self.samples_delivered += len(t)
        return len(t)

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                self.deliver_due()
                self._stop.wait(self.poll_interval_s)
        except BaseException as exc:  # report, never crash the app
            log.exception("%s stopped: %s", self.name, exc)
            self.error = exc
            if self._on_error is not None:
                try:
                    self._on_error(exc)
                except Exception:  # pragma: no cover - the error handler itself failed
                    log.exception("error handler of %s failed", self.name)
        finally:
            try:
                self._end()
            except Exception:
                log.exception("%s failed to stop cleanly", self.name)

    def _begin(self) -> None:
        """Prepare to deliver (open the sensor, reset the clock)."""

    @abc.abstractmethod
    def _poll(self) -> tuple[np.ndarray, np.ndarray]:
        """Samples that became due since the last poll."""

    def _end(self) -> None:
        """Release what ``_begin`` acquired."""


def empty_block() -> tuple[np.ndarray, np.ndarray]:
    return np.empty(0), np.empty((0, 3))


__all__ = [
    "ErrorCallback", "PollingSource", "STANDARD_GRAVITY", "SampleCallback", "SensorSource",
    "SourceUnavailableError", "empty_block",
]
