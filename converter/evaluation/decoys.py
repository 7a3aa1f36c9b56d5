"""What decoy segments buy and cost (``sdk.decoys``), measured on held-out users.

For each decoy rate the product pipeline (``PrivacyFilter`` + ``DetectorSource`` with the
bundled detector, the main release delay) releases every evaluation stream; which replaced
samples the policy asked for is known from the detector source's own answers, the rest are decoys. Then:

* **posterior for a perfect synthetic-segment detector** (an app that reads ``replaced``):
  P(sensitive | a sample is synthetic) and P(sensitive | a segment is synthetic), pooled and
  per length bin (DESIGN.md: length gives long segments away). "sensitive" is read two ways:
  ``policy`` — the segment was replaced because the policy flagged it (not a decoy; 1.0
  without decoys, the issue's definition) and ``true`` — it overlaps a real sample of a
  sensitive activity (the detector's false positives already lower this one).
* **the same posterior for the project's splice detector** (``metrics.splice_scores``, leave
  one user out): among the windows it flags (score >= 0.5), and among the replaced segments
  it spots (mean score of the segment's windows >= 0.5; false alarms on real data ignored,
  which can only raise the posterior).
* **cost**: utility ratio and attacker recall (the real-data classifiers of the main
  evaluation), the share of cover time replaced by decoys, and the extra CPU of the whole
  pipeline (filter, detector, generator, decoy scheduler) against the same run without decoys.
"""
from __future__ import annotations

import time
from typing import Sequence

import numpy as np

from sdk.activities import ACTIVITIES, activity_index
from sdk.decoys import DEFAULT_BALANCE, DecoyOptions
from sdk.detector import ActivityDetector, DetectorSource
from sdk.filter import FilterOptions, PrivacyFilter, ReleasedBlock
from sdk.generator import Generator
from sdk.policy import Policy

from . import metrics as M
from .streams import BLOCK, Released, Stream, Windows, cut, segments

#: length bins of a replaced segment, seconds (DESIGN.md "Decoys and what an observer learns")
BINS_S: tuple[float, ...] = (0.0, 5.0, 10.0, 20.0, np.inf)
BIN_NAMES: tuple[str, ...] = ("0-5 s", "5-10 s", "10-20 s", "20+ s")
#: the issue's targets at the default rate
DECOY_TARGETS = {
    "posterior_segment_perfect": ("<=", 0.5),
    "utility_ratio": (">=", 0.95),
    "attacker_recall": ("<=", 0.10),
}
DEFAULT_RATES: tuple[float, ...] = (0.0, 0.05, 0.1, 0.2, 0.3)


def length_bin(length_s: float) -> str:
    i = int(np.searchsorted(BINS_S, length_s, side="right")) - 1
    return BIN_NAMES[min(max(i, 0), len(BIN_NAMES) - 1)]


def replaced_runs(replaced: np.ndarray, policy_mask: np.ndarray, sensitive_label: np.ndarray, rate_hz: float) -> list[dict]:
    """Each run of replaced samples: where, how long, and whether the policy asked for any
    of it (else it is a decoy) and whether it overlaps a real sensitive sample."""
    return [
        {"start": a, "end": b, "length_s": (b - a) / rate_hz,
         "policy": bool(policy_mask[a:b].any()), "true": bool(sensitive_label[a:b].any())}
        for a, b in segments(np.asarray(replaced, bool))
    ]


def posterior_table(runs: Sequence[dict], spotted: Sequence[bool] | None = None) -> dict:
    """P(policy | segment) and P(true | segment), pooled and per length bin, over the runs
    (or only the ``spotted`` ones)."""
    keep = [r for i, r in enumerate(runs) if spotted is None or spotted[i]]

    def row(rs):
        n = len(rs)
        pol = sum(r["policy"] for r in rs)
        tru = sum(r["true"] for r in rs)
        return {"segments": n, "policy": pol, "decoys": n - pol, "true": tru,
                "posterior_policy": pol / n if n else float("nan"), "posterior_true": tru / n if n else float("nan"),
                "policy_s": float(sum(r["length_s"] for r in rs if r["policy"])),
                "decoy_s": float(sum(r["length_s"] for r in rs if not r["policy"]))}

    out = {"pooled": row(keep), "bins": {}}
    for name in BIN_NAMES:
        out["bins"][name] = row([r for r in keep if length_bin(r["length_s"]) == name])
    finite = [v["posterior_policy"] for v in out["bins"].values() if v["segments"]]
    out["worst_bin_policy"] = max(finite) if finite else float("nan")
    finite = [v["posterior_true"] for v in out["bins"].values() if v["segments"]]
    out["worst_bin_true"] = max(finite) if finite else float("nan")
    return out


def _window_share(values: np.ndarray, length: int, hop: int) -> np.ndarray:
    """Mean of ``values`` over the windows ``cut`` makes (same positions)."""
    n = len(values)
    if n < length:
        return np.empty(0)
    idx = np.arange(0, n - length + 1, hop)
    return np.lib.stride_tricks.sliding_window_view(np.asarray(values, np.float64), length)[idx].mean(axis=1)


def splice_posterior(released: Sequence[Released], policy_masks, sens: Sequence[int], window: int, hop: int, seed: int, rate_hz: float) -> dict:
    """The posterior for an app that runs the project's splice detector instead of reading
    the flag: trained leave-one-user-out on other users' released windows (replaced share
    >= 0.5 vs 0), scored on every window of the held-out user."""
    parts = []
    for si, (r, pm) in enumerate(zip(released, policy_masks)):
        w = cut(r, window, hop, si * 1_000_000)
        if not len(w):
            continue
        sl = np.isin(r.stream.labels, list(sens))
        parts.append((r, pm, sl, w, _window_share(pm & r.replaced, window, hop), _window_share(sl & r.replaced, window, hop)))
    if not parts:
        return {}
    xyz = np.concatenate([p[3].xyz for p in parts])
    rep = np.concatenate([p[3].replaced for p in parts])
    users = np.concatenate([p[3].user for p in parts])
    pos, neg = rep >= 0.5, rep == 0
    score = M.splice_scores(xyz, pos, users, seed=seed, train=pos | neg)
    ok = np.isfinite(score)
    flagged = ok & (score >= 0.5)
    pol_share = np.concatenate([p[4] for p in parts])
    true_share = np.concatenate([p[5] for p in parts])
    from sklearn.metrics import roc_auc_score

    sel = ok & (pos | neg)
    auc = float(roc_auc_score(pos[sel], score[sel])) if len(np.unique(pos[sel])) == 2 else float("nan")
    nf = int(flagged.sum())
    out = {
        "auc": auc,
        "window": {
            "flagged": nf,
            "flagged_real": int((flagged & neg).sum()),
            "posterior_policy": float((flagged & (pol_share >= 0.5)).sum() / nf) if nf else float("nan"),
            "posterior_true": float((flagged & (true_share >= 0.5)).sum() / nf) if nf else float("nan"),
        },
    }
    runs, spotted, offset = [], [], 0
    for r, pm, sl, w, _, _ in parts:
        centres = np.arange(len(w)) * hop + window // 2
        s = score[offset : offset + len(w)]
        offset += len(w)
        for run in replaced_runs(r.replaced, pm, sl, rate_hz):
            inside = (centres >= run["start"]) & (centres < run["end"])
            if not inside.any():  # shorter than a hop: the window centred nearest to it
                inside = np.abs(centres - (run["start"] + run["end"]) / 2) == np.abs(centres - (run["start"] + run["end"]) / 2).min()
            vals = s[inside]
            vals = vals[np.isfinite(vals)]
            runs.append(run)
            spotted.append(bool(len(vals) and vals.mean() >= 0.5))
    out["segment"] = posterior_table(runs, spotted)
    out["segment"]["spotted_share"] = float(np.mean(spotted)) if spotted else float("nan")
    return out


class _AnsweringSource(DetectorSource):
    """A ``DetectorSource`` that remembers its answers: which samples the policy replaced."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.answers: dict[float, bool] = {}

    def is_sensitive(self, t: float) -> bool:
        self.answers[t] = answer = super().is_sensitive(t)
        return answer


def release_with_decoys(
    stream: Stream, policy: Policy, detector: ActivityDetector, generator: Generator, rate: float,
    delay_s: float, crossfade_s: float, seed: int, balance: float = DEFAULT_BALANCE,
) -> tuple[Released, np.ndarray]:
    """The product pipeline on one stream: ``PrivacyFilter`` with a ``DetectorSource`` and
    decoys at ``rate`` (``DecoyOptions.balance`` = ``balance``), pushed in sensor-sized blocks.
    Returns the released stream and the policy's mask (the samples the detector asked to
    replace; the other replaced ones are decoys)."""
    opts = FilterOptions(cover=policy.cover, delay_s=delay_s, crossfade_s=crossfade_s, seed=seed,
                         decoys=DecoyOptions(rate=float(rate), balance=float(balance)))
    src = _AnsweringSource(policy, detector)
    f = PrivacyFilter(opts, [src], generator=generator)
    blocks = [f.push_block(stream.t[s : s + BLOCK], stream.xyz[s : s + BLOCK]) for s in range(0, len(stream), BLOCK)]
    blocks.append(f.flush())
    f.close()
    out = ReleasedBlock.concat(blocks)
    mask = np.fromiter((src.answers[t] for t in stream.t.tolist()), bool, len(stream))
    return Released(stream, out.xyz, out.replaced, f"sensegen-decoys-{rate:g}"), mask


def decoy_tradeoff(
    streams: Sequence[Stream],
    generator: Generator,
    detector: ActivityDetector,
    classifiers: M.RealDataClassifiers,
    policy: Policy,
    delay_s: float = 3.0,
    crossfade_s: float = 0.5,
    rates: Sequence[float] = DEFAULT_RATES,
    window: int = 128,
    hop: int = 64,
    seed: int = 0,
    progress: bool = True,
    balances: Sequence[float] = (DEFAULT_BALANCE,),
    seeds: int = 1,
) -> dict:
    """The trade-off table: for each decoy rate, the posteriors, utility, attacker recall,
    the share of cover time replaced and the CPU of the filter (see the module docstring).

    ``seeds`` runs of the filter per rate (filter seeds ``(seed + k) * 1000 + stream``): the
    posteriors are computed from the segments pooled over the runs (what an observer of many
    such days would count), the other figures are means over the runs; ``per_seed`` keeps each
    run's worst-bin and pooled posterior. The splice detector is judged on the first run only.
    Each ``balances`` value (``DecoyOptions.balance``) is measured at every rate in the same
    run: the first is the headline (``rates``), the others go to ``other_balances``.

    Returns:
        ``{"rates": {rate: row}, "other_balances": {balance: {rate: row}}, "raw": {...},
        "structural_limit": {...}, "targets": ...}``.
    """
    from tqdm.auto import tqdm

    from ..evaluate import _labelled

    sens = [activity_index(a) for a in policy.sensitive]
    cover = activity_index(policy.cover)
    rate_hz = float(generator.rate_hz)
    raw_all = Windows.concat([cut(s, window, hop, si * 1_000_000) for si, s in enumerate(streams)])
    raw_utility = M.utility_accuracy(classifiers, *_labelled(raw_all))
    cover_samples = int(sum((s.labels == cover).sum() for s in streams))
    stream_s = sum(len(s) for s in streams) / rate_hz
    labels = np.concatenate([s.labels for s in streams])
    out: dict = {
        "delay_s": delay_s,
        "bins": list(BIN_NAMES),
        "stream_s": stream_s,
        "cover_s": cover_samples / rate_hz,
        "seeds": int(seeds),
        "balance": float(balances[0]),
        "raw": {"utility_accuracy": raw_utility,
                "attacker_recall": M.attacker_recall(classifiers, *_labelled(raw_all), cover=cover)["recall"]},
        "targets": {k: {"op": op, "value": v} for k, (op, v) in DECOY_TARGETS.items()},
        "rates": {},
        "other_balances": {},
    }

    def one_run(rate: float, balance: float, k: int) -> dict:
        t0 = time.process_time()
        runs_ = [release_with_decoys(s, policy, detector, generator, rate, delay_s, crossfade_s, (seed + k) * 1000 + si, balance)
                 for si, s in enumerate(streams)]
        cpu = time.process_time() - t0
        rel, masks = [r for r, _ in runs_], [m for _, m in runs_]
        rep = np.concatenate([r.replaced for r in rel])
        pm = np.concatenate(masks)
        decoy = rep & ~pm
        runs = []
        for r, m in zip(rel, masks):
            runs += replaced_runs(r.replaced, m, np.isin(r.stream.labels, sens), rate_hz)
        w = Windows.concat([cut(r, window, hop, si * 1_000_000) for si, r in enumerate(rel)])
        util = M.utility_accuracy(classifiers, *_labelled(w))
        return {
            "runs": runs, "rel": rel, "masks": masks, "rep": rep, "pm": pm, "decoy": decoy,
            "utility_accuracy": util,
            "attacker_recall": M.attacker_recall(classifiers, *_labelled(w), cover=cover)["recall"],
            "filter_cpu_s": cpu,
        }

    jobs = [(b, float(r)) for b in balances for r in rates]
    for balance, rate in tqdm(jobs, desc="decoy rates", disable=not progress, leave=False):
        done = [one_run(rate, balance, k) for k in range(max(1, int(seeds)))]
        runs = [r for d in done for r in d["runs"]]
        rep = np.concatenate([d["rep"] for d in done])
        pm = np.concatenate([d["pm"] for d in done])
        decoy = np.concatenate([d["decoy"] for d in done])
        lab = np.tile(labels, len(done))
        sl = np.isin(lab, sens)
        n_runs = len(done)
        n_decoys = sum(not r["policy"] for r in runs) / n_runs
        util = float(np.mean([d["utility_accuracy"] for d in done]))
        per_seed = [posterior_table(d["runs"]) for d in done]
        row = {
            "rate": float(rate),
            "balance": float(balance),
            "perfect": {
                "sample": {"posterior_policy": float((rep & pm).sum() / max(rep.sum(), 1)),
                           "posterior_true": float((rep & sl).sum() / max(rep.sum(), 1))},
                "segment": posterior_table(runs),
                "per_seed": [{"worst_bin_policy": t["worst_bin_policy"], "pooled_policy": t["pooled"]["posterior_policy"]}
                             for t in per_seed],
                "worst_bin_policy_mean": float(np.mean([t["worst_bin_policy"] for t in per_seed])),
            },
            "splice": splice_posterior(done[0]["rel"], done[0]["masks"], sens, window, hop, seed, rate_hz),
            "utility_accuracy": util,
            "utility_ratio": util / raw_utility if raw_utility > 0 else float("nan"),
            "utility_ratio_per_seed": [d["utility_accuracy"] / raw_utility for d in done] if raw_utility > 0 else [],
            "attacker_recall": float(np.mean([d["attacker_recall"] for d in done])),
            "decoys": n_decoys,
            "decoy_s": float(decoy.sum() / rate_hz / n_runs),
            "cover_replaced_by_decoys": float((decoy & (lab == cover)).sum() / max(cover_samples * n_runs, 1)),
            "decoy_time_per_cover_time": float(decoy.sum() / max(cover_samples * n_runs, 1)),
            "decoys_outside_cover": float((decoy & (lab != cover)).sum() / max(decoy.sum(), 1)),
            "decoy_time_by_label": decoy_time_by_label(decoy, lab),
            "replaced_share": float(rep.mean()),
            "cover_s_per_decoy": float(cover_samples / rate_hz / n_decoys) if n_decoys else float("inf"),
            "filter_cpu_s": float(np.mean([d["filter_cpu_s"] for d in done])),
        }
        target = out["rates"] if balance == balances[0] else out["other_balances"].setdefault(f"{float(balance):g}", {})
        target[f"{float(rate):g}"] = row
    for table in [out["rates"], *out["other_balances"].values()]:
        base = table.get("0")
        for row in table.values():
            if base:
                row["extra_cpu"] = row["filter_cpu_s"] / base["filter_cpu_s"] - 1
            row["targets"] = {
                "posterior_segment_perfect": _check("posterior_segment_perfect", row["perfect"]["segment"]["worst_bin_policy"]),
                "utility_ratio": _check("utility_ratio", row["utility_ratio"]),
                "attacker_recall": _check("attacker_recall", row["attacker_recall"]),
            }
    if "0" in out["rates"]:
        out["structural_limit"] = structural_limit(out)
    return out


#: walking multipliers of the projection (``structural_limit``): k times the walking of the
#: test streams for the same policy segments
PROJECTION_WALKING: tuple[float, ...] = (1.0, 2.0, 5.0, 10.0, 20.0, 40.0)


def structural_limit(res: dict, walking: Sequence[float] = PROJECTION_WALKING) -> dict:
    """What a posterior <= 0.5 would take on these streams, and a projection to more walking.

    * ``needed``, per length bin: an observer's P(policy | segment of this bin) is
      P / (P + D) for P policy segments and D decoys in the bin, so <= 0.5 needs D >= P; with
      decoy lengths matching the policy's, that is as much decoy time as policy time in the
      bin. As a share of the cover time of the streams, and in decoy rates at the measured
      decoy time per unit of ``rate`` (decoys run on past the walking they start in).
    * ``best_worst_bin``: the lowest worst-bin posterior any rule for choosing lengths could
      reach with the decoy time measured at each rate (lengths matching the policy's in each
      bin, fractional decoys allowed): 1 / (1 + decoy time / policy time).
    * ``projection`` (a projection, not a measurement): the per-bin posterior if the owner
      walked ``k`` times as much for the same policy segments, the decoys per bin measured at
      each rate scaled by ``k``: P / (P + k D); and ``matched_lengths``, the same in every bin
      once the decoys' lengths follow the policy's: 1 / (1 + k * decoy time / policy time).
    """
    base = res["rates"]["0"]["perfect"]["segment"]
    n0 = max(1, len(res["rates"]["0"]["perfect"].get("per_seed", [])))  # runs pooled in the rate-0 counts
    cover_s = res["cover_s"]
    per_rate = {k: r["decoy_s"] / max(float(k), 1e-9) for k, r in res["rates"].items() if float(k) > 0 and r["decoy_s"] > 0}
    decoy_s_per_rate = float(np.median(list(per_rate.values()))) if per_rate else float("nan")
    needed, total_p, total_s = {}, 0, 0.0
    for name in BIN_NAMES:
        b = base["bins"][name]
        p, ps = b["policy"] / n0, b["policy_s"] / n0
        total_p += p
        total_s += ps
        needed[name] = {"policy_segments": p, "policy_s": ps, "decoys_needed": p,
                        "decoy_s_needed": ps, "share_of_cover_time": ps / cover_s}
    needed["all bins"] = {"policy_segments": total_p, "policy_s": total_s, "decoys_needed": total_p, "decoy_s_needed": total_s,
                          "share_of_cover_time": total_s / cover_s}
    for v in needed.values():
        v["rate_needed"] = v["decoy_s_needed"] / decoy_s_per_rate if per_rate else float("nan")
    out = {"cover_s": cover_s, "decoy_s_per_unit_rate": decoy_s_per_rate, "needed": needed,
           "best_worst_bin": {k: 1.0 / (1.0 + r["decoy_s"] / total_s) for k, r in res["rates"].items()} if total_s else {},
           "projection": {}}
    for key, r in res["rates"].items():
        if float(key) == 0:
            continue
        n_runs = max(1, len(r["perfect"].get("per_seed", [])) or 1)
        rows = {}
        for k in walking:
            cells = {}
            for name in BIN_NAMES:
                p = base["bins"][name]["policy"] / n0
                d = r["perfect"]["segment"]["bins"][name]["decoys"] / n_runs
                cells[name] = p / (p + k * d) if p else float("nan")
            finite = [v for v in cells.values() if np.isfinite(v)]
            tp = base["pooled"]["policy"] / n0
            cells["worst"] = max(finite) if finite else float("nan")
            cells["pooled"] = tp / (tp + k * r["decoys"]) if tp else float("nan")
            # every bin alike once decoy lengths follow the policy's (the long-run aim of both rules)
            cells["matched_lengths"] = 1.0 / (1.0 + k * r["decoy_s"] / total_s) if total_s else float("nan")
            rows[f"{k:g}"] = cells
        out["projection"][key] = rows
    return out


def decoy_time_by_label(decoy: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """Share of decoy samples by true label ("unlabelled": HAPT's gaps between activities)."""
    total = max(int(decoy.sum()), 1)
    return {("unlabelled" if k == 0 else ACTIVITIES[k]): float((decoy & (labels == k)).sum() / total)
            for k in np.unique(labels[decoy])}


def cpu_cost(stream: Stream, policy: Policy, detector: ActivityDetector, generator: Generator, rates: Sequence[float],
             delay_s: float = 3.0, crossfade_s: float = 0.5, repeats: int = 3) -> dict:
    """CPU seconds of the whole pipeline on one stream at each rate: the minimum over
    ``repeats`` runs, interleaved across rates (a shared machine's noise hits every rate
    alike), and the extra CPU against rate 0."""
    best = {float(r): np.inf for r in rates}
    for _ in range(repeats):
        for r in best:
            t0 = time.process_time()
            release_with_decoys(stream, policy, detector, generator, r, delay_s, crossfade_s, seed=0)
            best[r] = min(best[r], time.process_time() - t0)
    base = best.get(0.0)
    return {f"{r:g}": {"cpu_s": v, "extra_cpu": (v / base - 1) if base else float("nan"),
                       "ms_per_s_of_stream": 1000 * v / (len(stream) / float(generator.rate_hz))} for r, v in best.items()}


def _check(name: str, value: float) -> dict:
    op, target = DECOY_TARGETS[name]
    met = None if value is None or not np.isfinite(value) else bool(value <= target if op == "<=" else value >= target)
    return {"value": value, "target": f"{op} {target}", "met": met}


def _f(v, spec: str = ".3f") -> str:
    return "–" if v is None or not np.isfinite(v) else format(v, spec)


def _rate_rows(table: dict, res: dict, cpu: dict) -> list[str]:
    lines = []
    for key, r in table.items():
        seg = r["perfect"]["segment"]
        sp = r["splice"].get("segment", {}).get("pooled", {})
        c = cpu.get(key, {}).get("extra_cpu")
        lines.append(
            f"| {key} | {_f(r['decoys'], '.1f')} | {_f(r['decoy_s'], '.0f')} | {_f(r['cover_replaced_by_decoys'])} "
            f"| {_f(r['perfect']['sample']['posterior_policy'])} "
            f"| {_f(seg['worst_bin_policy'])} / {_f(seg['pooled']['posterior_policy'])} "
            f"| {_f(r['perfect'].get('worst_bin_policy_mean'), '.2f')} "
            f"| {_f(seg['worst_bin_true'])} / {_f(seg['pooled']['posterior_true'])} "
            f"| {_f(sp.get('posterior_policy'))} | {_f(r['utility_ratio'])} | {_f(r['attacker_recall'])} "
            f"| {'–' if c is None else f'{100 * c:+.1f} %'} |"
        )
    return lines


_HEAD = [
    "| rate | decoys | decoy s | cover replaced by decoys | P(policy \\| synth. sample) | P(policy \\| synth. segment) worst bin / pooled "
    "| worst bin, mean of runs | P(true \\| synth. segment) worst bin / pooled | splice: P(policy \\| spotted segment) | utility ratio "
    "| attacker recall | extra CPU |",
    "|---|---|---|---|---|---|---|---|---|---|---|---|",
]


def _bin_rows(table: dict) -> list[str]:
    lines = []
    for key, r in table.items():
        b = r["perfect"]["segment"]["bins"]
        cells = [f"{_f(b[n]['posterior_policy'], '.2f')} ({_f(b[n]['posterior_true'], '.2f')}) [{b[n]['segments']}]" for n in BIN_NAMES]
        lines.append(f"| {key} | " + " | ".join(cells) + " |")
    return lines


def tradeoff_table(res: dict) -> str:
    """The trade-off as Markdown: one row per rate, the per-bin posteriors, the other length
    rules (``other_balances``) and the structural limit."""
    seeds = res.get("seeds", 1)
    cpu = res.get("cpu", {})
    lines = [f"Length rule: balance {res.get('balance', DEFAULT_BALANCE):g}; {seeds} run(s) per rate, segments pooled "
             "over the runs, other figures their mean.", "", *_HEAD, *_rate_rows(res["rates"], res, cpu)]
    lines += ["", "Per length bin, perfect detector: P(policy | segment) (P(true | segment)) [segments, all runs]", "",
              "| rate | " + " | ".join(BIN_NAMES) + " |", "|---|" + "---|" * len(BIN_NAMES), *_bin_rows(res["rates"])]
    for bal, table in res.get("other_balances", {}).items():
        lines += ["", f"Same run, length rule balance {bal}:", "", *_HEAD, *_rate_rows(table, res, {}), "",
                  "| rate | " + " | ".join(BIN_NAMES) + " |", "|---|" + "---|" * len(BIN_NAMES), *_bin_rows(table)]
    lim = res.get("structural_limit")
    if lim:
        lines += ["", f"Structural limit (posterior <= 0.5 needs as many decoys as policy segments in each bin; "
                      f"{lim['cover_s']:.0f} s of cover, {_f(lim['decoy_s_per_unit_rate'], '.0f')} s of decoys per unit of rate):", "",
                  "| bin | policy segments | policy s | decoys needed | decoy s needed | x cover time | rate needed |",
                  "|---|---|---|---|---|---|---|"]
        for name, v in lim["needed"].items():
            lines.append(f"| {name} | {v['policy_segments']:g} | {v['policy_s']:.0f} | {v['decoys_needed']:g} | {v['decoy_s_needed']:.0f} "
                         f"| {v['share_of_cover_time']:.2f} | {_f(v['rate_needed'], '.2f')} |")
        lines += ["", "Best worst-bin posterior any length rule could reach with the decoy time measured: "
                  + ", ".join(f"{k}: {_f(v, '.2f')}" for k, v in lim["best_worst_bin"].items()), "",
                  "PROJECTION (not measured): per-bin P(policy | segment) with k times the walking for the same policy "
                  "segments, decoys per bin scaled from the measurement", "",
                  "| rate | k | " + " | ".join(BIN_NAMES) + " | worst | pooled | every bin, lengths matched |",
                  "|---|---|" + "---|" * (len(BIN_NAMES) + 3)]
        for key, rows in lim["projection"].items():
            for k, c in rows.items():
                lines.append(f"| {key} | {k} | " + " | ".join(_f(c[n], ".2f") for n in BIN_NAMES)
                             + f" | {_f(c['worst'], '.2f')} | {_f(c['pooled'], '.2f')} | {_f(c['matched_lengths'], '.2f')} |")
    return "\n".join(lines)
