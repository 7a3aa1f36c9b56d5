"""Training speed with one vs two replicas (tf.distribute MirroredStrategy), same global batch,
measured in the same process on the same data.

    python -m benchmarks.replicas [--preset default] [--epochs 2] [--users 1 3 4] [--dp]

On a CPU-only machine the two replicas are two logical devices of one CPU (the only option
here); they share its cores. Prints a JSON object: steps/s of each run (training steps only,
validation excluded, first epoch excluded as it includes tracing), the speed ratio, and the
largest weight difference between the two runs.
"""
from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from converter.distribute import configure_logical_cpus


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--preset", default="default")
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--users", type=int, nargs="+", default=[1, 3, 4], help="train, validation and test user (in that order)")
    ap.add_argument("--dp", action="store_true", help="DP-SGD (noise multiplier 1.0) instead of plain training")
    ap.add_argument("--out", default=None, help="write the JSON here too")
    args = ap.parse_args(argv)
    configure_logical_cpus(2)  # before TensorFlow initialises

    import keras
    import numpy as np

    import converter.train as T
    from converter.dp import DPConfig
    from converter.hapt import Split, load_hapt
    from converter.presets import get_preset

    eval_seconds = []
    nll_eval = T._nll_eval

    def timed_eval(*a, **k):
        t = time.time()
        try:
            return nll_eval(*a, **k)
        finally:
            eval_seconds.append(time.time() - t)

    T._nll_eval = timed_eval
    ds = load_hapt(users=args.users)
    split = Split((args.users[0],), (args.users[1],), (args.users[2],))
    cfg = get_preset(args.preset, epochs=args.epochs)
    dp = DPConfig(noise_multiplier=1.0, noise_seed=0) if args.dp else None
    result = {"preset": args.preset, "batch_size": cfg.batch_size, "dp": args.dp, "cpu_cores": os.cpu_count(), "runs": {}}
    weights = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, strategy, replicas in (("one_replica", "default", 1), ("two_replicas", "mirrored", 2)):
            eval_seconds.clear()
            r = T.train_generator(ds, cfg, Path(tmp) / name, split=split, progress=False, dp=dp, strategy=strategy, replicas=replicas)
            ends = [h["seconds"] for h in r.history]
            # epochs 2.. only (epoch 1 traces the step); minus the validation pass of each epoch
            train_s = (ends[-1] - ends[0]) - sum(eval_seconds[1 : len(ends)])
            n_batches = T.prepare_windows(ds, split.train, cfg, r.normalisation, 0).inputs.shape[0] // cfg.batch_size
            steps = (len(ends) - 1) * n_batches
            result["runs"][name] = {"steps": steps, "train_seconds": train_s, "steps_per_s": steps / train_s, "test_nll": r.test_nll}
            weights[name] = keras.models.load_model(Path(tmp) / name / "generator.keras", compile=False).get_weights()
    one, two = result["runs"]["one_replica"], result["runs"]["two_replicas"]
    result["speed_ratio_two_vs_one"] = two["steps_per_s"] / one["steps_per_s"]
    result["max_weight_difference"] = float(max(np.abs(a - b).max() for a, b in zip(weights["one_replica"], weights["two_replicas"])))
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
