"""The activity detector: a small dense network over per-window features (``sdk.features``),
trained on HAPT windows of the training users, early-stopped on the validation users,
reported on the test users, exported to TFLite (builtins only, runtime <= 2.8) with a
parity check against Keras before any file is written."""
from __future__ import annotations

import json
import logging
import platform
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from sdk.activities import ACTIVITIES
from sdk.detector import DETECTOR_FORMAT
from sdk.errors import ExportError
from sdk.features import FEATURES_VERSION, feature_names, window_features
from sdk.model_file import FORMAT_VERSION, pack_model
from sdk.recording import HAPT_RATE_HZ
from sdk.windowing import labelled_windows

from .export import check_runtime
from .hapt import HaptDataset, Split, split_users

log = logging.getLogger(__name__)

#: the detector recognises HAPT's six basic activities (not the unlabelled / transition class)
DETECTOR_CLASSES: tuple[str, ...] = ACTIVITIES[1:]
DTYPES = ("float32", "int8")
#: max |Δ probability| between Keras and TFLite on the stored check windows
PARITY_TOLERANCE = {"float32": 1e-4, "int8": 0.08}
#: the int8 file is refused when it loses more accuracy than this on the check windows
MAX_INT8_ACCURACY_DROP = 0.01


@dataclass(frozen=True)
class DetectorConfig:
    """Windows, network and training settings of the activity detector."""

    window: int = 128  # samples (2.56 s at 50 Hz), as HAPT's own windows
    hop: int = 25  # the SDK's default hop between classified windows (0.5 s)
    train_hop: int = 16
    min_purity: float = 0.8  # a training window needs this share of one label
    hidden: tuple[int, ...] = (64, 32)
    dropout: float = 0.2
    epochs: int = 80
    patience: int = 10
    batch_size: int = 128
    learning_rate: float = 2e-3
    rotate_deg: float = 10.0  # random rotation of training windows (phone placement varies)
    augment_copies: int = 1

    def to_dict(self) -> dict:
        d = asdict(self)
        d["hidden"] = list(self.hidden)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "DetectorConfig":
        d = {k: v for k, v in d.items() if k in cls.__dataclass_fields__}
        if "hidden" in d:
            d["hidden"] = tuple(d["hidden"])
        return cls(**d)


@dataclass
class LabelledWindows:
    """Windows cut from continuous streams with their majority label."""

    xyz: np.ndarray  # (n, L, 3) float32, g
    label: np.ndarray  # (n,) index into ACTIVITIES (0 = unlabelled / transition)
    purity: np.ndarray  # (n,) share of the majority label
    user: np.ndarray  # (n,)
    start: np.ndarray  # (n,) first sample index in its experiment
    exp: np.ndarray  # (n,)

    def __len__(self) -> int:
        return len(self.label)

    def subset(self, mask) -> "LabelledWindows":
        return LabelledWindows(*(a[mask] for a in (self.xyz, self.label, self.purity, self.user, self.start, self.exp)))


def cut_windows(experiments, length: int = 128, hop: int = 32) -> LabelledWindows:
    """Every ``length``-sample window at multiples of ``hop`` of each experiment."""
    parts = [(e, labelled_windows(e.xyz, e.labels, length, hop, len(ACTIVITIES))) for e in experiments]
    parts = [(e, w) for e, w in parts if len(w.start)]
    if not parts:
        raise ValueError(f"no experiment is at least {length} samples long")
    return LabelledWindows(
        np.concatenate([w.xyz for _, w in parts]).astype(np.float32),
        np.concatenate([w.label for _, w in parts]),
        np.concatenate([w.purity for _, w in parts]),
        np.concatenate([np.full(len(w.start), e.user) for e, w in parts]),
        np.concatenate([w.start for _, w in parts]),
        np.concatenate([np.full(len(w.start), e.exp) for e, w in parts]),
    )


def random_rotations(n: int, max_deg: float, rng: np.random.Generator) -> np.ndarray:
    """``n`` rotation matrices about random axes by angles uniform in ±``max_deg``."""
    axis = rng.normal(size=(n, 3))
    axis /= np.linalg.norm(axis, axis=1, keepdims=True)
    ang = np.deg2rad(rng.uniform(-max_deg, max_deg, size=n))
    kx = np.zeros((n, 3, 3))
    kx[:, 0, 1], kx[:, 0, 2], kx[:, 1, 2] = -axis[:, 2], axis[:, 1], -axis[:, 0]
    kx -= kx.transpose(0, 2, 1)
    s, c = np.sin(ang)[:, None, None], np.cos(ang)[:, None, None]
    return np.eye(3)[None] + s * kx + (1 - c) * (kx @ kx)


def training_arrays(ds: HaptDataset, users, cfg: DetectorConfig, hop: int, augment: bool, seed: int):
    """(features, class index into DETECTOR_CLASSES) of the labelled windows of ``users``."""
    w = cut_windows(ds.for_users(users).experiments, cfg.window, hop)
    w = w.subset((w.label > 0) & (w.purity >= cfg.min_purity))
    y = w.label - 1
    feats = [window_features(w.xyz)]
    ys = [y]
    if augment and cfg.rotate_deg > 0:
        rng = np.random.default_rng(seed)
        for _ in range(cfg.augment_copies):
            rot = random_rotations(len(w), cfg.rotate_deg, rng)
            feats.append(window_features(np.einsum("nij,ntj->nti", rot, w.xyz)))
            ys.append(y)
    return np.concatenate(feats), np.concatenate(ys)


def build_detector_model(n_features: int, cfg: DetectorConfig, mean: np.ndarray, std: np.ndarray):
    """Keras model: ``features`` (1, F) -> ``probs`` (1, C); the feature standardisation is
    part of the graph, so the file is self-contained."""
    import keras

    inp = keras.Input((n_features,), name="features")
    h = keras.layers.Normalization(mean=mean, variance=std**2, name="standardise")(inp)
    for i, units in enumerate(cfg.hidden):
        h = keras.layers.Dense(units, activation="relu", name=f"dense_{i}")(h)
        if cfg.dropout > 0:
            h = keras.layers.Dropout(cfg.dropout, name=f"dropout_{i}")(h)
    logits = keras.layers.Dense(len(DETECTOR_CLASSES), name="logits")(h)
    probs = keras.layers.Softmax(name="probs")(logits)
    return keras.Model(inp, {"probs": probs}, name="sensegen_detector")


@dataclass
class DetectorTrainResult:
    out_dir: Path
    config: DetectorConfig
    split: Split
    history: list[dict] = field(default_factory=list)
    val_accuracy: float = float("nan")
    test_accuracy: float = float("nan")
    test_confusion: list[list[int]] = field(default_factory=list)
    seconds: float = 0.0

    def to_dict(self) -> dict:
        return {
            "config": self.config.to_dict(),
            "split": self.split.to_dict(),
            "history": self.history,
            "val_accuracy": self.val_accuracy,
            "test_accuracy": self.test_accuracy,
            "test_confusion": self.test_confusion,
            "classes": list(DETECTOR_CLASSES),
            "seconds": self.seconds,
        }


def train_detector(
    ds: HaptDataset,
    out_dir: str | Path,
    cfg: DetectorConfig | None = None,
    split: Split | None = None,
    seed: int = 0,
    progress: bool = True,
) -> DetectorTrainResult:
    """Train on the split's train users, early-stop on its val users, report its test users
    (windows of one activity only, i.e. purity 1.0, as a stream segment mid-activity).

    Writes ``out_dir/``: ``detector.keras``, ``run.json`` (config, split, history,
    accuracies, confusion matrix) and ``check_features.npz`` (validation-user features, the
    export's parity and int8-accuracy check set).
    """
    import keras
    from tqdm.auto import tqdm

    cfg = cfg or DetectorConfig()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    keras.utils.set_random_seed(seed)
    split = split or split_users(ds.users, seed=0)
    t0 = time.time()
    x_tr, y_tr = training_arrays(ds, split.train, cfg, cfg.train_hop, augment=True, seed=seed)
    x_va, y_va = training_arrays(ds, split.val, cfg, cfg.window // 2, augment=False, seed=seed)
    log.info("detector: %d training windows, %d validation windows, %d features", len(y_tr), len(y_va), x_tr.shape[1])
    mean, std = x_tr.mean(axis=0), np.maximum(x_tr.std(axis=0), 1e-6)
    model = build_detector_model(x_tr.shape[1], cfg, mean, std)
    # balance the classes: the static postures are long in HAPT, stairs short
    counts = np.bincount(y_tr, minlength=len(DETECTOR_CLASSES)).astype(float)
    class_weight = {c: float(counts.sum() / (len(counts) * max(n, 1))) for c, n in enumerate(counts)}
    # Keras takes class_weight only for a single-output model: train a view of the same layers
    trainer = keras.Model(model.inputs, model.outputs[0], name="detector_trainer")
    trainer.compile(
        optimizer=keras.optimizers.Adam(cfg.learning_rate),
        loss=keras.losses.SparseCategoricalCrossentropy(),
        metrics=["accuracy"],
    )
    bar = tqdm(total=cfg.epochs, desc="detector", disable=not progress)

    def tick(epoch, logs):
        bar.update(1)
        bar.set_postfix(val_acc=f"{logs['val_accuracy']:.3f}")

    stop = keras.callbacks.EarlyStopping(monitor="val_accuracy", mode="max", patience=cfg.patience, restore_best_weights=True)
    h = trainer.fit(
        x_tr, y_tr, validation_data=(x_va, y_va), class_weight=class_weight, batch_size=cfg.batch_size,
        epochs=cfg.epochs, verbose=0, shuffle=True, callbacks=[stop, keras.callbacks.LambdaCallback(on_epoch_end=tick)],
    )
    bar.close()
    history = [
        {"epoch": i + 1, "loss": float(loss), "val_accuracy": float(acc)}
        for i, (loss, acc) in enumerate(zip(h.history["loss"], h.history["val_accuracy"]))
    ]
    best = max(r["val_accuracy"] for r in history)
    model.save(out / "detector.keras")
    np.savez(out / "check_features.npz", x=x_va.astype(np.float32), y=y_va)
    test = evaluate_keras_detector(model, ds, split.test, cfg)
    result = DetectorTrainResult(
        out, cfg, split, history, best, test["accuracy"], test["confusion"], time.time() - t0
    )
    (out / "run.json").write_text(json.dumps(result.to_dict() | {"seed": seed, "test": test}, indent=2))
    log.info("detector: val accuracy %.3f, test accuracy %.3f (%d windows)", best, test["accuracy"], test["windows"])
    return result


def evaluate_keras_detector(model, ds: HaptDataset, users, cfg: DetectorConfig) -> dict:
    """Accuracy and confusion matrix on pure windows of ``users`` (hop = half a window)."""
    w = cut_windows(ds.for_users(users).experiments, cfg.window, cfg.window // 2)
    w = w.subset((w.label > 0) & (w.purity >= 1.0))
    y = w.label - 1
    from sklearn.metrics import confusion_matrix

    p = np.asarray(model(window_features(w.xyz), training=False)["probs"]).argmax(axis=1)
    conf = confusion_matrix(y, p, labels=np.arange(len(DETECTOR_CLASSES)))
    recall = conf.diagonal() / np.maximum(conf.sum(axis=1), 1)
    return {
        "users": list(users),
        "windows": int(len(y)),
        "accuracy": float((p == y).mean()),
        "confusion": conf.tolist(),
        "recall": {c: float(r) for c, r in zip(DETECTOR_CLASSES, recall)},
    }


# --- export -----------------------------------------------------------------------------------

def convert_detector(model, dtype: str) -> bytes:
    from .export import convert_keras_model

    if dtype not in DTYPES:
        raise ValueError(f"dtype must be one of {DTYPES}, got {dtype!r}")
    return convert_keras_model(model, dtype)


def tflite_probs(flatbuffer: bytes, x: np.ndarray) -> np.ndarray:
    """Run a detector flatbuffer window by window (batch 1), as the SDK does."""
    from sdk.runtime import load_interpreter

    _, interp, sig = load_interpreter(flatbuffer, "converted detector", runtime="ai_edge_litert")
    i_in, i_out = sig["inputs"]["features"], sig["outputs"]["probs"]
    out = np.empty((len(x), len(DETECTOR_CLASSES)), np.float32)
    for i, row in enumerate(np.asarray(x, np.float32)):
        interp.set_tensor(i_in, row[None])
        interp.invoke()
        out[i] = interp.get_tensor(i_out)[0]
    return out


@dataclass
class ExportedDetector:
    path: Path
    dtype: str
    size_bytes: int
    min_runtime_version: str
    parity_max_error: float
    check_accuracy: float


def export_detector(
    run_dir: str | Path,
    out_dir: str | Path,
    dtypes=DTYPES,
    name: str = "detector",
    max_int8_drop: float = MAX_INT8_ACCURACY_DROP,
) -> list[ExportedDetector]:
    """Export the detector trained in ``run_dir`` to ``out_dir/{name}_{dtype}.tflite``.

    Each file is checked before it is written: the runtime it needs (<= 2.8), parity with
    Keras on the validation users' windows (max |Δ probability|), and for int8 its accuracy
    on those windows (at most ``max_int8_drop`` below Keras).

    Raises:
        ExportError: a check failed; that file is not written.
    """
    import keras
    import tensorflow as tf

    run_dir, out = Path(run_dir), Path(out_dir)
    run = json.loads((run_dir / "run.json").read_text())
    cfg = DetectorConfig.from_dict(run["config"])
    model = keras.models.load_model(run_dir / "detector.keras", compile=False)
    check = np.load(run_dir / "check_features.npz")
    x, y = check["x"], check["y"]
    keras_p = np.asarray(model(x, training=False)["probs"])
    keras_acc = float((keras_p.argmax(axis=1) == y).mean())
    out.mkdir(parents=True, exist_ok=True)
    results = []
    for dtype in dtypes:
        flat = convert_detector(model, dtype)
        mrv = check_runtime(flat, f"{dtype} detector")
        lite_p = tflite_probs(flat, x)
        err = float(np.abs(lite_p - keras_p).max()) if np.isfinite(lite_p).all() else float("inf")
        if not err <= PARITY_TOLERANCE[dtype]:
            raise ExportError(f"{dtype} detector differs from Keras by {err:.3g} in probability (tolerance {PARITY_TOLERANCE[dtype]}); not written")
        acc = float((lite_p.argmax(axis=1) == y).mean())
        if dtype == "int8" and acc < keras_acc - max_int8_drop:
            raise ExportError(
                f"int8 detector accuracy {acc:.3f} is more than {max_int8_drop} below float ({keras_acc:.3f}); not written (export float32)"
            )
        meta = {
            "format": DETECTOR_FORMAT,
            "format_version": FORMAT_VERSION,
            "classes": list(DETECTOR_CLASSES),
            "rate_hz": HAPT_RATE_HZ,
            "axes": ["ax", "ay", "az"],
            "units": "g",
            "window": cfg.window,
            "hop": cfg.hop,
            "features": {"version": FEATURES_VERSION, "names": feature_names(cfg.window)},
            "architecture": {"type": "dense network over window features", "hidden": list(cfg.hidden), "dropout": cfg.dropout},
            "quantisation": {"float32": "none", "int8": "dynamic-range int8, per-tensor"}[dtype],
            "dtype": dtype,
            "min_runtime_version": mrv,
            "tensorflow_version": tf.__version__,
            "keras_version": keras.__version__,
            "exported_on": platform.platform(),
            "parity": {"windows": int(len(x)), "max_abs_error": err, "tolerance": PARITY_TOLERANCE[dtype]},
            "accuracy": {
                "validation_users_keras": keras_acc,
                "validation_users_tflite": acc,
                "test_users_keras": run.get("test_accuracy"),
                "test_recall": run.get("test", {}).get("recall"),
                "note": "windows of one activity, user-disjoint split",
            },
            "training": {
                "data": "HAPT v2.1 raw accelerometer (UCI id 341)",
                "split_users": run.get("split"),
                "epochs": len(run.get("history", [])),
                "seed": run.get("seed"),
            },
            "licence": "Trained on HAPT, which forbids commercial use: this model inherits that restriction.",
        }
        path = out / f"{name}_{dtype}.tflite"
        path.write_bytes(pack_model(flat, meta))
        log.info("wrote %s (%d bytes, runtime %s, parity %.2g, accuracy %.3f)", path, path.stat().st_size, mrv, err, acc)
        results.append(ExportedDetector(path, dtype, path.stat().st_size, mrv, err, acc))
    (out / f"{name}_export.json").write_text(json.dumps([r.__dict__ | {"path": str(r.path)} for r in results], indent=2))
    return results
