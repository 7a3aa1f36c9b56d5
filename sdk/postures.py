"""Posture texture: new stillness for a replaced segment of a static cover (sitting,
standing, laying), made from the owner's own stillness in the cover bank.

A person holding still is not a flat line: the phone records its sensor's noise, breathing,
small shifts of weight, and their size and spectrum are this person's and this phone's (the
generator's within-window spread is 2–3× the owner's on held-out users). The cover bank
(``sdk.cover_bank``) holds the owner's recent stillness that was already released as real;
this module draws new stillness from it:

- the bank's most recent ``recent_s`` (its latest bout of the posture) is cut into
  **chunks** of ``chunk_s`` (a detector window: a chunk holds the
  loudness of one stretch, so quiet and restless stretches stay apart) and each loses its
  straight-line trend (the level comes from the live context: the median of its last
  0.1 s, where a transition into the posture has nearly settled); chunks far louder than the
  bank's typical one (a fidget the detector still called the posture) are left out;
- a new chunk is a **phase-randomised surrogate** of a random chunk: its Fourier coefficients
  keep their magnitudes and each frequency gets a random phase shared by the three axes, so
  every axis keeps the owner's power spectrum (its spread and its slow wander) and the axes
  keep their cross-spectrum (their correlation), while the waveform is new: no window of it is
  a copy of one in the bank;
- chunks are chained with a power-complementary crossfade (weights ``cos``, ``sin``: two
  independent chunks mixed so keep the variance), the first blended onto the context's last
  value over ``join_s``.

Output depends only on the bank, the context and the seed (all released before a segment):
noninterference holds. A bank with too little stillness yields no model (``fit`` returns
``None``). The filter then draws from the generator file's **population stillness**
(:class:`PopulationStillness`: a spectral model of the stillness of the people the file was
calibrated on, packed in the file, so a first segment is not the LSTM's stillness, 2-2.5x too
loud and too rough), else from the generator. Numpy only.
"""
from __future__ import annotations

import copy
import io
import math
import zipfile
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from .drawn import DrawnStream
from .errors import ModelError

#: the covers this module draws: postures held still
STATIC = ("SITTING", "STANDING", "LAYING")
#: name of the population stillness member of a generator file (``sensegen calibrate``)
STILLNESS_MEMBER = "stillness.npz"


@dataclass(frozen=True)
class PostureOptions:
    """How the owner's stillness is cut from the bank and drawn anew.

    Attributes:
        min_s: seconds of usable stillness a bank needs before segments are drawn from it
            (else the generator is used).
        chunk_s: length of the chunks a run is cut into (a remainder shorter is not used);
            a chunk's lowest frequency is ``1 / chunk_s``. Longer chunks mix a fidget's
            loudness into the quiet around it (chosen on the development users: 2.56 s keeps
            the within-window spread of all three postures within 1.3x, 5.12 s does not).
        overlap_s: seconds over which one new chunk crossfades into the next.
        join_s: seconds over which the first chunk is blended onto the context's last value.
        max_rms_ratio: a chunk whose RMS exceeds this multiple of the bank's median chunk
            RMS is left out (a movement inside a run the detector labelled as the posture).
        level_s: the segment's level is the per-axis median of the context's last this many
            seconds (a transition into the posture is still settling as it ends, so the latest
            samples are the best guess of the level that follows; chosen on the development users,
            warm bank, feature judge: the mean of the last 0.5 s 0.75, the median of the last
            0.02-0.12 s 0.61-0.66, 0.18-0.5 s 0.68-0.73).
        recent_s: only the bank's most recent this many seconds are drawn from (the current
            or latest bout: another bout, or another day's, may be 1.3-1.7x louder); ``None``:
            the whole bank. Chosen on the development users with the bank carried between
            recordings (standing spread 2.9x -> 2.1x, sitting 1.33x -> 1.23x; 12 s often holds
            less than ``min_s`` once restless chunks are left out).
    """

    min_s: float = 10.0
    chunk_s: float = 2.56
    overlap_s: float = 0.5
    join_s: float = 0.1
    max_rms_ratio: float = 3.0
    level_s: float = 0.1
    recent_s: float | None = 20.0

    def __post_init__(self) -> None:
        if not (self.min_s > 0 and self.chunk_s > 2 * self.overlap_s > 0 and self.join_s >= 0 and self.max_rms_ratio >= 1 and self.level_s > 0):
            raise ValueError(
                "posture texture needs min_s > 0, chunk_s > 2 * overlap_s > 0, join_s >= 0, max_rms_ratio >= 1 and level_s > 0, got "
                f"{self.min_s}, {self.chunk_s}, {self.overlap_s}, {self.join_s}, {self.max_rms_ratio}, {self.level_s}"
            )


def detrend(x: np.ndarray) -> np.ndarray:
    """``x`` (n, 3) minus its least-squares straight line per axis."""
    n = len(x)
    if n < 2:
        return x - x.mean(axis=0)
    u = np.arange(n, dtype=np.float64) - (n - 1) / 2
    slope = (u @ (x - x.mean(axis=0))) / float(u @ u)
    return x - x.mean(axis=0) - u[:, None] * slope[None]


def surrogate(chunk: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A multivariate phase-randomised surrogate of ``chunk`` (n, 3): the same per-axis
    magnitude spectrum and cross-spectrum, a new random phase per frequency (shared by the
    axes), zero mean."""
    n = len(chunk)
    spec = np.fft.rfft(chunk, axis=0)
    phase = rng.uniform(0.0, 2 * math.pi, len(spec))
    phase[0] = 0.0
    if n % 2 == 0:
        phase[-1] = 0.0  # the Nyquist bin stays real
    spec = spec * np.exp(1j * phase)[:, None]
    spec[0] = 0.0
    return np.fft.irfft(spec, n=n, axis=0)


class PostureModel:
    """The owner's stillness: detrended chunks of the bank's runs (use :meth:`fit`)."""

    def __init__(self, chunks: list[np.ndarray], rate_hz: float, options: PostureOptions):
        self.chunks, self.rate_hz, self.options = chunks, float(rate_hz), options

    @classmethod
    def fit(cls, runs: Sequence[np.ndarray], rate_hz: float, options: PostureOptions | None = None) -> "PostureModel | None":
        """Chunks of ``runs`` (each (n, 3) in g, contiguous), or ``None`` when they hold less
        than ``options.min_s`` seconds of usable stillness."""
        opts = options or PostureOptions()
        n = int(round(opts.chunk_s * rate_hz))
        chunks = []
        if opts.recent_s is not None:  # the most recent stretch of the bank only
            keep, left = [], int(round(opts.recent_s * rate_hz))
            for run in reversed(runs):
                if left <= 0:
                    break
                keep.insert(0, run[-left:])
                left -= len(run)
            runs = keep
        for run in runs:
            run = np.asarray(run, np.float64)
            chunks += [detrend(run[a : a + n]) for a in range(0, len(run) - n + 1, n)]
        if not chunks:
            return None
        rms = np.array([math.sqrt(float((c**2).mean())) for c in chunks])
        typical = float(np.median(rms))
        chunks = [c for c, r in zip(chunks, rms) if r <= opts.max_rms_ratio * typical]
        if sum(len(c) for c in chunks) < opts.min_s * rate_hz:
            return None
        return cls(chunks, rate_hz, opts)

    def new_chunk(self, rng: np.random.Generator) -> np.ndarray:
        """A new chunk (n, 3), zero mean: a surrogate of one of the owner's chunks."""
        return surrogate(self.chunks[int(rng.integers(len(self.chunks)))], rng)


class PopulationStillness:
    """Stillness of the people a generator file was calibrated on, for a static cover before
    the owner's cover bank holds enough of theirs: a mixture of stationary Gaussian processes,
    one per cluster of those people's 2.56 s chunks of the posture (quiet ones, restless ones),
    each given by its cross-spectral density. A new chunk picks a cluster by its share and
    draws every frequency's three axes from a complex normal with that density, so axes keep
    the population's spectra and their correlation; nobody's recording is in the file.

    Args:
        weights: (K,) share of each cluster.
        factors: (K, F, 3, 3) complex, per frequency of an ``rfft`` of the chunk length, a
            factor ``A`` of the cluster's cross-spectral density ``A A^H``.
        rate_hz: the stream's rate.
        options: the posture options (overlap, join, level) the stream uses.
    """

    def __init__(self, weights: np.ndarray, factors: np.ndarray, rate_hz: float, options: PostureOptions | None = None):
        w = np.asarray(weights, np.float64)
        f = np.asarray(factors, np.complex128)
        if w.ndim != 1 or f.shape[:1] != w.shape or f.ndim != 4 or f.shape[2:] != (3, 3) or f.shape[1] < 3:
            raise ModelError(f"population stillness needs weights (K,) and factors (K, F >= 3, 3, 3), got {w.shape} and {f.shape}")
        if not (np.isfinite(w).all() and np.isfinite(f).all() and (w >= 0).all() and w.sum() > 0):
            raise ModelError("population stillness holds non-finite or negative values")
        self.cumulative = np.cumsum(w / w.sum())
        self.factors = f
        self.chunk = 2 * (f.shape[1] - 1)
        self.rate_hz = float(rate_hz)
        self.options = options or PostureOptions()

    @classmethod
    def from_member(cls, data: bytes, activity: str, rate_hz: float, options: PostureOptions | None = None) -> "PopulationStillness | None":
        """The model of ``activity`` in a generator file's ``STILLNESS_MEMBER``, ``None`` if it
        holds none for it.

        Raises:
            ModelError: the member is not a readable set of arrays of the right shapes.
        """
        name = activity.strip().upper()
        try:
            with np.load(io.BytesIO(data), allow_pickle=False) as z:
                if f"{name}/weights" not in z.files:
                    return None
                weights = z[f"{name}/weights"]
                factors = z[f"{name}/factors_re"] + 1j * z[f"{name}/factors_im"].astype(np.float64)
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
            raise ModelError(f"population stillness member is unreadable: {exc}") from None
        return cls(weights, factors, rate_hz, options)

    def with_options(self, options: PostureOptions) -> "PopulationStillness":
        """The same model drawn with other posture options (overlap, join, level)."""
        out = copy.copy(self)  # the arrays are shared, never written
        out.options = options
        return out

    def new_chunk(self, rng: np.random.Generator) -> np.ndarray:
        """A new chunk (``chunk``, 3) of stillness, zero mean."""
        k = min(int(np.searchsorted(self.cumulative, rng.random(), side="right")), len(self.cumulative) - 1)
        a = self.factors[k]
        z = rng.standard_normal((a.shape[0], 3)) + 1j * rng.standard_normal((a.shape[0], 3))
        spec = np.einsum("fab,fb->fa", a, z) * math.sqrt(0.5)
        spec[0] = 0.0
        spec[-1] = spec[-1].real * math.sqrt(2.0)  # the Nyquist bin of a real signal is real, with the same power
        return np.fft.irfft(spec, n=self.chunk, axis=0)


class PostureStream(DrawnStream):
    """Synthetic stillness drawn from a :class:`PostureModel` (the owner's) or a
    :class:`PopulationStillness`, continuing a real context.

    The same interface as ``sdk.generator.SyntheticStream``: ``prime(context, level=…)``,
    then ``take(n)`` / ``next()`` give samples in g. Values depend only on the model, the
    context, the level and the seed.
    """

    def __init__(self, model: PostureModel | PopulationStillness, seed):
        super().__init__()
        self.model = model
        self._rng = np.random.default_rng(seed)
        self.level = np.zeros(3)
        self._start = np.zeros(3)  # the context's last value, level removed
        self._tail: np.ndarray | None = None  # the last chunk's end, crossfaded into the next
        self._overlap = max(1, int(round(model.options.overlap_s * model.rate_hz)))

    def prime(self, context: np.ndarray, reference: np.ndarray | None = None, level: np.ndarray | None = None) -> None:
        """Continue ``context`` (n, 3) in g at ``level`` (else the median of its last
        ``options.level_s``). ``reference`` is accepted for the generator's interface and not used."""
        ctx = np.asarray(context, np.float64)
        recent = ctx[-max(1, int(round(self.model.options.level_s * self.model.rate_hz))) :]
        self.level = np.asarray(level, np.float64) if level is not None else (np.median(recent, axis=0) if len(ctx) else np.zeros(3))
        self._start = ctx[-1] - self.level if len(ctx) else np.zeros(3)
        self._tail, self._ahead, self._ahead_i = None, np.empty((0, 3)), 0

    def _draw(self) -> None:
        m, o = self.model, self._overlap
        c = m.new_chunk(self._rng)
        if self._tail is None:  # the first chunk: blend its start onto the context
            join = min(len(c) - o - 1, int(round(m.options.join_s * m.rate_hz)))
            if join > 0:
                w = 0.5 * (1 + np.cos(np.pi * np.arange(join) / join))[:, None]
                c[:join] += (self._start - c[0]) * w
            body = c[:-o]
        else:  # power-complementary crossfade from the last chunk's tail
            a = (np.arange(o) + 0.5) / o * (math.pi / 2)
            head = self._tail * np.cos(a)[:, None] + c[:o] * np.sin(a)[:, None]
            body = np.vstack([head, c[o:-o]])
        self._tail = c[-o:]
        self._ahead, self._ahead_i = self.level + body, 0
