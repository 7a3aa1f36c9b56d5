"""A DP run's plan, resolved once for every trainer: the noise multiplier (given, or calibrated
so the planned steps end at the target ε), δ, the sampling rate and the planned steps."""
from __future__ import annotations

import logging
from dataclasses import dataclass

from .accounting import calibrate_noise_multiplier, check_settings, default_delta
from .config import DPConfig
from .statement import privacy_record

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DPPlan:
    """The resolved settings of a DP-SGD run (see ``DPPlan.resolve``)."""

    config: DPConfig
    noise_multiplier: float
    delta: float
    n_examples: int
    batch_size: int
    steps_per_epoch: int
    planned_steps: int

    @property
    def sampling_rate(self) -> float:
        """q = B / N, the rate the accountant assumes."""
        return self.batch_size / self.n_examples

    @classmethod
    def resolve(cls, dp: DPConfig, n_examples: int, batch_size: int, steps_per_epoch: int, epochs: int) -> "DPPlan":
        """Resolve ``dp`` for ``epochs`` epochs of ``steps_per_epoch`` steps over ``n_examples``
        examples in batches of ``batch_size`` (expected size); warns on weak settings.

        Raises:
            ValueError: fewer examples than one batch, or ``target_epsilon`` out of reach.
        """
        if steps_per_epoch < 1:
            raise ValueError(f"{n_examples} examples is fewer than one batch of {batch_size}")
        delta = dp.delta if dp.delta is not None else default_delta(n_examples)
        planned = epochs * steps_per_epoch
        if dp.noise_multiplier is not None:
            z = float(dp.noise_multiplier)
        else:
            z = calibrate_noise_multiplier(dp.target_epsilon, batch_size / n_examples, planned, delta, dp.accountant)
            log.info("noise multiplier %.4f reaches epsilon %.3g in %d steps", z, dp.target_epsilon, planned)
        check_settings(dp, n_examples, delta)
        return cls(dp, z, delta, n_examples, batch_size, steps_per_epoch, planned)

    def record(self, steps: int, facts: dict) -> dict:
        """The privacy record after ``steps`` steps; ``facts`` as ``privacy_record`` takes them
        (``window_samples``, ``windows_per_sample``, ``rate_hz``, ``n_users``,
        ``max_windows_per_user``)."""
        return privacy_record(
            self.config,
            noise_multiplier=self.noise_multiplier,
            delta=self.delta,
            n_examples=self.n_examples,
            batch_size=self.batch_size,
            steps=steps,
            planned_steps=self.planned_steps,
            **facts,
        )
