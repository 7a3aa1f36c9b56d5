"""Privacy accounting by Google's dp-accounting: ε of DP-SGD, noise calibration for a target
ε, group privacy, and the default δ. No TensorFlow."""
from __future__ import annotations

import logging
import math

from .config import ACCOUNTANTS, DPConfig

log = logging.getLogger(__name__)

# search range for --target-epsilon; below 0.3 the "noise" is too small to mean anything
NOISE_MULTIPLIER_RANGE = (0.3, 500.0)


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


def check_settings(dp: DPConfig, n_examples: int, delta: float) -> None:
    """Log warnings on settings that weaken the guarantee (like opacus' secure mode)."""
    if delta >= 1.0 / n_examples:
        log.warning("delta %.2g is not below 1/N = %.2g: the mechanism may release whole windows", delta, 1.0 / n_examples)
    if dp.noise_seed is not None:
        log.warning("a fixed noise seed is set: this run has no privacy guarantee (tests only)")
