"""``dp_fit``: a DP-SGD training loop for any Keras model (e.g. the detector)."""
from __future__ import annotations

from .config import DPConfig
from .gradients import add_noise, clip_and_sum, example_gradients
from .plan import DPPlan
from .sampling import BatchSampler, new_noise_seed


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
    plan = DPPlan.resolve(dp, n, batch_size, n // batch_size, epochs)
    z = plan.noise_multiplier
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
        for b in range(plan.steps_per_epoch):
            idx = sampler.batch(epoch, b)
            w = np.ones(len(idx), np.float32)
            if len(idx) == 0:  # an empty Poisson batch still takes a (noise-only) step
                idx, w = np.zeros(1, np.int64), np.zeros(1, np.float32)
            losses.append(float(step(tuple(a[idx] for a in arrays), w)))
        if on_epoch is not None and on_epoch(epoch, float(np.mean(losses))):
            break
    return plan.record(int(optimizer.iterations.numpy()), facts)
