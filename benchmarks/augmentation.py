"""Does synthetic data help a scarce-data activity detector? The detector of
``converter.detector`` trained on the real windows of k training users (k = 2, 4, all) with
and without the windows of k synthetic users from ``sensegen generate`` added, tested on the
test users of the same user-disjoint split; for the bundled generator and for DP generators
(``tiny`` preset, DP-SGD at target ε 1, 4, 16). Also "synthetic only": k = all synthetic users
and no real data (train on synthetic, test on real).

    nice -n 10 python -m benchmarks.augmentation [--seeds 0 1] [--epsilons 1 4 16]
                                                 [--dp-epochs 4] [--work DIR] [--out FILE]

Seeds: detector seed s draws the k real users (and which k of the synthetic users) with
``numpy.random.default_rng(s)`` from the training users and seeds Keras; synthetic data is
generated once per generator with ``--generate-seed`` (default 0); DP generators are trained
with Keras seed 0 and a secret DP noise seed (reruns differ a little). Accuracy and macro-F1
over the six activities on windows of one activity of the test users (as
``converter.detector.evaluate_keras_detector``). Writes JSON (default
``benchmarks/results/augmentation.json``) and prints a Markdown table.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
ROOT = Path(__file__).resolve().parent.parent

from converter.generate import GenerateOptions, ScheduleItem, generate_dataset  # noqa: E402
from converter.hapt import Experiment, HaptDataset, Split, load_hapt, split_users  # noqa: E402
from sdk.activities import ACTIVITIES  # noqa: E402

SYNTHETIC_USER_BASE = 1000  # synthetic users get ids 1001, 1002, ... (real HAPT users are 1-30)


def macro_f1(confusion) -> float:
    c = np.asarray(confusion, float)
    tp = c.diagonal()
    denom = c.sum(axis=0) + c.sum(axis=1)
    return float(np.mean(np.where(denom > 0, 2 * tp / np.maximum(denom, 1e-12), 0.0)))


def mean_schedule(ds: HaptDataset, users) -> tuple[ScheduleItem, ...]:
    """The real users' mean labelled seconds per activity, in HAPT's protocol order."""
    counts = np.zeros(len(ACTIVITIES))
    for e in ds.for_users(users).experiments:
        counts += np.bincount(e.labels.astype(np.int64), minlength=len(ACTIVITIES))
    seconds = counts / len(users) / ds.rate_hz
    order = ("STANDING", "SITTING", "LAYING", "WALKING", "WALKING_DOWNSTAIRS", "WALKING_UPSTAIRS")
    return tuple(ScheduleItem(a, float(round(seconds[ACTIVITIES.index(a)]))) for a in order)


def synthetic_experiments(model: Path, schedule, users: int, seed: int, folder: Path) -> list[Experiment]:
    """``users`` synthetic users written by ``generate_dataset`` and read back by ``load_hapt``."""
    generate_dataset(model, folder, GenerateOptions(schedule, users=users, seed=seed), progress=False)
    syn = load_hapt(folder)
    return [Experiment(SYNTHETIC_USER_BASE + e.exp, SYNTHETIC_USER_BASE + e.user, e.xyz, e.labels) for e in syn.experiments]


def train_dp_generator(ds, split, epsilon: float, epochs: int, batch: int, folder: Path) -> tuple[Path, dict]:
    """Train (or, when ``folder`` holds a finished run and export, reuse) a tiny DP generator."""
    from converter.dp import DPConfig
    from converter.export import export_generator
    from converter.presets import get_preset
    from converter.train import train_generator

    cfg = get_preset("tiny", epochs=epochs, batch_size=batch)
    model = folder / "export" / "generator_float32.tflite"
    if model.is_file():
        run = json.loads((folder / "run" / "run.json").read_text())
        p, test_nll = run["privacy"], run.get("test_nll")
        test_nll = {"value": test_nll, "reused_from": str(folder)}
    else:
        res = train_generator(ds, cfg, folder / "run", split=split, progress=False, preset="tiny", dp=DPConfig(target_epsilon=epsilon))
        model = export_generator(folder / "run", folder / "export", dtypes=("float32",), calibration_data=ds)[0].path
        p, test_nll = res.privacy or {}, res.test_nll
    return model, {"epsilon": p.get("epsilon"), "delta": p.get("delta"), "per_sample_epsilon": p.get("per_sample_epsilon"),
                   "noise_multiplier": p.get("noise_multiplier"), "steps": p.get("steps"), "test_nll": test_nll}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    ap.add_argument("--ks", type=int, nargs="+", default=[2, 4, 0], help="real users per run; 0 = all training users")
    ap.add_argument("--epsilons", type=float, nargs="+", default=[1.0, 4.0, 16.0])
    ap.add_argument("--dp-epochs", type=int, default=4)
    ap.add_argument("--dp-batch-size", type=int, default=128)
    ap.add_argument("--generate-seed", type=int, default=0)
    ap.add_argument("--no-bundled", action="store_true")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "augmentation.json"))
    ap.add_argument("--work", default=None, help="keep the DP generators here and reuse them on a rerun (default: a temporary folder)")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)

    from converter.detector import train_detector
    from sdk.generator import bundled_model_path

    t_start, cpu_start = time.time(), time.process_time()
    ds = load_hapt()
    split = split_users(ds.users, seed=0)
    train = list(split.train)
    ks = [k if k > 0 else len(train) for k in args.ks]
    schedule = mean_schedule(ds, train)
    log = lambda msg: print(f"[{time.time() - t_start:6.0f} s] {msg}", file=sys.stderr, flush=True)  # noqa: E731

    generators: list[tuple[str, Path, dict]] = []
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        work = Path(args.work) if args.work else tmp
        if not args.no_bundled:
            generators.append(("bundled", bundled_model_path(), {"epsilon": None, "preset": "default", "note": "no DP guarantee"}))
        for eps in sorted(args.epsilons):
            t0 = time.time()
            model, rec = train_dp_generator(ds, split, eps, args.dp_epochs, args.dp_batch_size, work / f"tiny_e{args.dp_epochs}_eps{eps:g}")
            rec |= {"preset": "tiny", "epochs": args.dp_epochs, "train_export_seconds": round(time.time() - t0, 1)}
            generators.append((f"dp_eps{eps:g}", model, rec))
            log(f"trained dp eps {eps:g}: {rec}")
        synthetic: dict[str, list[Experiment]] = {}
        for name, model, _ in generators:
            t0 = time.time()
            synthetic[name] = synthetic_experiments(model, schedule, len(train), args.generate_seed, tmp / f"syn_{name}")
            log(f"generated {len(train)} users with {name} in {time.time() - t0:.0f} s")

        def run(label: str, k: int, seed: int, real_users, syn: list[Experiment]) -> None:
            exps = ds.for_users(real_users).experiments + syn
            sub = HaptDataset(exps + ds.for_users(split.val + split.test).experiments, ds.root, ds.rate_hz)
            users = tuple(sorted({e.user for e in exps}))
            t0 = time.time()
            r = train_detector(sub, tmp / "det", split=Split(users, split.val, split.test), seed=seed, progress=False)
            row = {"data": label, "k": k, "seed": seed, "real_users": sorted(int(u) for u in real_users),
                   "synthetic_users": len(syn), "accuracy": r.test_accuracy, "macro_f1": macro_f1(r.test_confusion),
                   "val_accuracy": r.val_accuracy, "confusion": r.test_confusion, "seconds": round(time.time() - t0, 1)}
            rows.append(row)
            log(json.dumps(row))

        for seed in args.seeds:
            rng = np.random.default_rng(seed)
            for k in ks:
                real = sorted(rng.choice(train, size=k, replace=False).tolist()) if k < len(train) else train
                pick = sorted(rng.choice(len(train), size=k, replace=False).tolist()) if k < len(train) else list(range(len(train)))
                run("real", k, seed, real, [])
                for name, _, _ in generators:
                    run(f"real+{name}", k, seed, real, [synthetic[name][i] for i in pick])
            for name, _, _ in generators:
                run(f"{name} only", 0, seed, [], synthetic[name])

    table = summarise(rows)
    result = {
        "split": split.to_dict(),
        "schedule_per_synthetic_user": ",".join(f"{i.activity}:{i.seconds:g}" for i in schedule),
        "generate_seed": args.generate_seed,
        "seeds": args.seeds,
        "generators": {name: rec for name, _, rec in generators},
        "classes": list(ACTIVITIES[1:]),
        "test": "detector accuracy and macro-F1 on one-activity windows of the test users (converter.detector)",
        "rows": rows,
        "summary": table,
        "wall_seconds": round(time.time() - t_start, 1),
        "cpu_seconds_main_process": round(time.process_time() - cpu_start, 1),
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(markdown(table, ks))
    return 0


def summarise(rows: list[dict]) -> list[dict]:
    """Mean and std over seeds per (data, k), with the gain over real-only at the same k."""
    out = []
    keys = sorted({(r["data"], r["k"]) for r in rows}, key=lambda t: (t[1], t[0] != "real", t[0]))
    for data, k in keys:
        sel = [r for r in rows if r["data"] == data and r["k"] == k]
        acc, f1 = np.array([r["accuracy"] for r in sel]), np.array([r["macro_f1"] for r in sel])
        row = {"data": data, "k": k, "synthetic_users": sel[0]["synthetic_users"], "runs": len(sel), "accuracy_mean": float(acc.mean()), "accuracy_std": float(acc.std()),
               "macro_f1_mean": float(f1.mean()), "macro_f1_std": float(f1.std())}
        base = [r for r in rows if r["data"] == "real" and r["k"] == k]
        if base and data != "real":
            by_seed = {r["seed"]: r for r in base}
            row["accuracy_gain"] = float(np.mean([r["accuracy"] - by_seed[r["seed"]]["accuracy"] for r in sel]))
            row["macro_f1_gain"] = float(np.mean([r["macro_f1"] - by_seed[r["seed"]]["macro_f1"] for r in sel]))
        out.append(row)
    return out


def markdown(table: list[dict], ks) -> str:
    lines = ["| real users k | training data | accuracy | macro-F1 | Δ accuracy | Δ macro-F1 |", "|---|---|---|---|---|---|"]
    for r in table:
        k = f"0 (+{r['synthetic_users']} synthetic)" if r["k"] == 0 else str(r["k"])
        gain = (f"{r['accuracy_gain']:+.3f} | {r['macro_f1_gain']:+.3f}" if "accuracy_gain" in r else "— | —")
        lines.append(f"| {k} | {r['data']} | {r['accuracy_mean']:.3f} ± {r['accuracy_std']:.3f} | "
                     f"{r['macro_f1_mean']:.3f} ± {r['macro_f1_std']:.3f} | {gain} |")
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
