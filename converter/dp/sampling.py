"""The secret seed of a DP run and the windows of each DP-SGD step."""
from __future__ import annotations

import secrets

from .config import SAMPLING, DPConfig


def new_noise_seed(dp: DPConfig) -> list[int]:
    """Two 48-bit seed words: from ``dp.noise_seed`` if fixed, else from the OS's secure RNG."""
    if dp.noise_seed is not None:
        return [int(dp.noise_seed) % (1 << 48), 0x5EED]
    return [secrets.randbits(48), secrets.randbits(48)]


class BatchSampler:
    """The windows of each DP-SGD step, drawn from the run's secret seed.

    ``poisson``: every window joins step s independently with probability q = B/N (batch
    sizes vary around B). ``shuffle``: a fresh secret permutation per epoch cut into batches
    of B. Indices depend only on (seed, epoch, step), so a resumed run draws the same ones.
    """

    def __init__(self, sampling: str, seed_words, n_examples: int, batch_size: int):
        if sampling not in SAMPLING:
            raise ValueError(f"unknown sampling {sampling!r}; choose one of {', '.join(SAMPLING)}")
        self.sampling, self.n, self.batch_size = sampling, int(n_examples), int(batch_size)
        self.seed = [int(v) for v in seed_words]
        self.steps_per_epoch = self.n // self.batch_size
        self._perm: tuple = (None, None)

    def batch(self, epoch: int, b: int):
        import numpy as np

        if self.sampling == "poisson":
            rng = np.random.default_rng(self.seed + [epoch * self.steps_per_epoch + b])
            return np.flatnonzero(rng.random(self.n) < self.batch_size / self.n)
        if self._perm[0] != epoch:
            self._perm = (epoch, np.random.default_rng(self.seed + [1 << 40, epoch]).permutation(self.n))
        return self._perm[1][b * self.batch_size : (b + 1) * self.batch_size]
