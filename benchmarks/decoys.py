"""Decoy segments: what they buy (posterior of "sensitive" given a synthetic segment) and what
they cost (utility, share of cover time replaced, CPU), on the held-out test users.

    python -m benchmarks.decoys [--rates 0 0.05 0.1 0.2 0.3] [--users 3 4 15 20] [--seeds 4]
                                [--balances 0 0.5] [--out benchmarks/results/decoys.json]

Policy: hide WALKING_UPSTAIRS as WALKING with the bundled detector at a 3 s release delay.
Targets at the default rate: P(sensitive | synthetic segment) <= 0.5 for a perfect detector
(in every length bin), utility ratio >= 0.95, attacker recall <= 0.10. Each rate runs
``--seeds`` times per length rule (``--balances``); about 10 s per run on an idle 2-core machine.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
ROOT = Path(__file__).resolve().parent.parent

from converter.evaluate import EvaluationConfig, _jsonable, reference_classifiers  # noqa: E402
from converter.evaluation.decoys import BIN_NAMES, DEFAULT_RATES, cpu_cost, decoy_tradeoff, tradeoff_table  # noqa: E402
from converter.evaluation.streams import Stream  # noqa: E402
from converter.hapt import load_hapt  # noqa: E402
from sdk.decoys import DEFAULT_BALANCE, DEFAULT_DECOY_RATE  # noqa: E402
from sdk.detector import ActivityDetector  # noqa: E402
from sdk.generator import Generator  # noqa: E402
from sdk.policy import Policy  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rates", type=float, nargs="+", default=list(DEFAULT_RATES))
    ap.add_argument("--users", type=int, nargs="+", default=[3, 4, 15, 20])
    ap.add_argument("--delay", type=float, default=3.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--data", default=None, help="HAPT folder (default: $SENSEGEN_HAPT_DIR or ../shared/data/hapt)")
    ap.add_argument("--seeds", type=int, default=4, help="filter runs per rate (seeds); posteriors pool their segments")
    ap.add_argument("--balances", type=float, nargs="+", default=[DEFAULT_BALANCE, 0.5],
                    help="DecoyOptions.balance values measured in the same run; the first is the headline (0 = copy lengths)")
    ap.add_argument("--cpu-repeats", type=int, default=3, help="runs per rate for the CPU figure (one stream; 0 skips)")
    ap.add_argument("--cpu-only", action="store_true", help="only (re)measure the CPU figure into an existing --out JSON")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "decoys.json"))
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    t0 = time.time()
    cfg = EvaluationConfig(users=tuple(args.users), seed=args.seed, delay_s=args.delay)
    ds = load_hapt(args.data)
    streams = [Stream.from_experiment(e) for e in ds.for_users(cfg.users).experiments]
    reference = [] if args.cpu_only else [
        Stream.from_experiment(e) for e in ds.for_users([u for u in ds.users if u not in cfg.users]).experiments]
    policy = Policy(tuple(cfg.sensitive), cfg.cover)
    generator, detector = Generator(), ActivityDetector()
    if args.cpu_only:
        res = json.loads(Path(args.out).read_text())
    else:
        classifiers = reference_classifiers(reference, policy, cfg)
        res = decoy_tradeoff(streams, generator, detector, classifiers, policy, delay_s=args.delay,
                             crossfade_s=cfg.crossfade_s, rates=args.rates, window=cfg.window, hop=cfg.hop, seed=args.seed,
                             balances=args.balances, seeds=args.seeds)
    if args.cpu_repeats > 0:  # per-rate CPU on one stream, min of interleaved runs (the full runs are too noisy)
        longest = max(streams, key=len)
        res["cpu"] = cpu_cost(longest, policy, detector, generator, args.rates, args.delay, cfg.crossfade_s, args.cpu_repeats)
        res["cpu_stream"] = {"user": longest.user, "exp": longest.exp, "seconds": len(longest) / generator.rate_hz}
    res["users"] = list(args.users)
    res["policy"] = policy.to_dict()
    res["default_rate"] = DEFAULT_DECOY_RATE
    res["wall_s" if not args.cpu_only else "cpu_wall_s"] = time.time() - t0
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(_jsonable(res), indent=1))
    print(f"\nheld-out users {args.users}; {policy.describe()}; release delay {args.delay:g} s; "
          f"{res['stream_s'] / 60:.1f} min of streams, {res['cover_s']:.0f} s of {policy.cover}; default rate {DEFAULT_DECOY_RATE:g}\n")
    print(tradeoff_table(res))
    print("\nTargets (at each rate; the default is marked *):")
    for key, r in res["rates"].items():
        mark = "*" if abs(float(key) - DEFAULT_DECOY_RATE) < 1e-9 else " "
        cells = [f"{n} {v['value']:.3f} ({v['target']}: {'met' if v['met'] else 'NOT met'})" for n, v in r["targets"].items()]
        print(f" {mark}{key:>5}: " + "; ".join(cells))
    print("\nSplice detector (no flag): per length bin, P(policy | spotted segment) [spotted]:")
    for key, r in res["rates"].items():
        b = r["splice"]["segment"]["bins"]
        print(f"  {key:>5}: AUC {r['splice']['auc']:.3f}, window posterior {r['splice']['window']['posterior_policy']:.3f}; "
              + ", ".join(f"{n} {b[n]['posterior_policy']:.2f} [{b[n]['segments']}]" for n in BIN_NAMES))
    if "cpu" in res:
        st = res["cpu_stream"]
        print(f"\nCPU of the whole pipeline on user {st['user']} exp {st['exp']} ({st['seconds']:.0f} s), min of "
              f"{args.cpu_repeats} interleaved runs: " + ", ".join(
                  f"{k}: {v['ms_per_s_of_stream']:.1f} ms/s ({100 * v['extra_cpu']:+.1f} %)" for k, v in res["cpu"].items()))
    print(f"\nwritten to {args.out} ({(time.time() - t0) / 60:.1f} min)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
