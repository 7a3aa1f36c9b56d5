"""Full-covariance mixture components (``GeneratorConfig.covariance = "full"``): the loss, the
numpy draw and the in-graph block draw all follow one axis-autoregressive (Cholesky) form."""
from __future__ import annotations

import json

import numpy as np
import pytest
from scipy.stats import multivariate_normal

from converter.presets import GeneratorConfig, get_preset
from sdk.block import BlockSampler
from sdk.errors import ModelError
from sdk.generator import Generator, SyntheticStream
from sdk.mdn import MixtureSampler, SamplingOptions, _draw
from sdk.model_file import pack_model, read_model
from tests.test_block import single_steps


def covariance(log_sigma: np.ndarray, coupling: np.ndarray) -> np.ndarray:
    """The 3x3 covariance of one component: d = (I - B)^-1 S n."""
    b21, b31, b32 = coupling
    inv = np.linalg.inv(np.array([[1, 0, 0], [-b21, 1, 0], [-b31, -b32, 1.0]]))
    a = inv @ np.diag(np.exp(log_sigma))
    return a @ a.T


def params(logits, mu, log_sigma, coupling=None) -> np.ndarray:
    parts = [logits, mu.ravel(), log_sigma.ravel()] + ([] if coupling is None else [coupling.ravel()])
    return np.concatenate(parts)[None].astype(np.float32)


def test_full_nll_is_the_multivariate_normal_log_density(rng):
    from converter.model import mdn_nll

    m = 2
    logits, mu = np.array([0.3, -0.4]), rng.normal(size=(m, 3))
    log_sigma, coupling = rng.normal(-0.5, 0.3, size=(m, 3)), rng.normal(0, 0.8, size=(m, 3))
    y = rng.normal(size=(5, 3))
    nll = mdn_nll(y.astype(np.float32), np.repeat(params(logits, mu, log_sigma, coupling), 5, axis=0), m).numpy()
    w = np.exp(logits) / np.exp(logits).sum()
    density = sum(w[k] * multivariate_normal(mu[k], covariance(log_sigma[k], coupling[k])).pdf(y) for k in range(m))
    np.testing.assert_allclose(nll, -np.log(density), rtol=1e-4)
    # zero coupling is the diagonal mixture
    diag = mdn_nll(y.astype(np.float32), np.repeat(params(logits, mu, log_sigma), 5, axis=0), m).numpy()
    full0 = mdn_nll(y.astype(np.float32), np.repeat(params(logits, mu, log_sigma, 0 * coupling), 5, axis=0), m).numpy()
    np.testing.assert_allclose(full0, diag, rtol=1e-6)


def test_numpy_draw_has_the_component_covariance_and_scales_per_axis():
    log_sigma, coupling = np.array([[-1.0, -0.7, -1.2]]), np.array([[0.8, -0.5, 0.6]])
    mu, logits = np.array([[0.2, -0.1, 0.4]]), np.array([0.0])
    draw = MixtureSampler(7)
    x = np.array([draw(logits, mu, log_sigma, coupling) for _ in range(20000)])
    np.testing.assert_allclose(x.mean(0), mu[0], atol=0.01)
    np.testing.assert_allclose(np.cov(x.T), covariance(log_sigma[0], coupling[0]), atol=0.01)
    scaled = MixtureSampler(7, SamplingOptions(sigma_scale=(0.5, 1.0, 2.0)))
    y = np.array([scaled(logits, mu, log_sigma, coupling) for _ in range(20000)])
    np.testing.assert_allclose(np.cov(y.T), covariance(log_sigma[0] + np.log([0.5, 1.0, 2.0]), coupling[0]), atol=0.02)


def test_config_refuses_an_unknown_covariance():
    with pytest.raises(ValueError, match="covariance must be one of diagonal, full"):
        GeneratorConfig(covariance="spherical")
    assert get_preset("default").covariance in ("diagonal", "full")


def test_full_export_records_coupling_and_uses_it(tiny_full_export):
    """(Its numpy step's parity: ``test_train_export.test_numpy_step_matches_float32_tflite``.)"""
    g = Generator(tiny_full_export["files"]["float32"].path)
    assert g.covariance == "full" and g.metadata["architecture"]["covariance"] == "full"
    og, _ = g.step(np.array([0.3, -0.2, 0.1]), g.condition("WALKING"), g.zero_state())
    # the coupling is used: the same noise drawn without it gives another sample
    noise = np.array([0.9, -1.1, 0.7])
    with_coupling = _draw(og.logits, og.mu, og.log_sigma, 0.5, noise, SamplingOptions(), og.coupling)
    without = _draw(og.logits, og.mu, og.log_sigma, 0.5, noise, SamplingOptions())
    assert with_coupling[0] == without[0] and np.abs(with_coupling[1:] - without[1:]).max() > 1e-3


@pytest.mark.parametrize("dtype", ["float32", "int8"])
def test_full_block_variant_equals_k_single_steps_given_the_same_noise(tiny_full_export, dtype, rng):
    g = Generator(tiny_full_export["files"][dtype].path)
    k = g.block.steps
    opts = SamplingOptions(temperature=0.8, sigma_scale=(1.2, 0.7, 0.9), drift_tau_s=0.4)
    state, x, drift = g.zero_state(), np.zeros(3), np.zeros(3)
    width = len(g.condition(None))
    for b in range(4):
        cond = np.zeros((k, width), np.float32)
        cond[np.arange(k), rng.integers(0, len(g.activities), k)] = 1.0
        cond[:, len(g.activities) :] = rng.uniform(-1, 1, (k, width - len(g.activities)))
        z, _, _ = BlockSampler(g.block, np.random.default_rng(b), opts, g.rate_hz).draw(x, state, drift, cond)
        noise = np.random.default_rng(b)
        uniform = noise.random((BlockSampler.NOISE_BLOCKS, 1, k), dtype=np.float32)[0, 0]
        normal = noise.standard_normal((BlockSampler.NOISE_BLOCKS, 1, k, 3), dtype=np.float32)[0, 0]
        ref, state, drift = single_steps(g, x, state, drift, cond, uniform, normal, opts)
        np.testing.assert_allclose(z, ref, atol=1e-4)
        x = ref[-1]
    assert np.isfinite(z).all()


def test_full_stream_samples_on_both_paths(tiny_full_export):
    ctx = np.tile([1.0, -0.2, 0.1], (60, 1)) + np.random.default_rng(0).normal(0, 0.05, (60, 3))
    for use_block in (True, False):
        s = SyntheticStream(Generator(tiny_full_export["files"]["int8"].path, use_block=use_block), "WALKING", seed=2)
        s.prime(ctx)
        x = np.array([s.next() for _ in range(40)])
        assert np.isfinite(x).all() and x.std(0).min() > 0


def test_generator_refuses_full_metadata_on_a_diagonal_file(tiny_export, tmp_path):
    model = read_model(tiny_export["files"]["int8"].path)
    meta = json.loads(json.dumps(model.metadata))
    meta["architecture"]["covariance"] = "full"
    bad = tmp_path / "claims_full.tflite"
    bad.write_bytes(pack_model(model.flatbuffer, meta))
    with pytest.raises(ModelError, match=r"\['coupling'\] missing"):
        Generator(bad)
    meta["architecture"]["covariance"] = "spherical"
    bad.write_bytes(pack_model(model.flatbuffer, meta))
    with pytest.raises(ModelError, match="unknown mixture covariance 'spherical'"):
        Generator(bad)


def test_tensorflow_draw_matches_the_component_covariance():
    """``converter.model.sample_params`` (scheduled sampling's draw) follows the same form."""
    import tensorflow as tf

    from converter.model import sample_params

    log_sigma, coupling = np.array([[-1.0, -0.7, -1.2], [0.0, 0.0, 0.0]]), np.array([[0.8, -0.5, 0.6], [0.0, 0.0, 0.0]])
    mu, logits = np.array([[0.2, -0.1, 0.4], [5.0, 5.0, 5.0]]), np.array([0.0, -30.0])  # the second is never picked
    p = np.repeat(params(logits, mu, log_sigma, coupling), 20000, axis=0)
    tf.random.set_seed(3)
    x = sample_params(tf.constant(p), 2).numpy()
    np.testing.assert_allclose(x.mean(0), mu[0], atol=0.01)
    np.testing.assert_allclose(np.cov(x.T), covariance(log_sigma[0], coupling[0]), atol=0.01)
    diag = sample_params(tf.constant(np.repeat(params(logits, mu, log_sigma), 20000, axis=0)), 2).numpy()
    np.testing.assert_allclose(np.cov(diag.T), np.diag(np.exp(2 * log_sigma[0])), atol=0.01)


def test_scheduled_sampling_feeds_own_samples_with_the_input_noise():
    import tensorflow as tf

    from converter.model import build_sequence_model
    from converter.train import _self_fed

    cfg = get_preset("tiny", covariance="full")
    model = build_sequence_model(cfg)
    rng = np.random.default_rng(0)
    clean = rng.normal(size=(4, 21, 3)).astype(np.float32)
    x, y = clean[:, :-1] + 0.3, clean[:, 1:]  # inputs carry a constant input noise of 0.3
    c = np.zeros((4, 20, int(model.inputs[1].shape[-1])), np.float32)
    np.testing.assert_array_equal(_self_fed(model, tf.constant(x), tf.constant(c), tf.constant(y), cfg.mixtures, 0.0).numpy(), x)
    fed = _self_fed(model, tf.constant(x), tf.constant(c), tf.constant(y), cfg.mixtures, 1.0).numpy()
    np.testing.assert_array_equal(fed[:, 0], x[:, 0])  # the first input has no prediction before it
    assert np.abs(fed[:, 1:] - x[:, 1:]).min() > 0  # every later input is the model's own sample
    assert abs(float(np.mean(fed[:, 1:] - 0.3))) < 0.5  # ... plus the same input noise
    with pytest.raises(ValueError, match="scheduled_sampling must be a share"):
        GeneratorConfig(scheduled_sampling=1.5)


def test_scheduled_sampling_is_refused_with_dp_or_distribution(tmp_path):
    from converter.dp import DPConfig
    from converter.train import train_generator

    cfg = get_preset("tiny", scheduled_sampling=0.5)
    for kwargs in ({"dp": DPConfig(noise_multiplier=1.0)}, {"strategy": "mirrored", "replicas": 2}):
        with pytest.raises(ValueError, match="scheduled_sampling is supported with the default strategy and without DP only"):
            train_generator(None, cfg, tmp_path, progress=False, **kwargs)
