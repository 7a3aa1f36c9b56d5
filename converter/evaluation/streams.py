"""Released streams for the evaluation: which samples are replaced (a mask decided by the
detector at a release delay, or by the true labels), and what replaces them (a
``ReplacementMethod``: SenseGen through the real ``PrivacyFilter``, or a baseline).

Every method sees the same mask, so the metrics compare replacements, not detections.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Iterable, Protocol, Sequence

import numpy as np

from sdk.activities import ACTIVITIES, activity_index
from sdk.decoys import DecoyOptions
from sdk.filter import FilterOptions, PrivacyFilter, ReleasedBlock
from sdk.generator import Generator
from sdk.recording import HAPT_RATE_HZ
from sdk.sensitivity import SensitivitySource
from sdk.windowing import labelled_windows, runs

from ..hapt import Experiment

#: the evaluation pushes samples in blocks of this size, as a sensor callback delivers them
BLOCK = 10


@dataclass
class Stream:
    """One continuous real recording with its per-sample activity labels."""

    user: int
    exp: int
    t: np.ndarray  # (n,) seconds
    xyz: np.ndarray  # (n, 3) g, float64
    labels: np.ndarray  # (n,) index into ACTIVITIES

    def __len__(self) -> int:
        return len(self.t)

    @classmethod
    def from_experiment(cls, e: Experiment, rate_hz: float = HAPT_RATE_HZ) -> "Stream":
        n = len(e.xyz)
        return cls(e.user, e.exp, np.arange(n) / rate_hz, e.xyz.astype(np.float64), e.labels.astype(np.int64))


@dataclass
class Released:
    """What an app receives for one ``Stream``: values and the replaced mask."""

    stream: Stream
    xyz: np.ndarray
    replaced: np.ndarray  # (n,) bool: the sample was synthesised (not a crossfade)
    method: str


class MaskSource(SensitivitySource):
    """A sensitivity source answering from a precomputed per-sample mask (by timestamp)."""

    def __init__(self, t: np.ndarray, mask: np.ndarray):
        self._t, self._mask = np.asarray(t), np.asarray(mask, bool)

    def is_sensitive(self, t: float) -> bool:
        i = int(np.searchsorted(self._t, t))
        return bool(i < len(self._t) and self._t[i] == t and self._mask[i])


def run_filter(stream: Stream, options: FilterOptions, sources: Sequence, generator: Generator, block: int = BLOCK) -> ReleasedBlock:
    """Push ``stream`` through the shipped ``PrivacyFilter`` in blocks of ``block`` samples, as
    a sensor callback delivers them, then flush: what an app receives."""
    f = PrivacyFilter(options, sources, generator=generator)
    blocks = [f.push_block(stream.t[s : s + block], stream.xyz[s : s + block]) for s in range(0, len(stream), block)]
    blocks.append(f.flush())
    f.close()
    return ReleasedBlock.concat(blocks)


def release_mask(stream: Stream, sources: Sequence, delay_s: float, generator: Generator | None = None, block: int = BLOCK) -> np.ndarray:
    """Which samples the shipped ``PrivacyFilter`` replaces when ``sources`` decide at release
    delay ``delay_s``: the filter itself is run (its timing tolerance, its fail-closed handling
    of a source that raises), so the mask is the product's, not a copy of its loop.

    Args:
        generator: the generator the filter runs (default: the bundled one); the mask does
            not depend on it, only the time spent does.
    """
    opts = FilterOptions(delay_s=delay_s, crossfade_s=0.0, decoys=DecoyOptions(rate=0.0), cover_bank=None)  # the policy's mask alone
    out = run_filter(stream, opts, sources, generator or Generator(), block)
    return out.replaced


def label_mask(stream: Stream, activities: Iterable[str]) -> np.ndarray:
    """Oracle mask: the samples whose true label is one of ``activities``."""
    idx = [activity_index(a) for a in activities]
    return np.isin(stream.labels, idx)


#: ``[start, end)`` index pairs of the runs of True in a mask
segments = runs


# --- replacement methods ------------------------------------------------------------------------

class ReplacementMethod(Protocol):
    """Produces the released stream for a stream, a mask and a cover activity."""

    name: str

    def release(self, stream: Stream, mask: np.ndarray, cover: str, seed: int) -> Released: ...


class SenseGenMethod:
    """The product: the real ``PrivacyFilter`` with the generator, fed the mask through a
    ``MaskSource`` (priming, crossfade and fail-closed behaviour are the filter's own)."""

    def __init__(self, generator: Generator, delay_s: float = 0.0, crossfade_s: float = 0.5, name: str = "sensegen", **options):
        self.generator, self.delay_s, self.crossfade_s, self.name = generator, delay_s, crossfade_s, name
        self.options = options

    def release(self, stream: Stream, mask: np.ndarray, cover: str, seed: int, bank_path: Path | None = None) -> Released:
        """``bank_path``: the cover bank's file, read when the filter starts and written when it
        closes (as a phone keeps it between recordings); ignored with the bank off."""
        opts = FilterOptions(cover=cover, delay_s=self.delay_s, crossfade_s=self.crossfade_s, seed=seed, **self.options)
        if bank_path is not None and opts.cover_bank is not None:
            opts.cover_bank = replace(opts.cover_bank, path=bank_path)
        out = run_filter(stream, opts, [MaskSource(stream.t, mask)], self.generator)
        return Released(stream, out.xyz, out.replaced, self.name)


class SegmentFiller:
    """Base of the baselines: fills every masked run from the released context before it,
    then crossfades back to real data like the filter does (linear, ``crossfade_s``)."""

    name = "segment-filler"
    context = 50  # samples of released context a filler may read (the generator's priming)

    def __init__(self, crossfade_s: float = 0.5, rate_hz: float = HAPT_RATE_HZ):
        self.crossfade_n = int(round(crossfade_s * rate_hz))

    def fill(self, n: int, context: np.ndarray, real: np.ndarray, cover: str, rng: np.random.Generator) -> np.ndarray:
        raise NotImplementedError

    def release(self, stream: Stream, mask: np.ndarray, cover: str, seed: int) -> Released:
        out = stream.xyz.copy()
        for k, (a, b) in enumerate(segments(mask)):
            rng = np.random.default_rng([seed, k + 1])
            c = self.crossfade_n
            tail = min(c, len(stream) - b)
            while tail and mask[b : b + tail].any():  # the next segment starts inside the crossfade
                tail -= 1
            ctx = out[max(0, a - self.context) : a]
            fill = self.fill(b - a + tail, ctx, stream.xyz[a : b + tail], cover, rng)
            out[a:b] = fill[: b - a]
            if tail:
                w = (np.arange(1, tail + 1) / (c + 1))[:, None]
                out[b : b + tail] = (1 - w) * fill[b - a :] + w * stream.xyz[b : b + tail]
        return Released(stream, out, mask.copy(), self.name)


class GaussianBaseline(SegmentFiller):
    """i.i.d. Gaussian noise: mean = the context's mean (the user's level just before the
    segment), per-axis std = the cover activity's mean within-segment std on reference users."""

    name = "gaussian"

    def __init__(self, reference: Sequence[Stream], crossfade_s: float = 0.5):
        super().__init__(crossfade_s)
        self.std = {}
        for a in ACTIVITIES[1:]:
            k = activity_index(a)
            stds, weights = [], []
            for s in reference:
                for lo, hi in segments(s.labels == k):
                    if hi - lo >= 50:
                        stds.append(s.xyz[lo:hi].std(axis=0))
                        weights.append(hi - lo)
            self.std[a] = np.average(stds, axis=0, weights=weights) if stds else np.full(3, 0.1)
        allx = np.concatenate([s.xyz for s in reference])
        self.population_level = allx.mean(axis=0)

    def fill(self, n, context, real, cover, rng):
        level = context.mean(axis=0) if len(context) else self.population_level
        return level + rng.standard_normal((n, 3)) * self.std[cover]


class ReplayBaseline(SegmentFiller):
    """Replays a random real segment of the cover activity of *other* users (the reference
    streams), as recorded: raw values, no level adjustment."""

    name = "replay"

    def __init__(self, reference: Sequence[Stream], crossfade_s: float = 0.5):
        super().__init__(crossfade_s)
        self.pool: dict[str, list[np.ndarray]] = {}
        for a in ACTIVITIES[1:]:
            k = activity_index(a)
            self.pool[a] = [s.xyz[lo:hi] for s in reference for lo, hi in segments(s.labels == k) if hi - lo >= 50]

    def fill(self, n, context, real, cover, rng):
        pool = self.pool.get(cover) or []
        if not pool:
            raise ValueError(f"no reference segment of {cover} to replay")
        parts, have = [], 0
        while have < n:  # concatenate random segments until long enough
            seg = pool[int(rng.integers(len(pool)))]
            start = int(rng.integers(0, max(1, len(seg) - (n - have))))
            part = seg[start : start + n - have]
            parts.append(part)
            have += len(part)
        return np.concatenate(parts)[:n]


class CopyInput(SegmentFiller):
    """A deliberately bad generator: releases the real samples it should hide."""

    name = "copy-input"

    def fill(self, n, context, real, cover, rng):
        return real.copy()


class ConstantLevel(SegmentFiller):
    """A deliberately bad generator: holds the context's mean (a flat line)."""

    name = "constant"

    def fill(self, n, context, real, cover, rng):
        level = context.mean(axis=0) if len(context) else np.zeros(3)
        return np.repeat(level[None], n, axis=0)


# --- windows --------------------------------------------------------------------------------------

@dataclass
class Windows:
    xyz: np.ndarray  # (n, L, 3)
    label: np.ndarray  # (n,) majority true label
    purity: np.ndarray  # (n,)
    replaced: np.ndarray  # (n,) share of replaced samples
    user: np.ndarray
    group: np.ndarray  # (n,) id of the (stream, segment) the window belongs to, for grouped CV

    def __len__(self) -> int:
        return len(self.label)

    def subset(self, m) -> "Windows":
        return Windows(self.xyz[m], self.label[m], self.purity[m], self.replaced[m], self.user[m], self.group[m])

    @staticmethod
    def concat(ws: Sequence["Windows"]) -> "Windows":
        ws = [w for w in ws if len(w)]
        if not ws:
            return Windows(np.empty((0, 128, 3)), *(np.empty(0) for _ in range(5)))
        return Windows(*(np.concatenate([getattr(w, f) for w in ws]) for f in ("xyz", "label", "purity", "replaced", "user", "group")))


def cut(released: Released | Stream, length: int = 128, hop: int = 64, group_offset: int = 0) -> Windows:
    """Windows of a released stream (or a raw ``Stream``) with their true majority label,
    the share of replaced samples and a group id per contiguous labelled run."""
    stream = released.stream if isinstance(released, Released) else released
    replaced = released.replaced if isinstance(released, Released) else np.zeros(len(stream), bool)
    w = labelled_windows(released.xyz, stream.labels, length, hop, len(ACTIVITIES))
    if len(w.start) == 0:
        return Windows.concat([])
    idx = w.start
    rep = np.lib.stride_tricks.sliding_window_view(replaced, length)[idx].mean(axis=1)
    run_id = np.cumsum(np.r_[1, np.diff(stream.labels) != 0])  # contiguous label runs
    group = group_offset + run_id[idx + length // 2]
    return Windows(
        np.ascontiguousarray(w.xyz, dtype=np.float64), w.label, w.purity, rep,
        np.full(len(idx), stream.user), group,
    )


