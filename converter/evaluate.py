"""``sensegen evaluate``: realism, utility and privacy of the generator and detector on users
that neither model was trained on, next to two baselines (matched Gaussian noise, replay of
other users' real data). Writes ``results.json``, PNG figures and ``report.md``.

Two kinds of runs, every replacement method seeing the same masks:

* **realism** (per cover activity A): every true segment of A in each evaluation stream is
  replaced by A (oracle mask from the labels). Generated windows of user u are judged
  against u's own real windows of A — what an app sees (DESIGN.md: realism is dominated by
  the person).
* **personal cover** (``evaluation.tells``): every other segment of the cover activity is
  replaced, so the filter's cover bank fills from the released ones as on a phone; replaced
  windows are judged against the real windows at the same positions, next to the judges'
  floor (real walking of the same recording in their place), with the tells (features that
  separate them) — the product (bank on) and population priming (bank off) side by side.
* **privacy** (the policy, e.g. hide WALKING_UPSTAIRS as WALKING): the bundled detector
  decides the mask at each release delay, exactly as ``PrivacyFilter`` asks it; the released
  streams meet an attacker, a utility classifier and a splice detector trained by others.
"""
from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from sdk.activities import ACTIVITIES, activity_index
from sdk.detector import ActivityDetector, DetectorSource
from sdk.generator import Generator
from sdk.policy import Policy

from .evaluation import metrics as M
from .evaluation.streams import (
    CopyInput,
    GaussianBaseline,
    ReplacementMethod,
    ReplayBaseline,
    SenseGenMethod,
    Stream,
    Windows,
    cut,
    label_mask,
    release_mask,
)
from .hapt import load_hapt

log = logging.getLogger(__name__)

#: the product's targets (issue "Activity detector, privacy policy, and the evaluation")
TARGETS = {
    "discriminator_accuracy": ("<=", 0.55),
    "attacker_recall": ("<=", 0.10),
    "utility_ratio": (">=", 0.95),
    "splice_auc": ("<=", 0.60),
    "leak_after_grace_fraction": ("<=", 0.01),
}
GROUP_STRIDE = 1_000_000  # group ids: stream index * GROUP_STRIDE + label-run id


@dataclass
class EvaluationConfig:
    """What ``run_evaluation`` measures and how much compute it spends."""

    users: tuple[int, ...] = (3, 4, 15, 20)
    reference_users: tuple[int, ...] | None = None  # "other people": default every user not evaluated
    sensitive: tuple[str, ...] = ("WALKING_UPSTAIRS",)
    cover: str = "WALKING"
    policy: dict = field(default_factory=dict)  # Policy threshold overrides
    delay_s: float = 3.0  # the release delay of the main privacy run
    delays: tuple[float, ...] = (0.5, 1.0, 2.0, 3.0, 5.0)
    grace_s: float = 3.0  # onset allowance for the leak target
    crossfade_s: float = 0.5
    realism_activities: tuple[str, ...] = ACTIVITIES[1:]
    window: int = 128
    hop: int = 64
    folds: int = 3
    lstm: bool = True
    lstm_epochs: int = 12
    lstm_units: int = 32
    seed: int = 0
    personal_cover: bool = True  # the personal-cover protocol (tells, floor, bank on/off)
    decoy_rates: tuple[float, ...] = (0.0, 0.05, 0.1, 0.2, 0.3)  # decoy trade-off (evaluation.decoys); () skips it

    def to_dict(self) -> dict:
        d = asdict(self)
        return {k: list(v) if isinstance(v, tuple) else v for k, v in d.items()}


def _meets(name: str, value: float) -> bool | None:
    op, target = TARGETS[name]
    if value is None or not np.isfinite(value):
        return None
    return bool(value <= target) if op == "<=" else bool(value >= target)


def _bar(iterable, progress: bool, desc: str, total=None):
    from tqdm.auto import tqdm

    return tqdm(iterable, desc=desc, total=total, disable=not progress, leave=False)


def default_methods(generator: Generator, reference: Sequence[Stream], crossfade_s: float) -> list[ReplacementMethod]:
    """SenseGen through the filter (the product: with the owner's cover bank), SenseGen
    primed on the live context only (population cover), and the two baselines."""
    return [
        SenseGenMethod(generator, crossfade_s=crossfade_s),
        SenseGenMethod(generator, crossfade_s=crossfade_s, name="sensegen-population", cover_bank=None),
        GaussianBaseline(reference, crossfade_s=crossfade_s),
        ReplayBaseline(reference, crossfade_s=crossfade_s),
    ]


# --- realism ------------------------------------------------------------------------------------

def realism_windows(streams: Sequence[Stream], methods: Sequence[ReplacementMethod], activities, cfg: EvaluationConfig, progress: bool = True):
    """Oracle runs: for each activity A and stream, replace A's true segments by A.

    Returns ``(real, fake)``: ``real[A]`` the real windows of A, ``fake[method][A]`` the
    windows at the same positions in the released streams (fully replaced, one activity).
    """
    real: dict[str, Windows] = {}
    fake: dict[str, dict[str, Windows]] = {m.name: {} for m in methods}
    jobs = [(a, si, s) for a in activities for si, s in enumerate(streams)]
    parts_real: dict[str, list] = {a: [] for a in activities}
    parts_fake: dict[str, dict[str, list]] = {m.name: {a: [] for a in activities} for m in methods}
    for a, si, s in _bar(jobs, progress, "realism runs"):
        k = activity_index(a)
        mask = label_mask(s, [a])
        if not mask.any():
            continue
        ref = cut(s, cfg.window, cfg.hop, si * GROUP_STRIDE)
        keep = (ref.label == k) & (ref.purity == 1.0)
        parts_real[a].append(ref.subset(keep))
        for m in methods:
            rel = m.release(s, mask, a, seed=cfg.seed * 1000 + si)
            w = cut(rel, cfg.window, cfg.hop, si * GROUP_STRIDE)
            parts_fake[m.name][a].append(w.subset(keep & (w.replaced == 1.0)))
    for a in activities:
        real[a] = Windows.concat(parts_real[a])
        for m in methods:
            fake[m.name][a] = Windows.concat(parts_fake[m.name][a])
    return real, fake


def realism_metrics(real: dict, fake: dict, cfg: EvaluationConfig, progress: bool = True) -> dict:
    """Discriminators and statistics per method and activity, plus train-on-synthetic."""
    out: dict = {}
    jobs = [(m, a) for m in fake for a in real]
    for m, a in _bar(jobs, progress, "realism metrics"):
        r, f = real[a], fake[m][a]
        row = {"windows_real": len(r), "windows_fake": len(f)}
        args = (r.xyz, f.xyz, r.group, f.group, r.user, f.user)
        if cfg.lstm:
            row["lstm_discriminator"] = M.lstm_discriminator(
                *args, folds=cfg.folds, epochs=cfg.lstm_epochs, units=cfg.lstm_units, seed=cfg.seed
            ).to_dict()
        row["feature_discriminator"] = M.feature_discriminator(*args, folds=cfg.folds, seed=cfg.seed).to_dict()
        row["statistics"] = M.window_statistics(r.xyz, f.xyz, r.group, seed=cfg.seed, users_real=r.user)
        out.setdefault(m, {})[a] = row
    for m in fake:
        by_user_real, by_user_fake = {}, {}
        users = np.unique(np.concatenate([real[a].user for a in real if len(real[a])] or [np.empty(0)]))
        for u in users:
            xr = [(real[a].xyz[real[a].user == u], activity_index(a)) for a in real]
            xf = [(fake[m][a].xyz[fake[m][a].user == u], activity_index(a)) for a in real]
            by_user_real[int(u)] = (np.concatenate([x for x, _ in xr]), np.concatenate([np.full(len(x), k) for x, k in xr]))
            by_user_fake[int(u)] = (np.concatenate([x for x, _ in xf]), np.concatenate([np.full(len(x), k) for x, k in xf]))
        out.setdefault(m, {})["train_on_synthetic"] = M.train_on_synthetic(by_user_real, by_user_fake, seed=cfg.seed)
    return out


# --- privacy ------------------------------------------------------------------------------------

def detector_masks(streams: Sequence[Stream], policy: Policy, detector: ActivityDetector, generator: Generator, delays, progress: bool = True) -> dict:
    """``{delay: [mask per stream]}``: what the ``PrivacyFilter`` replaces with this detector
    and policy (the filter is run with ``generator``)."""
    out = {}
    for d in _bar(list(delays), progress, "detector masks"):
        out[float(d)] = [release_mask(s, [DetectorSource(policy, detector, keep_windows=0)], d, generator) for s in streams]
    return out


def privacy_metrics(
    streams: Sequence[Stream],
    masks: dict,
    methods: Sequence[ReplacementMethod],
    classifiers: M.RealDataClassifiers,
    policy: Policy,
    cfg: EvaluationConfig,
    progress: bool = True,
) -> tuple[dict, dict]:
    """Leaks at every delay; attacker, utility and splice detector at ``cfg.delay_s``.

    Returns (metrics, released streams of the main delay by method, for the figures)."""
    sens = [activity_index(a) for a in policy.sensitive]
    cover = activity_index(policy.cover)
    grace = int(round(cfg.grace_s * 50))
    out: dict = {"raw": {}, "detection": {}, "methods": {m.name: {"leaks": {}} for m in methods}}
    main_released: dict[str, list] = {}
    raw = Windows.concat([cut(s, cfg.window, cfg.hop, si * GROUP_STRIDE) for si, s in enumerate(streams)])
    out["raw"]["attacker"] = M.attacker_recall(classifiers, *_labelled(raw), cover=cover)
    out["raw"]["utility_accuracy"] = M.utility_accuracy(classifiers, *_labelled(raw))
    for d, ms in masks.items():
        labels = np.concatenate([s.labels for s in streams])
        mask = np.concatenate(ms)
        is_sens = np.isin(labels, sens)
        other = (labels > 0) & ~is_sens
        out["detection"][str(d)] = {
            "sensitive_covered": float(mask[is_sens].mean()) if is_sens.any() else float("nan"),
            "other_replaced": float(mask[other].mean()) if other.any() else float("nan"),
            "replaced_share": float(mask.mean()),
        }
    jobs = [(m, d) for m in methods for d in masks]
    for m, d in _bar(jobs, progress, "privacy runs"):
        rel = [m.release(s, ms, policy.cover, seed=cfg.seed * 1000 + si) for si, (s, ms) in enumerate(zip(streams, masks[d]))]
        leak = {k: 0 for k in ("sensitive_samples", "released_real", "after_grace_samples", "released_real_after_grace")}
        for r in rel:
            for k, v in M.real_sensitive_released(r.stream.labels, r.stream.xyz, r.xyz, sens, grace).items():
                leak[k] += v
        leak["fraction"] = leak["released_real"] / max(leak["sensitive_samples"], 1)
        leak["after_grace_fraction"] = leak["released_real_after_grace"] / max(leak["after_grace_samples"], 1)
        out["methods"][m.name]["leaks"][str(d)] = leak
        if d != float(cfg.delay_s):
            continue
        main_released[m.name] = rel
        w = Windows.concat([cut(r, cfg.window, cfg.hop, si * GROUP_STRIDE) for si, r in enumerate(rel)])
        row = out["methods"][m.name]
        row["attacker"] = M.attacker_recall(classifiers, *_labelled(w), cover=cover)
        lab = (w.label > 0) & (w.purity >= 0.8)
        row["attacker"]["over_own_cover"] = M.attacker_excess(classifiers, w.xyz[lab], w.label[lab], w.replaced[lab], w.user[lab], cover)
        row["utility_accuracy"] = M.utility_accuracy(classifiers, *_labelled(w))
        raw_u = out["raw"]["utility_accuracy"]
        row["utility_ratio"] = row["utility_accuracy"] / raw_u if raw_u > 0 else float("nan")
        pos = w.replaced >= 0.5
        neg = (w.replaced == 0) & (w.label == cover) & (w.purity >= 0.8)
        sel = pos | neg
        row["splice_detector"] = M.splice_detector_auc(w.xyz[sel], pos[sel], w.user[sel], seed=cfg.seed)
        # what an app that keeps the stream sees: replaced windows vs the same user's released
        # real cover windows (groups hold one kind only here, which biases the judge down)
        fake_w, real_w = w.subset(w.replaced == 1.0), w.subset(neg & (w.purity == 1.0))
        row["released_cover_judge"] = M.feature_discriminator(
            real_w.xyz, fake_w.xyz, real_w.group, fake_w.group, real_w.user, fake_w.user, folds=cfg.folds, seed=cfg.seed
        ).to_dict()
    return out, main_released


def _labelled(w: Windows, min_purity: float = 0.8):
    keep = (w.label > 0) & (w.purity >= min_purity)
    return w.xyz[keep], w.label[keep]


def reference_classifiers(reference: Sequence[Stream], policy: Policy, cfg: EvaluationConfig) -> M.RealDataClassifiers:
    w = Windows.concat([cut(s, cfg.window, cfg.hop, si * GROUP_STRIDE) for si, s in enumerate(reference)])
    x, y = _labelled(w)
    return M.RealDataClassifiers.fit(x, y, [activity_index(a) for a in policy.sensitive], seed=cfg.seed)


# --- summary --------------------------------------------------------------------------------------

def summarise(results: dict, cfg: EvaluationConfig) -> dict:
    """The headline figures per method and whether each target is met."""
    summary = {}
    realism, privacy = results.get("realism", {}), results.get("privacy", {})
    for m in set(realism) | set(privacy.get("methods", {})):
        row: dict = {}
        acts = {a: v for a, v in realism.get(m, {}).items() if a in ACTIVITIES}
        for disc in ("lstm_discriminator", "feature_discriminator"):
            vals = {a: v[disc]["accuracy"] for a, v in acts.items() if disc in v}
            if vals:
                row[disc] = vals
                ws = {a: acts[a][disc]["n_real"] + acts[a][disc]["n_fake"] for a in vals}
                finite = [a for a in vals if np.isfinite(vals[a])]
                row[f"{disc}_pooled"] = float(np.average([vals[a] for a in finite], weights=[ws[a] for a in finite])) if finite else float("nan")
        if "train_on_synthetic" in realism.get(m, {}):
            row["tstr"] = realism[m]["train_on_synthetic"]["tstr"]
            row["trtr"] = realism[m]["train_on_synthetic"]["trtr"]
        p = privacy.get("methods", {}).get(m)
        if p:
            main = p["leaks"].get(str(float(cfg.delay_s)), {})
            row["attacker_recall"] = p.get("attacker", {}).get("recall")
            row["utility_ratio"] = p.get("utility_ratio")
            row["splice_auc"] = p.get("splice_detector", {}).get("separability")
            row["splice_auc_raw"] = p.get("splice_detector", {}).get("auc")
            row["leak_after_grace_fraction"] = main.get("after_grace_fraction")
            row["leak_after_grace_by_delay"] = {d: v["after_grace_fraction"] for d, v in p["leaks"].items()}
            row["leak_by_delay"] = {d: v["fraction"] for d, v in p["leaks"].items()}
            row["released_cover_feature_judge"] = p.get("released_cover_judge", {}).get("accuracy")
        checks = {}
        if f"lstm_discriminator_pooled" in row:
            worst = max((v for v in row["lstm_discriminator"].values() if np.isfinite(v)), default=float("nan"))
            checks["discriminator_accuracy"] = {"value": worst, "met": _meets("discriminator_accuracy", worst), "note": "worst cover activity"}
        for name in ("attacker_recall", "utility_ratio", "splice_auc", "leak_after_grace_fraction"):
            if row.get(name) is not None:
                checks[name] = {"value": row[name], "met": _meets(name, row[name])}
        row["targets"] = checks
        summary[m] = row
    return summary


def run_evaluation(
    data_dir: str | Path | None = None,
    generator_path: str | Path | None = None,
    detector_path: str | Path | None = None,
    out_dir: str | Path = "evaluation",
    config: EvaluationConfig | None = None,
    extra_methods: Sequence[ReplacementMethod] = (),
    methods: Sequence[ReplacementMethod] | None = None,
    figures: bool = True,
    progress: bool = True,
) -> dict:
    """Evaluate a generator (and detector) on held-out users; write results, figures, report.

    Args:
        data_dir: HAPT folder (default: ``converter.hapt.default_data_dir()``).
        generator_path / detector_path: model files; ``None`` = the bundled defaults.
        out_dir: where ``results.json``, ``report.md`` and ``*.png`` go.
        config: an ``EvaluationConfig``; the defaults take about 15 minutes on 2 cores.
        extra_methods: more replacement methods to compare (e.g. ``CopyInput()``).
        methods: replace the default methods (SenseGen, Gaussian, replay) altogether.

    Returns:
        the results dict also written to ``results.json``; ``results["summary"]`` holds
        the headline figures and target checks per method.
    """
    cfg = config or EvaluationConfig()
    t0 = time.time()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    ds = load_hapt(data_dir)
    missing = sorted(set(cfg.users) - set(ds.users))
    if missing:
        raise ValueError(f"evaluation users {missing} are not in the dataset (users: {ds.users})")
    ref_users = tuple(cfg.reference_users or [u for u in ds.users if u not in cfg.users])
    streams = [Stream.from_experiment(e) for e in ds.for_users(cfg.users).experiments]
    reference = [Stream.from_experiment(e) for e in ds.for_users(ref_users).experiments]
    generator = Generator(generator_path)
    detector = ActivityDetector(detector_path)
    policy = Policy(tuple(cfg.sensitive), cfg.cover, **cfg.policy)
    if methods is None:
        methods = default_methods(generator, reference, cfg.crossfade_s)
    methods = list(methods) + list(extra_methods)
    results: dict = {
        "config": cfg.to_dict(),
        "policy": policy.to_dict(),
        "reference_users": list(ref_users),
        "models": _model_info(generator, detector, cfg.users),
        "targets": {k: {"op": op, "value": v} for k, (op, v) in TARGETS.items()},
        "methods": [m.name for m in methods],
        "timing": {},
    }
    t = time.time()
    real, fake = realism_windows(streams, methods, cfg.realism_activities, cfg, progress)
    results["realism"] = realism_metrics(real, fake, cfg, progress)
    results["timing"]["realism_s"] = time.time() - t
    if cfg.personal_cover:
        from .evaluation.tells import personal_cover_report

        t = time.time()
        results["personal_cover"] = personal_cover_report(streams, methods, cfg.cover, seed=cfg.seed, lstm=cfg.lstm)
        results["timing"]["personal_cover_s"] = time.time() - t
    t = time.time()
    classifiers = reference_classifiers(reference, policy, cfg)
    delays = sorted(set(map(float, cfg.delays)) | {float(cfg.delay_s)})
    masks = detector_masks(streams, policy, detector, generator, delays, progress)
    results["privacy"], released = privacy_metrics(streams, masks, methods, classifiers, policy, cfg, progress)
    results["timing"]["privacy_s"] = time.time() - t
    if cfg.decoy_rates:
        from .evaluation.decoys import decoy_tradeoff

        t = time.time()
        results["decoys"] = decoy_tradeoff(streams, generator, detector, classifiers, policy, cfg.delay_s, cfg.crossfade_s,
                                           cfg.decoy_rates, cfg.window, cfg.hop, cfg.seed, progress)
        results["timing"]["decoys_s"] = time.time() - t
    results["summary"] = summarise(results, cfg)
    results["timing"]["total_s"] = time.time() - t0
    if figures:
        from .evaluation.report import write_figures

        results["figures"] = write_figures(out, real, fake, results, released, policy, cfg)
    (out / "results.json").write_text(json.dumps(_jsonable(results), indent=1))
    from .evaluation.report import write_report

    write_report(out / "report.md", results, cfg)
    log.info("evaluation written to %s in %.0f s", out, time.time() - t0)
    return results


def _model_info(generator: Generator, detector: ActivityDetector, users) -> dict:
    info = {}
    for name, meta, path in (("generator", generator.metadata, generator.path), ("detector", detector.metadata, detector.path)):
        split = (meta.get("training") or {}).get("split_users") or {}
        seen = sorted(set(users) & set(split.get("train", []) + split.get("val", [])))
        info[name] = {
            "file": str(path),
            "sha256": meta.get("sha256"),
            "quantisation": meta.get("quantisation"),
            "architecture": meta.get("architecture"),
            "split_users": split,
            "evaluation_users_seen_in_training": seen,
        }
        if seen:
            log.warning("%s was trained on evaluation users %s: its figures are not held-out", name, seen)
    return info


def _jsonable(x):
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, np.ndarray):
        return _jsonable(x.tolist())
    if isinstance(x, (np.floating, float)):
        return float(f"{x:.6g}") if np.isfinite(x) else None
    if isinstance(x, np.integer):
        return int(x)
    if isinstance(x, np.bool_):
        return bool(x)
    return x


__all__ = ["EvaluationConfig", "TARGETS", "run_evaluation", "CopyInput", "realism_windows", "realism_metrics",
           "detector_masks", "privacy_metrics", "reference_classifiers", "summarise"]
