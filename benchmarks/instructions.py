"""Instructions per sample of the privacy filter, counted by valgrind's callgrind: a cost figure
that a busy machine does not move (``benchmarks.cost`` times the same scenarios in µs of CPU,
which moved by 2x within one run on these shared cores).

    python -m benchmarks.instructions [--json benchmarks/results/instructions.json] [--samples 20000]

Each scenario runs in its own process under ``valgrind --tool=callgrind`` twice, with a few and
with ``--samples`` samples; the difference divided by the extra samples is the cost of one
sample, without the imports and model loading. Scenarios (bundled models, the held-out test
users' recordings, as in ``benchmarks.cost``):

- ``push()`` one sample at a time, passthrough (no source marks anything), with the cover bank
  (the default: its own detector classifies the released windows) and without it;
- fully replaced (every sample synthetic), pushed in blocks of 1 s;
- the reference: one step of the hand-written numpy 2 x LSTM-128 (``sdk.numpy_step``).

Instruction counts are not times (a numpy call and an interpreter's bytecode differ in
instructions per cycle): they say whether a change made the code do less, not how many µs a
phone will spend. OpenBLAS runs one thread (its idle threads' spinning would make the
counts vary). Needs valgrind on the PATH; about 3 minutes on 2 cores.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

#: what a child process runs for a scenario: ``n`` samples (or reference steps) after set-up
CHILD = r"""
import sys
import numpy as np
from benchmarks.cost import held_out_stream
from sdk.filter import FilterOptions, PrivacyFilter
from sdk.generator import Generator, bundled_model_path
from sdk.numpy_step import NumpyStep
from sdk.sensitivity import PrivateSpans

scenario, n = sys.argv[1], int(sys.argv[2])
if scenario == "reference_numpy_step":
    model = NumpyStep(bundled_model_path("generator_default_weights.npz"))
    xs = np.random.default_rng(0).normal(size=(n, 3)).astype(np.float32)
    cond = np.zeros(model.layers[0][0].shape[0] - 3, np.float32)
    cond[1] = 1
    s = model.zero_state()
    for x in xs:
        _, s = model.step(x, cond, s)
    raise SystemExit(0)
t, xyz = held_out_stream(n / 50.0 / 60.0 + 0.1)
g = Generator(num_threads=1)
if scenario == "fully_replaced":
    f = PrivacyFilter(FilterOptions(delay_s=3.0), [PrivateSpans([(-1.0, float(t[-1]) + 1)])], generator=g)
    for i in range(0, n, 50):
        f.push_block(t[i : min(i + 50, n)], xyz[i : min(i + 50, n)])
    f.flush()
    raise SystemExit(0)
options = {"cover_bank": None} if scenario == "push_one_sample_no_cover_bank" else {}
f = PrivacyFilter(FilterOptions(delay_s=3.0, **options), [PrivateSpans()], generator=g)
for ti, xi in zip(t[:n].tolist(), xyz[:n]):
    f.push(ti, xi)
"""

SCENARIOS = ("push_one_sample", "push_one_sample_no_cover_bank", "fully_replaced", "reference_numpy_step")


def instructions(scenario: str, n: int) -> int:
    """Instructions valgrind counts for a child process running ``n`` samples of ``scenario``."""
    run = subprocess.run(
        ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", sys.executable, "-c", CHILD, scenario, str(n)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT), "OPENBLAS_NUM_THREADS": "1"},
        capture_output=True,
        text=True,
    )
    found = re.search(r"Collected\s*:\s*(\d+)", run.stderr)
    if run.returncode != 0 or found is None:
        raise SystemExit(f"{scenario} under callgrind failed (exit {run.returncode}): {run.stderr.strip().splitlines()[-1:]}")
    return int(found.group(1))


def per_sample(scenario: str, samples: int, few: int = 100) -> float:
    """Instructions of one more sample: (count with ``samples`` - count with ``few``) / difference."""
    big, small = instructions(scenario, samples), instructions(scenario, few)
    return (big - small) / (samples - few)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--samples", type=int, default=20_000, help="samples (reference: steps) per counted run")
    args = ap.parse_args(argv)
    if shutil.which("valgrind") is None:
        raise SystemExit("valgrind is not on the PATH (apt-get install valgrind)")
    sizes = {s: (args.samples // 10 if s in ("fully_replaced", "reference_numpy_step") else args.samples) for s in SCENARIOS}
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:  # one valgrind process per core
        counts = dict(zip(SCENARIOS, pool.map(lambda s: per_sample(s, sizes[s]), SCENARIOS)))
    ref = counts["reference_numpy_step"]
    results = {
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "python": sys.version.split()[0],
        "samples": sizes,
        "instructions_per_sample": counts,
        "vs_reference": {k: v / ref for k, v in counts.items()},
    }
    print(f"{results['date']}; Python {results['python']}; callgrind instructions per sample (reference: per step)\n")
    print(f"{'scenario':<34} {'instructions':>12} {'x ref':>7}")
    for k, v in counts.items():
        print(f"{k:<34} {v:>12,.0f} {v / ref:>7.3f}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
