"""Per-example gradients, clipping and Gaussian noise of DP-SGD (TensorFlow, imported lazily)."""
from __future__ import annotations


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

    from ..model import mdn_nll

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
