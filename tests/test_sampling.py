import numpy as np
import pytest

from sdk.mdn import MixtureSampler, SamplingOptions, mixture_mean, sample_mixture


def test_sampler_is_deterministic_per_seed_and_matches_mixture(rng):
    logits = np.array([0.0, np.log(3.0)])
    mu = np.array([[-1.0, 0, 0], [2.0, 0, 0]])
    log_sigma = np.full((2, 3), np.log(0.1))
    a = MixtureSampler(5)
    b = MixtureSampler(5)
    xs = np.array([a(logits, mu, log_sigma) for _ in range(4000)])
    np.testing.assert_array_equal(xs[:10], np.array([b(logits, mu, log_sigma) for _ in range(10)]))
    assert np.mean(xs[:, 0] > 0.5) == pytest.approx(0.75, abs=0.03)
    assert xs[:, 0].mean() == pytest.approx(mixture_mean(logits, mu)[0], abs=0.06)
    assert xs[xs[:, 0] > 0.5, 1].std() == pytest.approx(0.1, rel=0.1)


def test_sigma_scale_and_temperature_shape_the_draws(rng):
    logits = np.array([0.0, 0.0])
    mu = np.array([[-1.0, 0, 0], [1.0, 0, 0]])
    log_sigma = np.zeros((2, 3))
    narrow = np.array([sample_mixture(logits, mu, log_sigma, rng, SamplingOptions(sigma_scale=0.2)) for _ in range(3000)])
    assert narrow[:, 1].std() == pytest.approx(0.2, rel=0.1)
    peaked = np.array([sample_mixture(np.array([0.0, 1.0]), mu, log_sigma * 0 - 5, rng, SamplingOptions(temperature=0.25)) for _ in range(2000)])
    assert np.mean(peaked[:, 0] > 0) > 0.95


@pytest.mark.parametrize("kw", [{"temperature": 0}, {"temperature": -1}, {"sigma_scale": -0.1}])
def test_sampling_options_reject_bad_values(kw):
    with pytest.raises(ValueError, match="temperature must be > 0"):
        SamplingOptions(**kw)
