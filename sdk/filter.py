"""The streaming privacy filter: samples in, released samples out.

A sample leaves the filter only after ``delay_s`` seconds of later samples have been seen.
At that moment every sensitivity source is asked about it; if any says "sensitive" the
sample is replaced by a synthetic one from the generator, primed on the samples released
just before the segment. After a segment the synthetic stream crossfades back into the real
one. Inside a segment the filter fails closed: whatever goes wrong, real samples are withheld.
"""
from __future__ import annotations

import logging
import math
import threading
from bisect import bisect_right
from collections import deque
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, Iterable, Sequence

import numpy as np

from .cover_bank import CoverBank, CoverBankError, CoverBankOptions, ForeignBankError
from .decoys import DecoyOptions, DecoyScheduler, scheduler_for
from .errors import RateMismatchError, SampleValueError, TimestampError
from .generator import Generator, SyntheticStream
from .mdn import SamplingOptions
from .samples import as_sample_block
from .sensitivity import Intervals, SensitivitySource, batch_query, check_source
from .postures import PopulationStillness, PostureOptions, PostureStream
from .strides import StrideStream

log = logging.getLogger(__name__)

_TIME_EPS = 1e-9  # seconds: timestamps closer than this count as equal when applying the delay
_PRUNE_EVERY = 25  # released samples between calls of the sources' forget_before
# the arrays of every empty ReleasedBlock: they hold nothing to change, so one set serves all
_NO_T, _NO_XYZ, _NO_REPLACED = np.empty(0), np.empty((0, 3)), np.empty(0, dtype=bool)


@dataclass
class FilterOptions:
    """How the filter behaves. Every field has a safe default.

    Attributes:
        model: generator model file; ``None`` loads the bundled default.
        cover: the activity the synthetic data imitates (e.g. ``"WALKING"``);
            ``None``: the cover of the detector's policy, else ``"WALKING"``. A value that
            contradicts a policy's cover is an error.
        delay_s: release delay; a sample is released once this much later data was seen.
        release_every_s: release in groups: a release happens once the oldest waiting sample
            has waited ``delay_s + release_every_s``, and takes every sample whose delay has
            passed. ``0`` releases each sample as soon as its delay has passed. A later
            release never weakens privacy (the sources have seen more); it costs up to this
            much latency and saves the per-release work for apps that push one sample at a
            time (``benchmarks/cost.py``).
        crossfade_s: length of the blend from synthetic back to real data after a segment.
        seed: seeds the generator; segment ``k`` uses ``(seed, k)``.
        rate_hz: the stream's rate; ``None`` means the model's. Must match the model
            (resample first, e.g. with ``sdk.resample``): other rates raise ``RateMismatchError``.
        rate_tolerance: relative deviation of the median sample interval that is refused.
        gap_s: intervals longer than this are gaps: accepted (not refused), counted in
            ``status.gaps`` / ``status.longest_gap_s`` and logged; ``None`` means 3 sample periods.
        sampling: temperature / sigma scaling of the mixture.
        runtime: force ``"ai_edge_litert"`` or ``"tflite_runtime"``.
        output_queue: when > 0, keep up to this many released samples for ``drain()``
            (for a UI thread reading what a sensor thread pushed). When the reader falls
            behind, the oldest blocks are dropped: counted in ``status.queue_dropped`` and
            logged once.
        cover_bank: keep the owner's recent released walking (``sdk.cover_bank``) and
            generate replaced segments from it; ``None`` turns it off (population cover).
        decoys: decoy segments of the cover activity (``sdk.decoys``); they need an activity
            detector (``decoys.detector`` or a ``DetectorSource`` among the sources).
        population_stillness: a static cover (sitting, standing, laying) whose segment cannot
            be drawn from the owner's stillness (cover bank off, or holding too little) is drawn
            from the generator file's population stillness (``sdk.postures``), when it has one;
            ``False``: from the generator's LSTM.
    """

    model: str | Path | None = None
    cover: str | None = None
    delay_s: float = 3.0
    release_every_s: float = 0.0
    crossfade_s: float = 0.5
    seed: int = 0
    rate_hz: float | None = None
    rate_tolerance: float = 0.2
    gap_s: float | None = None
    sampling: SamplingOptions = field(default_factory=SamplingOptions)
    runtime: str | None = None
    output_queue: int = 0
    cover_bank: CoverBankOptions | None = field(default_factory=CoverBankOptions)
    decoys: DecoyOptions = field(default_factory=DecoyOptions)
    population_stillness: bool = True

    def __post_init__(self) -> None:
        if not (self.delay_s >= 0 and self.crossfade_s >= 0 and self.release_every_s >= 0):
            raise ValueError(
                f"delay_s, release_every_s and crossfade_s must be >= 0, got {self.delay_s}, {self.release_every_s}, {self.crossfade_s}"
            )
        if not 0 < self.rate_tolerance < 1:
            raise ValueError(f"rate_tolerance must be in (0, 1), got {self.rate_tolerance}")


@dataclass
class ReleasedBlock:
    """Released samples: original timestamps, values in g, and whether each was replaced."""

    t: np.ndarray
    xyz: np.ndarray
    replaced: np.ndarray

    def __len__(self) -> int:
        return int(self.t.shape[0])

    @classmethod
    def empty(cls) -> "ReleasedBlock":
        return cls(_NO_T, _NO_XYZ, _NO_REPLACED)

    @classmethod
    def concat(cls, blocks: Sequence["ReleasedBlock"]) -> "ReleasedBlock":
        blocks = [b for b in blocks if len(b)]
        if not blocks:
            return cls.empty()
        return cls(
            np.concatenate([b.t for b in blocks]),
            np.concatenate([b.xyz for b in blocks]),
            np.concatenate([b.replaced for b in blocks]),
        )


@dataclass(frozen=True)
class FilterStatus:
    """A snapshot for display and monitoring, safe to read from any thread.

    ``gaps`` counts intervals longer than ``options.gap_s`` (``longest_gap_s`` the longest);
    ``callback_failures`` the blocks whose ``on_release`` raised (delivered in the return
    value and the output queue only); ``queue_dropped`` the samples the output queue dropped
    because ``drain()`` fell behind.
    """

    replacing: bool
    cover: str
    samples_in: int
    samples_out: int
    samples_replaced: int
    pending: int
    segments: int
    faults: tuple[str, ...]
    runtime: str
    bank_samples: int = 0  # samples of the owner's cover activity in the cover bank
    stride_segments: int = 0  # segments drawn from the owner's strides (sdk.strides), not the generator
    posture_segments: int = 0  # segments drawn from the owner's stillness (sdk.postures), not the generator
    population_stillness_segments: int = 0  # static-cover segments drawn from the generator file's population stillness
    decoys: str = "off"
    decoy_segments: int = 0
    gaps: int = 0
    longest_gap_s: float = 0.0
    callback_failures: int = 0
    queue_dropped: int = 0


class PrivacyFilter:
    """Wraps an accelerometer stream; see the module docstring.

    Args:
        options: ``FilterOptions``; defaults if ``None``.
        sources: sensitivity sources (``PrivateSpans``, ``ManualSwitch``, a detector…).
        generator: an already loaded ``Generator`` (else ``options.model`` is loaded).
        on_release: called with each non-empty ``ReleasedBlock`` as it is released, before
            ``push``/``push_block``/``flush`` returns the same block. If it raises, the
            block is still returned (and queued), the failure is counted in
            ``status.callback_failures`` and described in ``status.faults``; the callback is
            not called again with that block (no retry, so no sample is delivered twice).

    Raises:
        TypeError: a source does not have the shape of a ``SensitivitySource``.
        ModelError: the generator file is missing, corrupt or does not fit.
        RateMismatchError: ``options.rate_hz`` differs from the model's rate.
    """

    #: ``push`` releases the one sample due in the usual state itself (``_release_one``);
    #: tests turn it off on one filter to compare with the general path bit for bit
    _fast_push = True

    def __init__(
        self,
        options: FilterOptions | None = None,
        sources: Iterable[SensitivitySource] = (),
        generator: Generator | None = None,
        on_release: Callable[[ReleasedBlock], None] | None = None,
    ):
        self.options = options or FilterOptions()
        self.generator = generator or Generator(self.options.model, runtime=self.options.runtime)
        self.sources = list(sources)
        for src in self.sources:
            check_source(src)
        # sources that look at the input (the others keep the base class's no-op observe), and
        # each source's batch form of is_sensitive, if it has one (``sensitivity.batch_query``)
        self._observers = [s for s in self.sources if getattr(s.observe, "__func__", None) is not SensitivitySource.observe]
        self._queries = [(s, batch_query(s)) for s in self.sources]
        self.cover = _resolve_cover(self.options.cover, self.sources)
        self.generator.one_hot(self.cover)  # validates the name
        self.on_release = on_release
        rate = self.options.rate_hz or self.generator.rate_hz
        if abs(rate / self.generator.rate_hz - 1) > 0.01:
            raise RateMismatchError(
                f"stream rate {rate} Hz differs from the model's {self.generator.rate_hz} Hz; resample the stream first"
            )
        self.rate_hz = float(self.generator.rate_hz)
        self._period = 1.0 / self.rate_hz
        self._gap = self.options.gap_s if self.options.gap_s is not None else 3 * self._period
        self._crossfade_n = int(round(self.options.crossfade_s * self.rate_hz))
        self._lock = threading.RLock()
        # samples waiting for release, in chunks as they came: (times, (n, 3) values of the filter's own)
        self._pending: deque[tuple[list[float], np.ndarray]] = deque()
        # samples pushed one at a time and not yet sealed into a chunk, as plain floats (one
        # array is made of them when the general release path takes them: ``_seal``); they
        # follow the chunks of ``_pending``
        self._tail_t: deque[float] = deque()
        self._tail_x: deque[tuple[float, float, float]] = deque()
        self._head = 0  # samples of the first chunk already released
        self._n_pending = 0
        self._history: deque[np.ndarray] = deque()  # the latest released values, in chunks (n, 3)
        self._n_history = 0
        # the latest values released one at a time by ``_release_one``, newer than ``_history``
        # (made one chunk of it when anything else reads or extends the history: ``_seal_history``)
        self._history_rows: deque[tuple[float, float, float]] = deque(maxlen=max(1, self.generator.priming))
        self._dts: deque[float] = deque(maxlen=50)
        self._since_rate_check = 0
        self._fault_spans = Intervals()
        self._queue: deque[ReleasedBlock] = deque()
        self._queued = self._queue_dropped = 0
        self._gaps, self._longest_gap = 0, 0.0
        self._callback_failures = 0
        self._last_t = -np.inf
        self._stream: SyntheticStream | StrideStream | PostureStream | None = None
        self._in_segment = False
        self._broken = False
        self._fallback = self.generator.population_level.copy()
        self._crossfade_left = 0
        self._segments = self._stride_segments = self._posture_segments = self._population_stillness_segments = 0
        self._faults: list[str] = []
        self._n_in = self._n_out = self._n_replaced = 0
        self._unpruned = 0
        self._closed = False
        self._decoys: DecoyScheduler | None = None
        self._decoys_checked = not self.options.decoys.enabled
        self.bank = self._make_bank()

    def _make_bank(self) -> CoverBank | None:
        opts = self.options.cover_bank
        if opts is None:
            return None
        source = next((s for s in self.sources if hasattr(getattr(s, "detector", None), "predict_proba")), None)
        try:
            if source is not None:
                windows = getattr(source, "recent_windows", None)
                bank = CoverBank(self.cover, self.rate_hz, source.detector, opts, windows=windows if windows is None or windows.maxlen != 0 else None)
            else:
                from .detector import ActivityDetector

                bank = CoverBank(self.cover, self.rate_hz, ActivityDetector(runtime=self.options.runtime), opts)
        except Exception as exc:  # no bank: segments fall back to population cover
            self._fault(f"cover bank unavailable: {exc!r}")
            return None
        if opts.path is not None and Path(opts.path).exists():
            try:
                bank.load(opts.path)
            except ForeignBankError as exc:  # another cover's bank: never overwritten or deleted
                bank.options = replace(opts, path=None)
                self._fault(f"cover bank file refused, starting empty and kept in memory (the file is left as it is): {exc}")
            except CoverBankError as exc:
                self._fault(f"cover bank file refused, starting empty: {exc}")
        return bank

    # -- public API -----------------------------------------------------------------------

    def push(self, t: float, xyz) -> ReleasedBlock:
        """Push one sample ``(t, (ax, ay, az))``; return what it released (maybe nothing).

        Raises:
            SampleValueError, TimestampError, RateMismatchError: the sample is refused and
                not consumed; the filter stays usable.
        """
        a = None
        kind = type(xyz)
        if (kind is np.ndarray and xyz.shape == (3,)) or ((kind is list or kind is tuple) and len(xyz) == 3):
            try:  # the usual sample: three numbers, converted as plain floats
                v = xyz.tolist() if kind is np.ndarray else xyz
                a, b, c = float(v[0]), float(v[1]), float(v[2])
                t = float(t)
            except (TypeError, ValueError):
                a = None  # the general path below gives the error
        if a is None:
            try:
                x = np.asarray(xyz, dtype=np.float64)
                t = float(t)
            except (TypeError, ValueError) as exc:
                raise SampleValueError(f"samples must be numbers: {exc}") from None
            if x.shape != (3,):
                raise SampleValueError(f"a sample needs 3 values (ax, ay, az), got shape {x.shape}")
            a, b, c = x.tolist()
        if not (math.isfinite(a) and math.isfinite(b) and math.isfinite(c)):
            raise SampleValueError(f"sample at t={t!r} holds NaN or inf: {[a, b, c]}")
        with self._lock:
            if self._closed:
                self._check_open()
            d = t - self._last_t
            if d > 0 and d <= self._gap and self._since_rate_check < 24:  # a regular next sample
                self._since_rate_check += 1
                self._dts.append(d)
            else:
                self._check_time(t)
            if self._observers:  # sources get arrays of their own, never released later
                self._observe(np.array([t]), np.array([[a, b, c]]))
            tail_t = self._tail_t
            tail_t.append(t)
            self._tail_x.append((a, b, c))
            self._n_pending += 1
            self._last_t = t
            self._n_in += 1
            opts = self.options
            until = t - opts.delay_s + _TIME_EPS
            if (
                self._fast_push
                and not self._pending
                and not opts.release_every_s
                and self._decoys is None
                and self._decoys_checked
                and not self._in_segment
                and not self._crossfade_left
                and not self._fault_spans._items
            ):  # the usual state of a one-sample stream: at most one sample due, handled here
                if tail_t[0] > until:
                    return ReleasedBlock.empty()
                if len(tail_t) == 1 or tail_t[1] > until:
                    return self._release_one(until)
            return self._release_due(until)

    def push_block(self, t, xyz) -> ReleasedBlock:
        """Push ``n`` samples at once: ``t`` (n,), ``xyz`` (n, 3). The block is validated as a
        whole: if any sample is bad, none is consumed."""
        with self._lock:
            self._check_open()
            ts, xs = self._validate(t, xyz)
            if len(ts) == 0:
                return ReleasedBlock.empty()
            self._seal()
            self._observe(ts, xs)
            self._pending.append((ts.tolist(), np.array(xs)))  # the filter's own copy
            self._n_pending += len(ts)
            self._last_t = float(ts[-1])
            self._n_in += len(ts)
            return self._release_due(self._last_t - self.options.delay_s + _TIME_EPS)

    def flush(self) -> ReleasedBlock:
        """End of stream: release every pending sample (sources decide on what they still hold)."""
        with self._lock:
            self._check_open()
            for src in self.sources:
                try:
                    src.finish()
                except Exception as exc:  # fail closed: everything pending becomes sensitive
                    self._fault(f"sensitivity source {type(src).__name__} failed at finish: {exc!r}")
                    self._seal()
                    if self._pending:
                        self._fault_spans.add(self._pending[0][0][self._head], self._pending[-1][0][-1])
            return self._release(np.inf)

    def drain(self) -> ReleasedBlock:
        """Everything released since the last ``drain()`` (needs ``options.output_queue > 0``)."""
        with self._lock:
            block = ReleasedBlock.concat(list(self._queue))
            self._queue.clear()
            self._queued = 0
            return block

    @property
    def status(self) -> FilterStatus:
        with self._lock:
            return FilterStatus(
                replacing=self._in_segment,
                cover=self.cover,
                samples_in=self._n_in,
                samples_out=self._n_out,
                samples_replaced=self._n_replaced,
                pending=self._n_pending,
                segments=self._segments,
                faults=tuple(self._faults[-20:]),
                runtime=f"{self.generator.runtime.name} {self.generator.runtime.version}",
                bank_samples=self.bank.samples if self.bank is not None else 0,
                stride_segments=self._stride_segments,
                posture_segments=self._posture_segments,
                population_stillness_segments=self._population_stillness_segments,
                decoys=self._decoy_state(),
                decoy_segments=self._decoys.decoys_started if self._decoys is not None else 0,
                gaps=self._gaps,
                longest_gap_s=self._longest_gap,
                callback_failures=self._callback_failures,
                queue_dropped=self._queue_dropped,
            )

    @property
    def delay_s(self) -> float:
        """How long a sample waits before release (the release delay)."""
        return self.options.delay_s

    def clear_bank(self) -> None:
        """Forget the owner's cover bank (in memory and, if it has one, its file)."""
        with self._lock:
            if self.bank is not None:
                self.bank.clear()
                path = self.bank.options.path
                if path is not None and Path(path).exists():
                    Path(path).unlink()

    def save_bank(self) -> None:
        """Write the cover bank to its file now (``close()`` does it too), e.g. when a phone app
        is paused and may be stopped without closing; a bank without a file: nothing to do.
        A write that fails is a fault (``status.faults``), never an exception."""
        with self._lock:
            if self.bank is not None and self.bank.options.path is not None:
                try:
                    self.bank.save(self.bank.options.path)
                except OSError as exc:
                    self._fault(f"could not save the cover bank: {exc!r}")

    def close(self) -> None:
        """Stop the filter. Pending samples are withheld, never released: call ``flush()``
        first to release the tail of a finite stream."""
        with self._lock:
            self._pending.clear()
            self._tail_t.clear()
            self._tail_x.clear()
            self._head = self._n_pending = 0
            self._closed = True
            self.save_bank()

    def __enter__(self) -> "PrivacyFilter":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- input ------------------------------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError("the filter is closed")

    def _validate(self, t, xyz) -> tuple[np.ndarray, np.ndarray]:
        ts, xs = as_sample_block(t, xyz)
        if len(ts):
            d = np.diff(ts, prepend=self._last_t)  # the intervals, as the loop of _check_times takes them
            if np.isfinite(ts).all() and (d > 0).all():
                self._check_times(ts.tolist(), d.tolist())
            else:
                self._check_times(ts.tolist())  # raises on the first bad timestamp
        return ts, xs

    def _check_time(self, t: float) -> None:
        """``_check_times([t])`` in a few float operations when ``t`` is a regular next sample."""
        d = t - self._last_t
        if d > 0 and d <= self._gap and self._since_rate_check < 24 and math.isfinite(t):
            self._since_rate_check += 1
            self._dts.append(d)
        else:
            self._check_times([t])

    def _check_times(self, times: list[float], dts: list[float] | None = None) -> None:
        """Finite, strictly increasing, at the model's rate (median of recent intervals);
        gaps are counted and logged. Raises before changing any state. ``dts``: the
        intervals, when the caller has checked that the times are finite and increasing."""
        if dts is None:
            prev, dts = self._last_t, []
            for ti in times:
                if not math.isfinite(ti):
                    raise TimestampError(f"timestamps must be finite, got {ti!r}")
                if ti <= prev:
                    raise TimestampError(f"timestamp {ti!r} is not after the previous one {prev!r}")
                dts.append(ti - prev)
                prev = ti
        regular = [d for d in dts if d <= self._gap]
        if self._since_rate_check + len(regular) >= 25:
            recent = (list(self._dts) + regular)[-50:]
            if len(recent) >= 25:
                median = sorted(recent)[len(recent) // 2]
                if abs(median * self.rate_hz - 1) > self.options.rate_tolerance:
                    raise RateMismatchError(
                        f"stream runs at {1 / median:.1f} Hz, the model at {self.rate_hz:g} Hz; resample the stream first"
                    )
                self._since_rate_check = -len(regular)
        self._since_rate_check += len(regular)
        gaps = [d for d in dts if d > self._gap and math.isfinite(d)]
        if gaps:
            self._gaps += len(gaps)
            self._longest_gap = max(self._longest_gap, max(gaps))
            log.warning("gap of %.3f s in the stream before t=%.3f (tolerance %.3f s)", max(gaps), times[-1], self._gap)
        self._dts.extend(d for d in regular if math.isfinite(d))

    def _observe(self, ts: np.ndarray, xs: np.ndarray) -> None:
        for src in self._observers:
            try:
                src.observe(ts, xs)
            except Exception as exc:  # fail closed: what this source could not see is sensitive
                self._fault(f"sensitivity source {type(src).__name__} failed to observe: {exc!r}")
                self._fault_spans.add(float(ts[0]), float(ts[-1]))

    # -- release ----------------------------------------------------------------------------

    def _sensitive(self, ts: list[float]) -> list[bool]:
        """Whether each sample (increasing times) must be replaced: any source says so, a
        source fails (fail closed), or a fault span covers it."""
        n = len(ts)
        sens = None
        for src, query in self._queries:
            if query is not None:
                try:
                    mask = query(ts)
                    sens = mask if sens is None else [a or b for a, b in zip(sens, mask)]
                    continue
                except Exception:  # ask it one sample at a time below: faults are recorded there
                    pass
            if sens is None:
                sens = [False] * n
            for i in range(n):
                if sens[i]:
                    continue
                try:
                    sens[i] = bool(src.is_sensitive(ts[i]))
                except Exception as exc:  # fail closed
                    self._fault(f"sensitivity source {type(src).__name__} failed: {exc!r}")
                    sens[i] = True
        if sens is None:
            sens = [False] * n
        if self._fault_spans:
            sens = [a or b for a, b in zip(sens, self._fault_spans.mask(ts))]
        return sens

    def _sensitive_one(self, t: float) -> bool:
        """``_sensitive([t])[0]`` for one sample: each source's ``is_sensitive(t)`` (which its
        batch form equals for one sample), failing closed, then the fault spans."""
        for src in self.sources:
            try:
                if src.is_sensitive(t):
                    return True
            except Exception as exc:  # fail closed
                self._fault(f"sensitivity source {type(src).__name__} failed: {exc!r}")
                return True
        return self._fault_spans.contains(t)

    def _take(self, until: float) -> tuple[list[float], np.ndarray] | None:
        """Remove and return the pending samples stamped ``<= until`` (times, (n, 3) values):
        from the chunks, then, once every chunk is taken, from the tail."""
        pending, parts_t, parts_x = self._pending, [], []
        while pending:
            ts, xs = pending[0]
            h = self._head
            if ts[-1] <= until:  # the whole chunk
                pending.popleft()
                self._head = 0
                parts_t.append(ts[h:] if h else ts)
                parts_x.append(xs[h:] if h else xs)
                continue
            k = self._head = bisect_right(ts, until, h)
            if k > h:
                parts_t.append(ts[h:k])
                parts_x.append(xs[h:k])
            break
        tail_t = self._tail_t
        if not pending and tail_t and tail_t[0] <= until:  # the due samples of the tail
            tail_x = self._tail_x
            if tail_t[-1] <= until:
                k = len(tail_t)
                parts_t.append(list(tail_t))
                parts_x.append(np.array(tail_x, dtype=np.float64))
                tail_t.clear()
                tail_x.clear()
            else:
                k = 1
                while tail_t[k] <= until:
                    k += 1
                parts_t.append([tail_t.popleft() for _ in range(k)])
                parts_x.append(np.array([tail_x.popleft() for _ in range(k)], dtype=np.float64))
        if not parts_t:
            return None
        if len(parts_t) == 1:
            ts, xs = parts_t[0], parts_x[0]
        else:
            ts, xs = [t for p in parts_t for t in p], np.concatenate(parts_x)
        self._n_pending -= len(ts)
        return ts, xs

    def _release_due(self, until: float) -> ReleasedBlock:
        """``_release(until)``, unless releases go in groups (``release_every_s``) and the
        oldest waiting sample has not waited that much longer yet."""
        every = self.options.release_every_s
        if every:
            oldest = self._pending[0][0][self._head] if self._pending else (self._tail_t[0] if self._tail_t else None)
            if oldest is not None and oldest > until - every:
                return ReleasedBlock.empty()
        return self._release(until)

    def _seal(self) -> None:
        """Move the samples pushed one at a time into the pending chunks, as one chunk."""
        if self._tail_t:
            self._pending.append((list(self._tail_t), np.array(self._tail_x, dtype=np.float64)))
            self._tail_t.clear()
            self._tail_x.clear()

    def _release(self, until: float) -> ReleasedBlock:
        """Release the pending samples stamped ``<= until``, in runs: a run of samples to
        replace is drawn from the segment's stream, a run of real samples is copied (the
        first ones of it crossfaded after a segment). With decoys, whose scheduler decides
        sample by sample, a decoy is a run of one and a real run ends where a decoy starts."""
        if not self._decoys_checked:
            self._setup_decoys()
        taken = self._take(until)
        if taken is None:
            return ReleasedBlock.empty()
        ts, y = taken  # y: the released values, the filter's own array (real samples stay as they are)
        return self._release_taken(ts, y, self._sensitive(ts), until)

    def _release_one(self, until: float) -> ReleasedBlock:
        """``_release(until)`` when exactly one sample is due, it is the oldest of the tail,
        and no segment, crossfade, decoy scheduler, grouped release or fault span is active
        (``push`` checks that): the sources are asked about it, and if none says sensitive
        it is released as it came, with the same block, history, bank, pruning and delivery
        as the general path (tested bit for bit against it); else the general path takes it."""
        t0 = self._tail_t.popleft()
        row = self._tail_x.popleft()
        self._n_pending -= 1
        if self._sensitive_one(t0):  # replaced: the general path, with the sources' answer
            return self._release_taken([t0], np.array([row], dtype=np.float64), [True], until)
        self._history_rows.append(row)
        bank = self.bank
        if bank is not None:
            try:
                bank.add_released_one(t0, row)
            except Exception as exc:  # the bank only ever sees released data: failing it risks nothing
                self._fault(f"cover bank failed, turned off: {exc!r}")
                self.bank = None
        self._n_out += 1
        self._unpruned += 1
        if self._unpruned >= _PRUNE_EVERY:
            self._prune(t0)
        block = ReleasedBlock(np.array(t0, ndmin=1), np.array(row, ndmin=2), np.zeros(1, bool))
        if self.options.output_queue > 0 or self.on_release is not None:
            return self._deliver(block)
        return block

    def _release_taken(self, ts: list[float], y: np.ndarray, sens: list, until: float) -> ReleasedBlock:
        """The general release of the taken samples ``ts`` / ``y`` given the sources' ``sens``."""
        n = len(ts)
        decoys = self._decoys
        replaced = np.zeros(n, bool)
        real = [True] * n  # released as the real input sample itself (no crossfade): the bank may keep it
        i = kept = 0  # y[:kept] went to the history and the bank already
        while i < n:
            s = sens[i]
            rep = s or (decoys is not None and decoys.decoy_next)
            if rep:
                j = i + 1
                while s and j < n and sens[j]:
                    j += 1
                if not self._in_segment and i > kept:  # a segment sees everything released before it
                    self._hand_over(ts, y, real, kept, i)
                    kept = i
                y[i:j] = self._synthetic(j - i)
                replaced[i:j] = True
                real[i:j] = [False] * (j - i)
                self._n_replaced += j - i
            else:
                j = i + 1
                if decoys is None or not (self._in_segment or self._crossfade_left):
                    while j < n and not sens[j]:
                        j += 1
                if self._in_segment or self._crossfade_left:
                    blended = self._crossfade(y, i, j)
                    real[i : i + blended] = [False] * blended
            if decoys is not None:
                for k in range(i, j):
                    try:
                        decoys.released(ts[k], y[k], rep, sens[k])
                    except Exception as exc:  # decoys are optional: stop them, keep filtering
                        self._fault(f"decoys stopped: {exc!r}")
                        self._decoys = decoys = None
                        break
                    if not rep and decoys.decoy_next and k + 1 < j:
                        j = k + 1  # a decoy starts with the next sample
                        break
            i = j
        self._hand_over(ts, y, real, kept, n)
        self._n_out += n
        self._unpruned += n
        if self._unpruned >= _PRUNE_EVERY or until == np.inf:  # pruning is only housekeeping
            self._prune(ts[-1])
        return self._deliver(ReleasedBlock(np.array(ts), y.copy(), replaced))  # the app's own copy

    def _prune(self, t: float) -> None:
        """Every sample up to ``t`` is released: the sources and the fault spans forget before it."""
        self._unpruned = 0
        for src in self.sources:
            try:
                src.forget_before(t)
            except Exception as exc:
                self._fault(f"sensitivity source {type(src).__name__} failed to prune: {exc!r}")
        self._fault_spans.forget_before(t)

    def _deliver(self, block: ReleasedBlock) -> ReleasedBlock:
        """A released block goes to the output queue and the callback, and is returned."""
        if self.options.output_queue > 0:
            self._enqueue(block)
        if self.on_release is not None:
            try:
                self.on_release(block)
            except Exception as exc:  # the block still leaves in the return value: nothing is lost
                self._callback_failures += 1
                self._fault(f"on_release callback raised on {len(block)} samples (returned, not retried): {exc!r}")
        return block

    def _hand_over(self, ts: list[float], y: np.ndarray, real: list[bool], a: int, b: int) -> None:
        """Released samples ``a:b`` go to the history and the cover bank (before a segment
        starts, so that it sees everything released before it, however the stream was cut)."""
        if b <= a:
            return
        self._remember(y[a:b])
        if self.bank is not None:
            try:
                self.bank.add_released(ts[a:b] if a or b < len(ts) else ts, y[a:b], real[a:b] if a or b < len(ts) else real)
            except Exception as exc:  # the bank only ever sees released data: failing it risks nothing
                self._fault(f"cover bank failed, turned off: {exc!r}")
                self.bank = None

    def _remember(self, y: np.ndarray) -> None:
        """Keep the latest ``priming`` released values (the context of the next segment)."""
        if self._history_rows:
            self._seal_history()
        self._history.append(y)
        self._n_history += len(y)
        while self._n_history - len(self._history[0]) >= self.generator.priming:
            self._n_history -= len(self._history.popleft())

    def _seal_history(self) -> None:
        """Move the values released one at a time (``_history_rows``) into the history, as one chunk."""
        if self._history_rows:
            rows = np.array(self._history_rows, dtype=np.float64)
            self._history_rows.clear()
            self._remember(rows)

    def _context(self) -> np.ndarray:
        """The latest released values, up to ``priming`` of them, (n, 3)."""
        self._seal_history()
        if not self._history:
            return np.empty((0, 3))
        return np.concatenate(self._history)[-self.generator.priming :]

    def _enqueue(self, block: ReleasedBlock) -> None:
        self._queue.append(block)
        self._queued += len(block)
        while self._queued > self.options.output_queue and len(self._queue) > 1:
            n = len(self._queue.popleft())
            self._queued -= n
            if not self._queue_dropped:
                self._fault(f"output queue full ({self.options.output_queue} samples): drain() falls behind, oldest blocks dropped")
            self._queue_dropped += n

    def _start_segment(self) -> None:
        self._segments += 1
        self._broken = False
        self._seal_history()
        self._fallback = self._history[-1][-1].copy() if self._history else self.generator.population_level.copy()
        bank = self.bank
        seed = [self.options.seed, self._segments]
        try:
            context = self._context()
            strides = bank.stride_model(context) if bank is not None else None
            postures = bank.posture_model() if bank is not None and strides is None else None
            if strides is not None:  # the owner's own strides, mixed anew (sdk.strides)
                stream = StrideStream(strides, seed)
                stream.prime(context, level=bank.level(context))
                self._stride_segments += 1
            elif postures is not None:  # the owner's own stillness, drawn anew (sdk.postures)
                stream = PostureStream(postures, seed)
                stream.prime(context)  # at the live level: a posture's level is read to the mg
                self._posture_segments += 1
            elif (population := self._population_stillness()) is not None:  # a static cover, the bank too short
                stream = PostureStream(population, seed)
                stream.prime(context)
                self._population_stillness_segments += 1
            else:
                stream = SyntheticStream(
                    self.generator, self.cover, seed=seed, sampling=self.options.sampling, cadence=bank.cadence() if bank is not None else None
                )
                reference = bank.clip(context=context) if bank is not None and bank.options.reference_s > 0 else None
                stream.prime(context, reference=reference, level=bank.level(context) if bank is not None else None)
            self._stream = stream
        except Exception as exc:  # fail closed: hold the fallback for this segment
            self._fault(f"generator failed while priming segment {self._segments}: {exc!r}")
            self._stream, self._broken = None, True

    def _population_stillness(self) -> PopulationStillness | None:
        """The generator file's population stillness of the cover, with the bank's posture
        options (level, overlap, join), if the cover is static and the option is on."""
        if not self.options.population_stillness:
            return None
        opts = self.options.cover_bank.postures if self.options.cover_bank is not None else None
        return self.generator.population_stillness(self.cover, opts or PostureOptions())

    def _synthetic(self, m: int) -> np.ndarray:
        """The next ``m`` replaced values (m, 3). If the generator fails, the rest of the
        segment holds the last safe value (fail closed)."""
        if not self._in_segment:
            if self._crossfade_left == 0 or self._stream is None:
                self._start_segment()
            self._in_segment, self._crossfade_left = True, 0
        out = np.empty((m, 3))
        done = 0
        if not self._broken and self._stream is not None:
            try:
                while done < m:
                    rows = self._stream.take(m - done)
                    out[done : done + len(rows)] = rows
                    done += len(rows)
                    self._fallback = rows[-1]
            except Exception as exc:  # fail closed: hold the last safe value
                self._fault(f"generator failed in segment {self._segments}: {exc!r}")
                self._broken = True
        out[done:] = self._fallback
        return out

    def _crossfade(self, y: np.ndarray, i: int, j: int) -> int:
        """Real samples ``y[i:j]`` after a segment: blend the first ones from the synthetic
        stream into the real one, in place; returns how many were blended."""
        if self._in_segment:
            self._in_segment = False
            self._crossfade_left = self._crossfade_n if not self._broken else 0
        blend = min(j - i, self._crossfade_left)
        for k in range(i, i + blend):
            w = (self._crossfade_n - self._crossfade_left + 1) / (self._crossfade_n + 1)
            self._crossfade_left -= 1
            try:
                s = self._stream.next()
            except Exception as exc:
                self._fault(f"generator failed during crossfade: {exc!r}")
                self._crossfade_left = 0
                return k - i
            y[k] = (1 - w) * s + w * y[k]
        return blend

    def _setup_decoys(self) -> None:
        """Decoys start with the stream, with the detector known by then (see ``sdk.decoys``)."""
        self._decoys_checked = True
        opts = self.options.decoys
        try:
            seed = np.random.SeedSequence(self.options.seed, spawn_key=(0xDEC0,))
            self._decoys = scheduler_for(opts, self.sources, self.cover, seed, self.rate_hz)
        except Exception as exc:  # no decoys is safe: real sensitive data is never at stake
            self._fault(f"decoys disabled: {exc}")

    def _decoy_state(self) -> str:
        if self._decoys is not None:
            return f"rate {self.options.decoys.rate:g}"
        if not self.options.decoys.enabled:
            return "off"
        return "waiting for the stream" if not self._decoys_checked else "off (no activity detector)"

    def _fault(self, message: str) -> None:
        log.warning(message)
        self._faults.append(message)
        del self._faults[:-100]


def _resolve_cover(cover: str | None, sources) -> str:
    """The filter's cover activity: the option, else the policies' cover, else WALKING.

    Raises:
        ValueError: the option and a source's policy name different covers.
    """
    covers = {str(p.cover) for p in (getattr(s, "policy", None) for s in sources) if getattr(p, "cover", None)}
    chosen = cover.strip().upper() if cover is not None else None
    if len(covers) > 1 or (chosen is not None and covers and covers != {chosen}):
        raise ValueError(f"conflicting cover activities: FilterOptions says {chosen}, the policies say {sorted(covers)}")
    return chosen or (covers.pop() if covers else "WALKING")


def filter_recording(
    t,
    xyz,
    options: FilterOptions | None = None,
    sources: Iterable[SensitivitySource] = (),
    generator: Generator | None = None,
    *,
    return_status: bool = False,
) -> ReleasedBlock | tuple[ReleasedBlock, FilterStatus]:
    """Filter a whole recording: push it and flush. One output row per input row.

    Returns:
        the released block; with ``return_status=True``, ``(block, status)`` where ``status``
        is the filter's final ``FilterStatus`` (segments, faults, gaps).
    """
    f = PrivacyFilter(options, sources, generator=generator)
    blocks = [f.push_block(t, xyz), f.flush()]
    status = f.status
    f.close()
    out = ReleasedBlock.concat(blocks)
    return (out, status) if return_status else out
