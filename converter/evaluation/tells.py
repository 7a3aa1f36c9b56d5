"""Why replaced segments can be told from the owner's real data: the personal-cover protocol,
the judges' floor, and the "tells" (features that separate replaced from real windows).

Protocol (DESIGN.md, "The judge's floor"): in each held-out recording every other segment of
the cover activity is replaced (the others are released as real, so the filter's cover bank
fills as on a phone; each recording runs twice, odd then even segments replaced); each replaced window is judged against the real window that stood at
the same position (real and replaced windows of one position share a fold group). The floor
is the same judgement with the odd segments filled by real walking of the even segments of
the same recording: what a perfect generator of this person would score (≈ 0.5).
Every replacement runs through the shipped ``PrivacyFilter`` (``SenseGenMethod``).
"""
from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from sdk.activities import activity_index
from sdk.features import feature_names, window_features

from . import metrics as M
from .streams import Released, ReplacementMethod, SenseGenMethod, Stream, Windows, cut, label_mask, segments

#: the features DESIGN.md names as the tells of generated walking, reported for every method
TELL_FEATURES = ("mag_band0", "mag_band1", "vert_band0", "vert_band1", "corr_xz", "corr_xy", "mag_acf15", "horiz_acf10", "std_x", "mag_absdiff")
WINDOW, HOP = 128, 32


def alternate_mask(stream: Stream, cover: str, first_replaced: int = 1) -> np.ndarray:
    """Replace every other run of ``cover`` (runs ``first_replaced``, ``first_replaced + 2``…),
    so real runs of the cover are released before each replaced one."""
    mask = np.zeros(len(stream), bool)
    for i, (a, b) in enumerate(segments(label_mask(stream, [cover]))):
        if i % 2 == first_replaced % 2:
            mask[a:b] = True
    return mask


def matched_windows(stream: Stream, released: Released, cover: str, offset: int) -> tuple[Windows, Windows]:
    """(real, replaced) windows at the same positions: pure ``cover`` windows wholly replaced."""
    k = activity_index(cover)
    ref = cut(stream, WINDOW, HOP, offset)
    rep = cut(released, WINDOW, HOP, offset)
    sel = (ref.label == k) & (ref.purity == 1.0) & (rep.replaced == 1.0)
    return ref.subset(sel), rep.subset(sel)


class RealOtherSegments:
    """The floor's "perfect generator": fills each masked run with real samples of the same
    recording's unmasked runs of the cover activity (never the run itself)."""

    name = "real-other-segments"

    def release(self, stream: Stream, mask: np.ndarray, cover: str, seed: int) -> Released:
        rng = np.random.default_rng(seed)
        donors = [(a, b) for a, b in segments(label_mask(stream, [cover])) if not mask[a:b].any()]
        pool = np.concatenate([stream.xyz[a:b] for a, b in donors]) if donors else stream.xyz[:0]
        out = stream.xyz.copy()
        for a, b in segments(mask):
            n = b - a
            if len(pool) == 0:
                raise ValueError("no unmasked cover run to fill from")
            start = int(rng.integers(0, max(1, len(pool) - n)))
            out[a:b] = np.resize(pool[start : start + n] if len(pool) >= n else pool, (n, 3))
        return Released(stream, out, mask.copy(), self.name)


@dataclass
class JudgedMethod:
    """One method's judges and tells under the personal-cover protocol."""

    name: str
    feature_judge: float
    lstm_judge: float
    n_windows: int
    medians: dict[str, float]
    spread_ratio: list[float]  # per axis, median within-window std, replaced / real at the same positions

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def released_pairs(
    streams: Sequence[Stream], method: ReplacementMethod, cover: str, seed: int = 0, parities: Sequence[int] = (1, 0),
    releases: list[Released] | None = None, carry_bank: bool = False,
) -> tuple[Windows, Windows]:
    """All matched (real, replaced) windows of ``method`` over ``streams``: each stream is
    released once per parity, with the odd (1) and then the even (0) runs of ``cover``
    replaced. Each release is appended to ``releases`` when given.

    ``carry_bank`` (a ``SenseGenMethod`` only): a user's recordings run in order and each one
    starts with the cover bank its predecessor's first-parity release left, as on a phone that
    keeps its bank file (``CoverBankOptions.path``) between recordings; every release of a
    recording starts from the same bank, so no pass sees another pass's real data."""
    carry = carry_bank and isinstance(method, SenseGenMethod)
    real, fake = [], []
    with tempfile.TemporaryDirectory() as tmp:
        carried: dict[int, Path] = {}  # user -> the bank file their previous recording left
        for si, s in enumerate(streams):
            left = None
            for parity in parities:
                mask = alternate_mask(s, cover, first_replaced=parity)
                if not mask.any():
                    continue
                if carry:
                    path = Path(tmp) / "bank.npz"
                    path.unlink(missing_ok=True)
                    if s.user in carried:
                        shutil.copyfile(carried[s.user], path)
                    released = method.release(s, mask, cover, seed + 2 * si + parity, bank_path=path)
                    if left is None and path.exists():
                        left = Path(tmp) / f"user{s.user}-{si}.npz"
                        shutil.copyfile(path, left)
                else:
                    released = method.release(s, mask, cover, seed + 2 * si + parity)
                if releases is not None:
                    releases.append(released)
                r, f = matched_windows(s, released, cover, si * 1_000_000)
                real.append(r)
                fake.append(f)
            if left is not None:
                carried[s.user] = left
    return Windows.concat(real), Windows.concat(fake)


def replay_judge(releases: Sequence[Released], cover: str) -> dict[str, float]:
    """A nearest-neighbour attacker: for each window of a replaced ``cover`` run, the RMS
    distance to the nearest window of the ``cover`` samples released as real before that run
    (:func:`nearest_distances`), against the same for the real window at that position. A
    cover made by copying the owner's earlier data sits too close; a population model may sit
    too far. Returns the AUC of "closer means replaced" (0.5: no tell; below 0.5: replaced
    windows sit farther than real ones) and both medians."""
    from sklearn.metrics import roc_auc_score

    k = activity_index(cover)
    d_real, d_fake = [], []
    for rel in releases:
        s = rel.stream
        released_cover = (s.labels == k) & ~rel.replaced
        for a, b in segments(rel.replaced & (s.labels == k)):
            if b - a < WINDOW:
                continue
            earlier = [s.xyz[c:d] for c, d in segments(released_cover[:a]) if d - c >= WINDOW]
            if not earlier:
                continue
            bank = np.concatenate(earlier)
            d_real.append(nearest_distances(s.xyz[a:b], bank, hop=HOP))
            d_fake.append(nearest_distances(rel.xyz[a:b], bank, hop=HOP))
    if not d_real:
        return {"auc": float("nan"), "real_median": float("nan"), "replaced_median": float("nan"), "n_windows": 0}
    dr, df = np.concatenate(d_real), np.concatenate(d_fake)
    auc = roc_auc_score(np.r_[np.zeros(len(dr)), np.ones(len(df))], -np.r_[dr, df])
    return {"auc": float(auc), "real_median": float(np.median(dr)), "replaced_median": float(np.median(df)), "n_windows": int(len(df))}


def judge(real: Windows, fake: Windows, seed: int = 0, lstm_seeds: int = 2) -> tuple[float, float]:
    """(feature judge, LSTM judge) accuracy, user-relative, grouped by position (0.5 = none);
    the LSTM judge is the mean over ``lstm_seeds`` seeds (NaN with 0)."""
    args = (real.xyz, fake.xyz, real.group, fake.group, real.user, fake.user)
    feat = M.feature_discriminator(*args, folds=3, seed=seed).accuracy
    if not lstm_seeds:
        return float(feat), float("nan")
    lstm = [M.lstm_discriminator(*args, folds=3, epochs=12, units=32, seed=seed + k).accuracy for k in range(lstm_seeds)]
    return float(feat), float(np.mean(lstm))


def tell_medians(windows: Windows) -> dict[str, float]:
    names = feature_names(WINDOW)
    f = window_features(windows.xyz) if len(windows) else np.full((1, len(names)), np.nan)
    return {n: float(np.median(f[:, names.index(n)])) for n in TELL_FEATURES}


def spread_ratio(real: Windows, fake: Windows) -> list[float]:
    """Per axis, the median within-window std of ``fake`` over that of ``real`` (issue 9's
    target for static postures: within 1.3x)."""
    r, f = np.median(real.xyz.std(axis=1), axis=0), np.median(fake.xyz.std(axis=1), axis=0)
    return [round(float(v), 3) for v in f / np.maximum(r, 1e-12)]


def top_tells(real: Windows, fake: Windows, top: int = 8, seed: int = 0) -> list[dict]:
    """The features a random forest leans on most to separate replaced from real windows
    (per-user standardised, impurity importance), with their real and replaced medians."""
    from sklearn.ensemble import RandomForestClassifier

    names = feature_names(WINDOW)
    fr, ff = window_features(real.xyz), window_features(fake.xyz)
    x = M.per_user_standardise(np.concatenate([fr, ff]), np.concatenate([real.user, fake.user]))
    y = np.r_[np.zeros(len(fr)), np.ones(len(ff))]
    rf = RandomForestClassifier(200, min_samples_leaf=2, n_jobs=2, random_state=seed).fit(x, y)
    order = np.argsort(rf.feature_importances_)[::-1][:top]
    return [
        {"feature": names[i], "importance": float(rf.feature_importances_[i]), "real": float(np.median(fr[:, i])), "replaced": float(np.median(ff[:, i]))}
        for i in order
    ]


def personal_cover_report(
    streams: Sequence[Stream], methods: Sequence[ReplacementMethod], cover: str = "WALKING", seed: int = 0, lstm: bool = True,
    parities: Sequence[int] = (1, 0), carry_bank: bool = False,
) -> dict:
    """The floor, then each method: judges, tell medians, spread ratios, and the top tells of
    the first method (the product). ``lstm=False`` skips the LSTM judge (fast checks);
    ``parities=(1,)`` replaces only the odd runs of each recording, so that every replaced run
    has a released run of the cover before it (a warm bank); ``carry_bank``: each user's
    recordings hand their cover bank on (:func:`released_pairs`)."""
    n_lstm = 2 if lstm else 0
    # one parity only: with both, the floor's donors would also be judged as real windows
    real, fake = released_pairs(streams, RealOtherSegments(), cover, seed, parities=(1,))
    feat, lstm_acc = judge(real, fake, seed, n_lstm)
    out = {
        "protocol": "every other cover run replaced through PrivacyFilter; replaced vs real windows at the same positions; user-relative judges, grouped folds",
        "cover": cover,
        "real_medians": tell_medians(real),
        "parities": list(parities),
        "carry_bank": carry_bank,
        "floor": JudgedMethod("floor (real for real)", feat, lstm_acc, len(fake), tell_medians(fake), spread_ratio(real, fake)).to_dict(),
        "methods": [],
    }
    for i, m in enumerate(methods):
        releases: list[Released] = []
        real, fake = released_pairs(streams, m, cover, seed, parities=parities, releases=releases, carry_bank=carry_bank)
        feat, lstm_acc = judge(real, fake, seed, n_lstm)
        row = JudgedMethod(m.name, feat, lstm_acc, len(fake), tell_medians(fake), spread_ratio(real, fake)).to_dict()
        row["replay"] = replay_judge(releases, cover)
        out["methods"].append(row)
        if i == 0:
            out["top_tells"] = top_tells(real, fake, seed=seed)
    return out


def format_report(rep: dict) -> str:
    """A Markdown table of :func:`personal_cover_report`."""
    cols = TELL_FEATURES
    lines = ["| method | feature judge | LSTM judge | replay judge | windows | spread x, y, z | " + " | ".join(cols) + " |", "|" + "---|" * (6 + len(cols))]
    lines.append("| real | — | — | — | — | 1, 1, 1 | " + " | ".join(f"{rep['real_medians'][c]:.2f}" for c in cols) + " |")
    for row in [rep["floor"]] + rep["methods"]:
        replay = f"{row['replay']['auc']:.3f}" if "replay" in row else "—"
        spread = ", ".join(f"{v:.2f}" for v in row.get("spread_ratio", [])) or "—"
        lines.append(
            f"| {row['name']} | {row['feature_judge']:.3f} | {row['lstm_judge']:.3f} | {replay} | {row['n_windows']} | {spread} | "
            + " | ".join(f"{row['medians'][c]:.2f}" for c in cols) + " |"
        )
    return "\n".join(lines)


def nearest_distances(x: np.ndarray, bank: np.ndarray, length: int = WINDOW, hop: int = 32, bank_hop: int = 2) -> np.ndarray:
    """For each window of ``x`` (length ``length``, every ``hop`` samples), the RMS distance
    (g) to its nearest window of ``bank`` (every ``bank_hop`` samples), both with their own
    mean removed: a generator that replays its bank scores near 0, real walking of the same
    person scores its natural stride-to-stride variability."""
    def wins(a: np.ndarray, step: int) -> np.ndarray:
        w = np.lib.stride_tricks.sliding_window_view(np.asarray(a, np.float64), length, axis=0)[::step]
        w = w - w.mean(axis=2, keepdims=True)
        return w.reshape(len(w), -1)

    a, b = wins(x, hop), wins(bank, bank_hop)
    d2 = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2 * a @ b.T
    return np.sqrt(np.maximum(d2.min(axis=1), 0.0) / (3 * length))
