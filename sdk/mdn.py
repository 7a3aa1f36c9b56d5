"""Sampling a Gaussian mixture over 3 axes in numpy: diagonal components, or full-covariance
ones in the axis-autoregressive form of ``converter.model`` (``coupling`` b21, b31, b32:
``d1 = s1 n1``, ``d2 = b21 d1 + s2 n2``, ``d3 = b31 d1 + b32 d2 + s3 n3``)."""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

LOG_SIGMA_MIN = -7.0  # same floor as the training loss
#: mixture component shapes: per-axis variances only, or a full 3x3 covariance per component
COVARIANCES = ("diagonal", "full")


@dataclass(frozen=True)
class SamplingOptions:
    """``temperature`` sharpens (<1) or flattens (>1) the mixture weights; ``sigma_scale``
    multiplies every component's standard deviation, one factor or one per axis (``None``:
    the values the model was calibrated with for the cover activity, see ``sensegen
    export``); ``drift_tau_s`` is the
    time constant of the drift guard (``SyntheticStream``: the slow mean of the samples fed
    back is pulled to the level), ``None`` turns it off."""

    temperature: float = 1.0
    sigma_scale: float | tuple[float, float, float] | None = None
    drift_tau_s: float | None = 2.0

    def __post_init__(self) -> None:
        if isinstance(self.sigma_scale, (list, tuple, np.ndarray)):
            if len(self.sigma_scale) != 3:
                raise ValueError(f"sigma_scale needs one factor or 3 (one per axis), got {self.sigma_scale}")
            object.__setattr__(self, "sigma_scale", tuple(float(v) for v in self.sigma_scale))
        if not (self.temperature > 0 and (self.sigma_scale is None or min(self.scales()) >= 0)):
            raise ValueError(f"temperature must be > 0 and sigma_scale >= 0, got {self.temperature}, {self.sigma_scale}")
        if self.drift_tau_s is not None and not self.drift_tau_s > 0:
            raise ValueError(f"drift_tau_s must be > 0 or None, got {self.drift_tau_s}")

    def scales(self) -> list[float]:
        """The per-axis sigma factors (1.0 when unset)."""
        s = 1.0 if self.sigma_scale is None else self.sigma_scale
        return list(s) if isinstance(s, tuple) else [float(s)] * 3


def sample_mixture(
    logits: np.ndarray, mu: np.ndarray, log_sigma: np.ndarray, rng: np.random.Generator, opts: SamplingOptions,
    coupling: np.ndarray | None = None,
) -> np.ndarray:
    """Draw one 3-axis sample. ``logits`` (M,), ``mu``, ``log_sigma`` and ``coupling`` (M, 3)."""
    return _draw(logits, mu, log_sigma, rng.random(), rng.standard_normal(mu.shape[1]), opts, coupling)


def _draw(logits, mu, log_sigma, u: float, normal, opts: SamplingOptions, coupling=None) -> np.ndarray:
    """Pick component k with probability softmax(logits / T)_k using the uniform ``u``, then
    mu_k + sigma_k * scale * normal (through the component's coupling, if any). Plain Python
    floats: for a dozen components this is several times faster than numpy calls."""
    weights = logits.tolist()
    top = max(weights)
    inv_t = 1.0 / opts.temperature
    weights = [math.exp((w - top) * inv_t) for w in weights]
    target = u * sum(weights)
    k, acc = len(weights) - 1, 0.0
    for i, w in enumerate(weights):
        acc += w
        if acc > target:
            k = i
            break
    scale = opts.scales()
    m, ls = mu[k].tolist(), log_sigma[k].tolist()
    e = [math.exp(max(ls[j], LOG_SIGMA_MIN)) * scale[j] * normal[j] for j in range(len(m))]
    if coupling is not None:
        b21, b31, b32 = coupling[k].tolist()
        e[1] += b21 * e[0]
        e[2] += b31 * e[0] + b32 * e[1]
    return np.array([m[j] + e[j] for j in range(len(m))])


class MixtureSampler:
    """Seeded mixture sampling with random numbers drawn in blocks (fewer numpy calls per
    sample). The sequence depends only on the seed."""

    BLOCK = 512

    def __init__(self, seed, opts: SamplingOptions | None = None):
        self.rng = np.random.default_rng(seed)
        self.opts = opts or SamplingOptions()
        self._i = self.BLOCK

    def __call__(self, logits: np.ndarray, mu: np.ndarray, log_sigma: np.ndarray, coupling: np.ndarray | None = None) -> np.ndarray:
        if self._i >= self.BLOCK:
            self._u = self.rng.random(self.BLOCK).tolist()
            self._n = self.rng.standard_normal((self.BLOCK, mu.shape[1])).tolist()
            self._i = 0
        i = self._i
        self._i += 1
        return _draw(logits, mu, log_sigma, self._u[i], self._n[i], self.opts, coupling)


def mixture_mean(logits: np.ndarray, mu: np.ndarray) -> np.ndarray:
    p = np.exp(logits - logits.max())
    p /= p.sum()
    return p @ mu
