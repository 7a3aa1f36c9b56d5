"""Block sampling: ``k`` generator samples per interpreter call.

A generator file may carry a *block variant* (``sensegen export --block K``): the step model
unrolled ``K`` times with the mixture draw inside the graph, fed noise drawn here in numpy
from the stream's seeded generator (a uniform picks the component, normals give the
Gaussian: the semantics of ``sdk.mdn._draw``). So a block is one ``invoke`` with a handful of
tensor copies instead of ``K`` invokes with a dozen copies and a Python draw each, and the
samples still depend only on (model, seed, context): noninterference is untouched.
"""
from __future__ import annotations

import math

import numpy as np

from .errors import GeneratorFault, ModelError
from .mdn import SamplingOptions
from .runtime import load_interpreter

#: name of the block flatbuffer inside a packed generator file
BLOCK_MEMBER = "block.tflite"
BLOCK_INPUTS = ("x", "cond", "state", "uniform", "normal", "sampling")
BLOCK_OUTPUTS = ("z", "state_out")


class BlockModel:
    """The block variant of a generator file, loaded into its own interpreter.

    Args:
        flatbuffer: the block model (member ``block.tflite`` of the file).
        info: the file's ``metadata["variants"]["block"]``.
        units: LSTM sizes of the step model (the state is packed as h0, c0, h1, c1, …).
        n_cond: width of one conditioning row.
        path: the file, for messages.

    Raises:
        ModelError: the block model does not match the metadata or the step model.
    """

    def __init__(self, flatbuffer: bytes, info: dict, units, n_cond: int, path, runtime: str | None = None, num_threads: int = 1):
        try:
            self.steps = int(info["steps"])
        except (KeyError, TypeError, ValueError):
            raise ModelError(f"{path}: block variant metadata has no valid 'steps'") from None
        self.units = [int(u) for u in units]
        self.n_cond = int(n_cond)
        _, self._interp, sig = load_interpreter(flatbuffer, path, runtime, num_threads)
        ins, outs = sig["inputs"], sig["outputs"]
        missing = [n for n in BLOCK_INPUTS if n not in ins] + [n for n in BLOCK_OUTPUTS if n not in outs]
        if missing:
            raise ModelError(f"{path}: block model tensors {missing} missing")
        shapes = {d["index"]: tuple(d["shape"]) for d in self._interp.get_input_details()}
        k, width = self.steps, 2 * sum(self.units) + 3
        want = {"x": (1, 3), "cond": (1, k, self.n_cond), "state": (1, width), "uniform": (1, k), "normal": (1, k, 3), "sampling": (1, 5)}
        wrong = {n: shapes[ins[n]] for n in BLOCK_INPUTS if shapes[ins[n]] != want[n]}
        if wrong:
            raise ModelError(f"{path}: block model input shapes {wrong} do not match the metadata ({want})")
        self._in = [ins[n] for n in BLOCK_INPUTS]
        self._z, self._state = outs["z"], outs["state_out"]

    def pack(self, state, drift) -> np.ndarray:
        """``[(h0, c0), (h1, c1), …]`` and the drift guard's mean (3,) -> one (1, S + 3) float32 tensor."""
        parts = [a for pair in state for a in pair] + [np.asarray(drift, np.float32).reshape(1, 3)]
        return np.concatenate(parts, axis=1).astype(np.float32, copy=False)

    def unpack(self, packed: np.ndarray) -> tuple[list[tuple[np.ndarray, np.ndarray]], np.ndarray]:
        """The inverse of ``pack``: LSTM states and the drift guard's mean (3,) float64."""
        out, i = [], 0
        for u in self.units:
            out.append((packed[:, i : i + u], packed[:, i + u : i + 2 * u]))
            i += 2 * u
        return out, packed[0, i : i + 3].astype(np.float64)

    def run(self, x, cond, state, uniform, normal, sampling) -> tuple[np.ndarray, np.ndarray]:
        """One call: ``steps`` samples (steps, 3) and the packed state after them."""
        it = self._interp
        for index, value in zip(self._in, (x, cond, state, uniform, normal, sampling)):
            it.set_tensor(index, value)
        it.invoke()
        return it.get_tensor(self._z)[0], it.get_tensor(self._state)


class BlockSampler:
    """Draws a stream's samples a block at a time.

    Args:
        model: the file's ``BlockModel``.
        rng: the stream's seeded generator. Noise is drawn for ``NOISE_BLOCKS`` blocks at a
            time (uniforms, then normals, float32), so the sequence depends only on the seed.
        sampling: temperature, sigma scale (one or per axis; ``None`` means 1) and the drift
            guard (``drift_tau_s``; ``None`` turns it off).
        rate_hz: the stream's rate (for the drift guard's time constant).
    """

    NOISE_BLOCKS = 32

    def __init__(self, model: BlockModel, rng: np.random.Generator, sampling: SamplingOptions, rate_hz: float = 50.0):
        self.model = model
        self.steps = model.steps
        self.rng = rng
        alpha = 0.0 if sampling.drift_tau_s is None else 1.0 / (sampling.drift_tau_s * rate_hz)
        self._sampling = np.array([[1.0 / sampling.temperature, *sampling.scales(), alpha]], np.float32)
        self._noise_i = self.NOISE_BLOCKS

    def _noise(self) -> tuple[np.ndarray, np.ndarray]:
        if self._noise_i >= self.NOISE_BLOCKS:
            n, k = self.NOISE_BLOCKS, self.steps
            self._uniform = self.rng.random((n, 1, k), dtype=np.float32)
            self._normal = self.rng.standard_normal((n, 1, k, 3), dtype=np.float32)
            self._noise_i = 0
        i = self._noise_i
        self._noise_i += 1
        return self._uniform[i], self._normal[i]

    def draw(self, last_z: np.ndarray, state, drift: np.ndarray, cond: np.ndarray) -> tuple[np.ndarray, list, np.ndarray]:
        """The next ``steps`` samples (normalised frame, float64 (steps, 3)) after ``last_z``
        from ``state`` and the drift guard's mean ``drift``, conditioned on ``cond`` (steps,
        C); returns them, the new state and the new drift mean.

        Raises:
            GeneratorFault: the interpreter failed or returned non-finite values.
        """
        z, packed = self.draw_packed(last_z, self.model.pack(state, drift), cond)
        state, drift = self.model.unpack(packed)
        return z, state, drift

    def draw_packed(self, last_z: np.ndarray, packed: np.ndarray, cond: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``draw`` with the state and drift mean packed as ``BlockModel.pack`` does (a stream
        keeps them packed from one block to the next): returns the samples and the new packed
        state.

        Raises:
            GeneratorFault: the interpreter failed or returned non-finite values.
        """
        m = self.model
        uniform, normal = self._noise()
        try:
            z, packed = m.run(
                np.asarray(last_z, np.float32).reshape(1, 3),
                np.asarray(cond, np.float32).reshape(1, self.steps, m.n_cond),
                packed,
                uniform,
                normal,
                self._sampling,
            )
        except Exception as exc:  # any interpreter failure is a generator fault
            raise GeneratorFault(f"generator block failed: {exc!r}") from exc
        # all finite <=> the float64 sum is finite (float32 values cannot overflow it)
        if not math.isfinite(np.add.reduce(z, axis=None, dtype=np.float64) + np.add.reduce(packed, axis=None, dtype=np.float64)):
            raise GeneratorFault("generator produced non-finite values")
        return z.astype(np.float64), packed
