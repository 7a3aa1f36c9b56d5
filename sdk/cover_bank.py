"""The cover bank: the owner's own recent walking (or whatever the cover activity is), kept so
that a replaced segment continues *this* person's gait rather than a population average.

Only samples the filter has already **released as real** ever enter the bank, and only in
windows that the activity detector labels as the cover activity with high confidence. The
bank therefore holds nothing an app has not already received, and a replaced segment that
is primed on it still depends only on (model, seed, samples released before the segment):
noninterference holds with or without a bank.

Memory is bounded: ``capacity_s`` seconds of 3-axis float64 samples (60 s at 50 Hz: 72 KB),
the oldest dropped first (recent first: the phone's placement changes between recordings).
The bank may be saved to a file the app owns and restored later; a corrupt or foreign file
is refused with ``CoverBankError`` and leaves the bank empty (a foreign one, another cover's
or rate's, with ``ForeignBankError``: the filter then never overwrites it).
"""
from __future__ import annotations

import io
import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .detector import windows_ending
from .errors import SenseGenError
from .gait import DYNAMIC, Cadence, cadence
from .postures import STATIC, PostureModel, PostureOptions
from .strides import StrideModel, StrideOptions

log = logging.getLogger(__name__)

BANK_FORMAT = "sensegen-cover-bank"
BANK_FORMAT_VERSION = 1


def rotation_between(a: np.ndarray, b: np.ndarray) -> np.ndarray | None:
    """The smallest rotation (3, 3) taking the direction of ``a`` onto that of ``b``
    (Rodrigues), or ``None`` when either is too short to have a direction."""
    na, nb = float(np.linalg.norm(a)), float(np.linalg.norm(b))
    if na < 1e-3 or nb < 1e-3:
        return None
    u, v = np.asarray(a, np.float64) / na, np.asarray(b, np.float64) / nb
    c = float(u @ v)
    if c < -1 + 1e-9:  # opposite: half a turn about any axis perpendicular to u
        axis = np.cross(u, np.eye(3)[int(np.argmin(np.abs(u)))])
        axis /= np.linalg.norm(axis)
        return 2 * np.outer(axis, axis) - np.eye(3)
    w = np.cross(u, v)
    k = np.array([[0, -w[2], w[1]], [w[2], 0, -w[0]], [-w[1], w[0], 0]])
    return np.eye(3) + k + k @ k / (1 + c)


class CoverBankError(SenseGenError, ValueError):
    """A cover-bank file is unreadable, corrupt, or belongs to another cover or rate."""


class ForeignBankError(CoverBankError):
    """A readable cover-bank file of another cover activity or rate: someone's bank to keep."""


@dataclass(frozen=True)
class CoverBankOptions:
    """How the filter keeps and uses the owner's cover bank.

    Attributes:
        capacity_s: seconds of cover-activity samples kept (oldest dropped first).
        min_confidence: detector probability of the cover activity needed to keep a window.
        reference_s: seconds of the most recent bank clip a replaced segment is primed on
            (0: the bank only sets the cadence of the gait clock).
        min_clip_s: a clip shorter than this is not used.
        path: a file the app owns, restored when the filter starts and written by
            ``PrivacyFilter.close()``; ``None`` keeps the bank in memory only.
        strides: draw replaced segments of a walking cover from the owner's own strides
            (``sdk.strides``) once the bank holds enough of them; ``None``: the bank only
            primes the generator (cadence, level, reference clip).
        placement_tolerance_g: a segment takes its level (the phone's mean, g) from the
            bank's latest clip while the live context's mean sits within this of it, i.e. the
            phone is where it was (a stair's lean moves the mean by 0.1-0.2 g, a phone moved
            from pocket to hand by far more); else from the context.
        align_placement: a run recorded with the phone placed otherwise (its mean more than
            ``placement_tolerance_g`` from the live context's) is turned onto the live
            gravity direction before strides are cut from it (``stride_model(context)``);
            ``False`` uses every run as stored.
    """

    capacity_s: float = 60.0
    min_confidence: float = 0.8
    reference_s: float = 5.0
    min_clip_s: float = 2.6
    placement_tolerance_g: float = 0.25
    align_placement: bool = True
    path: str | Path | None = None
    strides: StrideOptions | None = field(default_factory=StrideOptions)
    postures: PostureOptions | None = field(default_factory=PostureOptions)

    def __post_init__(self) -> None:
        if not (
            self.capacity_s > 0 and 0 <= self.min_confidence <= 1 and self.reference_s >= 0 and self.min_clip_s > 0 and self.placement_tolerance_g >= 0
        ):
            raise ValueError(
                "cover bank needs capacity_s > 0, 0 <= min_confidence <= 1, reference_s >= 0, min_clip_s > 0 and placement_tolerance_g >= 0, got "
                f"{self.capacity_s}, {self.min_confidence}, {self.reference_s}, {self.min_clip_s}, {self.placement_tolerance_g}"
            )


class CoverBank:
    """A bounded store of the owner's released real samples of the cover activity.

    Args:
        cover: the cover activity (a name the detector knows).
        rate_hz: the stream's sample rate.
        detector: an ``ActivityDetector`` (``classes``, ``window``, ``hop``, ``predict_proba``).
        options: ``CoverBankOptions``.
        windows: the ``recent_windows`` of a ``DetectorSource`` running ``detector`` on the
            input stream: the result of a window whose samples were all released as real is
            read there instead of classifying the same samples again.
    """

    def __init__(self, cover: str, rate_hz: float, detector, options: CoverBankOptions | None = None, windows=None):
        self.cover = cover
        self.windows = windows
        self.rate_hz = float(rate_hz)
        self.options = options or CoverBankOptions()
        self.detector = detector
        self._cover_index = list(detector.classes).index(cover)
        self._window, self._hop = int(detector.window), int(detector.hop)
        # released real samples are looked at in batches of this many (the detector costs far
        # less per window in a batch: 8 windows cost 0.6x 4 windows each, beyond that numpy's
        # BLAS may start threads that cost more than they save); reading a detector source's
        # results costs little, so batches stay smaller there (its results are kept for a few
        # hundred windows only); whatever reads the bank first catches up (``_catch_up``)
        self._batch = max(self._hop, (4 if windows is not None else 8) * self._window)
        self._capacity = int(round(self.options.capacity_s * self.rate_hz))
        self._max_dt = 1.5 / self.rate_hz
        self.clear()

    # -- filling -----------------------------------------------------------------------------

    def clear(self) -> None:
        """Forget everything (the store and the run being classified)."""
        self._runs: list[np.ndarray] = []  # contiguous clips, oldest first
        self._stored = 0
        self._pending_t: list[float] = []  # released real samples not looked at yet (less than a hop)
        self._pending_x: list[np.ndarray] = []
        self._pending_rows: list[float] = []  # the newest of them, added one at a time: ax, ay, az, ax, …
        self._reset_run()
        self._cadence: Cadence | None = None
        self._cadence_stale = True
        self._strides: StrideModel | None = None
        self._strides_stale = True
        self._stride_cuts: dict = {}  # the strides cut from each run, reused while the run is unchanged (StrideModel.fit)
        self._postures: PostureModel | None = None
        self._postures_stale = True

    def add_released(self, t, xyz: np.ndarray, real) -> None:
        """Offer a released block: ``t`` (n,) times, ``xyz`` (n, 3) and ``real`` (n,) bools,
        True where the released sample is the real input sample itself (not synthetic, not
        a crossfade). Only windows made wholly of one run of real samples (no gap) are
        classified (or their result read from the ``DetectorSource``, see ``windows``) and
        possibly kept; the windows tile each run from its first sample, so how the stream
        was cut into blocks does not matter. Samples are looked at a few windows at a
        time, and before anything reads the bank, so one-sample blocks cost a few list
        operations. ``xyz`` is not copied: the caller
        must not change it afterwards."""
        n = len(t)
        if n == 1:  # the per-sample push: a few list operations unless a hop is complete
            if not real[0]:
                self._break_run()
                return
            t0 = float(t[0])
            if t0 - self._last_t > self._max_dt:
                self._break_run()
            self._queue([t0], xyz)
            return
        if n == 0:
            return
        if not any(real):  # a replaced block: the run ends, nothing to look at
            self._break_run()
            return
        if all(real):  # the usual block: all real; if without a gap, one run continued or started
            tl = t if type(t) is list else np.asarray(t, np.float64).tolist()
            m = self._max_dt
            if all(b - a <= m for a, b in zip(tl, tl[1:])):
                if tl[0] - self._last_t > m:
                    self._break_run()
                self._queue(tl, xyz)
                return
        tt = np.asarray(t, np.float64)
        ok = np.asarray(real, bool)
        # cont[i]: sample i continues the run of real samples before it (no gap in between)
        cont = np.empty(n, bool)
        cont[0] = ok[0] and float(tt[0]) - self._last_t <= self._max_dt
        cont[1:] = ok[1:] & ok[:-1] & (np.diff(tt) <= self._max_dt)
        bounds = np.flatnonzero(~cont).tolist() + [n]
        if bounds[0] > 0:
            self._queue(tt[: bounds[0]].tolist(), xyz[: bounds[0]])
        for a, b in zip(bounds[:-1], bounds[1:]):
            self._break_run()
            if ok[a]:  # a run of real samples starts at a (a sample that is not real stands alone)
                self._queue(tt[a:b].tolist(), xyz[a:b])

    def add_released_one(self, t: float, row: tuple[float, float, float]) -> None:
        """``add_released([t], np.array([row]), [True])`` for one real sample given as plain
        floats (the filter's one-sample release): a list append unless a batch is complete."""
        if t - self._last_t > self._max_dt:
            self._break_run()
        self._pending_t.append(t)
        self._pending_rows += row
        self._last_t = t
        if len(self._pending_t) >= self._batch:
            self._flush()

    def _seal_rows(self) -> None:
        """The samples added one at a time as plain floats join ``_pending_x`` as one array."""
        if self._pending_rows:  # a flat list of floats makes an array 6x faster than a list of rows
            self._pending_x.append(np.array(self._pending_rows, dtype=np.float64).reshape(-1, 3))
            self._pending_rows = []

    def _queue(self, t: list[float], x: np.ndarray) -> None:
        if self._pending_rows:
            self._seal_rows()
        self._pending_t += t
        self._pending_x.append(x)
        self._last_t = t[-1]
        if len(self._pending_t) >= self._batch:
            self._flush()

    def _catch_up(self) -> None:
        """Judge the complete windows of what was released so far (before the bank is read)."""
        self._flush()

    def _flush(self) -> None:
        if self._pending_rows:
            self._seal_rows()
        if self._pending_t:
            t, x = np.array(self._pending_t, np.float64), np.concatenate(self._pending_x)
            self._pending_t, self._pending_x = [], []
            self._extend(t, x)

    def _break_run(self) -> None:
        """The run of real samples ends: look at what is pending, then start afresh."""
        if self._last_t > -np.inf:  # a run is held (it set the time of its newest sample)
            self._flush()
            self._reset_run()

    def _reset_run(self) -> None:
        # nothing of a run is held: run buffer and times as reset (``_last_t`` -inf says so)
        self._run_t, self._run_x = np.empty(0), np.empty((0, 3))
        self._run_start_t = np.inf
        self._judged_t = -np.inf  # end time of the newest window judged in this run
        self._kept_t = -np.inf  # end time of the newest sample stored from this run
        self._last_t = -np.inf

    def _extend(self, t: np.ndarray, x: np.ndarray) -> None:
        if not len(self._run_t):
            self._run_start_t = float(t[0])
        rt, rx = np.concatenate([self._run_t, t]), np.concatenate([self._run_x, x])
        for t0, t1, probs in self._windows_in(rt, rx):
            if not self._keeps(probs):
                continue
            lo, hi = int(np.searchsorted(rt, max(t0, np.nextafter(self._kept_t, np.inf)))), int(np.searchsorted(rt, t1, "right"))
            self._store(rx[lo:hi], extend=t0 - self._kept_t <= self._max_dt)  # overlapping or side by side
            self._kept_t = t1
        # keep at least two windows; drop whole windows only, so rt[0] stays on the run's tiling
        keep = max(0, len(rt) - 2 * self._window)
        keep -= keep % self._window
        self._run_t, self._run_x = rt[keep:], rx[keep:]

    def _windows_in(self, rt: np.ndarray, rx: np.ndarray):
        """(start, end, probs) of the windows not judged yet that lie inside the run."""
        w = self._window
        if self.windows is not None:  # the detector source's results for windows of released real samples
            first = max(self._run_start_t, float(rt[0]))
            found = [(r.t_start, r.t_end, r.probs) for r in windows_ending(self.windows, float(rt[-1]), self._judged_t) if r.t_start >= first]
            if found or len(rt) < w + self._hop:  # a source window inside the run is due within a hop
                self._judged_t = max([self._judged_t] + [f[1] for f in found])
                return found
        # no source result (none, or it no longer keeps them): classify the run's own
        # windows, side by side (a bank needs no overlap: a fifth of the detector's work)
        first = int(np.searchsorted(rt, self._judged_t, "right"))  # right after the last judged window
        ends = list(range(first + w, len(rt) + 1, w))
        if not ends:
            return []
        probs = self.detector.predict_proba(np.stack([rx[e - w : e] for e in ends]))
        self._judged_t = float(rt[ends[-1] - 1])
        return [(float(rt[e - w]), float(rt[e - 1]), p) for e, p in zip(ends, probs)]

    def _keeps(self, probs) -> bool:
        if probs is None:
            return False
        p = np.asarray(probs, np.float64).reshape(-1)
        return bool(np.all(np.isfinite(p)) and int(np.argmax(p)) == self._cover_index and p[self._cover_index] >= self.options.min_confidence)

    def _store(self, x: np.ndarray, extend: bool) -> None:
        if extend and self._runs:
            self._runs[-1] = np.concatenate([self._runs[-1], x])
        else:
            self._runs.append(x.copy())
        self._stored += len(x)
        while self._stored > self._capacity:
            over = self._stored - self._capacity
            first = self._runs[0]
            if len(first) <= over:
                self._runs.pop(0)
                self._stored -= len(first)
            else:
                self._runs[0] = first[over:]
                self._stored -= over
        self._cadence_stale = self._strides_stale = self._postures_stale = True

    # -- using -------------------------------------------------------------------------------

    @property
    def samples(self) -> int:
        """Samples held."""
        self._catch_up()
        return self._stored

    @property
    def nbytes(self) -> int:
        """Memory held by the samples (bounded by ``capacity_s``)."""
        self._catch_up()
        return sum(r.nbytes for r in self._runs)

    def clip(self, seconds: float | None = None, context: np.ndarray | None = None) -> np.ndarray | None:
        """The last ``seconds`` (default ``reference_s``) of the most recent run long enough
        to use, or ``None`` when the bank has none. With the live ``context`` (and
        ``options.align_placement``) a clip of another placement is turned onto the
        context's gravity direction, as ``stride_model`` turns its runs."""
        self._catch_up()
        n = int(round((self.options.reference_s if seconds is None else seconds) * self.rate_hz))
        need = int(round(self.options.min_clip_s * self.rate_hz))
        for run in reversed(self._runs):
            if len(run) >= need:
                if n <= 0:
                    return None
                out = run[-n:].copy()
                if context is not None and len(context) and self.options.align_placement:
                    turned = self._turned(out, np.asarray(context, np.float64).mean(axis=0))
                    out = out if turned is None else turned
                return out
        return None

    def level(self, context: np.ndarray) -> np.ndarray | None:
        """The owner's level (mean, g) while doing the cover activity, from the most recent
        usable clip, if the live ``context`` (samples just before a segment) sits within
        ``options.placement_tolerance_g`` of it (same placement of the phone); else ``None``."""
        clip = self.clip()
        if clip is None or len(context) == 0:
            return None
        mean = clip.mean(axis=0)
        return mean if self._same_placement(mean, np.asarray(context, np.float64).mean(axis=0)) else None

    def _same_placement(self, mean: np.ndarray, live: np.ndarray) -> bool:
        """Whether a bank mean (g) sits within ``options.placement_tolerance_g`` of the live
        context's mean: the phone is where it was."""
        return float(np.linalg.norm(mean - live)) <= self.options.placement_tolerance_g

    def cadence(self) -> Cadence | None:
        """The owner's step frequency and jitter over the bank's longest recent runs."""
        self._catch_up()
        if self._cadence_stale:
            runs = [r for r in self._runs if len(r) >= 2 * self.rate_hz]
            found = [c for c in (cadence(r, self.rate_hz) for r in runs[-6:]) if c is not None]
            self._cadence = (
                Cadence(float(np.median([c.step_hz for c in found])), float(np.median([c.jitter for c in found]))) if found else None
            )
            self._cadence_stale = False
        return self._cadence

    def stride_model(self, context: np.ndarray | None = None) -> StrideModel | None:
        """The owner's strides (``sdk.strides``) over the bank's runs, or ``None`` when the
        cover has no gait, stride synthesis is off, or the bank holds too few strides.

        ``context``: the live samples just before a segment. A run whose mean (the phone's
        gravity direction then) sits more than ``options.placement_tolerance_g`` from the
        context's was recorded with the phone placed otherwise (another pocket, the hand): it
        is turned by the smallest rotation that takes its gravity direction onto the
        context's, so its vertical bounce lies along today's vertical."""
        self._catch_up()
        opts = self.options.strides
        if opts is None or self.cover.strip().upper() not in DYNAMIC:
            return None
        runs = self._placed_runs(context) if context is not None and self.options.align_placement else None
        if runs is not None:  # some runs turned to the live placement: a model for this segment only
            return StrideModel.fit(runs, self.rate_hz, opts, cache=self._stride_cuts)
        if self._strides_stale:
            self._strides = StrideModel.fit(self._runs, self.rate_hz, opts, cache=self._stride_cuts)
            self._strides_stale = False
        return self._strides

    def _placed_runs(self, context: np.ndarray) -> list[np.ndarray] | None:
        """The bank's runs with those of another placement turned to the ``context``'s
        gravity direction, or ``None`` when every run sits within the tolerance of it."""
        ctx = np.asarray(context, np.float64)
        if len(ctx) == 0:
            return None
        target = ctx.mean(axis=0)
        placed = [self._turned(run, target) for run in self._runs]
        if all(p is None for p in placed):
            return None
        return [run if p is None else p for run, p in zip(self._runs, placed)]

    def _turned(self, run: np.ndarray, target: np.ndarray) -> np.ndarray | None:
        """``run`` turned so that its mean points along ``target`` (the live gravity
        direction), or ``None`` when it sits within the placement tolerance of it already."""
        mean = run.mean(axis=0)
        if self._same_placement(mean, target):
            return None
        rot = rotation_between(mean, target)
        return None if rot is None else run @ rot.T

    def posture_model(self) -> PostureModel | None:
        """The owner's stillness (``sdk.postures``) over the bank's runs, or ``None`` when the
        cover is not a static posture, posture texture is off, or the bank holds too little."""
        self._catch_up()
        opts = self.options.postures
        if opts is None or self.cover.strip().upper() not in STATIC:
            return None
        if self._postures_stale:
            self._postures = PostureModel.fit(self._runs, self.rate_hz, opts)
            self._postures_stale = False
        return self._postures

    # -- persistence -------------------------------------------------------------------------

    def save(self, path: str | Path) -> None:
        """Write the store to ``path`` atomically (numpy ``.npz``, no pickles)."""
        self._catch_up()
        header = {"format": BANK_FORMAT, "format_version": BANK_FORMAT_VERSION, "cover": self.cover, "rate_hz": self.rate_hz}
        arrays = {f"run{i}": r for i, r in enumerate(self._runs)}
        buf = io.BytesIO()
        np.savez(buf, header=np.frombuffer(json.dumps(header).encode(), np.uint8), **arrays)
        path = Path(path)
        tmp = path.with_name(f".{path.name}.partial")
        tmp.write_bytes(buf.getvalue())
        os.replace(tmp, path)

    def load(self, path: str | Path) -> None:
        """Replace the store with the file's.

        Raises:
            CoverBankError: unreadable, corrupt, or written for another cover or rate; the
                bank is then empty.
        """
        self.clear()
        try:
            with np.load(Path(path), allow_pickle=False) as data:
                header = json.loads(bytes(data["header"]).decode())
                runs = [np.asarray(data[k], np.float64) for k in sorted((k for k in data.files if k.startswith("run")), key=lambda k: int(k[3:]))]
        except Exception as exc:
            raise CoverBankError(f"{path}: not a readable cover-bank file ({type(exc).__name__}: {exc})") from None
        if header.get("format") != BANK_FORMAT or header.get("format_version") != BANK_FORMAT_VERSION:
            raise CoverBankError(f"{path}: not a cover-bank file of format {BANK_FORMAT} v{BANK_FORMAT_VERSION} ({header.get('format')!r} v{header.get('format_version')!r})")
        if header.get("cover") != self.cover or abs(float(header.get("rate_hz", 0)) - self.rate_hz) > 1e-6:
            raise ForeignBankError(f"{path}: bank of {header.get('cover')} at {header.get('rate_hz')} Hz, not {self.cover} at {self.rate_hz:g} Hz")
        if any(r.ndim != 2 or r.shape[1] != 3 or not np.isfinite(r).all() for r in runs):
            raise CoverBankError(f"{path}: corrupt cover-bank samples (need finite (n, 3) arrays)")
        for r in runs:
            self._store(r, extend=False)
