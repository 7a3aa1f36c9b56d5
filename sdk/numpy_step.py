"""A pure-numpy generator step, from the float32 weights ``sensegen export`` writes beside the
model files (``*_weights.npz``). A reference for the TFLite runtime: used to check parity
and as the baseline of the step-time benchmark."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .generator import StepOutput


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


class NumpyStep:
    """Same ``step(x, cond, state)`` contract as ``Generator.step``, in float32 numpy."""

    def __init__(self, weights_path: str | Path):
        w = np.load(weights_path)
        self.units = [int(u) for u in w["units"]]
        self.mixtures = int(w["mixtures"])
        self.layers = [(w[f"lstm_{i}/kernel"], w[f"lstm_{i}/recurrent_kernel"], w[f"lstm_{i}/bias"]) for i in range(len(self.units))]
        self.dense = (w["dense/kernel"], w["dense/bias"])
        self.mdn = (w["mdn/kernel"], w["mdn/bias"])

    def zero_state(self):
        return [(np.zeros((1, u), np.float32), np.zeros((1, u), np.float32)) for u in self.units]

    def step(self, x, cond, state):
        h = np.concatenate([np.asarray(x, np.float32).reshape(1, 3), np.asarray(cond, np.float32).reshape(1, -1)], axis=1)
        new_state = []
        for (k, r, b), (hp, cp), u in zip(self.layers, state, self.units):
            z = h @ k + hp @ r + b
            i, f, g, o = _sigmoid(z[:, :u]), _sigmoid(z[:, u : 2 * u]), np.tanh(z[:, 2 * u : 3 * u]), _sigmoid(z[:, 3 * u :])
            c = f * cp + i * g
            h = o * np.tanh(c)
            new_state.append((h, c))
        d = _sigmoid(h @ self.dense[0] + self.dense[1])
        p = (d @ self.mdn[0] + self.mdn[1])[0].astype(np.float64)
        m = self.mixtures
        coupling = p[7 * m :].reshape(m, 3) if len(p) == 10 * m else None  # a full-covariance mixture
        return StepOutput(p[:m], p[m : 4 * m].reshape(m, 3), p[4 * m : 7 * m].reshape(m, 3), coupling), new_state
