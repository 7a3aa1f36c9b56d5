"""Filter performance, printed as ratios against baselines measured in the same run.

    python -m benchmarks.filter_bench [--model sdk/models/generator_default_int8.tflite] [--json out.json]

Figures: passthrough cost per sample vs a bare Python loop over the same samples; one
generator step in LiteRT (int8, float32) vs the pure-numpy step; end-to-end real-time
factor on one core (fully replaced and passthrough streams); peak RSS of a process that
imports only the SDK and filters one hour of data. Goals (issue 3): passthrough <= 5 us per
sample, int8 step <= 1/5 of the numpy step, >= 500x real time, RSS <= 80 MB.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent

from sdk.filter import FilterOptions, PrivacyFilter, ReleasedBlock
from sdk.generator import Generator, bundled_model_path
from sdk.numpy_step import NumpyStep
from sdk.sensitivity import PrivateSpans


def best_of(fn, repeats: int = 5) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def real_stream(seconds: float):
    from sdk.recording import read_hapt_raw

    data = Path(os.environ.get("SENSEGEN_HAPT_DIR", ROOT.parent / "shared" / "data" / "hapt")) / "RawData"
    rec = read_hapt_raw(data / "acc_exp05_user03.txt")
    n = int(seconds * 50)
    idx = np.arange(n)
    return idx / 50.0, rec.xyz[idx % len(rec)]


def bench_passthrough(gen: Generator, n: int = 20_000) -> dict:
    t, xyz = real_stream(n / 50)
    rows = list(zip(t.tolist(), xyz))

    def bare():
        sink = []
        for ti, xi in rows:
            sink.append((ti, xi))

    def per_sample():
        f = PrivacyFilter(FilterOptions(delay_s=3.0), [PrivateSpans()], generator=gen)
        for ti, xi in rows:
            f.push(ti, xi)

    def blocks_of_50():
        f = PrivacyFilter(FilterOptions(delay_s=3.0), [PrivateSpans()], generator=gen)
        for i in range(0, n, 50):
            f.push_block(t[i : i + 50], xyz[i : i + 50])

    b, p, k = best_of(bare) / n, best_of(per_sample, 3) / n, best_of(blocks_of_50, 3) / n
    return {
        "bare_loop_us": b * 1e6,
        "push_us_per_sample": p * 1e6,
        "push_block50_us_per_sample": k * 1e6,
        "push_vs_bare": p / b,
        "block50_vs_bare": k / b,
    }


def bench_step(paths: dict[str, Path], npz: Path | None, steps: int = 3000) -> dict:
    out = {}
    rng = np.random.default_rng(0)
    xs = rng.normal(size=(steps, 3)).astype(np.float32)

    def timed(model) -> float:
        cond = np.zeros(7, np.float32)
        cond[1] = 1

        def go():
            s = model.zero_state()
            for x in xs:
                _, s = model.step(x, cond, s)

        return best_of(go, 3) / steps

    if npz is not None and npz.is_file():
        out["numpy_step_us"] = timed(NumpyStep(npz)) * 1e6
    for name, path in paths.items():
        if path.is_file():
            out[f"litert_{name}_step_us"] = timed(Generator(path, num_threads=1)) * 1e6
    if "numpy_step_us" in out:
        for name in paths:
            if f"litert_{name}_step_us" in out:
                out[f"litert_{name}_vs_numpy"] = out[f"litert_{name}_step_us"] / out["numpy_step_us"]
    return out


def bench_realtime(gen: Generator, seconds: float = 600) -> dict:
    t, xyz = real_stream(seconds)
    out = {}
    for label, spans in (("passthrough", []), ("replaced_20pct", [(60.0 * k + 10, 60.0 * k + 22) for k in range(int(seconds / 60))]), ("replaced_100pct", [(0.0, seconds)])):
        f = PrivacyFilter(FilterOptions(delay_s=3.0), [PrivateSpans(spans)], generator=gen)
        t0 = time.process_time()
        for i in range(0, len(t), 50):
            f.push_block(t[i : i + 50], xyz[i : i + 50])
        f.flush()
        cpu = time.process_time() - t0
        out[f"realtime_factor_{label}"] = seconds / cpu
    return out


RSS_CHILD = r"""
import resource, sys, numpy as np
sys.modules['tensorflow'] = None
from sdk.filter import FilterOptions, PrivacyFilter
from sdk.sensitivity import PrivateSpans
f = PrivacyFilter(FilterOptions(model=sys.argv[1]), [PrivateSpans([(600.0, 1200.0)])])
t = np.arange(180_000) / 50.0
x = np.random.default_rng(0).normal(size=(180_000, 3)) * 0.2 + [1, 0, 0]
for i in range(0, len(t), 500):
    f.push_block(t[i:i+500], x[i:i+500])
f.flush()
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
"""


def bench_rss(model: Path) -> dict:
    base = subprocess.run([sys.executable, "-c", "import resource, numpy; print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)"],
                          capture_output=True, text=True, check=True)
    run = subprocess.run([sys.executable, "-c", RSS_CHILD, str(model)], capture_output=True, text=True, check=True)
    rss, rss0 = float(run.stdout.split()[-1]), float(base.stdout.split()[-1])
    return {"peak_rss_mb": rss, "python_numpy_rss_mb": rss0, "rss_over_bare_python_mb": rss - rss0}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", type=Path, default=None)
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--quick", action="store_true", help="smaller sizes (smoke test)")
    args = ap.parse_args()
    model = args.model or bundled_model_path()
    gen = Generator(model, num_threads=1)
    folder = model.parent
    stem = model.name.replace("_int8.tflite", "")
    results = {"model": str(model), "runtime": f"{gen.runtime.name} {gen.runtime.version}"}
    results |= bench_passthrough(gen, 5000 if args.quick else 20_000)
    results |= bench_step({"int8": folder / f"{stem}_int8.tflite", "float32": folder / f"{stem}_float32.tflite"},
                          folder / f"{stem}_weights.npz", 500 if args.quick else 3000)
    results |= bench_realtime(gen, 120 if args.quick else 600)
    results |= bench_rss(model)
    goals = {
        "passthrough_per_sample_push_le_5us": results["push_us_per_sample"] <= 5.0,
        "passthrough_block50_le_5us": results["push_block50_us_per_sample"] <= 5.0,
        "int8_le_fifth_of_numpy": results.get("litert_int8_vs_numpy", 1.0) <= 0.2,
        "realtime_ge_500x_fully_replaced": results["realtime_factor_replaced_100pct"] >= 500,
        "realtime_ge_500x_20pct_replaced": results["realtime_factor_replaced_20pct"] >= 500,
        "rss_le_80mb": results["peak_rss_mb"] <= 80,
    }
    results["goals_met"] = goals
    text = json.dumps(results, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text)


if __name__ == "__main__":
    main()
