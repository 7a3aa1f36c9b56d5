"""SenseGen generator in Keras: stacked LSTMs + a Mixture Density Network over 3 axes,
conditioned on an activity (one-hot; a row of zeros means "unknown").

Mixture components are diagonal Gaussians, or (``GeneratorConfig.covariance = "full"``)
full-covariance Gaussians in an axis-autoregressive (Cholesky) form: with ``s = exp(log_sigma)``
and the component's ``coupling`` (b21, b31, b32), a sample is ``mu + d`` where
``d1 = s1 n1``, ``d2 = b21 d1 + s2 n2``, ``d3 = b31 d1 + b32 d2 + s3 n3`` for standard normals
``n``: any 3x3 covariance, sampled and scored in closed form. The parameter vector is
``logits (M) | mu (3M) | log_sigma (3M) [| coupling (3M)]``; its width tells the form."""
from __future__ import annotations

import math

import keras
import numpy as np
import tensorflow as tf

from sdk.activities import ACTIVITIES

from .presets import GeneratorConfig

AXES = 3
N_ACT = len(ACTIVITIES)


def cond_width(cfg: GeneratorConfig) -> int:
    """Width of the condition input: the activity one-hot, then the gait clock if any."""
    return N_ACT + cfg.clock_width


def mdn_params_size(mixtures: int, covariance: str = "diagonal") -> int:
    """Width of the mixture parameter vector (see the module docstring)."""
    return mixtures * (1 + (3 if covariance == "full" else 2) * AXES)


def build_sequence_model(cfg: GeneratorConfig) -> keras.Model:
    """Training model: (x[B,T,3], cond[B,T,C]) -> mixture parameters [B,T,M*(1+6)]."""
    x = keras.Input((None, AXES), name="x")
    cond = keras.Input((None, cond_width(cfg)), name="cond")
    h = keras.layers.Concatenate(name="concat")([x, cond])
    for i, units in enumerate(cfg.lstm_units):
        h = keras.layers.LSTM(units, return_sequences=True, name=f"lstm_{i}")(h)
    h = keras.layers.Dense(cfg.dense_units, activation="sigmoid", name="dense_hidden")(h)
    out = keras.layers.Dense(mdn_params_size(cfg.mixtures, cfg.covariance), name="mdn")(h)
    return keras.Model([x, cond], out, name="sensegen_generator")


def split_params(params, mixtures: int):
    """(…, P) -> logits (…, M), mu (…, M, 3), log_sigma (…, M, 3), coupling (…, M, 3) or
    ``None`` for a diagonal mixture (P = 7M; a full one has P = 10M)."""
    full = int(params.shape[-1]) == mdn_params_size(mixtures, "full")
    shape = tf.concat([tf.shape(params)[:-1], [mixtures, AXES]], axis=0)
    part = [tf.reshape(params[..., mixtures * (1 + j * AXES) : mixtures * (1 + (j + 1) * AXES)], shape) for j in range(3 if full else 2)]
    return params[..., :mixtures], part[0], part[1], part[2] if full else None


LOG_SIGMA_MIN = -7.0


def mdn_nll(target, params, mixtures: int):
    """Per-step negative log-likelihood (nats per 3-axis sample) of the Gaussian mixture
    (diagonal or full, read from the width of ``params``)."""
    logits, mu, log_sigma, coupling = split_params(params, mixtures)
    log_sigma = tf.maximum(log_sigma, LOG_SIGMA_MIN)
    d = tf.expand_dims(target, -2) - mu
    if coupling is not None:  # residuals of the axis-autoregressive form: d2 - b21 d1, d3 - b31 d1 - b32 d2
        d1, d2, d3 = d[..., 0:1], d[..., 1:2], d[..., 2:3]
        b21, b31, b32 = coupling[..., 0:1], coupling[..., 1:2], coupling[..., 2:3]
        d = tf.concat([d1, d2 - b21 * d1, d3 - b31 * d1 - b32 * d2], axis=-1)
    z = d * tf.exp(-log_sigma)
    comp = tf.reduce_sum(-0.5 * tf.square(z) - log_sigma - 0.5 * math.log(2 * math.pi), axis=-1)
    log_pi = tf.nn.log_softmax(logits, axis=-1)
    return -tf.reduce_logsumexp(log_pi + comp, axis=-1)


def sample_params(params, mixtures: int, seed=None):
    """One sample of the mixture at every position: (…, P) -> (…, 3), in TensorFlow (the
    draw of ``sdk.mdn``, for training-time scheduled sampling)."""
    logits, mu, log_sigma, coupling = split_params(params, mixtures)
    flat = tf.reshape(logits, [-1, mixtures])
    k = tf.reshape(tf.random.categorical(flat, 1, seed=seed), tf.shape(logits)[:-1])
    pick = tf.one_hot(k, mixtures, dtype=params.dtype)[..., None]  # (…, M, 1)
    normal = tf.random.normal(tf.concat([tf.shape(logits)[:-1], [AXES]], 0), seed=seed)
    e = tf.reduce_sum(pick * tf.exp(tf.maximum(log_sigma, LOG_SIGMA_MIN)), axis=-2) * normal
    if coupling is not None:
        e = _coupled(e, tf.reduce_sum(pick * coupling, axis=-2))
    return tf.reduce_sum(pick * mu, axis=-2) + e


def _coupled(e, b):
    """The scaled noise ``e`` (…, 3) of one component through its coupling ``b`` (…, 3) =
    (b21, b31, b32): ``d1 = e1``, ``d2 = b21 d1 + e2``, ``d3 = b31 d1 + b32 d2 + e3`` (the
    module docstring's form; non-shrinking slices, so the block graph stays one partition)."""
    from keras import ops

    d1 = e[..., 0:1]
    d2 = b[..., 0:1] * d1 + e[..., 1:2]
    d3 = b[..., 1:2] * d1 + b[..., 2:3] * d2 + e[..., 2:3]
    return ops.concatenate([d1, d2, d3], axis=-1)


def build_step_model(seq_model: keras.Model, cfg: GeneratorConfig) -> keras.Model:
    """Single-step model with explicit state, weights copied from ``seq_model``.

    Inputs ``x``(1,3), ``cond``(1,C) (see ``cond_width``), ``h{i}``/``c{i}`` per layer; outputs ``logits``(1,M),
    ``mu``(1,M*3), ``log_sigma``(1,M*3), for a full-covariance mixture ``coupling``(1,M*3),
    and the new states ``h{i}_out``/``c{i}_out``.
    """
    x = keras.Input((AXES,), batch_size=1, name="x")
    cond = keras.Input((cond_width(cfg),), batch_size=1, name="cond")
    states = []
    for i, units in enumerate(cfg.lstm_units):
        states.append(
            (keras.Input((units,), batch_size=1, name=f"h{i}"), keras.Input((units,), batch_size=1, name=f"c{i}"))
        )
    h = keras.layers.Concatenate(name="step_concat")([x, cond])
    outs = {}
    for i, units in enumerate(cfg.lstm_units):
        cell = keras.layers.LSTMCell(units, name=f"step_lstm_{i}")
        h, (hn, cn) = cell(h, states[i])
        outs[f"h{i}_out"] = keras.layers.Identity(name=f"h{i}_out")(hn)
        outs[f"c{i}_out"] = keras.layers.Identity(name=f"c{i}_out")(cn)
    dense = keras.layers.Dense(cfg.dense_units, activation="sigmoid", name="step_dense_hidden")
    mdn = keras.layers.Dense(mdn_params_size(cfg.mixtures, cfg.covariance), name="step_mdn")
    p = mdn(dense(h))
    m = cfg.mixtures
    outs["logits"] = keras.layers.Identity(name="logits")(p[:, :m])
    outs["mu"] = keras.layers.Identity(name="mu")(p[:, m : m * (1 + AXES)])
    outs["log_sigma"] = keras.layers.Identity(name="log_sigma")(p[:, m * (1 + AXES) : m * (1 + 2 * AXES)])
    if cfg.covariance == "full":
        outs["coupling"] = keras.layers.Identity(name="coupling")(p[:, m * (1 + 2 * AXES) :])
    inputs = [x, cond] + [t for pair in states for t in pair]
    step = keras.Model(inputs, outs, name="sensegen_step")
    for i in range(len(cfg.lstm_units)):
        step.get_layer(f"step_lstm_{i}").set_weights(seq_model.get_layer(f"lstm_{i}").get_weights())
    dense.set_weights(seq_model.get_layer("dense_hidden").get_weights())
    mdn.set_weights(seq_model.get_layer("mdn").get_weights())
    return step


def numpy_weights(seq_model: keras.Model, cfg: GeneratorConfig) -> dict[str, np.ndarray]:
    """Float32 weights by name, for the SDK's pure-numpy reference step."""
    w: dict[str, np.ndarray] = {}
    for i in range(len(cfg.lstm_units)):
        k, r, b = seq_model.get_layer(f"lstm_{i}").get_weights()
        w[f"lstm_{i}/kernel"], w[f"lstm_{i}/recurrent_kernel"], w[f"lstm_{i}/bias"] = k, r, b
    w["dense/kernel"], w["dense/bias"] = seq_model.get_layer("dense_hidden").get_weights()
    w["mdn/kernel"], w["mdn/bias"] = seq_model.get_layer("mdn").get_weights()
    return {k: np.asarray(v, np.float32) for k, v in w.items()}


def set_numpy_weights(seq_model: keras.Model, weights, cfg: GeneratorConfig) -> keras.Model:
    """Load the float32 weights of ``numpy_weights`` (e.g. a ``*_weights.npz``) into
    ``seq_model``, the inverse of ``numpy_weights``; returns the model."""
    for i in range(len(cfg.lstm_units)):
        seq_model.get_layer(f"lstm_{i}").set_weights([weights[f"lstm_{i}/{n}"] for n in ("kernel", "recurrent_kernel", "bias")])
    seq_model.get_layer("dense_hidden").set_weights([weights["dense/kernel"], weights["dense/bias"]])
    seq_model.get_layer("mdn").set_weights([weights["mdn/kernel"], weights["mdn/bias"]])
    return seq_model


def _concat(parts: list, axis: int, join=None):
    """``join`` (default ``keras.ops.concatenate``; ``tf.concat`` inside a TensorFlow layer)
    as a tree of concatenations of at most 4 tensors: the XNNPACK delegate runs those only,
    and one wider concatenation splits the graph in two."""
    if join is None:
        from keras import ops

        join = ops.concatenate
    while len(parts) > 1:
        parts = [join(parts[i : i + 4], axis=axis) if len(parts[i : i + 4]) > 1 else parts[i] for i in range(0, len(parts), 4)]
    return parts[0]


def _pick_component(logits, inv_t, u):
    """One-hot (1, M) of the component ``sdk.mdn._draw`` picks for the uniform ``u`` (1, 1):
    the first whose cumulative weight exceeds ``u`` times the total (the last if none does).

    Few ops, all of which the XNNPACK delegate runs (so the block stays one partition):
    cumulative sums as a product with a triangular 0/1 matrix (each column sums its terms
    in order, exact partial sums of float32 adds), ``cum > target`` as
    ``min(ceil(relu(cum - target)), 1)``, and the one-hot as the difference of neighbours.
    """
    from keras import ops

    m = int(logits.shape[-1])
    w = ops.exp((logits - ops.max(logits, axis=-1, keepdims=True)) * inv_t)
    cum = ops.matmul(w, np.triu(np.ones((m, m), np.float32)))  # cum[:, i] = sum_{j <= i} w[:, j]
    target = u * cum[:, m - 1 :]
    above = ops.minimum(ops.ceil(ops.relu(cum - target)), 1.0)  # 1 where cum > target
    above = ops.maximum(above, np.eye(1, m, m - 1, dtype=np.float32))  # the last component always
    diff = np.eye(m, dtype=np.float32) - np.eye(m, k=1, dtype=np.float32)  # above[i] - above[i - 1]
    return ops.matmul(above, diff)


def build_unrolled_block_model(step_model: keras.Model, block: int) -> keras.Model:
    """``block`` generator steps per call, the mixture sampled inside the graph: the first
    block graph (72 ops per step), kept as the baseline of ``benchmarks.block_graph``;
    ``build_block_model`` computes the same in fewer ops, with the same inputs, outputs, draw
    and drift guard (see its docstring). Here the recurrence is unrolled by calling
    ``step_model`` (its layers and weights shared, not copied) ``block`` times, each step fed
    the previous step's sample.
    """
    from keras import ops

    if block < 1:
        raise ValueError(f"block must be >= 1 step, got {block}")
    ins = {t.name: t for t in step_model.inputs}
    order = [t.name for t in step_model.inputs]
    n_cond = int(ins["cond"].shape[-1])
    state_names = sorted((n for n in ins if n[0] in "hc" and n[1:].isdigit()), key=lambda n: (int(n[1:]), n[0] != "h"))
    widths = [int(ins[n].shape[-1]) for n in state_names]
    m = int(step_model.get_layer("logits").output.shape[-1])
    x = x_in = keras.Input((AXES,), batch_size=1, name="x")
    cond = keras.Input((block, n_cond), batch_size=1, name="cond")
    state = keras.Input((sum(widths) + AXES,), batch_size=1, name="state")
    uniform = keras.Input((block,), batch_size=1, name="uniform")
    normal = keras.Input((block, AXES), batch_size=1, name="normal")
    sampling = keras.Input((2 + AXES,), batch_size=1, name="sampling")
    inv_t, sigma_scale, alpha = sampling[:, :1], ops.reshape(sampling[:, 1 : 1 + AXES], (1, 1, AXES)), sampling[:, 1 + AXES :]
    # per-step rows are sliced as [:, t : t + 1] and reshaped: a shrinking slice ([:, t]) is not
    # run by the XNNPACK delegate and would split the graph into one partition per step
    offsets = np.cumsum([0] + widths)
    st = {n: state[:, offsets[j] : offsets[j + 1]] for j, n in enumerate(state_names)}
    drift = state[:, offsets[-1] :]
    samples = []
    for t in range(block):
        out = step_model([{"x": x, "cond": ops.reshape(cond[:, t : t + 1], (1, n_cond)), **st}[n] for n in order])
        st = {n: out[f"{n}_out"] for n in state_names}
        pick = _pick_component(out["logits"], inv_t, uniform[:, t : t + 1])[:, :, None]  # (1, M, 1)
        noise = sigma_scale * normal[:, t : t + 1]  # (1, 1, 3)
        mu, log_sigma = ops.reshape(out["mu"], (1, m, AXES)), ops.reshape(out["log_sigma"], (1, m, AXES))
        if "coupling" not in out:
            x = ops.sum(pick * (mu + ops.exp(ops.maximum(log_sigma, LOG_SIGMA_MIN)) * noise), axis=1)
        else:  # pick the component's parameters, then the axis-autoregressive draw
            e = ops.reshape(ops.sum(pick * ops.exp(ops.maximum(log_sigma, LOG_SIGMA_MIN)), axis=1), (1, 1, AXES)) * noise
            b = ops.sum(pick * ops.reshape(out["coupling"], (1, m, AXES)), axis=1)
            x = ops.sum(pick * mu, axis=1) + _coupled(ops.reshape(e, (1, AXES)), b)
        drift = drift + alpha * (x - drift)
        x = x - drift
        samples.append(x[:, None, :])
    outs = {
        "z": keras.layers.Identity(name="z")(_concat(samples, axis=1)),
        "state_out": keras.layers.Identity(name="state_out")(_concat([st[n] for n in state_names] + [drift], axis=1)),
    }
    return keras.Model([x_in, cond, state, uniform, normal, sampling], outs, name="sensegen_block")


def _split_rows(t, n: int):
    """The ``n`` rows of ``t`` (n, …) as tensors (1, …): one SPLIT op (a shrinking slice per
    row would cost two ops per step)."""
    import tensorflow as tf

    return tf.split(t, n, axis=0) if n > 1 else [t]


class _BlockGraph(keras.layers.Layer):
    """The block recurrence of ``build_block_model`` written directly in TensorFlow ops, with
    as few ops per step as the maths allows (see ``build_block_model`` for what is computed).

    ``fuse``: each LSTM layer's input and recurrent matmuls as one FULLY_CONNECTED on
    ``concat([x, h])`` with stacked weights, and the condition's share of the first layer's
    gates (and its bias) computed for all steps with one batched matmul before the recurrence.
    Exact in float; with dynamic-range int8 it would change the per-tensor quantisation of
    the weights and of the inputs, so an int8 block would no longer match its step model:
    only for float files. Without ``fuse`` every quantised matmul has the step model's
    weights and inputs, so an int8 block computes what the int8 step model does."""

    def __init__(self, lstm: list, dense: list, mdn: list, mixtures: int, block: int, n_cond: int, fuse: bool, **kw):
        super().__init__(**kw)
        self.block, self.n_cond, self.fuse, self.m = block, n_cond, fuse, mixtures
        self.units = [int(r.shape[0]) for _, r, _ in lstm]
        self.full = int(mdn[0].shape[1]) == mdn_params_size(mixtures, "full")
        groups = 3 if self.full else 2
        m = mixtures

        def var(name, value):
            v = self.add_weight(name=name, shape=value.shape, dtype="float32", trainable=False, initializer="zeros")
            v.assign(np.asarray(value, np.float32))
            return v

        self.w = []
        for i, (k, r, b) in enumerate(lstm):
            if fuse and i == 0:  # x part stacked on the recurrent kernel; cond part batched
                self.w.append({"xr": var(f"l{i}_xr", np.concatenate([k[:AXES], r])), "c": var(f"l{i}_c", k[AXES:]), "b": var(f"l{i}_b", b)})
            elif fuse:
                self.w.append({"xr": var(f"l{i}_xr", np.concatenate([k, r])), "b": var(f"l{i}_b", b)})
            else:
                self.w.append({"k": var(f"l{i}_k", k), "r": var(f"l{i}_r", r), "b": var(f"l{i}_b", b)})
        self.dense_k, self.dense_b = var("dense_k", dense[0]), var("dense_b", dense[1])
        # mixture head, columns reordered (a per-tensor int8 scale is unchanged by that):
        # logits, then each parameter per axis over the components, so
        # the head reshapes to rows (1 + groups * 3, M) and the picked component's parameters
        # are one product with the one-hot and one sum
        kernel, bias = np.asarray(mdn[0]), np.asarray(mdn[1])
        order = list(range(m)) + [m + g * m * AXES + j * AXES + a for g in range(groups) for a in range(AXES) for j in range(m)]
        self.mdn_k, self.mdn_b = var("mdn_k", kernel[:, order]), var("mdn_b", bias[order])
        # component pick: d_i = (cum_i - u * total) / S, + 1/2 for the last, all in (-1/2, 1]
        # (S >= 2M, each weight <= 1): ceil(d) is 1 where cum_i > u * total (and for the last), else 0
        self.scale = float(2 ** math.ceil(math.log2(2 * m)))
        self.cum_k = var("pick_cum", np.triu(np.ones((m, m), np.float32)) / self.scale)  # cum[:, i] = sum_{j <= i} w[:, j], / S
        self.cum_b = var("pick_last", np.eye(1, m, m - 1, dtype=np.float32)[0] * 0.5)
        self.tot_k = var("pick_total", np.ones((m, 1), np.float32) / self.scale)
        self.diff = var("pick_diff", np.eye(m, dtype=np.float32) - np.eye(m, k=1, dtype=np.float32))  # above[i] - above[i - 1]

    def _cell(self, z, c):
        import tensorflow as tf

        i, f, g, o = tf.split(z, 4, axis=1)
        c = tf.sigmoid(f) * c + tf.sigmoid(i) * tf.tanh(g)
        return tf.sigmoid(o) * tf.tanh(c), c

    def call(self, x, cond, state, uniform, normal, sampling):
        import tensorflow as tf

        k, m, n_cond = self.block, self.m, self.n_cond
        inv_t, sigma_scale, alpha = sampling[:, :1], sampling[:, 1 : 1 + AXES], sampling[:, 1 + AXES :]
        keep = 1.0 - alpha
        widths = [w for u in self.units for w in (u, u)] + [AXES]
        parts = tf.split(state, widths, axis=1)
        hs, cs, drift = parts[0:-1:2], parts[1:-1:2], parts[-1]
        cond_k = tf.reshape(cond, (k, n_cond))
        if self.fuse:
            rows = _split_rows(tf.matmul(cond_k, self.w[0]["c"]) + self.w[0]["b"], k)
        else:
            rows = _split_rows(cond_k, k)
        noise = _split_rows(tf.reshape(normal, (k, AXES)) * sigma_scale, k)
        targets = _split_rows(tf.reshape(uniform, (k, 1)), k)
        groups = 3 if self.full else 2
        samples = []
        for t in range(k):
            inp = x
            for i, w in enumerate(self.w):
                if self.fuse:
                    z = tf.matmul(tf.concat([inp, hs[i]], axis=1), w["xr"])
                    z = z + rows[t] if i == 0 else z + w["b"]
                else:
                    if i == 0:
                        inp = tf.concat([inp, rows[t]], axis=1)
                    z = (tf.matmul(inp, w["k"]) + w["b"]) + tf.matmul(hs[i], w["r"])
                hs[i], cs[i] = self._cell(z, cs[i])
                inp = hs[i]
            p = tf.matmul(tf.sigmoid(tf.matmul(inp, self.dense_k) + self.dense_b), self.mdn_k) + self.mdn_b
            rows_p = tf.reshape(p, (1 + groups * AXES, m))  # logits, then mu, log_sigma (, coupling) per axis
            logits = rows_p[:1]
            wts = tf.exp((logits - tf.reduce_max(logits, axis=1, keepdims=True)) * inv_t)
            d = (tf.matmul(wts, self.cum_k) + self.cum_b) - tf.matmul(wts, self.tot_k) * targets[t]
            pick = tf.matmul(tf.math.ceil(d), self.diff)  # (1, M) one-hot
            q = tf.reduce_sum(rows_p * pick, axis=1)  # (1 + groups * 3,): picked logit, then parameters
            e = tf.exp(tf.maximum(q[1 + AXES : 1 + 2 * AXES], LOG_SIGMA_MIN)) * noise[t]
            if self.full:
                e = _coupled(e, q[None, 1 + 2 * AXES :])
            xs = q[1 : 1 + AXES] + e
            x = (xs - drift) * keep  # the drift guard: d += alpha (x - d); x -= d
            drift = xs - x
            samples.append(x)
        z = tf.reshape(_concat(samples, axis=0, join=tf.concat), (1, k, AXES))
        packed = _concat([a for pair in zip(hs, cs) for a in pair] + [drift], axis=1, join=tf.concat)
        return z, packed


def build_block_model(step_model: keras.Model, block: int, fuse: bool = False) -> keras.Model:
    """``block`` generator steps per call, the mixture sampled inside the graph.

    The recurrence is unrolled in TensorFlow ops (``_BlockGraph``) with the weights of
    ``step_model`` (the model of ``build_step_model``), each step fed the previous step's
    sample. The draw follows ``sdk.mdn._draw``: component = the first whose cumulative
    softmax(logits / T) weight exceeds ``u`` times the total, sample = mu + exp(max(log_sigma,
    -7)) * sigma_scale * normal (for a full-covariance mixture, that scaled noise goes through
    the component's coupling, see the module docstring), with the noise passed in (drawn and
    seeded by the SDK).

    Inputs: ``x`` (1, 3) the last sample; ``cond`` (1, block, C) one conditioning row per step
    (C read from ``step_model``); ``state`` (1, S + 3) the LSTM states packed as h0, c0, h1,
    c1…, then the drift guard's slow mean (3); ``uniform`` (1, block); ``normal`` (1, block, 3);
    ``sampling`` (1, 5) = [1 / T, sigma_scale x, y, z, drift alpha]. The drift guard is the one
    of ``sdk.generator.SyntheticStream``: ``d += alpha (x - d)``, ``x -= d``, and the guarded
    sample is fed back. Outputs: ``z`` (1, block, 3) the samples and ``state_out`` (1, S + 3).

    About 55 ops per step against 72 for ``build_unrolled_block_model`` (benchmarks/block_graph.py):
    the per-step rows of ``cond`` and of the noise come from one SPLIT each before the
    recurrence, the bias rides in the first matmul of each gate sum, the component is picked
    with three small matmuls and one CEIL, and its parameters gathered by one product with the
    one-hot and one sum. Every op is one the XNNPACK delegate runs. ``fuse``: see
    ``_BlockGraph`` (float files only; measured not to pay with XNNPACK).
    """
    if block < 1:
        raise ValueError(f"block must be >= 1 step, got {block}")
    ins = {t.name: t for t in step_model.inputs}
    n_cond = int(ins["cond"].shape[-1])
    n_layers = sum(1 for n in ins if n[0] == "h" and n[1:].isdigit())
    lstm = [step_model.get_layer(f"step_lstm_{i}").get_weights() for i in range(n_layers)]
    widths = [int(w[1].shape[0]) for w in lstm]
    m = int(step_model.get_layer("logits").output.shape[-1])
    x = keras.Input((AXES,), batch_size=1, name="x")
    cond = keras.Input((block, n_cond), batch_size=1, name="cond")
    state = keras.Input((2 * sum(widths) + AXES,), batch_size=1, name="state")
    uniform = keras.Input((block,), batch_size=1, name="uniform")
    normal = keras.Input((block, AXES), batch_size=1, name="normal")
    sampling = keras.Input((2 + AXES,), batch_size=1, name="sampling")
    graph = _BlockGraph(lstm, step_model.get_layer("step_dense_hidden").get_weights(), step_model.get_layer("step_mdn").get_weights(),
                        m, block, n_cond, fuse, name="block_graph")
    z, packed = graph(x, cond, state, uniform, normal, sampling)
    outs = {"z": keras.layers.Identity(name="z")(z), "state_out": keras.layers.Identity(name="state_out")(packed)}
    return keras.Model([x, cond, state, uniform, normal, sampling], outs, name="sensegen_block")
