"""Sampling a diagonal Gaussian mixture in numpy."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

LOG_SIGMA_MIN = -7.0  # same floor as the training loss


@dataclass(frozen=True)
class SamplingOptions:
    """``temperature`` sharpens (<1) or flattens (>1) the mixture weights; ``sigma_scale``
    multiplies every component's standard deviation."""

    temperature: float = 1.0
    sigma_scale: float = 1.0

    def __post_init__(self) -> None:
        if not (self.temperature > 0 and self.sigma_scale >= 0):
            raise ValueError(f"temperature must be > 0 and sigma_scale >= 0, got {self.temperature}, {self.sigma_scale}")


def sample_mixture(
    logits: np.ndarray, mu: np.ndarray, log_sigma: np.ndarray, rng: np.random.Generator, opts: SamplingOptions
) -> np.ndarray:
    """Draw one 3-axis sample. ``logits`` (M,), ``mu`` and ``log_sigma`` (M, 3)."""
    z = logits / opts.temperature
    p = np.exp(z - z.max())
    p /= p.sum()
    k = int(np.searchsorted(np.cumsum(p), rng.random() * (1.0 - 1e-12)))
    k = min(k, len(p) - 1)
    sigma = np.exp(np.maximum(log_sigma[k], LOG_SIGMA_MIN)) * opts.sigma_scale
    return mu[k] + sigma * rng.standard_normal(mu.shape[1])


def mixture_mean(logits: np.ndarray, mu: np.ndarray) -> np.ndarray:
    p = np.exp(logits - logits.max())
    p /= p.sum()
    return p @ mu
