"""What the demo app runs, without any Kivy: a sensor source feeding the SDK's
``PrivacyFilter``, plus the rolling buffers and counters the screen shows.

The source's thread pushes samples into the filter (the filter is thread-safe); the UI thread
calls ``snapshot()`` a few times a second, which drains the filter's output queue and
returns the last ``window_s`` seconds of the raw and the released stream. All filtering goes
through the SDK's public API: ``FilterOptions``, ``PrivacyFilter``, ``ManualSwitch``,
``PrivateSpans`` and, when it is installed, the activity detector.
"""
from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from sdk.activities import ACTIVITIES
from sdk.cover_bank import CoverBankOptions
from sdk.decoys import DEFAULT_DECOY_RATE, DecoyOptions
from sdk.errors import InputError
from sdk.windowing import runs
from sdk.filter import FilterOptions, FilterStatus, PrivacyFilter
from sdk.generator import Generator
from sdk.sensitivity import ManualSwitch, PrivateSpans

from .sources import SensorSource

log = logging.getLogger(__name__)

#: the activities a user can choose as sensitive or as cover (HAPT's six basic ones)
CHOICES: tuple[str, ...] = ACTIVITIES[1:]


@dataclass(frozen=True)
class DemoSettings:
    """The user's choices on the control panel.

    Attributes:
        sensitive: activities the detector hides (needs the detector).
        cover: the activity synthesised instead.
        delay_s: the filter's release delay.
        model: generator file; ``None`` = the SDK's bundled model.
        private_spans: (start, end) seconds since start that are always replaced.
        seed: generator seed.
        decoy_rate: share of cover-activity time also replaced by decoys (needs the detector).
        bank_dir: folder the cover bank is kept in between runs, one file per cover
            (``cover_bank_<cover>.npz``): the owner's own released walking or stillness, so
            the next run's covers are this person's from its first segment; ``None``: the bank
            lives for one run only.
    """

    sensitive: tuple[str, ...] = ("WALKING_UPSTAIRS", "WALKING_DOWNSTAIRS")
    cover: str = "WALKING"
    delay_s: float = 3.0
    model: str | Path | None = None
    private_spans: tuple[tuple[float, float], ...] = ()
    seed: int = 0
    decoy_rate: float = DEFAULT_DECOY_RATE
    bank_dir: str | Path | None = None


@dataclass
class DetectorLink:
    """The activity detector if it can be used: ``source`` is a sensitivity source with a
    ``current_activity`` attribute, or ``None``; ``reason`` is a short status for the banner
    and ``detail`` the full explanation."""

    source: object | None
    reason: str
    detail: str = ""

    @property
    def available(self) -> bool:
        return self.source is not None


class DetectorLoader:
    """Loads the SDK's activity detector model once and builds a ``DetectorSource`` for each
    policy. The detector is optional: without ``sdk.detector`` or its bundled model the demo
    still works with the "private now" switch and private spans."""

    def __init__(self, path: str | Path | None = None):
        self.path = path
        self._model = None
        self._error: str | None = None

    def _load_model(self):
        if self._model is None and self._error is None:
            try:
                from sdk import detector as sdk_detector

                self._model = sdk_detector.ActivityDetector(self.path)
            except ImportError as exc:
                self._error = f"sdk.detector is not installed ({exc})"
            except Exception as exc:  # missing bundled model, incompatible file, no runtime...
                self._error = str(exc)
            if self._error:
                log.warning("activity detector not available: %s", self._error)
        return self._model

    def link(self, settings: "DemoSettings") -> DetectorLink:
        model = self._load_model()
        if model is None:
            return DetectorLink(None, "not available", self._error or "")
        sensitive = tuple(a for a in settings.sensitive if a != settings.cover)
        if not sensitive:
            return DetectorLink(None, "off (no sensitive activity chosen)")
        try:
            from sdk import detector as sdk_detector
            from sdk.policy import Policy

            policy = Policy(sensitive=sensitive, cover=settings.cover)
            return DetectorLink(sdk_detector.DetectorSource(policy, detector=model), policy.describe())
        except Exception as exc:  # PolicyError: an activity the detector does not know
            return DetectorLink(None, "not available", str(exc))


class Ring:
    """The last ``capacity`` samples of a stream (``t``, ``xyz`` and a flag), thread-safe."""

    def __init__(self, capacity: int):
        self.capacity = int(capacity)
        self._lock = threading.Lock()
        self._t = np.zeros(self.capacity)
        self._x = np.zeros((self.capacity, 3))
        self._f = np.zeros(self.capacity, dtype=bool)
        self._n = 0  # total appended

    def extend(self, t: np.ndarray, xyz: np.ndarray, flags: np.ndarray | None = None) -> None:
        t, xyz = np.asarray(t)[-self.capacity :], np.asarray(xyz)[-self.capacity :]
        f = np.zeros(len(t), dtype=bool) if flags is None else np.asarray(flags, dtype=bool)[-self.capacity :]
        with self._lock:
            idx = (self._n + np.arange(len(t))) % self.capacity
            self._t[idx], self._x[idx], self._f[idx] = t, xyz, f
            self._n += len(t)

    def view(self, since: float = -np.inf) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Copies of the stored samples with ``t >= since``, oldest first."""
        with self._lock:
            n = min(self._n, self.capacity)
            idx = (self._n - n + np.arange(n)) % self.capacity
            t, x, f = self._t[idx], self._x[idx], self._f[idx]
        keep = t >= since
        return t[keep], x[keep], f[keep]

    def clear(self) -> None:
        with self._lock:
            self._n = 0


def spans_of(t: np.ndarray, flags: np.ndarray, period: float) -> list[tuple[float, float]]:
    """Runs of ``True`` in ``flags`` as (start, end) times, each sample covering one period."""
    return [(float(t[a]) - period / 2, float(t[b - 1]) + period / 2) for a, b in runs(flags)]


@dataclass(frozen=True)
class Snapshot:
    """Everything the screen shows at one moment."""

    raw_t: np.ndarray
    raw_xyz: np.ndarray
    out_t: np.ndarray
    out_xyz: np.ndarray
    replaced_spans: list[tuple[float, float]]
    now: float  # newest raw timestamp
    window_s: float
    state: str  # "idle", "passing", "replacing", "error"
    banner: str
    activity: str
    counters: dict[str, str]
    messages: tuple[str, ...] = field(default_factory=tuple)


class Pipeline:
    """A sensor source feeding a privacy filter, observed by the UI.

    Args:
        settings: the user's choices; ``reconfigure()`` changes them.
        window_s: seconds of history kept for the plots.
        generator: an already loaded generator (else loaded once from ``settings.model``).
    """

    def __init__(self, settings: DemoSettings | None = None, window_s: float = 10.0, generator: Generator | None = None):
        self.settings = settings or DemoSettings()
        self.window_s = float(window_s)
        self.source: SensorSource | None = None
        self.switch = ManualSwitch()
        self._generator = generator
        self._model_error: str | None = None
        self._filter: PrivacyFilter | None = None
        self._filter_lock = threading.Lock()
        self.detectors = DetectorLoader()
        self.detector = DetectorLink(None, "not loaded")
        cap = int(self.window_s * 50 * 1.5) + 64
        self.raw = Ring(cap)
        self.out = Ring(cap)
        self.errors: list[str] = []
        self._busy_s = 0.0  # time spent inside the filter
        self._stream_s = 0.0
        self._last_status: FilterStatus | None = None

    # -- model --------------------------------------------------------------------------------

    @property
    def generator(self) -> Generator | None:
        """The loaded generator, or ``None`` (then ``model_error`` says why)."""
        if self._generator is None and self._model_error is None:
            try:
                self._generator = Generator(self.settings.model)
            except Exception as exc:  # ModelError, RuntimeUnavailableError...
                self._model_error = f"model not loaded: {exc}"
                log.error(self._model_error)
        return self._generator

    @property
    def model_error(self) -> str | None:
        self.generator  # noqa: B018 - loads on first use
        return self._model_error

    # -- running ------------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self.source is not None and self.source.running

    def _build_filter(self) -> PrivacyFilter | None:
        gen = self.generator
        if gen is None:
            return None
        s = self.settings
        self.detector = self.detectors.link(s)
        sources = [self.switch, PrivateSpans(s.private_spans)]
        if self.detector.available:
            sources.append(self.detector.source)
        bank = self.bank_path
        if bank is not None:
            try:
                bank.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:  # the filter still runs: its bank lives for this run only
                log.warning("cover bank kept for this run only: cannot create %s (%s)", bank.parent, exc)
                bank = None
        options = FilterOptions(
            model=s.model, cover=s.cover, delay_s=s.delay_s, seed=s.seed,
            output_queue=int(max(s.delay_s, 1.0) * gen.rate_hz * 20), decoys=DecoyOptions(rate=s.decoy_rate),
            cover_bank=CoverBankOptions(path=bank),
        )
        return PrivacyFilter(options, sources=sources, generator=gen)

    @property
    def bank_path(self) -> Path | None:
        """The cover bank's file for the current cover, or ``None`` (no ``bank_dir``)."""
        d = self.settings.bank_dir
        return Path(d) / f"cover_bank_{self.settings.cover.strip().lower()}.npz" if d is not None else None

    def save_bank(self) -> None:
        """Write the running filter's cover bank to its file now (the app is paused and may be
        stopped without closing); stopping the pipeline writes it too."""
        with self._filter_lock:
            if self._filter is not None:
                self._filter.save_bank()

    def clear_bank(self) -> None:
        """Forget the owner's cover bank: the running filter clears its bank and the file it
        keeps (``PrivacyFilter.clear_bank``, which leaves a foreign file alone); when none runs,
        the file of the current cover is deleted."""
        with self._filter_lock:
            if self._filter is not None:
                self._filter.clear_bank()
                return
        path = self.bank_path
        if path is not None and path.exists():
            path.unlink()

    def start(self, source: SensorSource) -> None:
        """Start streaming from ``source`` into a fresh filter (timestamps restart at 0).

        Raises:
            SourceUnavailableError: the source cannot work here.
        """
        self.stop()
        self.raw.clear()
        self.out.clear()
        self.errors.clear()
        self._busy_s = self._stream_s = 0.0
        self.switch = ManualSwitch(on=self.switch.on)
        try:
            flt = self._build_filter()
        except Exception as exc:  # e.g. a cover the model does not know
            flt = None
            self._model_error = f"filter not started: {exc}"
        with self._filter_lock:
            self._filter = flt
        self.source = source
        source.start(self._on_samples, self._on_source_error)

    def stop(self) -> None:
        """Stop the source and close the filter. Samples still in the release buffer are
        withheld (never released unfiltered)."""
        if self.source is not None:
            self.source.stop()
        with self._filter_lock:
            if self._filter is not None:
                self._collect(self._filter)
                self._last_status = self._filter.status
                self._filter.close()
            self._filter = None

    def reconfigure(self, **changes) -> None:
        """Change settings. A running stream continues into a new filter built with them;
        samples waiting in the old filter's release buffer are withheld, not released."""
        self.settings = replace(self.settings, **changes)
        if "model" in changes:
            self._generator, self._model_error = None, None
        if not self.running:
            return
        try:
            flt = self._build_filter()
        except Exception as exc:
            flt = None
            self._model_error = f"filter not started: {exc}"
        with self._filter_lock:
            if self._filter is not None:
                self._collect(self._filter)
                self._filter.close()
            self._filter = flt

    def set_private(self, on: bool) -> None:
        """The "private now" switch."""
        self.switch.set(bool(on))

    # -- the source's thread -----------------------------------------------------------------

    def _on_samples(self, t: np.ndarray, xyz: np.ndarray) -> None:
        self.raw.extend(t, xyz)
        with self._filter_lock:
            flt = self._filter
            if flt is None:
                return
            t0 = time.perf_counter()
            try:
                flt.push_block(t, xyz)  # gaps are counted in flt.status.gaps, not warned
            except InputError as exc:  # refused block: shown on screen, the stream goes on
                self._error(f"samples refused: {exc}")
            self._busy_s += time.perf_counter() - t0
            self._stream_s += len(t) / flt.rate_hz

    def _on_source_error(self, exc: BaseException) -> None:
        self._error(f"{self.source.name if self.source else 'source'} stopped: {exc}")

    def _error(self, message: str) -> None:
        log.warning(message)
        self.errors.append(message)
        del self.errors[:-5]

    # -- the UI thread -----------------------------------------------------------------------

    def _collect(self, flt: PrivacyFilter) -> None:
        block = flt.drain()
        if len(block):
            self.out.extend(block.t, block.xyz, block.replaced)

    def snapshot(self) -> Snapshot:
        """Drain the filter and describe what to draw."""
        with self._filter_lock:
            flt = self._filter
        status = None
        if flt is not None:
            self._collect(flt)
            status = flt.status
            self._last_status = status
        raw_t, raw_x, _ = self.raw.view()
        now = float(raw_t[-1]) if len(raw_t) else 0.0
        since = now - self.window_s
        raw_t, raw_x, _ = self.raw.view(since)
        out_t, out_x, out_r = self.out.view(since)
        period = 1.0 / (flt.rate_hz if flt is not None else 50.0)
        status = status or self._last_status
        state, banner = self._banner(flt, status)
        return Snapshot(
            raw_t=raw_t, raw_xyz=raw_x, out_t=out_t, out_xyz=out_x,
            replaced_spans=spans_of(out_t, out_r, period), now=now, window_s=self.window_s,
            state=state, banner=banner, activity=self._activity(), counters=self._counters(status),
            messages=tuple(self.errors[-3:]) + ((self._model_error,) if self._model_error else ())
            + ((f"detector: {self.detector.detail}",) if self.detector.detail else ()),
        )

    def _banner(self, flt: PrivacyFilter | None, status: FilterStatus | None) -> tuple[str, str]:
        if self._model_error is not None and self.running:
            return "error", "NOT FILTERING — nothing is released"
        if not self.running:
            return "idle", "STOPPED"
        if status is None or status.samples_out == 0:
            return "passing", f"BUFFERING — first release after {self.settings.delay_s:g} s"
        if status.replacing:
            return "replacing", f"REPLACING as {status.cover}"
        return "passing", "PASSING THROUGH"

    def _activity(self) -> str:
        if not self.detector.available:
            return f"detector: {self.detector.reason}"
        act = getattr(self.detector.source, "current_activity", None)
        return f"activity: {act.replace('_', ' ').lower() if act else '…'}"

    def _counters(self, status: FilterStatus | None) -> dict[str, str]:
        if status is None:
            return {"samples": "0 in / 0 out", "replaced": "0.0 %", "runtime": "–", "filter cost": "–", "decoys": "–", "cover bank": "–"}
        pct = 100.0 * status.samples_replaced / status.samples_out if status.samples_out else 0.0
        cost = 1000.0 * self._busy_s / self._stream_s if self._stream_s else 0.0
        return {
            "samples": f"{status.samples_in} in / {status.samples_out} out",
            "replaced": f"{pct:.1f} % ({status.segments} segment{'s' if status.segments != 1 else ''})",
            "runtime": status.runtime,
            "filter cost": f"{cost:.1f} ms per s of stream",
            "decoys": f"{status.decoys}, {status.decoy_segments} so far",
            "cover bank": self._cover_counter(status),
        }

    def _cover_counter(self, status: FilterStatus) -> str:
        """How much of the owner's cover activity the bank holds, and what the segments so far
        were drawn from: the owner's strides or stillness, or the generator file (its LSTM, or
        for a static cover its population stillness) before the bank holds enough."""
        rate = self._generator.rate_hz if self._generator is not None else 50.0
        own = status.stride_segments + status.posture_segments
        kept = "" if self.settings.bank_dir is not None else ", not kept after this run"
        population = f" (population stillness {status.population_stillness_segments})" if status.population_stillness_segments else ""
        return (
            f"{status.bank_samples / rate:.0f} s of your {status.cover.replace('_', ' ').lower()}{kept}; segments drawn from it "
            f"{own}, from the generator {status.segments - own}{population}"
        )
