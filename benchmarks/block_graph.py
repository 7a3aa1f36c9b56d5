"""Ops and CPU µs per generator step of block-graph variants, next to the bundled block
variant measured in the same run.

    python -m benchmarks.block_graph [--json benchmarks/results/block_graph.json] [--rounds 7]

Variants: the bundled block; the first block graph (``build_unrolled_block_model``, the step
model called ``k`` times); ``build_block_model`` (fewer ops per step) at several ``k``, also with
fused matmuls (one FULLY_CONNECTED on concat([x, h]) per layer, the condition's share batched
before the recurrence). Every variant is built from the bundled float32 weights
(``generator_default_weights.npz``, checked to give the bundled step flatbuffer's outputs bit
for bit), converted to the dtype of the bundled file, checked like ``convert_block`` (min runtime <= 2.8, block parity against ``k``
single steps of the bundled step model) and timed with one interpreter thread, XNNPACK on
and off. Timings: CPU time (``time.process_time``) of ``--calls`` invokes with fixed inputs,
per step (= µs per invoke / k), best of ``--rounds`` rounds in which the variants take turns
(the machine is shared: compare within a run only).
"""
from __future__ import annotations

import argparse
import json
import time
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent


def step_model_of(path: Path, weights: Path):
    """The Keras step model of a bundled generator file, rebuilt from its float32 weights and
    checked to convert to the file's step flatbuffer byte for byte; with the file."""
    from converter.export import convert_keras_model, same_step_outputs
    from converter.model import build_sequence_model, build_step_model, set_numpy_weights
    from converter.presets import GeneratorConfig
    from sdk.model_file import read_model

    model = read_model(path)
    arch = model.metadata["architecture"]
    cfg = GeneratorConfig(lstm_units=tuple(arch["lstm_units"]), dense_units=int(arch["dense_units"]), mixtures=int(arch["mixtures"]),
                          clock=bool(arch.get("clock", False)), covariance=arch.get("covariance", "diagonal"),
                          stride_clock=int(arch.get("clock_width", 2)) == 4)
    with np.load(weights) as w:
        seq = set_numpy_weights(build_sequence_model(cfg), {k: w[k] for k in w.files}, cfg)
    step = build_step_model(seq, cfg)
    flat = convert_keras_model(step, model.metadata["dtype"])
    if flat != model.flatbuffer and not same_step_outputs(flat, model.flatbuffer):
        raise SystemExit(f"{weights} does not reproduce {path}")
    return step, model


def interpreter(flat: bytes, xnnpack: bool):
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    kw = {} if xnnpack else {"experimental_op_resolver_type": OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES}
    it = Interpreter(model_content=flat, num_threads=1, **kw)
    it.allocate_tensors()
    return it


def op_counts(flat: bytes) -> Counter:
    """Ops of the model (without delegation)."""
    return Counter(o["op_name"] for o in interpreter(flat, False)._get_ops_details())


def delegate_partitions(flat: bytes) -> int:
    return sum(1 for o in interpreter(flat, True)._get_ops_details() if o["op_name"] == "DELEGATE")


def feeder(it, steps: int, n_cond: int):
    """Fixed inputs of a block call (a walking row with a clock, a plausible state)."""
    sig = next(iter(it._get_full_signature_list().values()))["inputs"]
    rng = np.random.default_rng(0)
    shapes = {d["index"]: tuple(d["shape"]) for d in it.get_input_details()}
    cond = np.zeros((1, steps, n_cond), np.float32)
    cond[0, :, 1] = 1.0
    values = {
        "x": rng.standard_normal((1, 3)).astype(np.float32),
        "cond": cond,
        "state": (0.3 * rng.standard_normal(shapes[sig["state"]])).astype(np.float32),
        "uniform": rng.random((1, steps)).astype(np.float32),
        "normal": rng.standard_normal((1, steps, 3)).astype(np.float32),
        "sampling": np.array([[1.0, 1.0, 1.0, 1.0, 0.01]], np.float32),
    }
    for name, v in values.items():
        it.set_tensor(sig[name], v)


def time_per_step(it, steps: int, calls: int) -> float:
    invoke = it.invoke
    t0 = time.process_time()
    for _ in range(calls):
        invoke()
    return (time.process_time() - t0) / calls / steps * 1e6


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--json", type=Path)
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--calls", type=int, default=300)
    ap.add_argument("--dtypes", nargs="+", default=["int8", "float32"])
    ap.add_argument("--blocks", type=int, nargs="+", default=[10, 20, 25])
    args = ap.parse_args(argv)

    import os

    from benchmarks.cost import machine

    machine_at_start = machine()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    from converter.export import block_parity, check_runtime, convert_keras_model, BLOCK_PARITY_TOLERANCE
    from converter.model import build_block_model, build_unrolled_block_model
    from sdk.block import BLOCK_MEMBER

    models = ROOT / "sdk" / "models"
    variants = []  # (dtype, name, steps, flatbuffer, parity, min runtime)
    for dtype in args.dtypes:
        step, model = step_model_of(models / f"generator_default_{dtype}.tflite", models / "generator_default_weights.npz")
        units = [int(t.shape[-1]) for t in step.inputs if t.name.startswith("h")]
        n_cond = int(next(t for t in step.inputs if t.name == "cond").shape[-1])
        bundled = model.members[BLOCK_MEMBER]
        k0 = int(model.metadata["variants"]["block"]["steps"])
        builds = [("bundled", k0, lambda k: None)]
        builds += [("unrolled (first graph)", k0, lambda k: build_unrolled_block_model(step, k))]
        for k in args.blocks:
            builds.append(("fewer ops", k, lambda k: build_block_model(step, k)))
            # fused matmuls change an int8 file's quantisation: measured, but fails parity there
            builds.append(("fewer ops + fused matmuls", k, lambda k: build_block_model(step, k, fuse=True)))
        for name, k, build in builds:
            keras_model = build(k)
            flat = bundled if keras_model is None else convert_keras_model(keras_model, dtype)
            mrv = check_runtime(flat, f"{dtype} {name}")
            err = block_parity(model.flatbuffer, flat, units, n_cond, k)
            variants.append({"dtype": dtype, "variant": name, "steps": k, "flat": flat, "n_cond": n_cond,
                             "min_runtime_version": mrv, "parity_max_abs_error": err, "parity_ok": bool(err <= BLOCK_PARITY_TOLERANCE),
                             "bytes": len(flat)})
            print(f"built {dtype} {name} k={k}: {len(flat)} bytes, runtime {mrv}, parity {err:.2g}", flush=True)

    for v in variants:
        ops = op_counts(v["flat"])
        v["ops"] = sum(ops.values())
        v["ops_per_step"] = v["ops"] / v["steps"]
        v["op_types"] = dict(sorted(ops.items(), key=lambda kv: -kv[1]))
        v["xnnpack_partitions"] = delegate_partitions(v["flat"])
        v["interp"] = {}
        for xnn in (True, False):
            it = interpreter(v["flat"], xnn)
            feeder(it, v["steps"], v["n_cond"])
            it.invoke()
            v["interp"][xnn] = it
        v["us_per_step"] = {True: [], False: []}
    for r in range(args.rounds):
        for v in variants:
            for xnn in (True, False):
                v["us_per_step"][xnn].append(time_per_step(v["interp"][xnn], v["steps"], args.calls))
        print(f"round {r + 1}/{args.rounds}", flush=True)

    rows = []
    for v in variants:
        best = {x: min(v["us_per_step"][x]) for x in (True, False)}
        med = {x: float(np.median(v["us_per_step"][x])) for x in (True, False)}
        rows.append({k: v[k] for k in ("dtype", "variant", "steps", "bytes", "min_runtime_version", "parity_max_abs_error", "parity_ok",
                                       "ops", "ops_per_step", "xnnpack_partitions", "op_types")}
                    | {"us_per_step_xnnpack": best[True], "us_per_step_no_xnnpack": best[False],
                       "us_per_step_xnnpack_median": med[True], "us_per_step_no_xnnpack_median": med[False]})
    print(f"\n{'dtype':8} {'variant':26} {'k':>3} {'ops/step':>8} {'parts':>5} {'µs/step xnn':>11} {'no xnn':>7} {'parity':>8}  bytes")
    for r in rows:
        print(f"{r['dtype']:8} {r['variant']:26} {r['steps']:>3} {r['ops_per_step']:8.1f} {r['xnnpack_partitions']:5d} "
              f"{r['us_per_step_xnnpack']:11.2f} {r['us_per_step_no_xnnpack']:7.2f} {r['parity_max_abs_error']:8.1e}  {r['bytes']}")
    if args.json:
        import ai_edge_litert

        out = {
            "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "machine": machine_at_start,
            "runtime": f"ai_edge_litert {getattr(ai_edge_litert, '__version__', '?')}, 1 thread",
            "method": f"CPU time of {args.calls} invokes per measurement, best (and median) of {args.rounds} interleaved rounds, per step",
            "parity_tolerance": BLOCK_PARITY_TOLERANCE,
            "variants": rows,
        }
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(out, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
