"""The phone's accelerometer through plyer.

plyer's facade offers ``enable()``, ``disable()`` and ``acceleration`` (the latest event's
values in m/s², no timestamp). This source polls it from its own thread every few
milliseconds, stamps each new reading with a monotonic clock, converts it to g and puts
the stream on the model's 50 Hz grid with ``sdk.resample.Resampler``.

plyer (and through it jnius) is imported here only, and only when the source is probed or
started, so the module imports on any desktop. On Android, plyer 2.1 registers its listener
at ``SENSOR_DELAY_NORMAL`` (about 5 Hz, too slow for the model); ``start()`` re-registers
plyer's own listener at ``sensor_period_us`` (20 000 µs = ``SENSOR_DELAY_GAME``, 50 Hz). If
that fails the source still runs, says so in ``notes`` and reports its measured event rate.
"""
from __future__ import annotations

import logging
import os
import sys
import time
from collections import deque
from typing import Callable

import numpy as np

from sdk.resample import Resampler

from . import STANDARD_GRAVITY, PollingSource, SourceUnavailableError, empty_block

log = logging.getLogger(__name__)


def on_android() -> bool:
    """Whether this process runs inside a python-for-android app."""
    return "ANDROID_ARGUMENT" in os.environ or hasattr(sys, "getandroidapilevel")


class AndroidSource(PollingSource):
    """Accelerometer samples from plyer, in g, on a ``rate_hz`` grid.

    Args:
        accelerometer: a plyer-like facade (``enable``, ``disable``, ``acceleration``);
            ``None`` imports ``plyer.accelerometer`` when first needed.
        rate_hz: rate of the delivered samples (the model's).
        poll_hz: how often the facade is read; a reading is stamped when it is first seen,
            so the stamp is late by at most ``1 / poll_hz``.
        sensor_period_us: sampling period requested from Android's SensorManager.
        hold_s: a reading that has not changed for this long is delivered again (a phone
            lying still reports identical values; the stream must not look like a gap).
        units_per_g: the facade's unit (plyer reports m/s²).
        clock: monotonic clock in seconds.
    """

    name = "phone accelerometer (plyer)"

    def __init__(
        self,
        accelerometer=None,
        rate_hz: float = 50.0,
        poll_hz: float = 200.0,
        sensor_period_us: int = 20_000,
        hold_s: float = 0.04,
        units_per_g: float = STANDARD_GRAVITY,
        clock: Callable[[], float] = time.monotonic,
    ):
        super().__init__(clock)
        self.rate_hz = float(rate_hz)
        self.poll_interval_s = 1.0 / float(poll_hz)
        self.sensor_period_us = int(sensor_period_us)
        self.hold_s = float(hold_s)
        self.units_per_g = float(units_per_g)
        self._facade = accelerometer
        self._probed: str | None | bool = False  # False: not probed yet
        self._resampler = Resampler(self.rate_hz)
        self._t0 = 0.0
        self._last_values: tuple | None = None
        self._last_stamp = -np.inf
        self._event_times: deque[float] = deque(maxlen=100)
        self.notes: list[str] = []

    # -- availability -----------------------------------------------------------------------

    def _get_facade(self):
        if self._facade is None:
            from plyer import accelerometer  # lazily: plyer (and jnius on Android) only here

            self._facade = accelerometer
        return self._facade

    def why_unavailable(self) -> str | None:
        """Probe once: enable the sensor, read it, disable it. Any failure is the reason."""
        if self._probed is not False:
            return self._probed
        reason = None
        try:
            facade = self._get_facade()
        except Exception as exc:  # ImportError, or jnius failing to start
            reason = f"plyer is not usable here ({type(exc).__name__}: {exc})"
        else:
            try:
                facade.enable()
                try:
                    values = facade.acceleration
                    if values is None or len(tuple(values)) != 3:
                        raise ValueError(f"reading {values!r} is not three values")
                finally:
                    try:
                        facade.disable()
                    except Exception:
                        pass
            except NotImplementedError:
                reason = f"plyer has no accelerometer for platform {sys.platform!r}"
            except Exception as exc:
                reason = f"no accelerometer on this device ({type(exc).__name__}: {exc})"
        if reason is not None:
            log.info("%s unavailable: %s", self.name, reason)
        self._probed = reason
        return reason

    # -- streaming --------------------------------------------------------------------------

    @property
    def event_rate_hz(self) -> float:
        """Measured rate of new readings from the sensor (over the last 100)."""
        if len(self._event_times) < 2:
            return float("nan")
        span = self._event_times[-1] - self._event_times[0]
        return (len(self._event_times) - 1) / span if span > 0 else float("nan")

    def _begin(self) -> None:
        facade = self._get_facade()
        try:
            facade.enable()
        except Exception as exc:
            raise SourceUnavailableError(f"{self.name}: cannot enable the accelerometer ({exc})") from exc
        if on_android():
            self._raise_rate(facade)
        self._resampler = Resampler(self.rate_hz)
        self._t0 = self.clock()
        self._last_values, self._last_stamp = None, -np.inf
        self._event_times.clear()

    def _raise_rate(self, facade) -> None:
        """Re-register plyer's listener at ``sensor_period_us`` (plyer uses ~5 Hz)."""
        try:
            listener = facade.listener  # plyer.platforms.android.accelerometer internals
            manager, sensor = listener.SensorManager, listener.sensor
            manager.unregisterListener(listener, sensor)
            if not manager.registerListener(listener, sensor, self.sensor_period_us):
                raise RuntimeError("registerListener returned false")
            self.notes.append(f"sensor period {self.sensor_period_us} us requested")
        except Exception as exc:
            msg = f"could not raise the sensor rate ({exc}); plyer's default is about 5 Hz"
            log.warning(msg)
            self.notes.append(msg)

    def _poll(self) -> tuple[np.ndarray, np.ndarray]:
        values = tuple(self._facade.acceleration)
        now = self.clock() - self._t0
        if any(v is None for v in values) or now <= self._last_stamp:  # no event yet
            return empty_block()
        if values == self._last_values and now - self._last_stamp < self.hold_s:
            return empty_block()
        if values != self._last_values:
            self._event_times.append(now)
        self._last_values, self._last_stamp = values, now
        xyz = np.asarray(values, dtype=np.float64) / self.units_per_g
        if not np.isfinite(xyz).all():
            return empty_block()
        return self._resampler.push(now, xyz)

    def _end(self) -> None:
        try:
            if self._facade is not None:
                self._facade.disable()
        finally:
            if on_android():
                try:
                    import jnius

                    jnius.detach()  # a thread that touched JNI must detach before it ends
                except Exception:
                    pass
