"""Training the SenseGen generator: RMSProp on the mixture NLL of the next step, truncated
BPTT over fixed windows, gradient clipping, seeded, checkpointed every epoch (resumable),
best-on-validation weights kept."""
from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .hapt import HaptDataset, Normalisation, Split, normalisation_stats, split_users
from .presets import GeneratorConfig
from .windows import WindowSet, make_windows

log = logging.getLogger(__name__)


@dataclass
class TrainResult:
    out_dir: Path
    config: GeneratorConfig
    normalisation: Normalisation
    split: Split
    history: list[dict] = field(default_factory=list)
    best_val_nll: float = float("nan")
    test_nll: float = float("nan")
    seconds: float = 0.0


def prepare_windows(ds: HaptDataset, users, cfg: GeneratorConfig, norm: Normalisation, seed: int, stride=None) -> WindowSet:
    exps = ds.for_users(users).experiments
    return make_windows(exps, cfg.window, cfg.priming, norm.scale, stride=stride, seed=seed)


def _nll_eval(model, ws: WindowSet, mixtures: int, batch: int = 256) -> float:
    import tensorflow as tf

    from .model import mdn_nll

    total, count = 0.0, 0
    for i in range(0, len(ws), batch):
        p = model([ws.inputs[i : i + batch], ws.cond[i : i + batch]], training=False)
        nll = mdn_nll(tf.constant(ws.target[i : i + batch]), p, mixtures)
        total += float(tf.reduce_sum(nll))
        count += int(np.prod(nll.shape))
    return total / max(count, 1)


def train_generator(
    ds: HaptDataset,
    cfg: GeneratorConfig,
    out_dir: str | Path,
    seed: int = 0,
    split: Split | None = None,
    max_minutes: float | None = None,
    progress: bool = True,
    preset: str = "custom",
) -> TrainResult:
    """Train on the split's train users, keep the best weights on its val users, report the
    test users' NLL (nats per 3-axis sample, in the normalised frame).

    Writes ``out_dir/``: ``generator.keras`` (best weights), ``run.json`` (config, split,
    normalisation, history), ``checkpoints/`` (resume state: rerunning resumes).
    """
    import keras
    import tensorflow as tf
    from tqdm.auto import tqdm

    from .model import build_sequence_model, mdn_nll

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    keras.utils.set_random_seed(seed)
    split = split or split_users(ds.users, seed=0)
    norm = normalisation_stats(ds.for_users(split.train), cfg.priming)
    train_ws = prepare_windows(ds, split.train, cfg, norm, seed)
    val_ws = prepare_windows(ds, split.val, cfg, norm, seed + 1, stride=cfg.window)
    log.info("train windows %d, val windows %d", len(train_ws), len(val_ws))

    model = build_sequence_model(cfg)
    opt = keras.optimizers.RMSprop(learning_rate=cfg.learning_rate, global_clipnorm=cfg.clip_norm)
    m = cfg.mixtures
    L, K = cfg.window + cfg.priming, train_ws.cond.shape[-1]
    spec = [
        tf.TensorSpec((cfg.batch_size, L, 3), tf.float32),
        tf.TensorSpec((cfg.batch_size, L, K), tf.float32),
        tf.TensorSpec((cfg.batch_size, L, 3), tf.float32),
    ]

    @tf.function(input_signature=spec)
    def train_step(x, c, y):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(mdn_nll(y, model([x, c], training=True), m))
        grads = tape.gradient(loss, model.trainable_variables)
        opt.apply_gradients(zip(grads, model.trainable_variables))
        return loss

    epoch_var = tf.Variable(0, dtype=tf.int64, name="epoch")
    ckpt = tf.train.Checkpoint(model=model, optimizer=opt, epoch=epoch_var)
    manager = tf.train.CheckpointManager(ckpt, out / "checkpoints", max_to_keep=2)
    history: list[dict] = []
    best = float("inf")
    run_json = out / "run.json"
    if manager.latest_checkpoint:
        ckpt.restore(manager.latest_checkpoint)
        if run_json.exists():
            prev = json.loads(run_json.read_text())
            history, best = prev.get("history", []), prev.get("best_val_nll", best)
        log.info("resumed from %s at epoch %d", manager.latest_checkpoint, int(epoch_var.numpy()))

    n_batches = len(train_ws) // cfg.batch_size
    if n_batches == 0:
        raise ValueError(f"{len(train_ws)} training windows is fewer than one batch of {cfg.batch_size}")
    t0 = time.time()
    for epoch in range(int(epoch_var.numpy()), cfg.epochs):
        order = np.random.default_rng([seed, epoch]).permutation(len(train_ws))
        losses = []
        bar = tqdm(range(n_batches), desc=f"epoch {epoch + 1}/{cfg.epochs}", disable=not progress, leave=False)
        for b in bar:
            idx = order[b * cfg.batch_size : (b + 1) * cfg.batch_size]
            loss = float(train_step(train_ws.inputs[idx], train_ws.cond[idx], train_ws.target[idx]))
            losses.append(loss)
            if b % 10 == 0:
                bar.set_postfix(nll=f"{loss:.3f}")
        val = _nll_eval(model, val_ws, m)
        history.append({"epoch": epoch + 1, "train_nll": float(np.mean(losses)), "val_nll": val, "seconds": time.time() - t0})
        if progress:
            tqdm.write(f"epoch {epoch + 1}: train nll {np.mean(losses):.4f}  val nll {val:.4f}")
        if val < best:
            best = val
            model.save(out / "generator.keras")
        epoch_var.assign(epoch + 1)
        manager.save()
        _write_run(run_json, cfg, split, norm, history, best, seed, preset)
        if max_minutes is not None and (time.time() - t0) > max_minutes * 60:
            log.warning("stopping after epoch %d: time limit of %.1f min reached", epoch + 1, max_minutes)
            break
    if not (out / "generator.keras").exists():
        model.save(out / "generator.keras")
    best_model = keras.models.load_model(out / "generator.keras", compile=False)
    test_ws = prepare_windows(ds, split.test, cfg, norm, seed + 2, stride=cfg.window)
    test_nll = _nll_eval(best_model, test_ws, m)
    seconds = sum(h["seconds"] for h in history[-1:]) if history else 0.0
    _write_run(run_json, cfg, split, norm, history, best, seed, preset, test_nll=test_nll)
    return TrainResult(out, cfg, norm, split, history, best, test_nll, seconds)


def _write_run(path: Path, cfg, split, norm, history, best, seed, preset, test_nll=None) -> None:
    data = {
        "preset": preset,
        "config": cfg.to_dict(),
        "split": split.to_dict(),
        "normalisation": norm.to_dict(),
        "history": history,
        "best_val_nll": best,
        "seed": seed,
        "train_seconds": history[-1]["seconds"] if history else 0.0,
    }
    if test_nll is not None:
        data["test_nll"] = test_nll
    path.write_text(json.dumps(data, indent=2))


def load_run(run_dir: str | Path):
    """(keras model, GeneratorConfig, Normalisation, run dict) of a finished training run."""
    import keras

    run_dir = Path(run_dir)
    run = json.loads((run_dir / "run.json").read_text())
    model = keras.models.load_model(run_dir / "generator.keras", compile=False)
    return model, GeneratorConfig.from_dict(run["config"]), Normalisation.from_dict(run["normalisation"]), run
