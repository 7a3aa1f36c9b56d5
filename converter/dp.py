"""Differentially private training (DP-SGD) of the generator and the privacy accounting.

The mechanism is DP-SGD (Abadi et al. 2016): every training window's gradient is clipped to
global L2 norm ``clip_norm``, the clipped gradients of a batch are summed, Gaussian noise of
standard deviation ``noise_multiplier * clip_norm`` is added to the sum and the result is
divided by the expected batch size. The privacy budget is computed by Google's
``dp-accounting`` package (RDP or PLD accountant) for the Poisson-subsampled Gaussian
mechanism composed over the number of steps actually taken; nothing here re-derives a bound.

Accounting functions import no TensorFlow; the gradient functions import it lazily.
"""
from __future__ import annotations

import logging
import math
import secrets
from dataclasses import asdict, dataclass
from importlib import metadata

log = logging.getLogger(__name__)

ACCOUNTANTS = ("rdp", "pld")
SAMPLING = ("poisson", "shuffle")
_ACCOUNTANT_NAMES = {"rdp": "RDP", "pld": "PLD"}
# search range for --target-epsilon; below 0.3 the "noise" is too small to mean anything
NOISE_MULTIPLIER_RANGE = (0.3, 500.0)
WEAK_EPSILON = 10.0


@dataclass(frozen=True)
class DPConfig:
    """Settings of a differentially private training run.

    Give exactly one of ``noise_multiplier`` (z: noise std = z * clip_norm) and
    ``target_epsilon`` (z is then calibrated by dp-accounting for the planned steps).

    Attributes:
        noise_multiplier: z, the ratio of the Gaussian noise's std to ``clip_norm``.
        clip_norm: C, every training window's gradient is clipped to global L2 norm ≤ C.
        delta: δ of (ε, δ)-DP; default ``default_delta(n_windows)`` (≤ 1 / (10 n)).
        target_epsilon: choose z so that the planned run ends at this ε.
        accountant: ``"rdp"`` (Rényi DP) or ``"pld"`` (privacy loss distributions, tighter).
        sampling: ``"poisson"`` (each window joins a step's batch independently with
            probability q; what the accountant assumes) or ``"shuffle"`` (fixed-size batches
            of a shuffled order; accounted as Poisson with q = B/N, an approximation).
        disjoint_windows: train on non-overlapping windows, so that every sensor reading is
            in exactly one window (fewer windows, but a per-reading guarantee equal to ε).
        noise_seed: fixes the noise and sampling seed. For tests only: anyone who knows it
            can remove the noise, so the run then carries no guarantee. Default: a secret
            random seed kept only in the training checkpoints.
    """

    noise_multiplier: float | None = None
    clip_norm: float = 1.0
    delta: float | None = None
    target_epsilon: float | None = None
    accountant: str = "rdp"
    sampling: str = "poisson"
    disjoint_windows: bool = False
    noise_seed: int | None = None

    def __post_init__(self) -> None:
        if self.noise_multiplier is None and self.target_epsilon is None:
            raise ValueError("differentially private training needs a noise_multiplier or a target_epsilon")
        if self.noise_multiplier is not None and self.target_epsilon is not None:
            raise ValueError(
                f"give either noise_multiplier ({self.noise_multiplier}) or target_epsilon "
                f"({self.target_epsilon}), not both"
            )
        if self.noise_multiplier is not None and not (math.isfinite(self.noise_multiplier) and self.noise_multiplier > 0):
            raise ValueError(f"noise_multiplier must be a finite number > 0, got {self.noise_multiplier!r}")
        if self.target_epsilon is not None and not (math.isfinite(self.target_epsilon) and self.target_epsilon > 0):
            raise ValueError(f"target_epsilon must be a finite number > 0, got {self.target_epsilon!r}")
        if not (math.isfinite(self.clip_norm) and self.clip_norm > 0):
            raise ValueError(f"clip_norm must be a finite number > 0, got {self.clip_norm!r}")
        if self.delta is not None and not (0 < self.delta < 1):
            raise ValueError(f"delta must lie strictly between 0 and 1, got {self.delta!r}")
        if self.accountant not in ACCOUNTANTS:
            raise ValueError(f"unknown accountant {self.accountant!r}; choose one of {', '.join(ACCOUNTANTS)}")
        if self.sampling not in SAMPLING:
            raise ValueError(f"unknown sampling {self.sampling!r}; choose one of {', '.join(SAMPLING)}")
        if self.noise_seed is not None and self.noise_seed < 0:
            raise ValueError(f"noise_seed must be >= 0, got {self.noise_seed!r}")

    def to_dict(self) -> dict:
        d = asdict(self)
        d.pop("noise_seed")  # never written anywhere: it would let anyone remove the noise
        d["fixed_noise_seed"] = self.noise_seed is not None
        return d


def dp_config_from_args(args) -> DPConfig | None:
    """The ``DPConfig`` of ``sensegen train``'s options, or None without ``--dp``.

    Reads ``dp``, ``noise_multiplier``, ``clip_norm``, ``delta``, ``target_epsilon`` and,
    when present, ``accountant``, ``dp_sampling``, ``disjoint_windows`` from an argparse
    namespace.

    Raises:
        ValueError: DP options without ``--dp``, or invalid DP settings.
    """
    if not getattr(args, "dp", False):
        given = [k for k in ("noise_multiplier", "target_epsilon", "delta") if getattr(args, k, None) is not None]
        if given:
            raise ValueError(f"--{given[0].replace('_', '-')} needs --dp")
        return None
    return DPConfig(
        noise_multiplier=args.noise_multiplier,
        clip_norm=args.clip_norm,
        delta=args.delta,
        target_epsilon=args.target_epsilon,
        accountant=getattr(args, "accountant", "rdp"),
        sampling=getattr(args, "dp_sampling", "poisson"),
        disjoint_windows=getattr(args, "disjoint_windows", False),
    )


# ---------------------------------------------------------------- accounting (dp-accounting)


def default_delta(n_examples: int) -> float:
    """A power of ten at most ``1 / (10 n)``: the usual "δ well below 1/n" rule."""
    if n_examples < 1:
        raise ValueError(f"need at least one training example, got {n_examples}")
    return 10.0 ** (math.floor(math.log10(1.0 / n_examples)) - 1)


def make_accountant(accountant: str = "rdp"):
    """A fresh dp-accounting accountant (add-or-remove-one adjacency)."""
    import dp_accounting

    if accountant == "rdp":
        return dp_accounting.rdp.RdpAccountant()
    if accountant == "pld":
        return dp_accounting.pld.PLDAccountant()
    raise ValueError(f"unknown accountant {accountant!r}; choose one of {', '.join(ACCOUNTANTS)}")


def dp_sgd_event(noise_multiplier: float, sampling_rate: float, steps: int):
    """The DpEvent of DP-SGD: ``steps`` rounds of a Poisson-subsampled Gaussian mechanism."""
    import dp_accounting

    if not 0 < sampling_rate <= 1:
        raise ValueError(f"sampling_rate must lie in (0, 1], got {sampling_rate!r}")
    if steps < 0:
        raise ValueError(f"steps must be >= 0, got {steps!r}")
    return dp_accounting.SelfComposedDpEvent(
        dp_accounting.PoissonSampledDpEvent(sampling_rate, dp_accounting.GaussianDpEvent(noise_multiplier)), steps
    )


def compute_epsilon(noise_multiplier: float, sampling_rate: float, steps: int, delta: float, accountant: str = "rdp") -> float:
    """ε of DP-SGD after ``steps`` steps at the given δ, by dp-accounting's accountant."""
    if steps == 0:
        return 0.0
    acc = make_accountant(accountant)
    acc.compose(dp_sgd_event(noise_multiplier, sampling_rate, steps))
    # dp-accounting logs (through absl) every RDP order it drops as non-converging: harmless
    absl_log = logging.getLogger("absl")
    level = absl_log.level
    absl_log.setLevel(logging.ERROR)
    try:
        return float(acc.get_epsilon(delta))
    finally:
        absl_log.setLevel(level)


def calibrate_noise_multiplier(
    target_epsilon: float, sampling_rate: float, steps: int, delta: float, accountant: str = "rdp"
) -> float:
    """The smallest noise multiplier whose ε after ``steps`` steps is ≤ ``target_epsilon``
    (dp-accounting's ``calibrate_dp_mechanism``, to 1e-3).

    Raises:
        ValueError: the target cannot be met inside ``NOISE_MULTIPLIER_RANGE``.
    """
    import dp_accounting

    lo, hi = NOISE_MULTIPLIER_RANGE
    if compute_epsilon(hi, sampling_rate, steps, delta, accountant) > target_epsilon:
        raise ValueError(
            f"target_epsilon {target_epsilon} is out of reach even with noise multiplier {hi} "
            f"({steps} steps at sampling rate {sampling_rate:.4g}); train fewer steps or use larger batches"
        )
    if compute_epsilon(lo, sampling_rate, steps, delta, accountant) <= target_epsilon:
        log.warning("target_epsilon %s allows less noise than z=%s; using z=%s", target_epsilon, lo, lo)
        return lo
    z = dp_accounting.calibrate_dp_mechanism(
        lambda: make_accountant(accountant),
        lambda z: dp_sgd_event(z, sampling_rate, steps),
        target_epsilon,
        delta,
        bracket_interval=dp_accounting.ExplicitBracketInterval(lo, hi),
        tol=1e-3,
    )
    return float(z)


def group_privacy(epsilon: float, delta: float, k: int) -> tuple[float, float]:
    """(kε, k·e^((k-1)ε)·δ): the standard bound for a group of k adjacent changes."""
    if k <= 1:
        return epsilon, delta
    return k * epsilon, min(1.0, k * math.exp(min((k - 1) * epsilon, 700.0)) * delta)


def privacy_record(
    dp: DPConfig,
    *,
    noise_multiplier: float,
    delta: float,
    n_examples: int,
    batch_size: int,
    steps: int,
    planned_steps: int,
    window_samples: int,
    windows_per_sample: int,
    rate_hz: float,
    n_users: int,
    max_windows_per_user: int,
) -> dict:
    """The privacy entry of ``run.json`` (exported as the model's ``metadata["privacy"]``)."""
    q = batch_size / n_examples
    eps = compute_epsilon(noise_multiplier, q, steps, delta, dp.accountant)
    g_eps, g_delta = group_privacy(eps, delta, windows_per_sample)
    record = {
        "differential_privacy": True,
        "mechanism": "DP-SGD (per-window gradient clipping + Gaussian noise)",
        "epsilon": eps,
        "delta": delta,
        "accountant": _ACCOUNTANT_NAMES[dp.accountant],
        "accounting_library": f"dp-accounting {_dp_accounting_version()}",
        "neighbouring_relation": "add or remove one",
        "adjacency": "one training window",
        "window_samples": window_samples,
        "window_seconds": window_samples / rate_hz,
        "windows_per_sample": windows_per_sample,
        "per_sample_epsilon": g_eps,
        "per_sample_delta": g_delta,
        "noise_multiplier": noise_multiplier,
        "clip_norm": dp.clip_norm,
        "sampling": dp.sampling,
        "sampling_rate": q,
        "batch_size": batch_size,
        "training_windows": n_examples,
        "training_users": n_users,
        "max_windows_per_user": max_windows_per_user,
        "steps": steps,
        "planned_steps": planned_steps,
        "target_epsilon": dp.target_epsilon,
        "secure_noise": dp.noise_seed is None,
        "normalisation_source": "validation users (not covered by the guarantee)",
        "config": dp.to_dict(),
    }
    record["statement"] = privacy_statement(record)
    return record


def privacy_statement(r: dict) -> str:
    """The guarantee of a privacy record in plain language, with every parameter and caveat."""
    eps, delta, k = r["epsilon"], r["delta"], r["windows_per_sample"]
    lines = [
        f"Differential privacy: this model is (ε = {eps:.2f}, δ = {delta:.1e})-differentially private with respect to "
        f"adding or removing one training window ({r['window_samples']} consecutive accelerometer samples, "
        f"{r['window_seconds']:.1f} s of one person's recording) among {r['training_windows']} windows "
        f"from {r['training_users']} {'person' if r['training_users'] == 1 else 'people'}.",
        f"In plain words: whether any single window was used or not changes the probability of any outcome of "
        f"training, and of anything computed from the released model, by a factor of at most "
        f"e^ε = {math.exp(min(eps, 700)):.3g}, except with probability δ = {delta:.1e}.",
        f"Computed by the {r['accountant']} accountant of Google's {r['accounting_library']} for {r['steps']} steps "
        f"of the Poisson-subsampled Gaussian mechanism: sampling rate q = {r['sampling_rate']:.4g} "
        f"(batch {r['batch_size']} of {r['training_windows']}), noise multiplier {r['noise_multiplier']:.4g}, "
        f"per-window gradient clip norm {r['clip_norm']:.4g}.",
        "Caveats:",
        f"- Not a per-person guarantee: one person contributed up to {r['max_windows_per_user']} windows. "
        "Whether a person took part, or what their movement looks like, is protected only by group privacy "
        "over all their windows, which is much weaker than ε and can be vacuous.",
    ]
    if k > 1:
        lines.append(
            f"- Windows overlap: one sensor reading lies in up to {k} windows, so it is protected as a group of {k}: "
            f"(ε = {r['per_sample_epsilon']:.2f}, δ = {r['per_sample_delta']:.1e})-DP by group privacy. "
            "Train with disjoint windows for a per-reading guarantee equal to ε."
        )
    else:
        lines.append("- Windows do not overlap: every sensor reading lies in exactly one window.")
    if r["sampling"] == "poisson":
        lines.append("- Batches were drawn by Poisson sampling (each window independently with probability q), as the accountant assumes.")
    else:
        lines.append(
            "- Batches were fixed-size slices of a shuffled order, but the accountant assumes Poisson sampling "
            f"with q = batch/N = {r['sampling_rate']:.4g}. This is the usual approximation, not a proof: "
            "shuffled batches can be measurably less private than the reported ε."
        )
    lines.append(
        "- Not covered: the validation users' data (normalisation statistics, choice of the best epoch), the test "
        "users' data (reported test NLL) and the choice of hyperparameters; those people get no guarantee."
    )
    if r["secure_noise"]:
        lines.append(
            "- The guarantee needs the noise to stay secret: the training checkpoints hold the noise seed; delete the "
            "run's checkpoints/ folder before sharing anything but the exported model."
        )
    else:
        lines.append(
            "- WARNING: a fixed noise seed was used (for testing). Anyone who knows it can remove the noise: "
            "this model has NO privacy guarantee."
        )
    lines.append("- The floating-point Gaussian noise is not hardened against precision-based attacks.")
    if eps > WEAK_EPSILON:
        lines.append(f"- ε = {eps:.3g} is large: the guarantee is weak.")
    return "\n".join(lines)


def _dp_accounting_version() -> str:
    try:
        return metadata.version("dp-accounting")
    except metadata.PackageNotFoundError:  # pragma: no cover - installed with the train extra
        return "unknown"


def new_noise_seed(dp: DPConfig) -> list[int]:
    """Two 48-bit seed words: from ``dp.noise_seed`` if fixed, else from the OS's secure RNG."""
    if dp.noise_seed is not None:
        return [int(dp.noise_seed) % (1 << 48), 0x5EED]
    return [secrets.randbits(48), secrets.randbits(48)]


def check_settings(dp: DPConfig, n_examples: int, delta: float) -> None:
    """Log warnings on settings that weaken the guarantee (like opacus' secure mode)."""
    if delta >= 1.0 / n_examples:
        log.warning("delta %.2g is not below 1/N = %.2g: the mechanism may release whole windows", delta, 1.0 / n_examples)
    if dp.noise_seed is not None:
        log.warning("a fixed noise seed is set: this run has no privacy guarantee (tests only)")


class BatchSampler:
    """The windows of each DP-SGD step, drawn from the run's secret seed.

    ``poisson``: every window joins step s independently with probability q = B/N (batch
    sizes vary around B). ``shuffle``: a fresh secret permutation per epoch cut into batches
    of B. Indices depend only on (seed, epoch, step), so a resumed run draws the same ones.
    """

    def __init__(self, sampling: str, seed_words, n_examples: int, batch_size: int):
        if sampling not in SAMPLING:
            raise ValueError(f"unknown sampling {sampling!r}; choose one of {', '.join(SAMPLING)}")
        self.sampling, self.n, self.batch_size = sampling, int(n_examples), int(batch_size)
        self.seed = [int(v) for v in seed_words]
        self.steps_per_epoch = self.n // self.batch_size
        self._perm: tuple = (None, None)

    def batch(self, epoch: int, b: int):
        import numpy as np

        if self.sampling == "poisson":
            rng = np.random.default_rng(self.seed + [epoch * self.steps_per_epoch + b])
            return np.flatnonzero(rng.random(self.n) < self.batch_size / self.n)
        if self._perm[0] != epoch:
            self._perm = (epoch, np.random.default_rng(self.seed + [1 << 40, epoch]).permutation(self.n))
        return self._perm[1][b * self.batch_size : (b + 1) * self.batch_size]


# ---------------------------------------------------------------- per-example gradients (TF)


def generator_example_gradients(model, cfg, x, cond, target):
    """Per-window gradients of the generator's mean next-step NLL, in one backward pass.

    Rather than running the model once per window, the gradient of the summed loss is taken
    with respect to each layer's pre-activations (which are per window), and each window's
    weight gradient is rebuilt from them: for ``z = a @ W + b`` it is ``sum_t a_t^T dz_t``
    (Goodfellow 2015). Costs about 1.2× an ordinary step. The forward pass mirrors
    ``build_sequence_model`` (Keras LSTM gate order i, f, c, o); a test guards the parity.

    Args:
        model: the Keras sequence model of ``build_sequence_model(cfg)``.
        cfg: its ``GeneratorConfig``.
        x, cond, target: (n, T, 3), (n, T, K), (n, T, 3) float32 tensors.

    Returns:
        (grads, losses): one (n, *variable.shape) tensor per ``model.trainable_variables``,
        and the (n,) per-window losses.
    """
    import tensorflow as tf

    from .model import mdn_nll

    def val(v):
        return tf.convert_to_tensor(v.value if hasattr(v, "value") else v)

    n = tf.shape(x)[0]
    per_var: dict[str, object] = {}
    with tf.GradientTape() as tape:
        h = tf.concat([x, cond], axis=-1)
        layers = []
        for i, units in enumerate(cfg.lstm_units):
            cell = model.get_layer(f"lstm_{i}").cell
            kernel, recurrent, bias = val(cell.kernel), val(cell.recurrent_kernel), val(cell.bias)
            xz = tf.einsum("bti,ij->btj", h, kernel) + bias
            tape.watch(xz)

            def step(carry, xz_t, recurrent=recurrent):
                h_prev, c_prev = carry
                z = xz_t + tf.matmul(h_prev, recurrent)
                zi, zf, zc, zo = tf.split(z, 4, axis=-1)
                c_new = tf.sigmoid(zf) * c_prev + tf.sigmoid(zi) * tf.tanh(zc)
                return tf.sigmoid(zo) * tf.tanh(c_new), c_new

            zero = tf.zeros(tf.stack([n, units]), dtype=xz.dtype)
            hs, _ = tf.scan(step, tf.transpose(xz, [1, 0, 2]), initializer=(zero, zero))
            hs = tf.transpose(hs, [1, 0, 2])
            h_prev = tf.pad(hs[:, :-1], [[0, 0], [1, 0], [0, 0]])
            layers.append((cell, h, h_prev, xz))
            h = hs
        dense, mdn = model.get_layer("dense_hidden"), model.get_layer("mdn")
        pre_d = tf.einsum("bti,ij->btj", h, val(dense.kernel)) + val(dense.bias)
        tape.watch(pre_d)
        hd = tf.sigmoid(pre_d)
        pre_m = tf.einsum("bti,ij->btj", hd, val(mdn.kernel)) + val(mdn.bias)
        tape.watch(pre_m)
        losses = tf.reduce_mean(mdn_nll(target, pre_m, cfg.mixtures), axis=1)
        total = tf.reduce_sum(losses)
    d = tape.gradient(total, [xz for *_, xz in layers] + [pre_d, pre_m])
    for (cell, a_in, a_prev, _), dz in zip(layers, d):
        per_var[cell.kernel.path] = tf.einsum("bti,btj->bij", a_in, dz)
        per_var[cell.recurrent_kernel.path] = tf.einsum("bti,btj->bij", a_prev, dz)
        per_var[cell.bias.path] = tf.reduce_sum(dz, axis=1)
    for layer, a_in, dz in ((dense, h, d[-2]), (mdn, hd, d[-1])):
        per_var[layer.kernel.path] = tf.einsum("bti,btj->bij", a_in, dz)
        per_var[layer.bias.path] = tf.reduce_sum(dz, axis=1)
    missing = [v.path for v in model.trainable_variables if v.path not in per_var]
    if missing:
        raise ValueError(f"the model has variables the DP generator step does not know: {missing}")
    return [per_var[v.path] for v in model.trainable_variables], losses


def example_gradients(loss_fn, variables, inputs, vectorize: bool = False):
    """Per-example gradients for any model.

    Slower than ``generator_example_gradients`` but needs nothing but a loss: use it for
    models without a dedicated path (e.g. the sensitivity detector's MLP).

    Args:
        loss_fn: ``loss_fn(*batch_of_one) -> scalar`` loss of a batch holding one example.
        variables: the trainable variables.
        inputs: tuple of tensors with the example index first.
        vectorize: ``tf.vectorized_map`` (fast for feed-forward models) instead of one
            example at a time with ``tf.map_fn`` (works for anything, recurrent included).

    Returns:
        (grads, losses) as in ``generator_example_gradients``.
    """
    import tensorflow as tf

    def one(args):
        batch = tuple(a[None] for a in args)
        with tf.GradientTape() as tape:
            loss = loss_fn(*batch)
        grads = tape.gradient(loss, variables)
        grads = [tf.zeros_like(v) if g is None else tf.convert_to_tensor(g) for g, v in zip(grads, variables)]
        return grads, loss

    if vectorize:
        return tf.vectorized_map(one, tuple(inputs), fallback_to_while_loop=True)
    sig = ([tf.TensorSpec(v.shape, v.dtype) for v in variables], tf.TensorSpec((), tf.float32))
    return tf.map_fn(one, tuple(inputs), fn_output_signature=sig)


def dp_fit(
    model,
    loss_fn,
    arrays,
    dp: DPConfig,
    *,
    optimizer,
    batch_size: int,
    epochs: int,
    facts: dict,
    on_epoch=None,
    vectorize: bool = True,
) -> dict:
    """DP-SGD for any Keras model (e.g. the detector); returns its privacy record.

    One example of ``arrays`` is the unit of privacy: if a window appears several times
    (augmented copies), pass ``windows_per_sample`` accordingly or group the copies into one
    example. Statistics baked into the model (e.g. a Normalization layer) must not come from
    the training examples.

    Args:
        model: a Keras model (its ``trainable_variables`` are trained).
        loss_fn: ``loss_fn(*batch) -> scalar`` mean loss of a batch (called on batches of one).
        arrays: tuple of numpy arrays, example index first (inputs, labels, sample weights…).
        dp: the DP settings.
        optimizer: a Keras optimizer without gradient clipping.
        batch_size: expected batch size B (q = B / N).
        epochs: planned epochs (N // B steps each; ``target_epsilon`` is met at the end).
        facts: ``window_samples``, ``windows_per_sample``, ``rate_hz``, ``n_users``,
            ``max_windows_per_user`` of the privacy record.
        on_epoch: optional ``on_epoch(epoch, mean_loss) -> bool``; True stops training (the
            record then counts the steps actually taken).
        vectorize: see ``example_gradients``.
    """
    import numpy as np
    import tensorflow as tf

    n = len(arrays[0])
    steps_per_epoch = n // batch_size
    if steps_per_epoch == 0:
        raise ValueError(f"{n} examples is fewer than one batch of {batch_size}")
    q = batch_size / n
    delta = dp.delta if dp.delta is not None else default_delta(n)
    planned = epochs * steps_per_epoch
    z = dp.noise_multiplier or calibrate_noise_multiplier(dp.target_epsilon, q, planned, delta, dp.accountant)
    check_settings(dp, n, delta)
    seed = tf.Variable(new_noise_seed(dp), dtype=tf.int64, trainable=False)
    sampler = BatchSampler(dp.sampling, seed.numpy(), n, batch_size)
    variables = model.trainable_variables

    @tf.function(reduce_retracing=True)
    def step(inputs, w):
        grads, losses = example_gradients(loss_fn, variables, inputs, vectorize=vectorize)
        summed, _ = clip_and_sum(grads, dp.clip_norm, w)
        noisy = add_noise(summed, z * dp.clip_norm, seed, optimizer.iterations)
        optimizer.apply_gradients(zip([g / float(batch_size) for g in noisy], variables))
        return tf.reduce_sum(losses * w) / tf.maximum(tf.reduce_sum(w), 1.0)

    for epoch in range(epochs):
        losses = []
        for b in range(steps_per_epoch):
            idx = sampler.batch(epoch, b)
            w = np.ones(len(idx), np.float32)
            if len(idx) == 0:  # an empty Poisson batch still takes a (noise-only) step
                idx, w = np.zeros(1, np.int64), np.zeros(1, np.float32)
            losses.append(float(step(tuple(a[idx] for a in arrays), w)))
        if on_epoch is not None and on_epoch(epoch, float(np.mean(losses))):
            break
    return privacy_record(
        dp,
        noise_multiplier=z,
        delta=delta,
        n_examples=n,
        batch_size=batch_size,
        steps=int(optimizer.iterations.numpy()),
        planned_steps=planned,
        **facts,
    )


def clip_factors(grads, clip_norm: float):
    """Per-example factors ``C / max(norm, C)`` (≤ 1) and the (n,) norms before clipping."""
    import tensorflow as tf

    sq = tf.add_n([tf.reduce_sum(tf.reshape(tf.square(g), [tf.shape(g)[0], -1]), axis=1) for g in grads])
    norms = tf.sqrt(sq)
    return clip_norm / tf.maximum(norms, clip_norm), norms


def clip_examples(grads, clip_norm: float):
    """Every example's gradient scaled to global L2 norm ≤ ``clip_norm`` (direction kept).

    Returns:
        (clipped, norms): per-example gradients like ``grads`` and the norms before clipping.
    """
    import tensorflow as tf

    factor, norms = clip_factors(grads, clip_norm)
    shaped = [tf.reshape(factor, tf.concat([tf.shape(factor), tf.ones(tf.rank(g) - 1, tf.int32)], 0)) for g in grads]
    return [g * f for g, f in zip(grads, shaped)], norms


def clip_and_sum(grads, clip_norm: float, weights=None):
    """Clip every example's gradient to global L2 norm ≤ ``clip_norm``, then sum over examples.

    Args:
        grads: list of (n, ...) per-example gradients (one per variable).
        clip_norm: C.
        weights: optional (n,) 0/1 mask; rows with weight 0 are padding and contribute nothing.

    Returns:
        (summed, norms): the list of summed clipped gradients and the (n,) norms before clipping.
    """
    import tensorflow as tf

    factor, norms = clip_factors(grads, clip_norm)
    if weights is not None:
        factor = factor * tf.cast(weights, factor.dtype)
    return [tf.tensordot(factor, g, axes=1) for g in grads], norms


def add_noise(summed, stddev, seed, step):
    """``summed`` plus N(0, stddev²) noise, drawn from a stateless RNG keyed by (seed, step).

    Args:
        summed: list of tensors.
        stddev: noise_multiplier * clip_norm.
        seed: (2,) int64 tensor, the run's secret seed.
        step: int64 scalar, the optimizer step (so a resumed run draws the same noise).
    """
    import tensorflow as tf

    key = tf.random.experimental.stateless_fold_in(tf.cast(seed, tf.int64), tf.cast(step, tf.int64))
    out = []
    for i, g in enumerate(summed):
        k = tf.random.experimental.stateless_fold_in(key, i)
        out.append(g + tf.random.stateless_normal(tf.shape(g), seed=k, stddev=stddev, dtype=g.dtype))
    return out
