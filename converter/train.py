"""Training the SenseGen generator: RMSProp on the mixture NLL of the next step, truncated
BPTT over fixed windows, gradient clipping, seeded, checkpointed every epoch (resumable),
best-on-validation weights kept."""
from __future__ import annotations

import contextlib
import json
import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .dp import DPConfig, DPPlan
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
    privacy: dict | None = None  # the DP record of run.json, None for a non-private run


def prepare_windows(ds: HaptDataset, users, cfg: GeneratorConfig, norm: Normalisation, seed: int, stride=None) -> WindowSet:
    exps = ds.for_users(users).experiments
    return make_windows(exps, cfg.window, cfg.priming, norm.scale, stride=stride, seed=seed, clock=cfg.clock, rate_hz=ds.rate_hz, reference=cfg.reference,
                        clock_width=cfg.clock_width or 2)


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
    *,
    dp: DPConfig | None = None,
    strategy: str = "default",
    replicas: int = 1,
) -> TrainResult:
    """Train on the split's train users, keep the best weights on its val users, report the
    test users' NLL (nats per 3-axis sample, in the normalised frame).

    Writes ``out_dir/``: ``generator.keras`` (best weights), ``run.json`` (config, split,
    normalisation, history, and for a DP run the privacy record under ``"privacy"``),
    ``checkpoints/`` (resume state: rerunning the same call resumes after an interruption).

    Args:
        dp: train with DP-SGD (see ``converter.dp``). The normalisation statistics are then
            taken from the validation users, so that the training users' data reaches the
            model only through the private mechanism.
        strategy: ``"default"``, ``"mirrored"`` or ``"multiworker"`` (``converter.distribute``).
            The global batch is ``cfg.batch_size`` whatever the number of replicas.
        replicas: replicas of ``"mirrored"``.

    Raises:
        ValueError: too few windows for a batch, a batch not divisible by the replicas, DP
            settings that differ from those of the checkpoint being resumed, or bad options.
    """
    import keras
    import tensorflow as tf
    from tqdm.auto import tqdm

    from . import dp as dpm
    from .distribute import make_strategy, worker_role
    from .model import build_sequence_model, mdn_nll

    if cfg.scheduled_sampling and (dp is not None or strategy != "default"):
        raise ValueError("scheduled_sampling is supported with the default strategy and without DP only")
    # first: logical CPU devices can only be configured before TensorFlow initialises
    strat = make_strategy(strategy, replicas)
    distributed = strategy != "default"
    n_rep = strat.num_replicas_in_sync
    if max_minutes is not None and strategy == "multiworker":
        raise ValueError("max_minutes is not supported with strategy 'multiworker' (workers must stop together)")
    if cfg.batch_size % n_rep:
        raise ValueError(f"batch size {cfg.batch_size} is not divisible by {n_rep} replicas")
    chief, role = worker_role(strat)

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    keras.utils.set_random_seed(seed)
    split = split or split_users(ds.users, seed=0)
    # a DP model must not carry statistics of the training users outside the mechanism
    norm = normalisation_stats(ds.for_users(split.val if dp else split.train), cfg.priming)
    span = cfg.priming + cfg.window + 1
    train_stride = span if dp is not None and dp.disjoint_windows else None
    train_ws = prepare_windows(ds, split.train, cfg, norm, seed, stride=train_stride)
    val_ws = prepare_windows(ds, split.val, cfg, norm, seed + 1, stride=cfg.window)
    log.info("train windows %d, val windows %d", len(train_ws), len(val_ws))
    n_batches = len(train_ws) // cfg.batch_size
    if n_batches == 0:
        raise ValueError(f"{len(train_ws)} training windows is fewer than one batch of {cfg.batch_size}")

    scope = strat.scope() if distributed else contextlib.nullcontext()
    with scope:
        model = build_sequence_model(cfg)
        # DP clips every window's gradient instead; a clip after the noise would only rescale it
        opt = keras.optimizers.RMSprop(learning_rate=cfg.learning_rate, global_clipnorm=None if dp else cfg.clip_norm)
        if distributed:
            opt.build(model.trainable_variables)
    m = cfg.mixtures
    L, K = cfg.reference + cfg.window + cfg.priming, train_ws.cond.shape[-1]
    spec = [
        tf.TensorSpec((cfg.batch_size, L, 3), tf.float32),
        tf.TensorSpec((cfg.batch_size, L, K), tf.float32),
        tf.TensorSpec((cfg.batch_size, L, 3), tf.float32),
    ]

    ss = float(cfg.scheduled_sampling)

    @tf.function(input_signature=spec)
    def train_step(x, c, y):
        if ss:  # two-pass scheduled sampling: some inputs become the model's own one-step samples
            x = _self_fed(model, x, c, y, m, ss)
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(mdn_nll(y, model([x, c], training=True), m))
        grads = tape.gradient(loss, model.trainable_variables)
        opt.apply_gradients(zip(grads, model.trainable_variables))
        return loss

    def replica_step(x, c, y):
        # this replica's share of the global-batch mean: the SUM over replicas is the mean
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(tf.reduce_mean(mdn_nll(y, model([x, c], training=True), m), axis=1)) / cfg.batch_size
        return tape.gradient(loss, model.trainable_variables), loss

    @tf.function
    def distributed_step(x, c, y):
        grads, loss = strat.run(replica_step, args=(x, c, y))
        grads = [strat.reduce(tf.distribute.ReduceOp.SUM, g, axis=None) for g in grads]
        # applied in cross-replica context, so the optimizer clips the global gradient as on one device
        opt.apply_gradients(zip(grads, model.trainable_variables))
        return strat.reduce(tf.distribute.ReduceOp.SUM, loss, axis=None)

    epoch_var = tf.Variable(0, dtype=tf.int64, name="epoch")
    objects = {"model": model, "optimizer": opt, "epoch": epoch_var}
    dp_state = None
    if dp is not None:
        dp_state = _DPState.create(dp, cfg, train_ws, n_batches, span, train_stride, ds.rate_hz)
        seed_words = dpm.new_noise_seed(dp)
        if strategy == "multiworker":
            seed_words = _from_chief(strat, seed_words, chief)
        objects["dp_seed"] = dp_state.seed_var = tf.Variable(seed_words, dtype=tf.int64, name="dp_seed", trainable=False)

        def dp_replica(x, c, y, w):
            grads, losses = dpm.generator_example_gradients(model, cfg, x, c, y)
            summed, _ = dpm.clip_and_sum(grads, dp.clip_norm, w)
            return summed, tf.reduce_sum(losses * w), tf.reduce_sum(w)

        def dp_update(x, c, y, w):
            if distributed:
                summed, loss_sum, count = strat.run(dp_replica, args=(x, c, y, w))
                summed = [strat.reduce(tf.distribute.ReduceOp.SUM, g, axis=None) for g in summed]
                loss_sum = strat.reduce(tf.distribute.ReduceOp.SUM, loss_sum, axis=None)
                count = strat.reduce(tf.distribute.ReduceOp.SUM, count, axis=None)
            else:
                summed, loss_sum, count = dp_replica(x, c, y, w)
            noisy = dpm.add_noise(summed, dp_state.noise_multiplier * dp.clip_norm, dp_state.seed_var, opt.iterations)
            # divide by the expected batch size, not the drawn one (which would leak the batch size)
            opt.apply_gradients(zip([g / float(cfg.batch_size) for g in noisy], model.trainable_variables))
            return loss_sum / tf.maximum(count, 1.0)

        if distributed:
            dp_step = tf.function(dp_update, reduce_retracing=True)
        else:
            dyn = [tf.TensorSpec((None, L, 3), tf.float32), tf.TensorSpec((None, L, K), tf.float32)]
            dp_step = tf.function(dp_update, input_signature=[dyn[0], dyn[1], dyn[0], tf.TensorSpec((None,), tf.float32)])

    ckpt = tf.train.Checkpoint(**objects)
    ckpt_dir = out / "checkpoints" if chief else out / "workers" / role / "checkpoints"
    manager = tf.train.CheckpointManager(ckpt, ckpt_dir, max_to_keep=2)
    history: list[dict] = []
    best = float("inf")
    run_json = out / "run.json"
    if manager.latest_checkpoint:
        prev = json.loads(run_json.read_text()) if run_json.exists() else {}
        if chief:
            _check_resume(prev, dp_state, out)
        ckpt.restore(manager.latest_checkpoint)
        done = int(epoch_var.numpy())
        # run.json is written before each checkpoint, so it may hold one epoch more
        history = [h for h in prev.get("history", []) if h["epoch"] <= done]
        best = min((h["val_nll"] for h in history), default=float("inf"))
        log.info("resumed from %s at epoch %d", manager.latest_checkpoint, done)

    def feed(arrays):
        if not distributed:
            return arrays
        per = len(arrays[0]) // n_rep
        return strat.experimental_distribute_values_from_function(
            lambda ctx: tuple(tf.constant(a[ctx.replica_id_in_sync_group * per : (ctx.replica_id_in_sync_group + 1) * per]) for a in arrays)
        )

    privacy = dp_state.record(int(opt.iterations.numpy())) if dp_state else None
    t0 = time.time()
    for epoch in range(int(epoch_var.numpy()), cfg.epochs):
        order = np.random.default_rng([seed, epoch]).permutation(len(train_ws)) if dp is None else None
        noise_rng = np.random.default_rng([seed, epoch, 1])

        def noisy(x):  # input noise: the model learns to recover from its own sampling errors
            return _input_noise(x, cfg.input_noise, cfg.drift_noise, noise_rng, ds.rate_hz)
        losses = []
        bar = tqdm(range(n_batches), desc=f"epoch {epoch + 1}/{cfg.epochs}", disable=not progress, leave=False)
        for b in bar:
            if dp_state is not None:
                idx = dp_state.batch(epoch, b)
                x, c, y, w = _padded(train_ws, idx, n_rep)
                loss = float(dp_step(*feed((noisy(x), c, y, w))))
            elif distributed:
                idx = order[b * cfg.batch_size : (b + 1) * cfg.batch_size]
                loss = float(distributed_step(*feed((noisy(train_ws.inputs[idx]), train_ws.cond[idx], train_ws.target[idx]))))
            else:
                idx = order[b * cfg.batch_size : (b + 1) * cfg.batch_size]
                loss = float(train_step(noisy(train_ws.inputs[idx]), train_ws.cond[idx], train_ws.target[idx]))
            losses.append(loss)
            if b % 10 == 0:
                bar.set_postfix(nll=f"{loss:.3f}")
        val = _nll_eval(model, val_ws, m)
        history.append({"epoch": epoch + 1, "train_nll": float(np.mean(losses)), "val_nll": val, "seconds": time.time() - t0})
        if progress and chief:
            tqdm.write(f"epoch {epoch + 1}: train nll {np.mean(losses):.4f}  val nll {val:.4f}")
        if val < best:
            best = val
            if chief:
                _save_model(model, out / "generator.keras")
        epoch_var.assign(epoch + 1)
        if dp_state is not None:
            privacy = dp_state.record(int(opt.iterations.numpy()))
            if progress and chief:
                tqdm.write(f"  privacy spent: epsilon {privacy['epsilon']:.3f} at delta {privacy['delta']:.1e}")
        if chief:  # before the checkpoint: a resumed run then never lacks an epoch's record
            _write_run(run_json, cfg, split, norm, history, best, seed, preset, privacy=privacy)
        manager.save()
        if max_minutes is not None and (time.time() - t0) > max_minutes * 60:
            log.warning("stopping after epoch %d: time limit of %.1f min reached", epoch + 1, max_minutes)
            break
    if not chief:
        return TrainResult(out, cfg, norm, split, history, best, float("nan"), 0.0, privacy)
    if not (out / "generator.keras").exists():
        _save_model(model, out / "generator.keras")
    best_model = keras.models.load_model(out / "generator.keras", compile=False)
    test_ws = prepare_windows(ds, split.test, cfg, norm, seed + 2, stride=cfg.window)
    test_nll = _nll_eval(best_model, test_ws, m)
    seconds = sum(h["seconds"] for h in history[-1:]) if history else 0.0
    _write_run(run_json, cfg, split, norm, history, best, seed, preset, test_nll=test_nll, privacy=privacy)
    if privacy is not None and progress:
        tqdm.write(privacy["statement"])
    return TrainResult(out, cfg, norm, split, history, best, test_nll, seconds, privacy)


@dataclass
class _DPState:
    """A DP run's plan (resolved once, by ``DPPlan.resolve``), its facts and batch sampler."""

    plan: DPPlan
    facts: dict
    seed_var: object = None
    _sampler: object = None

    @property
    def dp(self) -> DPConfig:
        return self.plan.config

    @property
    def noise_multiplier(self) -> float:
        return self.plan.noise_multiplier

    @property
    def delta(self) -> float:
        return self.plan.delta

    @classmethod
    def create(cls, dp: DPConfig, cfg: GeneratorConfig, ws: WindowSet, n_batches: int, span: int, stride, rate_hz: float):
        plan = DPPlan.resolve(dp, len(ws), cfg.batch_size, n_batches, cfg.epochs)
        stride = stride or cfg.window // 2
        facts = {
            "window_samples": span,
            "windows_per_sample": -(-span // stride),
            "rate_hz": rate_hz,
            "n_users": len(np.unique(ws.user)),
            "max_windows_per_user": int(np.bincount(ws.user).max()),
        }
        return cls(plan, facts)

    def record(self, steps: int) -> dict:
        return self.plan.record(steps, self.facts)

    def batch(self, epoch: int, b: int) -> np.ndarray:
        """Indices of step ``b`` of ``epoch``, drawn from the secret seed (reproducible on resume)."""
        from .dp import BatchSampler

        words = [int(v) for v in self.seed_var.numpy()]
        if self._sampler is None or self._sampler.seed != words:
            self._sampler = BatchSampler(self.dp.sampling, words, self.plan.n_examples, self.plan.batch_size)
        return self._sampler.batch(epoch, b)


def _self_fed(model, x, c, y, mixtures: int, share: float):
    """Inputs ``x`` (B, L, 3; teacher-forced, input noise already added) where a random
    ``share`` of steps t >= 1 is replaced by a sample of the model's own prediction for t made
    from the inputs before it, carrying the same input noise (``x - clean``, with the clean
    input ``y`` shifted by one). The model then learns from the errors it makes itself,
    cross-axis shape and tails included, not only from Gaussian noise (Mihaylova & Martins
    2019, two-pass scheduled sampling). No gradient flows through the first pass."""
    import tensorflow as tf

    from .model import sample_params

    z = sample_params(model([x, c], training=False), mixtures)  # z[:, t] ~ p(x_{t+1} | x_<=t)
    noise = x[:, 1:] - y[:, :-1]  # the input noise at steps 1.. (y[:, t] is the clean x_{t+1})
    fed = z[:, :-1] + noise
    keep = tf.random.uniform(tf.shape(fed)[:2])[..., None] >= share
    return tf.stop_gradient(tf.concat([x[:, :1], tf.where(keep, x[:, 1:], fed)], axis=1))


def _input_noise(x: np.ndarray, white: float, drift: float, rng: np.random.Generator, rate_hz: float, tau_s: float = 1.0) -> np.ndarray:
    """Teacher-forced inputs ``x`` (B, L, 3) plus white noise of std ``white`` and a slow
    Ornstein-Uhlenbeck offset of std ``drift`` and correlation time ``tau_s`` (stationary
    from the first step). Targets stay clean, so the model learns to pull a wandering
    input back to the gait instead of integrating it."""
    if not (white or drift):
        return x
    out = x.astype(np.float32, copy=True)
    if white:
        out += (rng.standard_normal(x.shape) * white).astype(np.float32)
    if drift:
        from scipy.signal import lfilter

        a = float(np.exp(-1.0 / (rate_hz * tau_s)))
        e = rng.standard_normal(x.shape) * drift * np.sqrt(1 - a * a)
        e[:, 0] = rng.standard_normal((x.shape[0], x.shape[2])) * drift  # start in the stationary state
        out += lfilter([1.0], [1.0, -a], e, axis=1).astype(np.float32)
    return out


def _padded(ws: WindowSet, idx: np.ndarray, n_rep: int):
    """The windows of ``idx`` plus zero rows of weight 0, so every replica gets as many rows."""
    n = len(idx)
    total = max(n_rep, -(-n // n_rep) * n_rep)
    pad = total - n
    arrays = []
    for a in (ws.inputs, ws.cond, ws.target):
        sel = a[idx]
        arrays.append(np.concatenate([sel, np.zeros((pad,) + a.shape[1:], a.dtype)]) if pad else sel)
    w = np.concatenate([np.ones(n, np.float32), np.zeros(pad, np.float32)])
    return arrays[0], arrays[1], arrays[2], w


def _from_chief(strat, words: list[int], chief: bool) -> list[int]:
    """Every worker gets the chief's secret seed: an all-reduce SUM to which only the chief's
    replicas add (each of its ``n_local`` replicas once, hence the division)."""
    import tensorflow as tf

    mine = tf.constant(words if chief else [0, 0], dtype=tf.int64)
    n_local = len(strat.extended.worker_devices)
    vals = strat.experimental_distribute_values_from_function(lambda ctx: mine)
    total = strat.reduce(tf.distribute.ReduceOp.SUM, vals, axis=None)
    return [int(v) // n_local for v in total.numpy()]


def _check_resume(prev: dict, dp_state, out: Path) -> None:
    was = prev.get("privacy", {}).get("differential_privacy", False) if prev else False
    if dp_state is None:
        if was:
            raise ValueError(f"{out} holds a differentially private run; resume it with the same DP settings or use a new out_dir")
        return
    if prev and not was:
        raise ValueError(f"{out} holds a checkpoint of a non-private run; DP training must start from scratch in a new out_dir")
    old = prev.get("privacy", {})
    now = {"config": dp_state.dp.to_dict(), "noise_multiplier": dp_state.noise_multiplier, "delta": dp_state.delta}
    before = {k: old.get(k) for k in now}
    if before != now:
        raise ValueError(f"{out} holds a DP run with different settings ({before}) than now ({now}); use a new out_dir")


def _save_model(model, path: Path) -> None:
    """Save atomically: a run killed while saving keeps the previous file."""
    tmp = path.with_name(".partial-" + path.name)
    model.save(tmp)
    os.replace(tmp, path)


def _write_run(path: Path, cfg, split, norm, history, best, seed, preset, test_nll=None, privacy=None) -> None:
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
    if privacy is not None:
        data["privacy"] = privacy
    tmp = path.with_name(".partial-" + path.name)
    tmp.write_text(json.dumps(data, indent=2))
    os.replace(tmp, path)


def load_run(run_dir: str | Path):
    """(keras model, GeneratorConfig, Normalisation, run dict) of a finished training run."""
    import keras

    run_dir = Path(run_dir)
    run = json.loads((run_dir / "run.json").read_text())
    model = keras.models.load_model(run_dir / "generator.keras", compile=False)
    return model, GeneratorConfig.from_dict(run["config"]), Normalisation.from_dict(run["normalisation"]), run
