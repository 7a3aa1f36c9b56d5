"""``sensegen``: the command line. It only parses arguments and calls library functions;
TensorFlow is imported only by the subcommands that train or export."""
from __future__ import annotations

import argparse
import json
import logging
import math
import os
import sys
import time
from pathlib import Path

from sdk.activities import ACTIVITIES
from sdk.decoys import DEFAULT_DECOY_RATE
from sdk.errors import SenseGenError

#: Activity names a user may pass (``OTHER`` is the model's bucket for unlabelled data).
ACTIVITY_NAMES = tuple(a for a in ACTIVITIES if a != "OTHER")
_ACTIVITY_HELP = "one of " + ", ".join(ACTIVITY_NAMES) + " (any case)"
_DATA_HELP = "HAPT folder (default: $SENSEGEN_HAPT_DIR, else the per-user data folder 'sensegen data download' fills)"


def _span(text: str) -> tuple[float, float]:
    try:
        a, b = (float(v) for v in text.split(":"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"a span is START:END in seconds, got {text!r}") from None
    if not (math.isfinite(a) and math.isfinite(b)):
        raise argparse.ArgumentTypeError(f"span START and END must be finite numbers of seconds, got {text!r}")
    if a < 0:
        raise argparse.ArgumentTypeError(f"span START must be >= 0 (seconds on the recording's clock), got {text!r}")
    if not b >= a:
        raise argparse.ArgumentTypeError(f"span end must be >= start, got {text!r}")
    return a, b


def _activity(text: str) -> str:
    name = text.strip().upper()
    if name not in ACTIVITY_NAMES:
        raise argparse.ArgumentTypeError(f"unknown activity {text!r}; known: {', '.join(ACTIVITY_NAMES)}")
    return name


def _join_dash_values(argv: list[str]) -> list[str]:
    """``--private-span -5:10`` -> ``--private-span=-5:10``, so argparse reports the bad span
    instead of "expected one argument" (it takes ``-5:10`` for an option)."""
    out: list[str] = []
    it = iter(argv)
    for a in it:
        if a == "--private-span":
            nxt = next(it, None)
            if nxt is not None and nxt.startswith("-") and (nxt[1:2].isdigit() or nxt[1:2] in (".", "i", "n")):
                out.append(f"{a}={nxt}")
                continue
            out.append(a)
            if nxt is not None:
                out.append(nxt)
            continue
        out.append(a)
    return out


def _quiet_tf() -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


# -- data -------------------------------------------------------------------------------------

def cmd_data_download(args) -> int:
    from .download import HAPT_URL, download_hapt

    from .hapt import default_data_dir

    dest = download_hapt(args.dest or default_data_dir(), url=args.url or HAPT_URL, progress=not args.no_progress)
    print(json.dumps({"data": str(dest), "licence": "HAPT: non-commercial use only", "readme": str(dest / "README.txt")}, indent=2))
    return 0


def cmd_data_info(args) -> int:
    from .hapt import load_hapt, split_users

    ds = load_hapt(args.data)
    split = split_users(ds.users).to_dict() if len(ds.users) >= 3 else None  # a split needs 3 users
    print(json.dumps({
        "root": str(ds.root), "experiments": len(ds.experiments), "users": ds.users,
        "samples": ds.n_samples(), "hours": round(ds.n_samples() / ds.rate_hz / 3600, 2),
        "split": split,
    }, indent=2))
    return 0


# -- train / export ---------------------------------------------------------------------------

def cmd_train(args) -> int:
    _quiet_tf()
    from .hapt import load_hapt
    from .presets import get_preset
    from .train import train_generator

    from .dp import dp_config_from_args

    cfg = get_preset(args.preset, epochs=args.epochs, batch_size=args.batch_size, covariance=args.covariance,
                     stride_clock=args.stride_clock, scheduled_sampling=args.scheduled_sampling)
    dp = dp_config_from_args(args)
    strategy = "mirrored" if args.replicas > 1 and args.strategy == "default" else args.strategy
    ds = load_hapt(args.data)
    t0 = time.time()
    res = train_generator(ds, cfg, args.out, seed=args.seed, max_minutes=args.max_minutes,
                          progress=not args.no_progress, preset=args.preset,
                          dp=dp, strategy=strategy, replicas=args.replicas)
    run = json.loads((Path(args.out) / "run.json").read_text())
    if run.get("privacy", {}).get("statement"):
        print(run["privacy"]["statement"], file=sys.stderr)  # the guarantee, in plain words
    print(json.dumps({
        "out": str(res.out_dir), "preset": args.preset, "epochs": len(res.history),
        "privacy": {k: v for k, v in run.get("privacy", {}).items() if k != "statement"},
        "best_val_nll": res.best_val_nll, "test_nll": res.test_nll,
        "seconds": round(time.time() - t0, 1), "split": res.split.to_dict(),
    }, indent=2))
    return 0


def cmd_export(args) -> int:
    _quiet_tf()
    from .export import BLOCK_STEPS, export_generator

    calibration = None
    if not args.no_calibrate:
        from .hapt import load_hapt

        calibration = load_hapt(args.data)
    results = export_generator(args.run, args.out, dtypes=tuple(args.dtype), name=args.name, calibration_data=calibration, block=BLOCK_STEPS if args.block is None else args.block)
    print(json.dumps([{"path": str(r.path), "bytes": r.size_bytes, "min_runtime_version": r.min_runtime_version,
                       "parity_max_error": r.parity_max_error, "block_steps": r.block_steps,
                       "block_parity_max_error": r.block_parity_max_error} for r in results], indent=2))
    return 0


def cmd_add_block(args) -> int:
    _quiet_tf()
    from .export import BLOCK_STEPS, add_block_variant

    r = add_block_variant(args.model, args.weights, args.out, block=BLOCK_STEPS if args.block is None else args.block)
    print(json.dumps({"path": str(r.path), "bytes": r.size_bytes, "block_steps": r.block_steps,
                      "block_parity_max_error": r.block_parity_max_error}, indent=2))
    return 0


def cmd_calibrate(args) -> int:
    _quiet_tf()
    from .export import calibrate_file
    from .hapt import load_hapt

    info = calibrate_file(args.model, load_hapt(args.data), args.out, activities=args.activities, parts=tuple(args.parts))
    print(json.dumps({"path": args.out or args.model, **info}, indent=2))
    return 0


def cmd_model_info(args) -> int:
    from sdk.model_file import read_model

    print(json.dumps(read_model(args.model).metadata, indent=2))
    return 0


def cmd_train_detector(args) -> int:
    _quiet_tf()
    from .detector import train_detector
    from .hapt import load_hapt

    r = train_detector(load_hapt(args.data), args.out, seed=args.seed, progress=not args.no_progress)
    print(json.dumps({"out": str(r.out_dir), "val_accuracy": r.val_accuracy, "test_accuracy": r.test_accuracy,
                      "split": r.split.to_dict()}, indent=2))
    return 0


def cmd_export_detector(args) -> int:
    _quiet_tf()
    from .detector import export_detector

    exported = export_detector(args.run, args.out, dtypes=tuple(args.dtype), name=args.name)
    print(json.dumps([{"path": str(e.path), "bytes": e.size_bytes, "min_runtime_version": e.min_runtime_version} for e in exported], indent=2))
    return 0


def cmd_evaluate(args) -> int:
    _quiet_tf()
    from .evaluate import EvaluationConfig, run_evaluation

    sensitive = tuple(args.sensitive or ("WALKING_UPSTAIRS",))
    cfg = EvaluationConfig(users=tuple(args.users), sensitive=sensitive, cover=args.cover, delay_s=args.delay)
    if args.quick:
        cfg.lstm, cfg.delays = False, (1.0, 3.0)
    res = run_evaluation(args.data, args.model, args.detector, args.out, config=cfg, progress=not args.no_progress)
    print(json.dumps({"out": str(args.out), "summary": res["summary"]}, indent=2, default=str))
    return 0


def cmd_generate(args) -> int:
    from .generate import GenerateOptions, generate_dataset, parse_schedule

    opts = GenerateOptions(parse_schedule(args.schedule), users=args.users, seed=args.seed, format=args.format)
    res = generate_dataset(args.model, args.out, opts, data=args.data, progress=not args.no_progress)
    print(json.dumps(res.summary(), indent=2, ensure_ascii=False))
    return 0


# -- filter -----------------------------------------------------------------------------------

def build_sources(args, generator_activities):
    """The sensitivity sources of ``sensegen filter``: ``--private-span`` and the detector for
    ``--sensitive``. The cover must be an activity the generator can produce."""
    from sdk.activities import activity_index
    from sdk.sensitivity import PrivateSpans

    activity_index(args.cover, tuple(generator_activities))  # ModelError names the known ones
    sources = []
    if args.private_span:
        sources.append(PrivateSpans(args.private_span))
    if args.sensitive:
        from sdk.detector import DetectorSource
        from sdk.policy import Policy

        sources.append(DetectorSource(Policy(sensitive=tuple(args.sensitive), cover=args.cover), detector=args.detector))
    return sources


def cmd_filter(args) -> int:
    import numpy as np

    from sdk.cover_bank import CoverBankOptions
    from sdk.decoys import DecoyOptions
    from sdk.filter import FilterOptions, filter_recording
    from sdk.generator import Generator
    from sdk.recording import HAPT_RATE_HZ, read_recording, sample_recording_path, write_csv

    if args.plot:
        import importlib.util

        if importlib.util.find_spec("matplotlib") is None:
            raise SenseGenError("--plot needs matplotlib: pip install matplotlib (in a source checkout: pip install -e '.[train]')")
    if (args.input is None) == (not args.sample):
        raise SenseGenError("give an INPUT recording or --sample (not both)")
    args.input = sample_recording_path() if args.sample else Path(args.input)
    if Path(args.out).resolve() == args.input.resolve():
        raise SenseGenError(f"--out {args.out} is the input recording: choose another file (the input is never overwritten)")
    rec = read_recording(args.input, format=args.format)
    if args.resample:
        rec = rec.resampled(HAPT_RATE_HZ)
    else:
        rec.check_rate(HAPT_RATE_HZ)
    for a, b in args.private_span:
        if b < rec.t[0] or a > rec.t[-1]:
            print(f"warning: --private-span {a:g}:{b:g} misses the recording ({rec.t[0]:g}-{rec.t[-1]:g} s): it replaces nothing",
                  file=sys.stderr)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    generator = Generator(args.model)
    sources = build_sources(args, generator.activities)
    if not sources:
        print("warning: no --private-span and no --sensitive: nothing will be replaced", file=sys.stderr)
    if args.bank is not None:
        if Path(args.bank).resolve() in (args.input.resolve(), Path(args.out).resolve()):
            raise SenseGenError(f"--bank {args.bank} is the input or the output: choose another file")
        Path(args.bank).parent.mkdir(parents=True, exist_ok=True)
    opts = FilterOptions(model=args.model, cover=args.cover, delay_s=args.delay, seed=args.seed,
                         crossfade_s=args.crossfade, decoys=DecoyOptions(rate=args.decoy_rate),
                         cover_bank=CoverBankOptions(path=args.bank))
    out, status = filter_recording(rec.t, rec.xyz, opts, sources, generator=generator, return_status=True)
    detectors = [s for s in sources if hasattr(s, "windows_classified")]
    write_csv(args.out, out.t, out.xyz, out.replaced)
    summary = {
        "input": str(args.input), "output": str(args.out), "rows": len(out),
        "replaced": int(out.replaced.sum()), "segments": status.segments,
        "faults": list(status.faults), "gaps": status.gaps, "model": generator.info, "delay_s": args.delay,
        "decoys": status.decoys, "decoy_segments": status.decoy_segments,
        "bank_samples": status.bank_samples, "stride_segments": status.stride_segments, "posture_segments": status.posture_segments,
        "population_stillness_segments": status.population_stillness_segments,
    }
    if args.bank is not None:
        summary["bank_file"] = str(args.bank)
    if detectors:
        summary["detector"] = {"model": detectors[0].detector.info, "policy": detectors[0].policy.describe(),
                               "windows": detectors[0].windows_classified}
    if args.plot:
        from .plots import plot_filtered

        png = Path(args.out).with_suffix(".png")
        plot_filtered(rec.t, rec.xyz, out.xyz, out.replaced, png, title=f"{Path(args.input).name}: raw vs released")
        summary["plot"] = str(png)
    print(json.dumps(summary, indent=2))
    return 0 if np.array_equal(out.t, rec.t) else 1


# -- parser -----------------------------------------------------------------------------------

def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="sensegen", description="SenseGen Privacy: train, export and run the on-device accelerometer privacy filter.")
    p.add_argument("-v", "--verbose", action="store_true", help="log more")
    sub = p.add_subparsers(dest="command", required=True)

    data = sub.add_parser("data", help="get or inspect the HAPT dataset").add_subparsers(dest="data_command", required=True)
    d = data.add_parser("download", help="download the full HAPT dataset from UCI (non-commercial licence)")
    d.add_argument("--dest", default=None, help="folder to unpack into (default: $SENSEGEN_HAPT_DIR, else the per-user "
                   "data folder every other command reads; see 'sensegen data info')")
    d.add_argument("--url", default=None, help="archive URL (default: the official UCI archive)")
    d.add_argument("--no-progress", action="store_true")
    d.set_defaults(func=cmd_data_download)
    d = data.add_parser("info", help="summarise a HAPT folder and its user split")
    d.add_argument("--data", default=None, help=_DATA_HELP)
    d.set_defaults(func=cmd_data_info)

    t = sub.add_parser("train", help="train a generator on HAPT (user-disjoint split)")
    t.add_argument("--data", default=None, help=_DATA_HELP)
    t.add_argument("--preset", default="default", help="tiny | default | paper")
    t.add_argument("--epochs", type=int, default=None)
    t.add_argument("--batch-size", type=int, default=None)
    t.add_argument("--covariance", choices=("diagonal", "full"), default=None,
                   help="mixture components: per-axis variances, or a full 3x3 covariance each (default: the preset's)")
    t.add_argument("--stride-clock", action=argparse.BooleanOptionalAction, default=None,
                   help="the gait clock also tells the two steps of a stride apart (default: the preset's)")
    t.add_argument("--scheduled-sampling", type=float, default=None, metavar="SHARE",
                   help="share of teacher-forced inputs replaced by the model's own one-step samples (default: the preset's, 0)")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--max-minutes", type=float, default=None, help="stop after the epoch that passes this time")
    t.add_argument("--out", required=True, help="run folder (rerunning resumes from its checkpoints)")
    t.add_argument("--no-progress", action="store_true")
    g = t.add_argument_group("differential privacy (DP-SGD, budget from dp-accounting)")
    g.add_argument("--dp", action="store_true", help="train with DP-SGD: per-example clipping + Gaussian noise")
    g.add_argument("--noise-multiplier", type=float, default=None, help="noise std / clip norm")
    g.add_argument("--clip-norm", type=float, default=1.0, help="per-example gradient L2 bound C")
    g.add_argument("--delta", type=float, default=None, help="target delta (default: below 1/number of windows)")
    g.add_argument("--target-epsilon", type=float, default=None, help="choose the noise multiplier for this epsilon")
    g.add_argument("--accountant", choices=["rdp", "pld"], default="rdp")
    g.add_argument("--dp-sampling", choices=["poisson", "shuffle"], default="poisson", help="how batches are drawn")
    g.add_argument("--disjoint-windows", action="store_true", help="non-overlapping windows: one sample is in one window")
    g = t.add_argument_group("distributed training (tf.distribute)")
    g.add_argument("--strategy", choices=["default", "mirrored", "multiworker"], default="default",
                   help="mirrored: N replicas on this machine; multiworker: machines listed in TF_CONFIG")
    g.add_argument("--replicas", type=int, default=1, help="replicas for --strategy mirrored (logical CPU devices)")
    t.set_defaults(func=cmd_train)

    e = sub.add_parser("export", help="export a trained run to TFLite (checked for parity and runtime <= 2.8)")
    e.add_argument("run", help="run folder written by 'sensegen train'")
    e.add_argument("--out", required=True)
    e.add_argument("--dtype", nargs="+", default=["float32", "float16", "int8"], choices=["float32", "float16", "int8"])
    e.add_argument("--name", default="generator")
    e.add_argument("--data", default=None, help="HAPT folder for sampling calibration on the run's validation users")
    e.add_argument("--no-calibrate", action="store_true", help="skip the per-activity sigma calibration")
    e.add_argument("--block", type=int, default=None, help="samples per call of the block variant packed in each file (default 10; 0: none)")
    e.set_defaults(func=cmd_export)

    e = sub.add_parser("add-block", help="add the block variant to a generator file exported without one (needs its *_weights.npz)")
    e.add_argument("model", help="generator .tflite written by 'sensegen export'")
    e.add_argument("--weights", required=True, help="the float32 weights exported with it ({name}_weights.npz)")
    e.add_argument("--out", default=None, help="where to write (default: replace the file)")
    e.add_argument("--block", type=int, default=None, help="samples per call (default 10)")
    e.set_defaults(func=cmd_add_block)

    e = sub.add_parser("calibrate", help="recalibrate a generator file on its training and validation users: sampling sigma scales, population stillness")
    e.add_argument("model", help="generator .tflite written by 'sensegen export'")
    e.add_argument("--data", default=None, help=_DATA_HELP)
    e.add_argument("--out", default=None, help="where to write (default: replace the file)")
    e.add_argument("--activities", nargs="+", default=None, help="only these activities (default: all six)")
    e.add_argument("--parts", nargs="+", default=["sigma", "stillness"], choices=["sigma", "stillness"],
                   help="what to calibrate: the sampling sigma scales, the static postures' population stillness (default: both)")
    e.set_defaults(func=cmd_calibrate)

    d = sub.add_parser("train-detector", help="train and export the activity detector (user-disjoint split)")
    d.add_argument("--data", default=None, help=_DATA_HELP)
    d.add_argument("--out", required=True, help="run folder")
    d.add_argument("--seed", type=int, default=0)
    d.add_argument("--no-progress", action="store_true")
    d.set_defaults(func=cmd_train_detector)

    d = sub.add_parser("export-detector", help="export a detector run to TFLite (checked: parity, int8 accuracy, runtime <= 2.8)")
    d.add_argument("run", help="run folder written by 'sensegen train-detector'")
    d.add_argument("--out", required=True)
    d.add_argument("--dtype", nargs="+", default=["int8"], choices=["float32", "int8"])
    d.add_argument("--name", default="detector")
    d.set_defaults(func=cmd_export_detector)

    v = sub.add_parser("evaluate", help="realism and privacy figures on held-out users: JSON, PNG, Markdown")
    v.add_argument("--data", default=None, help=_DATA_HELP)
    v.add_argument("--model", default=None, help="generator model (default: bundled)")
    v.add_argument("--detector", default=None, help="detector model (default: bundled)")
    v.add_argument("--users", type=int, nargs="+", default=[3, 4, 15, 20], help="held-out users to evaluate on")
    v.add_argument("--sensitive", nargs="+", action="extend", type=_activity, default=None, metavar="ACT",
                   help=f"activities to hide, e.g. --sensitive A B or --sensitive A --sensitive B; {_ACTIVITY_HELP} "
                        "(default: WALKING_UPSTAIRS)")
    v.add_argument("--cover", default="WALKING", type=_activity, help=f"cover activity, {_ACTIVITY_HELP} (default: %(default)s)")
    v.add_argument("--delay", type=float, default=3.0)
    v.add_argument("--quick", action="store_true", help="no LSTM discriminator, two delays (a few minutes)")
    v.add_argument("--out", default="evaluation")
    v.add_argument("--no-progress", action="store_true")
    v.set_defaults(func=cmd_evaluate)

    g = sub.add_parser("generate", help="write a synthetic labelled dataset (HAPT raw layout or CSV) from a generator")
    g.add_argument("--model", default=None, help="generator model (default: bundled)")
    g.add_argument("--schedule", required=True, metavar="ACT:SECONDS,...",
                   help="activities and seconds, in order, e.g. WALKING:60,WALKING_UPSTAIRS:20,SITTING:30")
    g.add_argument("--users", type=int, default=1, help="number of synthetic users (default 1)")
    g.add_argument("--seed", type=int, default=0)
    g.add_argument("--format", choices=["hapt", "csv"], default="hapt", help="hapt: RawData/acc_expXX_userYY.txt + labels; csv: t,ax,ay,az,label")
    g.add_argument("--data", default=None, help="HAPT folder with the model's training users, for the placement spread "
                   "(default: $SENSEGEN_HAPT_DIR or ../shared/data/hapt)")
    g.add_argument("--out", required=True, help="new or empty output folder")
    g.add_argument("--no-progress", action="store_true")
    g.set_defaults(func=cmd_generate)

    m = sub.add_parser("model-info", help="print the metadata packed in a model file")
    m.add_argument("model")
    m.set_defaults(func=cmd_model_info)

    f = sub.add_parser(
        "filter", help="run the privacy filter over a recording",
        description="Run the privacy filter over a recording and write what an app would receive.",
        epilog="activities: " + ", ".join(ACTIVITY_NAMES) + ". Recording formats (--format): csv = header t,ax,ay,az "
               "in seconds and g; hapt = HAPT acc_expXX_userYY.txt (50 Hz, g); sensor-logger = Sensor Logger "
               "TotalAcceleration.csv (m/s^2, ns epoch + seconds_elapsed); phyphox = phyphox 'Acceleration with g' "
               "CSV (m/s^2). Acceleration without gravity is refused. Spans are seconds on the recording's clock.")
    f.add_argument("input", nargs="?", default=None, help="recording to filter (see the formats below); or use --sample")
    f.add_argument("--sample", action="store_true", help="filter the sample recording shipped with the SDK (HAPT user 2)")
    f.add_argument("--format", default="auto", choices=["auto", "csv", "hapt", "sensor-logger", "phyphox"],
                   help="input format (default: %(default)s, from the file name and header)")
    f.add_argument("--resample", action="store_true",
                   help="resample an irregular or non-50 Hz recording onto the model's 50 Hz grid (default: refuse it)")
    f.add_argument("--out", required=True, help="output CSV t,ax,ay,az,replaced (folders are created; never the input)")
    f.add_argument("--private-span", type=_span, action="append", default=[], metavar="START:END",
                   help="seconds of the recording to replace, START >= 0 (repeatable)")
    f.add_argument("--sensitive", nargs="+", action="extend", type=_activity, default=[], metavar="ACT",
                   help="activities to hide when the bundled detector sees them: --sensitive A B or --sensitive A "
                        "--sensitive B (default: none)")
    f.add_argument("--cover", default="WALKING", type=_activity, help="activity the synthetic data imitates (default: %(default)s)")
    f.add_argument("--delay", type=float, default=3.0, help="release delay in seconds (default: %(default)s)")
    f.add_argument("--crossfade", type=float, default=0.5, help="blend back to real data over this many seconds (default: %(default)s)")
    f.add_argument("--seed", type=int, default=0, help="seed of the synthetic data: same seed, same output (default: %(default)s)")
    f.add_argument("--decoy-rate", type=float, default=DEFAULT_DECOY_RATE, metavar="R",
                   help="share of cover-activity time also replaced by decoys, 0 = off (needs --sensitive: "
                        "decoys start while the detector sees the cover). More decoys: a spotted synthetic segment "
                        "says less (held-out users, P(sensitive | segment) pooled 1.00 at 0, 0.93 at 0.1, 0.83 at "
                        "0.3, worst length bin 0.92 at 0.3: the <= 0.5 target needs far more walking than stairs), "
                        "less real walking for the app (utility ratio >= 0.95 up to 0.3; README \"Decoys\"; "
                        "default: %(default)s)")
    f.add_argument("--bank", default=None, metavar="FILE",
                   help="keep the cover bank (your own released samples of the cover activity) in FILE: read when the "
                        "filter starts, written when it ends, so the next recording's covers are yours from its first "
                        "segment (a corrupt file is refused: a fault and an empty bank; one of another cover is refused and "
                        "left as it is)")
    f.add_argument("--model", default=None, help="generator model (default: the bundled one)")
    f.add_argument("--detector", default=None, help="detector model (default: the bundled one)")
    f.add_argument("--plot", action="store_true", help="also write OUT.png: raw vs released (needs matplotlib)")
    f.set_defaults(func=cmd_filter)
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(_join_dash_values(list(sys.argv[1:] if argv is None else argv)))
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        return args.func(args)
    except (SenseGenError, ValueError, OSError) as exc:
        print(f"sensegen {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
