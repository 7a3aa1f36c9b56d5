"""The activity detector on the phone: a TFLite classifier over window features (numpy), and
``DetectorSource``, a sensitivity source that marks the segments where the owner's policy
lists the detected activity.

The source classifies a sliding window (``window`` samples every ``hop`` samples) over the
observed stream. With hysteresis (``Policy``), runs of sensitive windows become intervals
that cover the whole windows that triggered them, so a segment's onset is covered while its
samples still wait in the filter's release buffer.
"""
from __future__ import annotations

import logging
import threading
from collections import deque
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import ModelError
from .features import FEATURES_VERSION, window_features
from .policy import Policy
from .runtime import RuntimeInfo, load_model
from .sensitivity import Intervals, SensitivitySource

log = logging.getLogger(__name__)

DETECTOR_FORMAT = "sensegen-detector"
DEFAULT_DETECTOR = "detector_default_int8.tflite"


class ActivityDetector:
    """A detector model file loaded into a TFLite interpreter.

    Args:
        path: a file written by ``sensegen train-detector``; default: the bundled model.
        runtime: force ``"ai_edge_litert"`` or ``"tflite_runtime"``.
        num_threads: interpreter threads.

    Raises:
        ModelError / ModelIntegrityError: missing, corrupt, tampered or mismatched file.
        RuntimeUnavailableError: no TFLite interpreter installed.
    """

    def __init__(self, path: str | Path | None = None, runtime: str | None = None, num_threads: int = 1):
        from .generator import bundled_model_path

        self.path = Path(path) if path is not None else bundled_model_path(DEFAULT_DETECTOR)
        loaded = load_model(self.path, DETECTOR_FORMAT, self._read_metadata, runtime, num_threads)
        self.runtime: RuntimeInfo = loaded.runtime
        self._interp, sig = loaded.interpreter, loaded.signature
        if "features" not in sig["inputs"] or "probs" not in sig["outputs"]:
            raise ModelError(f"{self.path}: model tensors 'features' / 'probs' missing")
        self._in, self._out = sig["inputs"]["features"], sig["outputs"]["probs"]
        details = {d["index"]: d for d in self._interp.get_input_details()}
        if tuple(details[self._in]["shape"]) != (1, self.n_features):
            raise ModelError(f"{self.path}: input shape {tuple(details[self._in]['shape'])} does not match {self.n_features} features")

    def _read_metadata(self, meta: dict) -> None:
        self.metadata = meta
        self.classes: tuple[str, ...] = tuple(meta["classes"])
        self.window: int = int(meta["window"])
        self.hop: int = int(meta["hop"])
        self.rate_hz: float = float(meta["rate_hz"])
        features = meta["features"]["version"]
        self.n_features = len(meta["features"]["names"])
        if features != FEATURES_VERSION:
            raise ModelError(f"{self.path}: model expects features {features!r}, this SDK computes {FEATURES_VERSION!r}")

    @property
    def info(self) -> str:
        return f"{self.path.name} ({self.metadata.get('quantisation', '?')}, {self.runtime.name} {self.runtime.version})"

    def predict_proba_features(self, features: np.ndarray) -> np.ndarray:
        """Class probabilities (n, C) for feature rows (n, F)."""
        x = np.asarray(features, np.float32).reshape(-1, self.n_features)
        out = np.empty((len(x), len(self.classes)), np.float32)
        for i, row in enumerate(x):
            self._interp.set_tensor(self._in, row[None])
            self._interp.invoke()
            out[i] = self._interp.get_tensor(self._out)[0]
        return out

    def predict_proba(self, windows: np.ndarray) -> np.ndarray:
        """Class probabilities (n, C) for windows (n, window, 3) or one window (window, 3) in g."""
        w = np.asarray(windows, np.float64)
        if w.ndim == 2:
            w = w[None]
        if w.shape[1:] != (self.window, 3):
            raise ValueError(f"windows must be (n, {self.window}, 3), got {w.shape}")
        return self.predict_proba_features(window_features(w, self.rate_hz))


@dataclass(frozen=True)
class WindowResult:
    """One classified window: its first and last sample times and class probabilities."""

    t_start: float
    t_end: float
    probs: np.ndarray
    p_sensitive: float


def windows_ending(windows, by: float, after: float = -np.inf, newest_only: bool = False) -> list[WindowResult]:
    """The results in ``windows`` (a ``DetectorSource.recent_windows``, oldest first) whose
    window ends in ``(after, by]``, oldest first; with ``newest_only`` at most the newest of
    them. Scans from the newest result and stops at the first one that ends at or before
    ``after``. Readers of released data pass ``by`` no later than what was released."""
    found = []
    for r in reversed(windows):
        if r.t_end > by:
            continue
        if r.t_end <= after:
            break
        found.append(r)
        if newest_only:
            break
    found.reverse()
    return found


class DetectorSource(SensitivitySource):
    """A sensitivity source driven by the activity detector and the owner's policy.

    Args:
        policy: what is sensitive and the hysteresis thresholds.
        detector: an ``ActivityDetector`` (or an object with its ``classes``, ``window``,
            ``hop`` and ``predict_proba``) or a model path; ``None`` loads the bundled one.
        hop: samples between classified windows; default: the model's (0.5 s).
        max_gap_s: a larger gap between samples restarts the sliding window (a window never
            spans a gap).
        keep_windows: how many recent ``WindowResult`` to keep in ``recent_windows``
            (``None``: all, for offline evaluation).

    Raises:
        PolicyError: the policy names an activity the detector does not know.
    """

    def __init__(
        self,
        policy: Policy,
        detector: ActivityDetector | str | Path | None = None,
        hop: int | None = None,
        max_gap_s: float = 0.5,
        keep_windows: int | None = 200,
    ):
        if detector is None or isinstance(detector, (str, Path)):
            detector = ActivityDetector(detector)
        self.detector = detector  # anything with classes, window, hop and predict_proba(windows)
        self.policy = policy
        self._sens = np.asarray(policy.sensitive_indices(self.detector.classes))
        self.window = self.detector.window
        self.hop = int(hop or self.detector.hop)
        if self.hop < 1:
            raise ValueError(f"hop must be >= 1 sample, got {self.hop}")
        self.max_gap_s = float(max_gap_s)
        self.recent_windows: deque[WindowResult] = deque(maxlen=keep_windows)
        self._lock = threading.Lock()
        self._restart()
        self._intervals = Intervals()  # end = inf while a segment is open
        self._on = False
        self._above = 0
        self._run_start = np.nan
        self._below = 0
        self._last_hit_end = np.nan
        self._newest = -np.inf
        self._finished = False
        self.windows_classified = 0
        self.current_probs: np.ndarray | None = None

    # -- what the demo app shows --------------------------------------------------------------

    @property
    def current_activity(self) -> str | None:
        """The most probable activity of the latest window (``None`` before the first)."""
        p = self.current_probs
        return None if p is None else self.detector.classes[int(np.argmax(p))]

    @property
    def in_segment(self) -> bool:
        """Whether the detector currently holds a sensitive segment open."""
        return self._on

    @property
    def intervals(self) -> list[tuple[float, float]]:
        """Sensitive intervals not yet forgotten (``end`` is ``inf`` while a segment is open)."""
        with self._lock:
            return list(self._intervals)

    # -- SensitivitySource -----------------------------------------------------------------------

    def observe(self, t: np.ndarray, xyz: np.ndarray) -> None:
        t = np.asarray(t, np.float64).reshape(-1)
        xyz = np.asarray(xyz, np.float64).reshape(-1, 3)
        if len(t) == 0:
            return
        with self._lock:
            # split at gaps: a window never spans one
            prev = np.concatenate([[self._newest], t[:-1]])
            cuts = np.flatnonzero(t - prev > self.max_gap_s)
            if len(cuts) == 0:  # the usual case: no gap
                self._consume(t, xyz)
                self._newest = float(t[-1])
                return
            for lo, hi in zip(np.r_[0, cuts], np.r_[cuts, len(t)]):
                if lo in cuts:
                    self._restart()
                if hi > lo:
                    self._consume(t[lo:hi], xyz[lo:hi])
            self._newest = float(t[-1])

    def is_sensitive(self, t: float) -> bool:
        with self._lock:
            return self._intervals.contains(t)

    def _sensitive_mask(self, ts: list[float]) -> list[bool]:
        with self._lock:
            return self._intervals.mask(ts)

    def finish(self) -> None:
        """Classify the stream's tail and close what is pending: a run of sensitive windows
        too short to enter a segment counts as sensitive (fail closed)."""
        with self._lock:
            last_end = self._next_end - self.hop
            if self._n >= self.window and last_end < self._n:
                self._classify(self._buf_t[-self.window :], self._buf_x[-self.window :])
                self._next_end = self._n + self.hop
            if not self._on and self._above > 0:
                self._intervals.add(self._run_start - self.policy.pad_before_s, self._newest)
                self._above = 0
            self._finished = True

    def forget_before(self, t: float) -> None:
        with self._lock:
            self._intervals.forget_before(t)

    # -- internals -----------------------------------------------------------------------------

    def _restart(self) -> None:
        self._buf_t, self._buf_x = np.empty(0), np.empty((0, 3))
        self._n = 0  # samples since the (re)start; the buffer holds the last ones
        self._next_end = self.window  # exclusive end of the next window to classify

    def _consume(self, t: np.ndarray, x: np.ndarray) -> None:
        bt = np.concatenate([self._buf_t, t])
        bx = np.concatenate([self._buf_x, x])
        base = self._n - len(self._buf_t)  # stream index of bt[0]
        self._n += len(t)
        ends = []
        while self._next_end <= self._n:
            ends.append(self._next_end - base)
            self._next_end += self.hop
        keep_from = max(0, min(self._next_end, self._n) - self.window - base)
        self._buf_t, self._buf_x = bt[keep_from:], bx[keep_from:]
        if not ends:
            return
        try:
            probs = self.detector.predict_proba(np.stack([bx[e - self.window : e] for e in ends]))
        except Exception:
            # fail closed: the windows that could not be classified count as sensitive
            for e in ends:
                self._result(bt[e - self.window], bt[e - 1], None)
            raise
        for e, p in zip(ends, probs):
            self._result(bt[e - self.window], bt[e - 1], p)

    def _classify(self, t: np.ndarray, x: np.ndarray) -> None:
        try:
            probs = self.detector.predict_proba(x[None])[0]
        except Exception:
            self._result(float(t[0]), float(t[-1]), None)
            raise
        self._result(float(t[0]), float(t[-1]), probs)

    def _result(self, t0: float, t1: float, probs: np.ndarray | None) -> None:
        """Feed one window's probabilities (``None``: the detector failed) to the hysteresis."""
        pol = self.policy
        if probs is None or not np.all(np.isfinite(probs)):
            p = 1.0  # fail closed
        else:
            p = float(probs[self._sens].sum())
            self.windows_classified += 1
            self.current_probs = probs
        self.recent_windows.append(WindowResult(float(t0), float(t1), probs, p))
        if not self._on:
            if p >= pol.p_on:
                if self._above == 0:
                    self._run_start = t0
                self._above += 1
                if self._above >= pol.enter_windows:
                    self._on, self._below, self._last_hit_end = True, 0, t1
                    self._intervals.open(self._run_start - pol.pad_before_s)
            else:
                self._above = 0
        elif p >= pol.p_off:
            self._below, self._last_hit_end = 0, t1
        else:
            self._below += 1
            if self._below >= pol.exit_windows:
                self._intervals.close_last(self._last_hit_end + pol.pad_after_s)
                self._on, self._above = False, 0
