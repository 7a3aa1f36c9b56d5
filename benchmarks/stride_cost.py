"""CPU cost per synthetic sample of stride synthesis (``sdk.strides``) and of population
stillness (``sdk.postures.PopulationStillness``) next to the generator's, measured in the same
run on the same data.

    python -m benchmarks.stride_cost [--json benchmarks/results/stride_cost.json] [--repeats 5]

Both streams continue the same context (the end of a 23 s walking bout of held-out user 3,
which is also the stride model's bank): the bundled generator's block path
(``SyntheticStream.take``, as the filter draws it) and ``StrideStream.take``; also the time to
fit the stride model on a full 60 s bank (the bout repeated), which the filter pays at a
segment's start when the bank changed; and a sitting cover drawn from the generator file's
population stillness against the generator's sitting, both continuing 1 s of the same user's
sitting. Issue 9's target: cost per
synthetic sample at most 1.5 x the generator's. CPU time (``time.process_time``), best of
``--repeats``.
"""
from __future__ import annotations

import argparse
import json
import platform
import time
from datetime import datetime, timezone

import numpy as np

from benchmarks.cost import cpu_best
from converter.hapt import default_data_dir
from sdk.generator import Generator, SyntheticStream
from sdk.recording import read_hapt_raw
from sdk.postures import PostureStream
from sdk.strides import StrideModel, StrideStream

N = 50 * 60 * 5  # five minutes of synthetic samples per measurement


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", default=None)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args(argv)
    xyz = read_hapt_raw(default_data_dir() / "RawData" / "acc_exp05_user03.txt").xyz
    bank = xyz[8600:9750]  # 23 s of user 3's walking (a held-out user)
    context = bank[-50:]
    g = Generator()

    def run(make, ctx=context):
        def go():
            s = make()
            s.prime(ctx)
            done = 0
            while done < N:
                done += len(s.take(N - done))
        return go

    model = StrideModel.fit([bank], 50.0)
    gen = cpu_best(run(lambda: SyntheticStream(g, "WALKING", seed=1)), args.repeats) / N * 1e6
    strides = cpu_best(run(lambda: StrideStream(model, seed=1)), args.repeats) / N * 1e6
    fit_ms = cpu_best(lambda: StrideModel.fit([np.resize(bank, (3000, 3))], 50.0), args.repeats) * 1e3
    sitting = xyz[1700:1750]  # 1 s of the same recording's sitting (HAPT labels: sitting 30.1-47.2 s)
    gen_sit = cpu_best(run(lambda: SyntheticStream(g, "SITTING", seed=1), sitting), args.repeats) / N * 1e6
    still = g.population_stillness("SITTING")
    pop = cpu_best(run(lambda: PostureStream(still, seed=1), sitting), args.repeats) / N * 1e6 if still is not None else float("nan")
    res = {
        "date": datetime.now(timezone.utc).isoformat(timespec="minutes"),
        "machine": f"{platform.machine()}, {platform.python_version()}",
        "generator_us_per_sample": gen,
        "strides_us_per_sample": strides,
        "ratio_strides_to_generator": strides / gen,
        "fit_ms_60s_bank": fit_ms,
        "strides_in_bank": model.strides,
        "generator_sitting_us_per_sample": gen_sit,
        "population_stillness_us_per_sample": pop,
        "ratio_population_stillness_to_generator": pop / gen_sit,
    }
    print(f"generator block path {gen:.2f} µs/sample; strides {strides:.2f} µs/sample = {strides / gen:.2f} x (target <= 1.5 x); "
          f"fitting a 60 s bank {fit_ms:.1f} ms once per segment")
    print(f"sitting: generator {gen_sit:.2f} µs/sample; population stillness {pop:.2f} µs/sample = {pop / gen_sit:.2f} x (target <= 1.5 x)")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(res, f, indent=2)


if __name__ == "__main__":
    main()
