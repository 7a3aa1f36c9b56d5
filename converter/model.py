"""SenseGen generator in Keras: stacked LSTMs + a Mixture Density Network over 3 axes,
conditioned on an activity (one-hot; a row of zeros means "unknown")."""
from __future__ import annotations

import math

import keras
import numpy as np
import tensorflow as tf

from sdk.activities import ACTIVITIES
from sdk.gait import CLOCK_WIDTH

from .presets import GeneratorConfig

AXES = 3
N_ACT = len(ACTIVITIES)


def cond_width(cfg: GeneratorConfig) -> int:
    """Width of the condition input: the activity one-hot, then the gait clock if any."""
    return N_ACT + (CLOCK_WIDTH if cfg.clock else 0)


def mdn_params_size(mixtures: int) -> int:
    return mixtures * (1 + 2 * AXES)


def build_sequence_model(cfg: GeneratorConfig) -> keras.Model:
    """Training model: (x[B,T,3], cond[B,T,C]) -> mixture parameters [B,T,M*(1+6)]."""
    x = keras.Input((None, AXES), name="x")
    cond = keras.Input((None, cond_width(cfg)), name="cond")
    h = keras.layers.Concatenate(name="concat")([x, cond])
    for i, units in enumerate(cfg.lstm_units):
        h = keras.layers.LSTM(units, return_sequences=True, name=f"lstm_{i}")(h)
    h = keras.layers.Dense(cfg.dense_units, activation="sigmoid", name="dense_hidden")(h)
    out = keras.layers.Dense(mdn_params_size(cfg.mixtures), name="mdn")(h)
    return keras.Model([x, cond], out, name="sensegen_generator")


def split_params(params, mixtures: int):
    """(…, M*(1+6)) -> logits (…, M), mu (…, M, 3), log_sigma (…, M, 3)."""
    logits = params[..., :mixtures]
    mu = params[..., mixtures : mixtures * (1 + AXES)]
    log_sigma = params[..., mixtures * (1 + AXES) :]
    shape = tf.concat([tf.shape(params)[:-1], [mixtures, AXES]], axis=0)
    return logits, tf.reshape(mu, shape), tf.reshape(log_sigma, shape)


LOG_SIGMA_MIN = -7.0


def mdn_nll(target, params, mixtures: int):
    """Per-step negative log-likelihood (nats per 3-axis sample) of a diagonal Gaussian mixture."""
    logits, mu, log_sigma = split_params(params, mixtures)
    log_sigma = tf.maximum(log_sigma, LOG_SIGMA_MIN)
    y = tf.expand_dims(target, -2)
    z = (y - mu) * tf.exp(-log_sigma)
    comp = tf.reduce_sum(-0.5 * tf.square(z) - log_sigma - 0.5 * math.log(2 * math.pi), axis=-1)
    log_pi = tf.nn.log_softmax(logits, axis=-1)
    return -tf.reduce_logsumexp(log_pi + comp, axis=-1)


def build_step_model(seq_model: keras.Model, cfg: GeneratorConfig) -> keras.Model:
    """Single-step model with explicit state, weights copied from ``seq_model``.

    Inputs ``x``(1,3), ``cond``(1,C) (see ``cond_width``), ``h{i}``/``c{i}`` per layer; outputs ``logits``(1,M),
    ``mu``(1,M*3), ``log_sigma``(1,M*3) and the new states ``h{i}_out``/``c{i}_out``.
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
    mdn = keras.layers.Dense(mdn_params_size(cfg.mixtures), name="step_mdn")
    p = mdn(dense(h))
    m = cfg.mixtures
    outs["logits"] = keras.layers.Identity(name="logits")(p[:, :m])
    outs["mu"] = keras.layers.Identity(name="mu")(p[:, m : m * (1 + AXES)])
    outs["log_sigma"] = keras.layers.Identity(name="log_sigma")(p[:, m * (1 + AXES) :])
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
