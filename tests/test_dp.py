"""DP-SGD: accountant wiring, noise calibration, clipping, noise, and a private training run
whose record reaches run.json and the exported metadata."""
from __future__ import annotations

import json
import math

import dp_accounting
import numpy as np
import pytest

from converter import dp as dpm
from converter.dp import DPConfig
from converter.hapt import Split, load_hapt, normalisation_stats
from converter.presets import GeneratorConfig

# the TF Privacy MNIST tutorial: z = 1.1, batch 256 of 60000, 60 epochs, delta 1e-5
MNIST = dict(noise_multiplier=1.1, sampling_rate=256 / 60000, steps=60 * 60000 // 256, delta=1e-5)
SMALL = GeneratorConfig(lstm_units=(8,), dense_units=8, mixtures=2, window=64, priming=16, batch_size=64, epochs=1)
SPLIT = Split((1,), (3,), (4,))


def _reference_epsilon(accountant, noise_multiplier, sampling_rate, steps, delta):
    event = dp_accounting.SelfComposedDpEvent(
        dp_accounting.PoissonSampledDpEvent(sampling_rate, dp_accounting.GaussianDpEvent(noise_multiplier)), steps
    )
    return accountant.compose(event).get_epsilon(delta)


@pytest.fixture(scope="module")
def ds(hapt_root):
    return load_hapt(hapt_root, users=[1, 3, 4])


@pytest.fixture(scope="module")
def windows(ds):
    from converter.train import prepare_windows

    norm = normalisation_stats(ds.for_users(SPLIT.val), SMALL.priming)
    ws = prepare_windows(ds, SPLIT.train, SMALL, norm, seed=0)
    return ws.inputs[:24], ws.cond[:24], ws.target[:24]


@pytest.fixture(scope="module")
def model():
    import keras

    from converter.model import build_sequence_model

    keras.utils.set_random_seed(3)
    return build_sequence_model(SMALL)


# ---------------------------------------------------------------- accounting


def test_epsilon_matches_dp_accounting_rdp_for_known_parameters():
    eps = dpm.compute_epsilon(**MNIST, accountant="rdp")
    assert eps == _reference_epsilon(dp_accounting.rdp.RdpAccountant(), **MNIST)
    assert eps == pytest.approx(2.5966, abs=1e-3)  # dp-accounting 0.6's figure for the tutorial's run


def test_epsilon_matches_dp_accounting_pld_for_known_parameters():
    params = dict(MNIST, steps=2000)
    eps = dpm.compute_epsilon(**params, accountant="pld")
    assert eps == pytest.approx(_reference_epsilon(dp_accounting.pld.PLDAccountant(), **params), rel=1e-9)
    assert eps < dpm.compute_epsilon(**params, accountant="rdp")  # PLD is the tighter accountant


def test_epsilon_grows_with_steps_and_falls_with_noise():
    base = dpm.compute_epsilon(1.0, 0.01, 1000, 1e-5)
    assert dpm.compute_epsilon(1.0, 0.01, 2000, 1e-5) > base
    assert dpm.compute_epsilon(2.0, 0.01, 1000, 1e-5) < base
    assert dpm.compute_epsilon(1.0, 0.01, 0, 1e-5) == 0.0


def test_calibrated_noise_meets_target_epsilon():
    q, steps, delta = 0.02, 500, 1e-5
    z = dpm.calibrate_noise_multiplier(2.0, q, steps, delta)
    assert dpm.compute_epsilon(z, q, steps, delta) <= 2.0
    assert dpm.compute_epsilon(z - 0.01, q, steps, delta) > 2.0


def test_calibration_raises_when_target_out_of_reach():
    with pytest.raises(ValueError, match="out of reach"):
        dpm.calibrate_noise_multiplier(1e-4, 1.0, 10_000, 1e-5)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({}, "needs a noise_multiplier or a target_epsilon"),
        ({"noise_multiplier": 1.0, "target_epsilon": 3.0}, "not both"),
        ({"noise_multiplier": 0.0}, "noise_multiplier must be .* > 0, got 0.0"),
        ({"target_epsilon": -1.0}, "target_epsilon must be .* > 0, got -1.0"),
        ({"noise_multiplier": 1.0, "clip_norm": float("nan")}, "clip_norm must be"),
        ({"noise_multiplier": 1.0, "delta": 1.0}, "delta must lie strictly between 0 and 1, got 1.0"),
        ({"noise_multiplier": 1.0, "accountant": "moments"}, "unknown accountant 'moments'"),
        ({"noise_multiplier": 1.0, "sampling": "uniform"}, "unknown sampling 'uniform'"),
    ],
)
def test_dp_config_rejects_bad_settings(kwargs, message):
    with pytest.raises(ValueError, match=message):
        DPConfig(**kwargs)


def test_default_delta_is_a_power_of_ten_below_one_over_ten_n():
    for n in (1, 9, 1243, 60000, 10**6):
        d = dpm.default_delta(n)
        assert d <= 1 / (10 * n)
        assert math.log10(d) == round(math.log10(d))


def test_statement_states_adjacency_and_caveats():
    facts = dict(window_samples=81, windows_per_sample=3, rate_hz=50.0, n_users=2, max_windows_per_user=900)
    common = dict(noise_multiplier=1.0, delta=1e-5, n_examples=1800, batch_size=64, steps=100, planned_steps=100, **facts)
    poisson = dpm.privacy_record(DPConfig(noise_multiplier=1.0), **common)
    text = poisson["statement"]
    assert "adding or removing one training window" in text
    assert "Not a per-person guarantee" in text and "900 windows" in text
    assert "Poisson sampling" in text and "as the accountant assumes" in text
    assert "up to 3 windows" in text
    assert poisson["per_sample_epsilon"] == pytest.approx(3 * poisson["epsilon"])
    assert poisson["secure_noise"] and "NO privacy guarantee" not in text
    shuffled = dpm.privacy_record(DPConfig(noise_multiplier=1.0, sampling="shuffle", noise_seed=1), **common)
    assert "not a proof" in shuffled["statement"]
    assert "NO privacy guarantee" in shuffled["statement"]
    assert "noise_seed" not in shuffled["config"] and shuffled["config"]["fixed_noise_seed"]


def test_record_and_statement_give_user_level_epsilon_by_group_privacy():
    facts = dict(window_samples=128, windows_per_sample=2, rate_hz=50.0, n_users=3, max_windows_per_user=900)
    common = dict(noise_multiplier=1.0, delta=1e-5, n_examples=2700, batch_size=64, steps=100, planned_steps=100)
    r = dpm.privacy_record(DPConfig(noise_multiplier=1.0), **common, **facts)
    assert (r["user_level_epsilon"], r["user_level_delta"]) == dpm.group_privacy(r["epsilon"], r["delta"], 900)
    assert r["user_level_epsilon"] == pytest.approx(900 * r["epsilon"])
    assert f"Per person (user level): one person contributed up to 900 windows" in r["statement"]
    assert f"ε = {r['user_level_epsilon']:.3g}" in r["statement"] and "vacuous" in r["statement"]
    few = dpm.privacy_record(DPConfig(noise_multiplier=20.0), **dict(common, noise_multiplier=20.0), **dict(facts, max_windows_per_user=2))
    assert few["user_level_epsilon"] == pytest.approx(2 * few["epsilon"]) and few["user_level_epsilon"] < 1
    assert "vacuous" not in few["statement"].split("Caveats:")[0]


def test_plan_resolves_noise_once_for_every_trainer():
    plan = dpm.DPPlan.resolve(DPConfig(target_epsilon=2.0), n_examples=6400, batch_size=64, steps_per_epoch=100, epochs=3)
    assert plan.planned_steps == 300 and plan.sampling_rate == 0.01 and plan.delta == dpm.default_delta(6400)
    assert dpm.compute_epsilon(plan.noise_multiplier, 0.01, 300, plan.delta) <= 2.0
    fixed = dpm.DPPlan.resolve(DPConfig(noise_multiplier=1.3), 6400, 64, 100, 3)
    assert fixed.noise_multiplier == 1.3
    with pytest.raises(ValueError, match="fewer than one batch of 64"):
        dpm.DPPlan.resolve(DPConfig(noise_multiplier=1.0), 10, 64, 0, 3)


def test_noise_seed_is_secret_and_fresh_when_unset():
    cfg = DPConfig(noise_multiplier=1.0)
    assert dpm.new_noise_seed(cfg) != dpm.new_noise_seed(cfg)
    assert dpm.new_noise_seed(DPConfig(noise_multiplier=1.0, noise_seed=7)) == dpm.new_noise_seed(
        DPConfig(noise_multiplier=1.0, noise_seed=7)
    )


def test_poisson_sampler_draws_each_window_with_rate_q():
    sampler = dpm.BatchSampler("poisson", [1, 2], n_examples=2000, batch_size=100)
    sizes = [len(sampler.batch(0, b)) for b in range(20)]
    assert 60 < np.mean(sizes) < 140 and len(set(sizes)) > 1
    assert np.array_equal(sampler.batch(0, 3), dpm.BatchSampler("poisson", [1, 2], 2000, 100).batch(0, 3))
    assert not np.array_equal(sampler.batch(0, 3), dpm.BatchSampler("poisson", [1, 3], 2000, 100).batch(0, 3))


# ---------------------------------------------------------------- per-example gradients, clipping, noise


def test_generator_example_gradients_match_gradients_of_single_windows(model, windows):
    import tensorflow as tf

    from converter.model import mdn_nll

    x, c, y = (tf.constant(a) for a in windows)
    grads, losses = dpm.generator_example_gradients(model, SMALL, x, c, y)
    for i in (0, 7, 23):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(mdn_nll(y[i : i + 1], model([x[i : i + 1], c[i : i + 1]]), SMALL.mixtures))
        ref = tape.gradient(loss, model.trainable_variables)
        assert float(losses[i]) == pytest.approx(float(loss), rel=1e-5)
        for g, r in zip(grads, ref):
            np.testing.assert_allclose(g[i].numpy(), r.numpy(), rtol=1e-4, atol=1e-6)


def test_clipped_example_gradients_have_norm_at_most_clip_norm(model, windows):
    import tensorflow as tf

    grads, _ = dpm.generator_example_gradients(model, SMALL, *(tf.constant(a) for a in windows))
    _, norms = dpm.clip_examples(grads, 1e9)
    clip = float(np.median(norms.numpy()))  # half the windows are clipped, half are not
    clipped, _ = dpm.clip_examples(grads, clip)
    after = np.sqrt(sum(np.sum(g.numpy().reshape(len(norms), -1) ** 2, axis=1) for g in clipped))
    assert (after <= clip * (1 + 1e-5)).all()
    small = norms.numpy() <= clip
    assert small.any() and (~small).any()
    np.testing.assert_allclose(after[small], norms.numpy()[small], rtol=1e-5)  # untouched below C
    np.testing.assert_allclose(after[~small], clip, rtol=1e-5)
    # the sum over windows is the sum of the clipped gradients; padding rows count for nothing
    w = np.ones(len(norms), np.float32)
    w[5:] = 0
    summed, _ = dpm.clip_and_sum(grads, clip, w)
    for s, g in zip(summed, clipped):
        np.testing.assert_allclose(s.numpy(), g.numpy()[:5].sum(axis=0), rtol=1e-4, atol=1e-6)


def test_noise_has_std_noise_multiplier_times_clip_norm():
    import tensorflow as tf

    zeros = [tf.zeros((200, 250)), tf.zeros((500,))]
    seed = tf.constant([11, 12], tf.int64)
    noisy = dpm.add_noise(zeros, 1.3 * 0.5, seed, tf.constant(4, tf.int64))
    flat = np.concatenate([n.numpy().ravel() for n in noisy])
    assert flat.std() == pytest.approx(0.65, rel=0.02)
    assert abs(flat.mean()) < 0.01
    again = dpm.add_noise(zeros, 0.65, seed, tf.constant(4, tf.int64))
    assert all(np.array_equal(a.numpy(), b.numpy()) for a, b in zip(noisy, again))
    other = dpm.add_noise(zeros, 0.65, seed, tf.constant(5, tf.int64))
    assert not np.array_equal(noisy[0].numpy(), other[0].numpy())


def test_dp_fit_trains_a_keras_classifier_with_per_example_clipping(windows):
    import keras
    import tensorflow as tf

    x = windows[0].reshape(len(windows[0]), -1)[:, :30]
    y = (windows[0][:, 0, 0] > 0).astype(np.int32)
    keras.utils.set_random_seed(0)
    clf = keras.Sequential([keras.Input((30,)), keras.layers.Dense(8, activation="relu"), keras.layers.Dense(2)])
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    before = [v.numpy().copy() for v in clf.trainable_variables]
    facts = dict(window_samples=128, windows_per_sample=1, rate_hz=50.0, n_users=1, max_windows_per_user=24)
    record = dpm.dp_fit(
        clf,
        lambda xb, yb: loss(yb, clf(xb)),
        (x, y),
        DPConfig(noise_multiplier=1.0, clip_norm=0.1, noise_seed=0),
        optimizer=keras.optimizers.SGD(0.1),
        batch_size=8,
        epochs=2,
        facts=facts,
    )
    assert record["steps"] == 6
    assert record["epsilon"] == pytest.approx(dpm.compute_epsilon(1.0, 8 / 24, 6, record["delta"]))
    assert any(not np.array_equal(b, v.numpy()) for b, v in zip(before, clf.trainable_variables))
    grads, _ = dpm.example_gradients(lambda xb, yb: loss(yb, clf(xb)), clf.trainable_variables, (tf.constant(x), tf.constant(y)))
    clipped, _ = dpm.clip_examples(grads, 0.1)
    norms = np.sqrt(sum(np.sum(g.numpy().reshape(len(x), -1) ** 2, axis=1) for g in clipped))
    assert (norms <= 0.1 * (1 + 1e-5)).all()


# ---------------------------------------------------------------- a private training run


@pytest.fixture(scope="module")
def dp_run(ds, tmp_path_factory):
    from converter.train import train_generator

    out = tmp_path_factory.mktemp("dp_run")
    dp = DPConfig(noise_multiplier=1.2, clip_norm=1.0, delta=1e-4)
    return train_generator(ds, SMALL, out, split=SPLIT, progress=False, dp=dp), dp


def test_dp_run_records_epsilon_and_delta_in_run_json_and_export_metadata(dp_run):
    from converter.export import generator_metadata
    from converter.train import load_run

    result, dp = dp_run
    _, cfg, norm, run = load_run(result.out_dir)
    p = run["privacy"]
    assert p["differential_privacy"] is True
    for key in ("epsilon", "delta", "accountant", "sampling_rate", "steps", "noise_multiplier", "clip_norm", "statement"):
        assert key in p
    assert p["delta"] == 1e-4 and p["accountant"] == "RDP"
    assert p["steps"] == p["planned_steps"] == 1243 // 64  # one epoch of N // B steps
    assert p["sampling_rate"] == pytest.approx(64 / 1243)
    assert p["epsilon"] == pytest.approx(dpm.compute_epsilon(1.2, 64 / 1243, p["steps"], 1e-4))
    meta = generator_metadata(cfg, norm, run, "float32", "1.15")
    assert meta["privacy"]["epsilon"] == p["epsilon"] and meta["privacy"]["delta"] == 1e-4
    # the training users' statistics stay out of the model; the secret seed stays out of run.json
    ds_norm = normalisation_stats(load_hapt(users=[3]), SMALL.priming)
    assert norm.scale == pytest.approx(ds_norm.scale)
    import tensorflow as tf

    secret = tf.train.load_checkpoint(str(result.out_dir / "checkpoints")).get_tensor("dp_seed/.ATTRIBUTES/VARIABLE_VALUE")
    text = (result.out_dir / "run.json").read_text()
    assert all(str(int(word)) not in text for word in secret)


def test_dp_resume_with_different_settings_raises(dp_run, ds):
    from converter.train import train_generator

    result, dp = dp_run
    with pytest.raises(ValueError, match="different settings"):
        train_generator(ds, SMALL, result.out_dir, split=SPLIT, progress=False, dp=DPConfig(noise_multiplier=2.0, delta=1e-4))
    with pytest.raises(ValueError, match="holds a differentially private run"):
        train_generator(ds, SMALL, result.out_dir, split=SPLIT, progress=False)


def test_dp_config_from_args_builds_config_only_with_dp_flag():
    import argparse

    ns = argparse.Namespace(dp=True, noise_multiplier=None, clip_norm=0.5, delta=None, target_epsilon=3.0, accountant="pld")
    cfg = dpm.dp_config_from_args(ns)
    assert cfg == DPConfig(target_epsilon=3.0, clip_norm=0.5, accountant="pld")
    assert dpm.dp_config_from_args(argparse.Namespace(dp=False, noise_multiplier=None, target_epsilon=None, delta=None)) is None
    with pytest.raises(ValueError, match="--noise-multiplier needs --dp"):
        dpm.dp_config_from_args(argparse.Namespace(dp=False, noise_multiplier=1.0, target_epsilon=None, delta=None))
    with pytest.raises(ValueError, match="needs a noise_multiplier or a target_epsilon"):
        dpm.dp_config_from_args(argparse.Namespace(dp=True, noise_multiplier=None, clip_norm=1.0, delta=None, target_epsilon=None))
