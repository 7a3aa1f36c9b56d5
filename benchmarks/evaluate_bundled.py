"""Full evaluation of the bundled generator and detector on the held-out test users.

    python -m benchmarks.evaluate_bundled [--out benchmarks/results/evaluation] [--users 3 4 15 20]
                                          [--sensitive WALKING_UPSTAIRS] [--cover WALKING] [--quick]

Writes ``results.json``, ``report.md`` and PNG figures into ``--out`` and prints the headline
figures next to the targets (discriminator <= 0.55, attacker recall <= 0.10, utility >= 0.95
of raw, splice AUC <= 0.6, real sensitive samples released > 3 s after onset <= 1 %), for
SenseGen and the two baselines (matched Gaussian noise, replay of other users' data).
Default settings: about 15 minutes on 2 CPU cores.
"""
from __future__ import annotations

import argparse
import logging
import os
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
ROOT = Path(__file__).resolve().parent.parent

from converter.evaluate import EvaluationConfig, run_evaluation


def fmt(v, pct=False):
    if v is None or v != v:
        return "–"
    return f"{100 * v:.2f} %" if pct else f"{v:.3f}"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "evaluation"))
    ap.add_argument("--data", default=None, help="HAPT folder (default: $SENSEGEN_HAPT_DIR, else the per-user data folder)")
    ap.add_argument("--generator", default=None, help="generator model (default: bundled)")
    ap.add_argument("--detector", default=None, help="detector model (default: bundled)")
    ap.add_argument("--users", type=int, nargs="+", default=[3, 4, 15, 20])
    ap.add_argument("--sensitive", nargs="+", default=["WALKING_UPSTAIRS"])
    ap.add_argument("--cover", default="WALKING")
    ap.add_argument("--quick", action="store_true", help="no LSTM discriminator, two delays (a few minutes)")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    cfg = EvaluationConfig(users=tuple(args.users), sensitive=tuple(args.sensitive), cover=args.cover)
    if args.quick:
        cfg.lstm, cfg.delays = False, (1.0, 3.0)
    t0 = time.time()
    res = run_evaluation(args.data, args.generator, args.detector, args.out, config=cfg)
    print(f"\nheld-out users {args.users}; policy: hide {', '.join(args.sensitive)} as {args.cover}; "
          f"{(time.time() - t0) / 60:.1f} min; written to {args.out}\n")
    head = f"{'method':<11} {'LSTM worst':>10} {'LSTM pooled':>11} {'RF pooled':>9} {'TSTR/TRTR':>11} {'attacker':>8} {'utility':>8} {'splice':>7} {'leak>3s':>8}"
    print(head)
    print("-" * len(head))
    for m, r in res["summary"].items():
        t = r.get("targets", {})
        print(
            f"{m:<11} {fmt(t.get('discriminator_accuracy', {}).get('value')):>10} {fmt(r.get('lstm_discriminator_pooled')):>11} "
            f"{fmt(r.get('feature_discriminator_pooled')):>9} {fmt(r.get('tstr')) + '/' + fmt(r.get('trtr')):>11} "
            f"{fmt(r.get('attacker_recall')):>8} {fmt(r.get('utility_ratio')):>8} {fmt(r.get('splice_auc')):>7} "
            f"{fmt(r.get('leak_after_grace_fraction'), pct=True):>8}"
        )
    raw = res["privacy"]["raw"]
    print(f"\nraw streams: attacker recall {fmt(raw['attacker']['recall'])}, utility accuracy {fmt(raw['utility_accuracy'])}")
    print("leak (real sensitive samples released > 3 s after onset) by release delay, SenseGen:")
    for d, v in res["summary"].get("sensegen", {}).get("leak_after_grace_by_delay", {}).items():
        allv = res["summary"]["sensegen"]["leak_by_delay"][d]
        print(f"  {float(d):4.1f} s: {fmt(v, pct=True)} (all, incl. the first 3 s: {fmt(allv, pct=True)})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
