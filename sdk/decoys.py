"""Decoy segments: the filter also replaces some stretches of the cover activity itself, so an
observer who spots a synthetic segment cannot conclude "the owner was doing something
sensitive right then" (DESIGN.md, "Decoys and what an observer learns").

What a decoy may depend on (the privacy argument, tested by the noninterference test):

* The scheduler never reads samples that were not released as real. It is shown each sample
  as it is *released* (``released``) and reads the detector's view only of windows whose
  samples were all released with ``replaced=False`` (it classifies those released samples
  itself, or reuses a ``DetectorSource``'s result for exactly such a window). Windows that
  reach into the release buffer, where a sensitive onset may be waiting, are never read.
* Where a decoy starts: a seeded Poisson process that runs only while the latest such window
  shows the cover activity (detector probability ``>= cover_probability``).
* How long it lasts: drawn when it starts, from the lengths of the replaced segments the
  sensitivity sources produced so far (the app sees those lengths through ``replaced=True``;
  a segment that merged with a decoy is not counted),
  mixed with a documented default distribution while few have been seen; a small random
  jitter keeps a decoy from copying a past length exactly. A decoy never ends early: its
  length cannot depend on the data it hides.
* Which length class it falls in (``balance``): an observer sees lengths, so what matters is
  P(policy | a synthetic segment of this length), per length bin (``bins_s``). Decoys whose
  bins follow the policy's bin shares equalise that posterior across bins, which is the best a
  given decoy-time budget can do for the worst bin; drawing each decoy independently reaches
  those shares only on average, and a rare bin (long stair flights) often gets no decoy at all.
  With ``balance`` > 0 the bin of the next decoy is drawn from a mixture: ``1 - balance`` of the
  policy's shares and ``balance`` of the shares the decoys made so far lack (the bins where the
  policy is over-represented among the segments the app saw). Every bin keeps at least
  ``1 - balance`` of its share, so an observer who knows the rule and the history never sees a
  length that no decoy could have had. The counts read are again lengths of released replaced
  runs only. Off by default (``DEFAULT_BALANCE``): on the held-out users it gained nothing
  measurable over copying (README "Decoys").

The filter marks decoy samples ``replaced=True`` and makes them with the same generator path
(priming, crossfade) as sensitive segments, so neither the flag nor the seams tell them apart.
"""
from __future__ import annotations

import logging
import math
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .detector import windows_ending

log = logging.getLogger(__name__)

#: default decoy rate: expected share of cover-activity time replaced by decoys (chosen from
#: ``benchmarks/decoys.py``; see the README section "Decoys")
DEFAULT_DECOY_RATE = 0.3

#: default ``DecoyOptions.balance``: 0, each decoy copies a drawn length. Balancing (0.5)
#: measured no gain on the held-out users (``benchmarks/decoys.py``; README "Decoys").
DEFAULT_BALANCE = 0.0

#: Default length distribution (seconds): the 20 quantiles (2.5 %, 7.5 %, ... 97.5 %) of the 231
#: segments the bundled detector replaces when it hides WALKING_UPSTAIRS as WALKING (release
#: delay 3 s) in the 23 HAPT recordings of the users *not* in the evaluation (all but 3, 4, 15,
#: 20). Used, with weight ``prior_weight``, until the policy has produced segments of its own.
DEFAULT_LENGTHS_S: tuple[float, ...] = (
    3.6, 3.7, 4.1, 4.1, 4.1, 4.2, 4.5, 4.6, 4.6, 4.7, 4.7, 5.1, 5.2, 6.7, 15.1, 16.7, 17.1, 17.2, 18.2, 19.7,
)


@dataclass(frozen=True)
class DecoyOptions:
    """How many decoys the filter adds and how they are shaped.

    Attributes:
        rate: expected share of cover-activity time replaced by decoys, in ``[0, 0.9]``;
            ``0`` turns decoys off.
        detector: the activity detector that tells the cover activity in *released* data (an
            ``ActivityDetector``, an object with its ``classes``, ``window``, ``hop`` and
            ``predict_proba``, or a model path). ``None``: the detector of the first
            ``DetectorSource`` among the filter's sources; without one, no decoys.
        cover_probability: the detector's probability of the cover activity a released
            window needs for decoys to be scheduled after it.
        default_lengths_s: the documented default length distribution (samples of it).
        prior_weight: how many observed segments the default counts for when mixed with the
            lengths the policy produced so far.
        jitter: a drawn length is multiplied by a uniform factor in ``[1 - jitter, 1 + jitter]``.
        max_length_s: longest decoy.
        memory: how many recent segment lengths are kept (policy segments, and decoys).
        balance: in ``[0, 1]``; how strongly the bin of the next decoy goes to the length bins
            that the decoys so far left short of the policy's shares (see the module notes).
            ``0``: each decoy copies a drawn length independently.
        bins_s: length-bin edges (seconds) that ``balance`` works on: by default those of the
            evaluation (0-5, 5-10, 10-20, 20+ s; DESIGN.md).

    Raises:
        ValueError: a value out of range (the message names it).
    """

    rate: float = DEFAULT_DECOY_RATE
    detector: Any = None
    cover_probability: float = 0.5
    default_lengths_s: tuple[float, ...] = DEFAULT_LENGTHS_S
    prior_weight: float = 5.0
    jitter: float = 0.1
    max_length_s: float = 60.0
    memory: int = 50
    balance: float = DEFAULT_BALANCE
    bins_s: tuple[float, ...] = (5.0, 10.0, 20.0)

    def __post_init__(self) -> None:
        if not (isinstance(self.rate, (int, float)) and 0.0 <= self.rate <= 0.9):
            raise ValueError(f"decoy rate must be in [0, 0.9] (share of cover time), got {self.rate!r}")
        if not 0.0 < self.cover_probability <= 1.0:
            raise ValueError(f"cover_probability must be in (0, 1], got {self.cover_probability!r}")
        lengths = tuple(float(v) for v in self.default_lengths_s)
        if not lengths or not all(math.isfinite(v) and v > 0 for v in lengths):
            raise ValueError(f"default_lengths_s must be positive seconds, got {self.default_lengths_s!r}")
        object.__setattr__(self, "default_lengths_s", lengths)
        if not (isinstance(self.balance, (int, float)) and 0.0 <= self.balance <= 1.0):
            raise ValueError(f"balance must be in [0, 1], got {self.balance!r}")
        edges = tuple(float(v) for v in self.bins_s)
        if not all(math.isfinite(v) and v > 0 for v in edges) or list(edges) != sorted(set(edges)):
            raise ValueError(f"bins_s must be increasing positive seconds, got {self.bins_s!r}")
        object.__setattr__(self, "bins_s", edges)
        if not (self.prior_weight >= 0 and 0 <= self.jitter < 1 and self.max_length_s > 0 and int(self.memory) >= 1):
            raise ValueError(
                f"need prior_weight >= 0, 0 <= jitter < 1, max_length_s > 0, memory >= 1; got {self.prior_weight}, "
                f"{self.jitter}, {self.max_length_s}, {self.memory}"
            )

    @property
    def enabled(self) -> bool:
        return self.rate > 0


class DecoyScheduler:
    """Decides, from the released stream only, which samples become decoys.

    The filter asks ``decoy_next`` before it releases a sample and reports every released
    sample with ``released``. The scheduler is not thread-safe: the filter calls it under
    its lock.

    Args:
        detector: an ``ActivityDetector`` or an object with ``classes``, ``window``, ``hop``
            and ``predict_proba(windows) -> probs``.
        cover: the cover activity (one of ``detector.classes``).
        options: ``DecoyOptions``.
        seed: seeds the scheduler (the filter derives it from its own seed).
        rate_hz: the stream's rate.
        windows: the ``recent_windows`` of a ``DetectorSource`` running this detector on the
            input stream. When given, the scheduler reuses the result of a window whose
            samples were *all released as real* (in the current run of real samples) instead
            of classifying the released samples again; windows that reach into replaced or
            not yet released samples are never read.
        hop: samples between the windows of ``windows`` (default: the detector's hop).
        max_gap_s: a larger gap between released samples restarts the window.

    Raises:
        ValueError: the detector does not know the cover activity.
    """

    def __init__(
        self, detector, cover: str, options: DecoyOptions, seed, rate_hz: float, windows=None, hop: int | None = None,
        max_gap_s: float = 0.5,
    ):
        classes = tuple(detector.classes)
        if cover not in classes:
            raise ValueError(f"the decoy detector does not know the cover activity {cover!r}; it knows {', '.join(classes)}")
        self.detector, self.cover, self.options = detector, cover, options
        self._cover = classes.index(cover)
        self.rate_hz = float(rate_hz)
        self._dt = 1.0 / self.rate_hz
        self.window, self.hop = int(detector.window), int(hop or detector.hop)
        self._windows = windows
        self._run_start_t = math.inf
        self._max_gap = float(max_gap_s)
        self._rng = np.random.default_rng(seed)
        self._buf: deque[np.ndarray] = deque(maxlen=self.window)
        self._real_run = 0  # consecutive released real samples (no gap) ending at the newest
        self._last_t = -math.inf
        self._n = 0  # samples released
        self._cover_until = -1  # decoys may be scheduled while self._n <= this
        self._wait = self._rng.exponential()  # remaining "hazard units" before the next decoy
        self._left = 0  # decoy samples still to come
        self._run = 0  # current replaced run (samples) and whether a sensitivity source made it
        self._run_sensitive = self._run_decoy = False
        self.lengths_s: deque[float] = deque(maxlen=int(options.memory))  # policy segments, as the app saw them
        self.decoy_lengths_s: deque[float] = deque(maxlen=int(options.memory))  # decoys, as the app saw them
        self._hazard = self.hazard()
        self.decoys_started = 0
        self.decoy_samples = 0
        self.windows_classified = 0
        self.faults = 0

    # -- what the filter calls -----------------------------------------------------------------

    @property
    def decoy_next(self) -> bool:
        """Whether the next sample to be released belongs to a decoy."""
        return self._left > 0

    def released(self, t: float, y: np.ndarray, replaced: bool, sensitive: bool) -> None:
        """The filter released sample ``(t, y)``; ``replaced`` is its flag, ``sensitive``
        whether a sensitivity source (not a decoy) asked for it."""
        self._n += 1
        decoy = self._left > 0
        if decoy:
            self._left -= 1
            self.decoy_samples += 1
        if replaced:
            self._run += 1
            self._run_sensitive = self._run_sensitive or sensitive
            self._run_decoy = self._run_decoy or decoy
        elif self._run:
            if self._run_sensitive and not self._run_decoy:  # a policy segment, as the app saw it
                self.lengths_s.append(self._run * self._dt)
                self._hazard = self.hazard()
            elif self._run_decoy and not self._run_sensitive:  # a decoy, as the app saw it
                self.decoy_lengths_s.append(self._run * self._dt)
            self._run, self._run_sensitive, self._run_decoy = 0, False, False
        if replaced or t - self._last_t > self._max_gap:
            self._real_run = 0
            self._buf.clear()
            self._cover_until = -1  # a decoy needs a window of the current run of real samples
        self._last_t = t
        if replaced:
            return
        if self._real_run == 0:
            self._run_start_t = t
        self._real_run += 1
        self._buf.append(y)
        if self._real_run >= self.window and (self._real_run - self.window) % self.hop == 0:
            self._see(self._lookup(t) if self._windows else self._classify())
        if self._left == 0 and self._n <= self._cover_until:
            self._wait -= self._hazard * self._dt
            if self._wait <= 0:
                self._start()

    # -- internals -----------------------------------------------------------------------------

    def hazard(self) -> float:
        """Decoy starts per second of eligible cover time that give the expected share
        ``rate``: each decoy also costs the window it takes to see the cover again."""
        r, m = self.options.rate, self.mean_length_s()
        refractory = self.window * self._dt
        return r / max((1 - r) * m - r * refractory, 0.1 * m)

    def mean_length_s(self) -> float:
        w, seen = self.options.prior_weight, self.lengths_s
        prior = float(np.mean(self.options.default_lengths_s))
        if not seen:
            return prior
        return (w * prior + sum(seen)) / (w + len(seen))

    def draw_length_s(self) -> float:
        o, seen = self.options, self.lengths_s
        if o.balance > 0 and self.decoy_lengths_s:
            base = self._draw_balanced()
        elif seen and self._rng.random() < len(seen) / (len(seen) + o.prior_weight):
            base = seen[int(self._rng.integers(len(seen)))]
        else:
            base = o.default_lengths_s[int(self._rng.integers(len(o.default_lengths_s)))]
        return float(min(base * self._rng.uniform(1 - o.jitter, 1 + o.jitter), o.max_length_s))

    def bin_of(self, lengths) -> np.ndarray:
        """Length bin (index into ``options.bins_s``' intervals) of each length."""
        return np.searchsorted(self.options.bins_s, np.asarray(lengths, np.float64), side="right")

    def bin_shares(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(policy shares, decoy counts, next-decoy probabilities)`` per length bin: the
        policy's shares are those of the length pool a copied length is drawn from (the
        segments seen, plus the default with weight ``prior_weight``)."""
        o, nb = self.options, len(self.options.bins_s) + 1
        seen, prior = np.asarray(self.lengths_s, np.float64), np.asarray(o.default_lengths_s)
        w_prior = o.prior_weight / len(prior) if len(seen) else 1.0 / len(prior)
        share = np.bincount(self.bin_of(seen), minlength=nb) + w_prior * np.bincount(self.bin_of(prior), minlength=nb)
        share = share / share.sum()
        made = np.bincount(self.bin_of(np.asarray(self.decoy_lengths_s)), minlength=nb).astype(np.float64)
        lack = np.maximum(share * (made.sum() + 1) - made, 0.0)  # sums to >= 1 (the shares sum to 1)
        p = (1 - o.balance) * share + o.balance * lack / lack.sum()
        return share, made, p / p.sum()

    def _draw_balanced(self) -> float:
        """A length from the pool, its bin drawn from ``bin_shares`` (see the module notes)."""
        o = self.options
        _, _, p = self.bin_shares()
        b = int(self._rng.choice(len(p), p=p))
        seen = [v for v in self.lengths_s if self.bin_of(v) == b]
        prior = [v for v in o.default_lengths_s if self.bin_of(v) == b]
        w_prior = o.prior_weight / len(o.default_lengths_s) if self.lengths_s else 1.0 / len(o.default_lengths_s)
        pool = seen + prior
        weights = np.r_[np.ones(len(seen)), np.full(len(prior), w_prior)]
        return float(pool[int(self._rng.choice(len(pool), p=weights / weights.sum()))])

    def _classify(self) -> np.ndarray | None:
        """Classify the newest ``window`` released real samples."""
        try:
            p = np.asarray(self.detector.predict_proba(np.asarray(self._buf)[None]), np.float64).reshape(-1)
            self.windows_classified += 1
            return p
        except Exception as exc:  # no decoy rather than a wrong one; privacy is not at stake
            self.faults += 1
            log.warning("decoy detector failed: %r", exc)
            return None

    def _lookup(self, t: float) -> np.ndarray | None:
        """The newest window of the detector source that lies inside the current run of
        released real samples (ends at or before ``t``, starts at or after the run's start).
        When the source no longer keeps windows that old (a large block pushed at once), the
        released samples are classified instead."""
        for w in windows_ending(self._windows, t, newest_only=True):
            if w.t_start < self._run_start_t or t - w.t_end > 2 * self.hop * self._dt:
                return None
            return None if w.probs is None else np.asarray(w.probs, np.float64).reshape(-1)
        return self._classify()

    def _see(self, p: np.ndarray | None) -> None:
        ok = p is not None and bool(np.all(np.isfinite(p)) and p[self._cover] >= self.options.cover_probability)
        # eligible until the next window is due (one hop), plus one hop of slack
        self._cover_until = self._n + 2 * self.hop if ok else -1

    def _start(self) -> None:
        self._left = max(1, int(round(self.draw_length_s() * self.rate_hz)))
        self.decoys_started += 1
        self._wait = self._rng.exponential()
        self._cover_until = -1  # after a decoy the cover must be seen again


def scheduler_for(options: DecoyOptions, sources, cover: str, seed, rate_hz: float) -> DecoyScheduler | None:
    """The scheduler a filter uses: with ``options.detector`` (loaded if a path), which then
    classifies the released samples itself; else with the detector of the first source that
    has one (a ``DetectorSource``), reusing its window results; else ``None`` (no decoys)."""
    det = options.detector
    if isinstance(det, (str, Path)):
        from .detector import ActivityDetector

        det = ActivityDetector(det)
    if det is not None:
        return DecoyScheduler(det, cover, options, seed, rate_hz)
    for src in sources:
        inner = getattr(src, "detector", None)
        if inner is None or not (hasattr(inner, "predict_proba") and hasattr(inner, "classes")):
            continue
        windows = getattr(src, "recent_windows", None)
        if windows is not None and windows.maxlen == 0:
            windows = None  # the source keeps no results: classify the released samples
        return DecoyScheduler(inner, cover, options, seed, rate_hz, windows=windows, hop=getattr(src, "hop", None))
    return None
