"""Differentially private training (DP-SGD) of the generator and the privacy accounting.

The mechanism is DP-SGD (Abadi et al. 2016): every training window's gradient is clipped to
global L2 norm ``clip_norm``, the clipped gradients of a batch are summed, Gaussian noise of
standard deviation ``noise_multiplier * clip_norm`` is added to the sum and the result is
divided by the expected batch size. The privacy budget is computed by Google's
``dp-accounting`` package (RDP or PLD accountant) for the Poisson-subsampled Gaussian
mechanism composed over the number of steps actually taken; nothing here re-derives a bound.

One module per job:

* ``config``: ``DPConfig`` and its construction from ``sensegen train``'s options;
* ``accounting``: ε from dp-accounting, noise calibration, group privacy, δ;
* ``plan``: ``DPPlan``, a run's settings resolved once (noise multiplier, δ, steps);
* ``statement``: the privacy record stored with a model and its plain-language statement;
* ``sampling``: the secret seed and the batches of each step;
* ``gradients``: per-example gradients, clipping and noise (TensorFlow, imported lazily);
* ``training``: ``dp_fit``, a DP-SGD loop for any Keras model.

Only ``gradients`` and ``training`` import TensorFlow.
"""
from .accounting import (
    NOISE_MULTIPLIER_RANGE,
    calibrate_noise_multiplier,
    check_settings,
    compute_epsilon,
    default_delta,
    dp_sgd_event,
    group_privacy,
    make_accountant,
)
from .config import ACCOUNTANTS, SAMPLING, DPConfig, dp_config_from_args
from .gradients import add_noise, clip_and_sum, clip_examples, clip_factors, example_gradients, generator_example_gradients
from .plan import DPPlan
from .sampling import BatchSampler, new_noise_seed
from .statement import WEAK_EPSILON, privacy_record, privacy_statement
from .training import dp_fit

__all__ = [
    "ACCOUNTANTS", "SAMPLING", "DPConfig", "dp_config_from_args", "NOISE_MULTIPLIER_RANGE", "calibrate_noise_multiplier",
    "check_settings", "compute_epsilon", "default_delta", "dp_sgd_event", "group_privacy", "make_accountant", "DPPlan",
    "BatchSampler", "new_noise_seed", "WEAK_EPSILON", "privacy_record", "privacy_statement", "add_noise", "clip_and_sum",
    "clip_examples", "clip_factors", "example_gradients", "generator_example_gradients", "dp_fit",
]
