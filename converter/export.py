"""Export a trained generator to TFLite: a single-step model with explicit LSTM state, builtin
ops only, in float32 / float16 / per-tensor int8, each file checked (closed-loop parity with
Keras, min runtime version <= 2.8) before it is written, metadata packed inside. Each file
also carries a block variant (``k`` steps per call, the mixture drawn in the graph from noise
passed in) as a second flatbuffer inside the same file, checked against ``k`` single steps."""
from __future__ import annotations

import contextlib
import io
import json
import logging
import platform
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sdk.activities import ACTIVITIES
from sdk.block import BLOCK_MEMBER
from sdk.errors import ExportError
from sdk.generator import GENERATOR_FORMAT
from sdk.model_file import FORMAT_VERSION, min_runtime_version, pack_model, version_tuple
from sdk.recording import HAPT_RATE_HZ

log = logging.getLogger(__name__)

DTYPES = ("float32", "float16", "int8")
#: python-for-android's tflite-runtime recipe is 2.8: every file must load there.
MAX_RUNTIME = "2.8.0"
#: closed-loop parity tolerance per dtype: max |Δ| of the mixture mean, in units of the
#: normalised frame (1.0 = one per-axis std of the level-removed signal).
PARITY_TOLERANCE = {"float32": 1e-4, "float16": 2e-2, "int8": 0.25}
PARITY_STEPS = 120
#: samples per call of the block variant (0: no block variant)
BLOCK_STEPS = 10
#: block parity: max |Δ| of the samples (normalised frame) between the block file and ``k``
#: single steps of the step file of the same dtype, fed the same noise from the same state
BLOCK_PARITY_TOLERANCE = 1e-3
BLOCK_PARITY_BLOCKS = 8


@dataclass
class ExportedModel:
    path: Path
    dtype: str
    size_bytes: int
    min_runtime_version: str
    parity_max_error: float
    block_steps: int = 0
    block_parity_max_error: float | None = None


def convert_keras_model(model, dtype: str) -> bytes:
    """A Keras model as TFLite flatbuffer bytes, builtin ops only; ``int8`` is dynamic-range
    with per-tensor scales (runtime 2.3+, not the default per-channel that needs 2.17)."""
    import tensorflow as tf

    if dtype not in DTYPES:
        raise ValueError(f"dtype must be one of {DTYPES}, got {dtype!r}")
    conv = tf.lite.TFLiteConverter.from_keras_model(model)
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    if dtype == "float16":
        conv.optimizations = [tf.lite.Optimize.DEFAULT]
        conv.target_spec.supported_types = [tf.float16]
    elif dtype == "int8":
        # dynamic-range int8 with per-tensor scales: FULLY_CONNECTED stays at a version that
        # tflite-runtime 2.3+ (and so python-for-android's 2.8) can run
        conv.optimizations = [tf.lite.Optimize.DEFAULT]
        conv._experimental_disable_per_channel_quantization_for_dense_layers = True
    with contextlib.redirect_stdout(io.StringIO()):  # Keras prints the temporary SavedModel's signature
        return conv.convert()


def check_runtime(flatbuffer: bytes, what: str) -> str:
    """The file's ``min_runtime_version``.

    Raises:
        ExportError: it needs a runtime newer than ``MAX_RUNTIME`` (python-for-android's).
    """
    mrv = min_runtime_version(flatbuffer)
    if version_tuple(mrv) > version_tuple(MAX_RUNTIME):
        raise ExportError(f"{what} needs TFLite runtime {mrv}, newer than {MAX_RUNTIME} (python-for-android); not written")
    return mrv


def closed_loop_parity(step_model, flatbuffer: bytes, units, mixtures: int, steps: int = PARITY_STEPS, seed: int = 0) -> float:
    """Run Keras and TFLite side by side for ``steps`` steps, each carrying its own state,
    feeding back a sample drawn from the Keras mixture; return the max abs difference of the
    mixture mean (normalised frame). Non-finite TFLite output counts as infinite error. The
    condition cycles through the activities; a gait clock part, if any, turns at 1.8 Hz."""
    from sdk.gait import clock_rows
    from sdk.mdn import SamplingOptions, mixture_mean, sample_mixture
    from sdk.runtime import load_interpreter

    _, interp, sig = load_interpreter(flatbuffer, "converted generator", runtime="ai_edge_litert")
    rng = np.random.default_rng(seed)
    k = len(ACTIVITIES)
    width = int(step_model.get_layer("cond").output.shape[-1])
    ks = {f"{s}{i}": np.zeros((1, u), np.float32) for i, u in enumerate(units) for s in "hc"}
    ts = {name: v.copy() for name, v in ks.items()}
    x = np.zeros((1, 3), np.float32)
    worst = 0.0
    for t in range(steps):
        cond = np.zeros((1, width), np.float32)
        if t >= steps // 3:
            cond[0, 1 + (t // 20) % (k - 1)] = 1.0  # cycle through the activities
            if width > k:
                psi = 2 * np.pi * 1.8 * t / 50
                cond[0, k:] = clock_rows(np.array([psi]), width - k)[0]
        kout = step_model({"x": x, "cond": cond, **ks}, training=False)
        kout = {n: np.asarray(v) for n, v in kout.items()}
        for name, v in {"x": x, "cond": cond, **ts}.items():
            interp.set_tensor(sig["inputs"][name], v)
        interp.invoke()
        tout = {n: interp.get_tensor(i) for n, i in sig["outputs"].items()}
        km = mixture_mean(kout["logits"][0], kout["mu"][0].reshape(mixtures, 3))
        tm = mixture_mean(tout["logits"][0], tout["mu"][0].reshape(mixtures, 3))
        if not np.isfinite(tm).all():
            return float("inf")
        worst = max(worst, float(np.abs(km - tm).max()))
        ks = {n: kout[f"{n}_out"] for n in ks}
        ts = {n: tout[f"{n}_out"].copy() for n in ts}
        z = sample_mixture(
            kout["logits"][0].astype(np.float64),
            kout["mu"][0].reshape(mixtures, 3).astype(np.float64),
            kout["log_sigma"][0].reshape(mixtures, 3).astype(np.float64),
            rng,
            SamplingOptions(),
            kout["coupling"][0].reshape(mixtures, 3).astype(np.float64) if "coupling" in kout else None,
        )
        x = z.reshape(1, 3).astype(np.float32)
    return worst


def population_cadence(ds) -> dict[str, dict]:
    """Median step frequency and jitter of each dynamic activity over the segments of ``ds``
    (the SDK's clock when the owner's cover bank is still empty)."""
    from sdk.gait import DYNAMIC, cadence

    out = {}
    for name in DYNAMIC:
        k = ACTIVITIES.index(name)
        found = []
        for e in ds.experiments:
            edges = np.flatnonzero(np.diff(np.r_[0, (e.labels == k).astype(np.int8), 0]))
            found += [cadence(e.xyz[a:b], ds.rate_hz) for a, b in zip(edges[::2], edges[1::2])]
        found = [c for c in found if c is not None]
        if found:
            out[name] = {"step_hz": float(np.median([c.step_hz for c in found])), "jitter": float(np.median([c.jitter for c in found]))}
    return out
def block_parity(step_flat: bytes, block_flat: bytes, units, n_cond: int, steps: int, blocks: int = BLOCK_PARITY_BLOCKS, seed: int = 0) -> float:
    """Max abs difference of the samples (normalised frame) between one call of the block
    model and ``steps`` calls of the step model with the draw of ``sdk.mdn._draw``, both fed
    the same noise, conditioning rows and starting state, over ``blocks`` consecutive blocks
    (each started from the step path's state). Non-finite output counts as infinite error."""
    from ai_edge_litert.interpreter import Interpreter

    from sdk.block import BlockModel
    from sdk.mdn import SamplingOptions, _draw

    block = BlockModel(block_flat, {"steps": steps}, units, n_cond, "block export")
    interp = Interpreter(model_content=step_flat, num_threads=1)
    interp.allocate_tensors()
    sig = next(iter(interp._get_full_signature_list().values()))
    rng = np.random.default_rng(seed)
    opts = SamplingOptions(temperature=0.9, sigma_scale=(0.8, 1.1, 0.6), drift_tau_s=0.5)
    alpha = 1.0 / (opts.drift_tau_s * HAPT_RATE_HZ)
    sampling = np.array([[1 / opts.temperature, *opts.scales(), alpha]], np.float32)
    state = [(np.zeros((1, u), np.float32), np.zeros((1, u), np.float32)) for u in units]
    x, drift = np.zeros(3), np.zeros(3)
    worst = 0.0
    for b in range(blocks):
        cond = np.zeros((steps, n_cond), np.float32)
        cond[np.arange(steps), 1 + (b + np.arange(steps) // 4) % (n_cond - 1)] = 1.0  # varies per step
        uniform = rng.random((1, steps)).astype(np.float32)
        normal = rng.standard_normal((1, steps, 3)).astype(np.float32)
        z_block, _ = block.run(x.reshape(1, 3).astype(np.float32), cond[None], block.pack(state, drift), uniform, normal, sampling)
        for t in range(steps):
            feed = {"x": x.reshape(1, 3).astype(np.float32), "cond": cond[t : t + 1]}
            feed |= {f"{s}{i}": pair[j] for i, pair in enumerate(state) for j, s in enumerate("hc")}
            for name, v in feed.items():
                interp.set_tensor(sig["inputs"][name], v)
            interp.invoke()
            out = {n: interp.get_tensor(i) for n, i in sig["outputs"].items()}
            m = out["logits"].shape[-1]
            x = _draw(out["logits"][0], out["mu"].reshape(m, 3), out["log_sigma"].reshape(m, 3),
                      float(uniform[0, t]), normal[0, t].astype(np.float64), opts,
                      out["coupling"].reshape(m, 3) if "coupling" in out else None)
            drift = drift + alpha * (x - drift)  # the drift guard of sdk.generator.SyntheticStream
            x = x - drift
            state = [(out[f"h{i}_out"].copy(), out[f"c{i}_out"].copy()) for i in range(len(units))]
            if not np.isfinite(z_block[t]).all():
                return float("inf")
            worst = max(worst, float(np.abs(z_block[t] - x).max()))
    return worst


def block_ops(flatbuffer: bytes) -> int:
    """Number of ops in a flatbuffer's graph (before any delegate)."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    it = Interpreter(model_content=flatbuffer, experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    it.allocate_tensors()
    return len(it._get_ops_details())


def convert_block(step_model, step_flat: bytes, dtype: str, steps: int, block_model=None) -> tuple[bytes, dict]:
    """The block variant of ``step_model`` as flatbuffer bytes and its metadata entry.

    Raises:
        ExportError: it needs a runtime newer than 2.8 or fails block parity.
    """
    from .model import build_block_model

    block_model = block_model or build_block_model(step_model, steps)
    flat = convert_keras_model(block_model, dtype)
    mrv = check_runtime(flat, f"{dtype} block export")
    units = [int(t.shape[-1]) for t in step_model.inputs if t.name.startswith("h")]
    n_cond = int(next(t for t in step_model.inputs if t.name == "cond").shape[-1])
    err = block_parity(step_flat, flat, units, n_cond, steps)
    if not err <= BLOCK_PARITY_TOLERANCE:
        raise ExportError(f"{dtype} block export differs from {steps} single steps by {err:.3g} (tolerance {BLOCK_PARITY_TOLERANCE}); not written")
    info = {
        "member": BLOCK_MEMBER,
        "steps": steps,
        "min_runtime_version": mrv,
        "inputs": "x (1, 3); cond (1, k, C); state (1, S + 3) = h0, c0, h1, c1..., drift guard mean; uniform (1, k); normal (1, k, 3); sampling (1, 5) = [1 / temperature, sigma_scale x, y, z, drift alpha]",
        "outputs": "z (1, k, 3); state_out (1, S + 3)",
        "graph": f"converter.model.build_block_model, {block_ops(flat) / steps:.1f} ops per step",
        "draw": "component: first whose cumulative softmax(logits / T) weight exceeds uniform * total; sample: mu + exp(max(log_sigma, -7)) * sigma_scale * normal"
        + (", then through the component's coupling (sdk.mdn)" if any(o == "coupling" for o in step_model.output_names) else ""),
        "parity": {"blocks": BLOCK_PARITY_BLOCKS, "max_abs_error": err, "tolerance": BLOCK_PARITY_TOLERANCE, "against": "k single steps of this file's step model"},
    }
    return flat, info


def _variants(meta: dict, block_info: dict | None) -> dict:
    """``meta`` with ``variants``: which models the file holds (``min_runtime_version`` stays
    the step model's; the block variant records its own, both checked <= 2.8)."""
    meta = dict(meta)
    meta["variants"] = {"step": {"steps": 1, "min_runtime_version": meta["min_runtime_version"]}}
    if block_info is not None:
        meta["variants"]["block"] = block_info
    return meta


def generator_metadata(cfg, norm, run: dict, dtype: str, min_runtime: str) -> dict:
    import keras
    import tensorflow as tf

    return {
        "format": GENERATOR_FORMAT,
        "format_version": FORMAT_VERSION,
        "architecture": {
            "type": f"SenseGen LSTM + MDN ({cfg.covariance} Gaussian mixture over 3 axes), activity-conditioned",
            "preset": run.get("preset", "custom"),
            "lstm_units": list(cfg.lstm_units),
            "dense_units": cfg.dense_units,
            "dense_activation": "sigmoid",
            "mixtures": cfg.mixtures,
            "covariance": cfg.covariance,
            "window": cfg.window,
            "clock": bool(cfg.clock),
            "clock_width": cfg.clock_width,
            "reference_samples": cfg.reference,
            "input_noise": cfg.input_noise,
            "drift_noise": cfg.drift_noise,
        },
        "rate_hz": HAPT_RATE_HZ,
        "axes": ["ax", "ay", "az"],
        "units": "g",
        "activities": list(ACTIVITIES),
        "normalisation": norm.to_dict(),
        "quantisation": {"float32": "none", "float16": "float16 weights", "int8": "dynamic-range int8, per-tensor"}[dtype],
        "dtype": dtype,
        "min_runtime_version": min_runtime,
        "tensorflow_version": tf.__version__,
        "keras_version": keras.__version__,
        "exported_on": platform.platform(),
        "training": {
            "data": "HAPT v2.1 raw accelerometer (UCI id 341)",
            "split_users": run.get("split"),
            "epochs": len(run.get("history", [])),
            "train_seconds": run.get("train_seconds"),
            "best_val_nll": run.get("best_val_nll"),
            "test_nll": run.get("test_nll"),
            "nll_units": "nats per 3-axis sample in the normalised frame",
            "seed": run.get("seed"),
        },
        "privacy": run.get("privacy", {"differential_privacy": False}),
        "licence": "Trained on HAPT, which forbids commercial use: this model inherits that restriction.",
    }


def export_generator(
    run_dir: str | Path, out_dir: str | Path, dtypes=DTYPES, name: str = "generator", calibration_data=None, block: int = BLOCK_STEPS
) -> list[ExportedModel]:
    """Export the run in ``run_dir`` to ``out_dir/{name}_{dtype}.tflite`` plus
    ``{name}_weights.npz`` (float32 weights for the numpy reference step).

    Each file also holds a block variant of ``block`` steps per call (``0``: none).

    With ``calibration_data`` (a ``HaptDataset``), each file's per-activity sampling sigma
    scale is calibrated on the run's training and validation users (``calibrate_file``) and
    recorded in its metadata.

    Raises:
        ExportError: a converted file (or its block variant) fails parity or needs a runtime
            newer than 2.8; nothing is written for that dtype.
    """
    from .model import build_block_model, build_step_model, numpy_weights
    from .train import load_run

    seq, cfg, norm, run = load_run(run_dir)
    step = build_step_model(seq, cfg)
    block_model = build_block_model(step, block) if block else None
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    results = []
    for dtype in dtypes:
        flat = convert_keras_model(step, dtype)
        mrv = check_runtime(flat, f"{dtype} export")
        err = closed_loop_parity(step, flat, cfg.lstm_units, cfg.mixtures)
        if not err <= PARITY_TOLERANCE[dtype]:
            raise ExportError(f"{dtype} export differs from Keras by {err:.3g} over {PARITY_STEPS} closed-loop steps (tolerance {PARITY_TOLERANCE[dtype]}); not written")
        members, block_info = {}, None
        if block:
            members[BLOCK_MEMBER], block_info = convert_block(step, flat, dtype, block, block_model)
        meta = generator_metadata(cfg, norm, run, dtype, mrv)
        if cfg.clock and calibration_data is not None:
            meta["cadence"] = population_cadence(calibration_data.for_users(run["split"]["train"]))
        meta["parity"] = {"steps": PARITY_STEPS, "max_abs_error": err, "tolerance": PARITY_TOLERANCE[dtype]}
        meta = _variants(meta, block_info)
        path = out / f"{name}_{dtype}.tflite"
        path.write_bytes(pack_model(flat, meta, members))
        if calibration_data is not None:
            calibrate_file(path, calibration_data)
        log.info("wrote %s (%d bytes, min runtime %s, parity %.2g)", path, path.stat().st_size, mrv, err)
        results.append(ExportedModel(path, dtype, path.stat().st_size, mrv, err, block,
                                     block_info["parity"]["max_abs_error"] if block_info else None))
    np.savez(out / f"{name}_weights.npz", **numpy_weights(seq, cfg), units=np.asarray(cfg.lstm_units), mixtures=cfg.mixtures)
    (out / f"{name}_export.json").write_text(json.dumps([r.__dict__ | {"path": str(r.path)} for r in results], indent=2))
    return results


CALIBRATIONS = ("sigma", "stillness")


def calibrate_file(model_path: str | Path, data, out_path: str | Path | None = None, activities=None, parts=CALIBRATIONS) -> dict:
    """Calibrate a generator file on the training and validation users of its own split, read
    from ``data`` (a ``HaptDataset``), and write the result into the file; returns its
    ``sampling`` entry (and ``stillness``, when fitted). Test users are never read.

    ``parts``: ``"sigma"``, the per-activity sampling sigma scales (``converter.calibrate``);
    ``"stillness"``, the population stillness of the static postures (``converter.stillness``,
    a member of the file). ``activities``: only these (the others keep their values and
    provenance). Everything else in the file is kept byte for byte."""
    from sdk.generator import GENERATOR_FORMAT, Generator
    from sdk.model_file import read_model
    from sdk.postures import STATIC, STILLNESS_MEMBER

    from .calibrate import calibrate_sigma_scales
    from .stillness import CHUNK, CLUSTERS, npz_bytes, stillness_member

    unknown = set(parts) - set(CALIBRATIONS)
    if unknown or not parts:
        raise ValueError(f"calibration parts must be among {CALIBRATIONS}, got {tuple(parts)}")
    model = read_model(model_path, expect_format=GENERATOR_FORMAT)
    meta, members = dict(model.metadata), dict(model.members)
    split = meta["training"]["split_users"]
    users = sorted(set(split["train"]) | set(split["val"]))
    names = ACTIVITIES[1:] if activities is None else tuple(a.strip().upper() for a in activities)
    calibration = data.for_users(users)
    out_info = {}
    if "sigma" in parts:
        table = calibrate_sigma_scales(Generator(model_path), calibration, activities=names)
        old = meta.get("sampling", {}) if activities is not None else {}
        kept = {k for k in old.get("sigma_scale", {}) if k not in table}
        meta["sampling"] = {
            "sigma_scale": {k: old["sigma_scale"][k] for k in kept} | {k: v["sigma_scale"] for k, v in table.items()},
            "spread_ratio_after": {k: old.get("spread_ratio_after", {}).get(k) for k in kept} | {k: v["spread_ratio"] for k, v in table.items()},
            "calibrated_on_users": {k: _provenance(old.get("calibrated_on_users"), k) for k in kept} | {k: users for k in table},
            "method": "per activity, the sigma scale, then per axis, whose generated spread best matches real data: within-window "
            "(2.56 s) std for static postures, std over 5 s for walking and stairs (converter/calibrate.py)",
        }
        out_info["sampling"] = meta["sampling"]
    static = [a for a in names if a in STATIC]
    if "stillness" in parts and static:
        old_member = members.get(STILLNESS_MEMBER)
        old_held = [a for a in (meta.get("stillness") or {}).get("activities", []) if a not in static]
        member, held = stillness_member(calibration, activities=static)
        if old_member is not None and old_held:  # keep the other postures' models
            with np.load(io.BytesIO(old_member), allow_pickle=False) as z:
                arrays = {k: z[k] for k in z.files if k.split("/")[0] in old_held}
            with np.load(io.BytesIO(member), allow_pickle=False) as z:
                arrays |= {k: z[k] for k in z.files}
            member, held = npz_bytes(arrays), old_held + held
        if held:
            members[STILLNESS_MEMBER] = member
            meta["stillness"] = {
                "activities": sorted(held),
                "chunk_samples": CHUNK,
                "clusters": CLUSTERS,
                "calibrated_on_users": users,
                "method": "per static posture, the 2.56 s chunks (detrended, restless ones out) of the calibration users clustered by "
                "spectral shape and loudness; each cluster's cross-spectral density (converter/stillness.py)",
            }
            out_info["stillness"] = meta["stillness"]
    out = Path(out_path) if out_path is not None else Path(model_path)
    out.write_bytes(pack_model(model.flatbuffer, meta, members))
    return out_info


def _provenance(users, activity: str):
    """The users an activity was calibrated on, from a per-activity table or one list (files
    exported before per-activity calibration)."""
    return users.get(activity) if isinstance(users, dict) else users


def same_step_outputs(a: bytes, b: bytes, trials: int = 200, seed: int = 1) -> bool:
    """Whether two step flatbuffers give bit-identical outputs for ``trials`` random inputs
    and states (standard normal): the same weights and maths, whatever the bytes."""
    from sdk.runtime import load_interpreter

    its, sigs = [], []
    for f in (a, b):
        _, it, sig = load_interpreter(f, "step model", runtime="ai_edge_litert")
        its.append(it)
        sigs.append(sig)
    if [sorted(s["inputs"]) for s in sigs] != [sorted(sigs[0]["inputs"])] * 2 or [sorted(s["outputs"]) for s in sigs] != [sorted(sigs[0]["outputs"])] * 2:
        return False
    shapes = [{d["index"]: tuple(d["shape"]) for d in it.get_input_details()} for it in its]
    if any(shapes[0][sigs[0]["inputs"][n]] != shapes[1][sigs[1]["inputs"][n]] for n in sigs[0]["inputs"]):
        return False
    rng = np.random.default_rng(seed)
    for _ in range(trials):
        feed = {n: rng.standard_normal(shapes[0][i]).astype(np.float32) for n, i in sigs[0]["inputs"].items()}
        outs = []
        for it, sig in zip(its, sigs):
            for n, v in feed.items():
                it.set_tensor(sig["inputs"][n], v)
            it.invoke()
            outs.append({n: it.get_tensor(i).copy() for n, i in sig["outputs"].items()})
        if any(not np.array_equal(outs[0][n], outs[1][n]) for n in outs[0]):
            return False
    return True


def add_block_variant(model_path: str | Path, weights_path: str | Path, out_path: str | Path | None = None, block: int = BLOCK_STEPS) -> ExportedModel:
    """Add (or replace) the block variant of an exported generator file, for files written
    before block export existed (or before the current block graph). The Keras model is
    rebuilt from the file's float32 weights (``{name}_weights.npz``); its step model must
    convert to the file's flatbuffer byte for byte, or (a converter that names constants
    differently) give bit-identical outputs on random inputs and states, which proves the
    weights are this file's. The file's own step flatbuffer and metadata are kept;
    ``variants`` is added.

    Raises:
        ExportError: the weights do not reproduce the file, or the block variant fails its checks.
    """
    from sdk.generator import GENERATOR_FORMAT
    from sdk.model_file import read_model

    from .model import build_sequence_model, build_step_model, set_numpy_weights
    from .presets import GeneratorConfig

    if block < 1:
        raise ValueError(f"block must be >= 1 step, got {block}")
    model = read_model(model_path, expect_format=GENERATOR_FORMAT)
    meta = dict(model.metadata)
    arch, dtype = meta["architecture"], meta["dtype"]
    cfg = GeneratorConfig(lstm_units=tuple(arch["lstm_units"]), dense_units=int(arch["dense_units"]), mixtures=int(arch["mixtures"]),
                          clock=bool(arch.get("clock", False)), covariance=arch.get("covariance", "diagonal"),
                          stride_clock=int(arch.get("clock_width", 2)) == 4)
    mismatch = f"{weights_path} does not reproduce {model_path} (another model's weights, or another converter); not written"
    try:
        with np.load(weights_path) as w:
            seq = set_numpy_weights(build_sequence_model(cfg), {k: w[k] for k in w.files}, cfg)
    except (KeyError, ValueError) as exc:  # missing arrays, or shapes of another architecture
        raise ExportError(f"{mismatch}: {exc}") from None
    step = build_step_model(seq, cfg)
    rebuilt = convert_keras_model(step, dtype)
    if rebuilt != model.flatbuffer and not same_step_outputs(rebuilt, model.flatbuffer):
        raise ExportError(mismatch)
    flat, info = convert_block(step, model.flatbuffer, dtype, block)
    meta = _variants(meta, info)
    out = Path(out_path) if out_path is not None else Path(model_path)
    out.write_bytes(pack_model(model.flatbuffer, meta, {BLOCK_MEMBER: flat}))
    return ExportedModel(out, dtype, out.stat().st_size, meta["min_runtime_version"], float(meta.get("parity", {}).get("max_abs_error", float("nan"))), block, info["parity"]["max_abs_error"])
