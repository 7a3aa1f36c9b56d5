"""The quality cost of differential privacy: the generator trained without DP and with DP-SGD
at a few target epsilons, on HAPT split by user, judged by held-out NLL and by the
evaluation's discriminators.

    python -m benchmarks.dp_quality [--preset tiny] [--epochs 4] [--batch-size 128]
                                    [--epsilons 1 4 16] [--no-discriminator] [--out FILE]

For every run: validation and test NLL (nats per 3-axis sample in the run's normalised frame)
and the test NLL in g units (``test_nll_g``: the frames differ, since a DP run takes its
scale from the validation users, so only this one compares across runs; the test users
were never seen), and realism on the test users' WALKING segments, replaced through
the real PrivacyFilter with the exported float32 model, judged against the same users' real
WALKING windows by the evaluation's LSTM and feature (random-forest) discriminators
(``converter.evaluation.metrics``; 0.5 = indistinguishable). A "clip_only" control runs the
DP machinery (per-window clipping, Poisson sampling, validation-user normalisation) with
negligible noise, to separate the cost of the noise from that of the rest. Prints the table
as JSON.
The noise is drawn from a secret seed: reruns differ a little.
"""
from __future__ import annotations

import argparse
import json
import logging
import math
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from converter.dp import DPConfig
from converter.hapt import load_hapt, split_users
from converter.presets import get_preset
from converter.train import train_generator


CONTROL_NOISE = 1e-3


def realism(model_path: Path, ds, users, activity: str, seed: int = 0) -> dict:
    """The evaluation's discriminators on ``users``' ``activity`` segments replaced by the model."""
    from converter.evaluate import EvaluationConfig, realism_windows
    from converter.evaluation import metrics as M
    from converter.evaluation.streams import SenseGenMethod, Stream
    from sdk.generator import Generator

    cfg = EvaluationConfig(users=tuple(users), realism_activities=(activity,), seed=seed)
    streams = [Stream.from_experiment(e) for e in ds.for_users(users).experiments]
    method = SenseGenMethod(Generator(model_path), crossfade_s=cfg.crossfade_s)
    real, fake = realism_windows(streams, [method], (activity,), cfg, progress=False)
    r, f = real[activity], fake[method.name][activity]
    args = (r.xyz, f.xyz, r.group, f.group, r.user, f.user)
    lstm = M.lstm_discriminator(*args, folds=cfg.folds, epochs=cfg.lstm_epochs, units=cfg.lstm_units, seed=seed)
    forest = M.feature_discriminator(*args, folds=cfg.folds, seed=seed)
    return {"windows": len(r), "lstm_discriminator": lstm.accuracy, "feature_discriminator": forest.accuracy}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--preset", default="tiny")
    ap.add_argument("--epochs", type=int, default=4)
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--epsilons", type=float, nargs="+", default=[1.0, 4.0, 16.0])
    ap.add_argument("--accountant", default="rdp", choices=["rdp", "pld"])
    ap.add_argument("--activity", default="WALKING", help="cover activity of the realism test")
    ap.add_argument("--no-control", action="store_true", help="skip the clip-only run (DP machinery, noise z = 0.001)")
    ap.add_argument("--no-discriminator", action="store_true", help="NLL only (minutes faster)")
    ap.add_argument("--out", default=None, help="write the JSON here too")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)

    from converter.export import export_generator

    ds = load_hapt()
    split = split_users(ds.users, seed=0)
    cfg = get_preset(args.preset, epochs=args.epochs, batch_size=args.batch_size)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        runs = [("plain", None)]
        if not args.no_control:  # separates the effect of clipping/sampling from that of the noise
            runs.append(("clip_only", DPConfig(noise_multiplier=CONTROL_NOISE, accountant=args.accountant)))
        runs += [(f"eps{e:g}", DPConfig(target_epsilon=e, accountant=args.accountant)) for e in sorted(args.epsilons)]
        for name, dp in runs:
            out = Path(tmp) / name
            t0 = time.time()
            res = train_generator(ds, cfg, out, split=split, progress=False, preset=args.preset, dp=dp)
            p = res.privacy or {}
            row = {
                "run": name,
                "target_epsilon": None if dp is None else dp.target_epsilon,
                "epsilon": p.get("epsilon", math.inf),
                "delta": p.get("delta"),
                "per_sample_epsilon": p.get("per_sample_epsilon"),
                "noise_multiplier": p.get("noise_multiplier"),
                "steps": p.get("steps"),
                "sampling_rate": p.get("sampling_rate"),
                "best_val_nll": res.best_val_nll,
                "test_nll": res.test_nll,
                # the normalised frame differs between runs (DP takes its scale from the
                # validation users): nats per sample in g are what compare across runs
                "test_nll_g": res.test_nll + float(np.sum(np.log(res.normalisation.scale))),
                "train_seconds": time.time() - t0,
            }
            if not args.no_discriminator:
                model = export_generator(out, out / "export", dtypes=("float32",))[0].path
                row.update(realism(model, ds, split.test, args.activity))
            rows.append(row)
            print(json.dumps(row), file=sys.stderr, flush=True)
    result = {
        "preset": args.preset,
        "config": cfg.to_dict(),
        "split": split.to_dict(),
        "accountant": args.accountant,
        "realism": None if args.no_discriminator else f"test users' {args.activity} segments, own-user real windows, 0.5 = indistinguishable",
        "rows": rows,
    }
    text = json.dumps(result, indent=2, default=lambda v: None)
    print(text.replace("Infinity", '"inf"'))
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(text.replace("Infinity", '"inf"') + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
