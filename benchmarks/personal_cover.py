"""Personal cover: realism of replaced walking judged against the same person's real walking
(converter.evaluation.tells), for generator files with the cover bank on (the product: the
owner's strides, sdk.strides, or for a static cover the owner's stillness, sdk.postures,
once the bank holds enough of them, before that for a static cover the file's population
stillness), the bank priming the generator only, and off (population priming; for a static
cover population stillness, and the generator), next to the judges' floor. Held-out users only.

    python -m benchmarks.personal_cover [--data DIR] [--users 3 4 15 20] [--json OUT]
        [--cover WALKING] [--warm] [--carry-bank] [--placement-change DEG] [--no-lstm] [--ablation]
        [--strides-ablation] NAME=PATH ...
    (PATH "bundled": the bundled generator; --ablation adds, per file, the bank without the
    drift guard and population priming without the drift guard; --placement-change turns every
    recording after a user's first by a seeded random rotation of DEG degrees, as a phone put
    in another pocket would read it, implies --carry-bank and adds the bank's strides used as
    stored, CoverBankOptions(align_placement=False))
"""
from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace

import numpy as np
from scipy.spatial.transform import Rotation

from converter.evaluation.streams import SenseGenMethod, Stream
from converter.evaluation.tells import format_report, personal_cover_report
from converter.hapt import load_hapt
from sdk.cover_bank import CoverBankOptions
from sdk.gait import DYNAMIC
from sdk.generator import Generator
from sdk.mdn import SamplingOptions
from sdk.strides import StrideOptions


#: stride synthesis with one part changed at a time (sdk.strides.StrideOptions)
STRIDE_ABLATION = {
    "2 parents": StrideOptions(parents=2),
    "no tempo wander": StrideOptions(warp=0.0),
    "tempo wander 0.05": StrideOptions(warp=0.05),
    "strides keep their offsets": StrideOptions(steady=False),
    "weights unbounded, no tempo wander": StrideOptions(weight_floor=1e-3, warp=0.0),
    "every stride kept (no typical-stride filter)": StrideOptions(typical=None),
}


def placed_otherwise(streams: list[Stream], degrees: float) -> list[Stream]:
    """``streams`` with every recording after each user's first turned by ``degrees`` about
    an axis drawn from (user, experiment): the phone sat elsewhere for that recording."""
    out, seen = [], set()
    for s in streams:
        if s.user in seen:
            axis = np.random.default_rng(1000 * s.user + s.exp).normal(size=3)
            turn = Rotation.from_rotvec(np.deg2rad(degrees) * axis / np.linalg.norm(axis))
            s = replace(s, xyz=turn.apply(s.xyz))
        seen.add(s.user)
        out.append(s)
    return out


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("models", nargs="+", help="NAME=PATH generator files")
    ap.add_argument("--data", default=None)
    ap.add_argument("--users", type=int, nargs="+", default=[3, 4, 15, 20])
    ap.add_argument("--cover", default="WALKING")
    ap.add_argument("--json", default=None)
    ap.add_argument("--warm", action="store_true", help="replace only the odd cover runs, so every replaced run has a released one before it")
    ap.add_argument("--carry-bank", action="store_true", help="each user's recordings hand their cover bank file on, as a phone keeps it")
    ap.add_argument("--placement-change", type=float, default=0.0, metavar="DEG", help="turn each user's later recordings by DEG degrees (implies --carry-bank)")
    ap.add_argument("--no-lstm", action="store_true", help="feature judge only (fast)")
    ap.add_argument("--ablation", action="store_true", help="also without the drift guard")
    ap.add_argument("--strides-ablation", action="store_true", help="also the stride synthesis without each of its parts")
    args = ap.parse_args(argv)
    streams = [Stream.from_experiment(e) for e in load_hapt(args.data, users=args.users).experiments]
    if args.placement_change:
        streams, args.carry_bank = placed_otherwise(streams, args.placement_change), True
    methods = []
    for spec in args.models:
        name, path = spec.split("=", 1)
        g = Generator(None if path == "bundled" else path)
        static = args.cover.upper() not in DYNAMIC
        own = "stillness" if static else "strides"
        methods.append(SenseGenMethod(g, name=f"{name} + bank {own}"))
        methods.append(SenseGenMethod(g, name=f"{name} + bank, generator only", cover_bank=CoverBankOptions(strides=None, postures=None), population_stillness=False))
        if static:  # the file's population stillness, with and without the bank's own stillness first
            methods.append(SenseGenMethod(g, name=f"{name} + bank, population stillness only", cover_bank=CoverBankOptions(postures=None)))
        methods.append(SenseGenMethod(g, name=f"{name}, population" + (" stillness" if static else ""), cover_bank=None))
        if static:
            methods.append(SenseGenMethod(g, name=f"{name}, population, generator", cover_bank=None, population_stillness=False))
        if args.placement_change:
            methods.insert(len(methods) - 2, SenseGenMethod(g, name=f"{name} + bank {own}, runs as stored", cover_bank=CoverBankOptions(align_placement=False)))
        if args.ablation:
            raw = SamplingOptions(drift_tau_s=None)
            methods.append(SenseGenMethod(g, name=f"{name} + bank, no drift guard", sampling=raw))
            methods.append(SenseGenMethod(g, name=f"{name}, population, no drift guard", cover_bank=None, sampling=raw))
        if args.strides_ablation:
            for label, opts in STRIDE_ABLATION.items():
                methods.append(SenseGenMethod(g, name=f"{name} + bank strides, {label}", cover_bank=CoverBankOptions(strides=opts)))
    t0 = time.time()
    rep = personal_cover_report(streams, methods, args.cover, lstm=not args.no_lstm, parities=(1,) if args.warm else (1, 0), carry_bank=args.carry_bank)
    rep["users"], rep["seconds"] = args.users, time.time() - t0
    print(format_report(rep))
    print("top tells of", methods[0].name, ":", ", ".join(f"{t['feature']} {t['real']:.2f}->{t['replaced']:.2f}" for t in rep["top_tells"]))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rep, f, indent=2)


if __name__ == "__main__":
    main()
