"""The SenseGen generator on the phone: a TFLite single-step model with explicit LSTM state,
its mixture sampled in numpy.

``Generator`` is a loaded model; ``SyntheticStream`` primes it on real context and produces
samples in g, one at a time, from a seeded random generator.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from .activities import activity_index
from .block import BLOCK_MEMBER, BlockModel, BlockSampler
from .errors import GeneratorFault, ModelError
from .mdn import MixtureSampler, SamplingOptions
from .model_file import read_model
from .runtime import RuntimeInfo, load_interpreter

log = logging.getLogger(__name__)

GENERATOR_FORMAT = "sensegen-generator"
DEFAULT_GENERATOR = "generator_default_int8.tflite"


def bundled_model_path(name: str = DEFAULT_GENERATOR) -> Path:
    """Path of a model file shipped inside the package (``sdk/models/``)."""
    path = Path(__file__).resolve().parent / "models" / name
    if not path.is_file():
        raise ModelError(f"bundled model {name} is missing from {path.parent} (broken install?)")
    return path


@dataclass
class StepOutput:
    logits: np.ndarray  # (M,)
    mu: np.ndarray  # (M, 3)
    log_sigma: np.ndarray  # (M, 3)


class Generator:
    """A generator model file loaded into a TFLite interpreter.

    Args:
        path: a file written by ``sensegen export``; default: the bundled model.
        runtime: force ``"ai_edge_litert"`` or ``"tflite_runtime"``.
        num_threads: interpreter threads.
        use_block: load the file's block variant (``k`` samples per call, ``sdk.block``) when
            it has one; ``False`` always samples one step at a time.

    Raises:
        ModelError / ModelIntegrityError: missing, corrupt, tampered or mismatched file.
        RuntimeUnavailableError: no TFLite interpreter installed.
    """

    def __init__(self, path: str | Path | None = None, runtime: str | None = None, num_threads: int = 1, use_block: bool = True):
        self.path = Path(path) if path is not None else bundled_model_path()
        model = read_model(self.path, expect_format=GENERATOR_FORMAT)
        self.metadata = model.metadata
        arch = self.metadata["architecture"]
        self.units: list[int] = list(arch["lstm_units"])
        self.mixtures: int = int(arch["mixtures"])
        self.activities: tuple[str, ...] = tuple(self.metadata["activities"])
        self.rate_hz: float = float(self.metadata["rate_hz"])
        norm = self.metadata["normalisation"]
        self.scale = np.asarray(norm["scale"], dtype=np.float64)
        self.population_level = np.asarray(norm["population_level"], dtype=np.float64)
        self.priming: int = int(norm["priming_samples"])
        self.runtime: RuntimeInfo
        self.runtime, self._interp, sig = load_interpreter(model.flatbuffer, self.path, runtime, num_threads)
        self._bind(sig)
        self.block: BlockModel | None = None
        block = self.metadata.get("variants", {}).get("block")
        if use_block and block is not None:
            member = model.members.get(block.get("member", BLOCK_MEMBER))
            if member is None:
                raise ModelError(f"{self.path}: metadata lists a block variant but the file holds no {BLOCK_MEMBER}")
            self.block = BlockModel(member, block, self.units, len(self.activities), self.path, runtime, num_threads)

    def _bind(self, sig: dict) -> None:
        ins, outs = sig["inputs"], sig["outputs"]
        need_in = ["x", "cond"] + [f"{s}{i}" for i in range(len(self.units)) for s in "hc"]
        need_out = ["logits", "mu", "log_sigma"] + [f"{s}{i}_out" for i in range(len(self.units)) for s in "hc"]
        missing = [n for n in need_in if n not in ins] + [n for n in need_out if n not in outs]
        if missing:
            raise ModelError(f"{self.path}: model tensors {missing} missing; metadata and file do not match")
        details = {d["index"]: d for d in self._interp.get_input_details()}
        if tuple(details[ins["x"]]["shape"]) != (1, 3) or tuple(details[ins["cond"]]["shape"]) != (1, len(self.activities)):
            raise ModelError(f"{self.path}: input shapes do not match the metadata")
        self._in = {n: ins[n] for n in need_in}
        self._out = {n: outs[n] for n in need_out}
        self._state_in = [(ins[f"h{i}"], ins[f"c{i}"]) for i in range(len(self.units))]
        self._state_out = [(outs[f"h{i}_out"], outs[f"c{i}_out"]) for i in range(len(self.units))]

    @property
    def info(self) -> str:
        q = self.metadata.get("quantisation", "?")
        blocks = f", blocks of {self.block.steps}" if self.block is not None else ""
        return f"{self.path.name} ({q}{blocks}, {self.runtime.name} {self.runtime.version})"

    def zero_state(self) -> list[tuple[np.ndarray, np.ndarray]]:
        return [(np.zeros((1, u), np.float32), np.zeros((1, u), np.float32)) for u in self.units]

    def step(self, x: np.ndarray, cond: np.ndarray, state) -> tuple[StepOutput, list]:
        """One model step in the normalised frame; returns mixture parameters and the new state."""
        it = self._interp
        it.set_tensor(self._in["x"], np.asarray(x, np.float32).reshape(1, 3))
        it.set_tensor(self._in["cond"], np.asarray(cond, np.float32).reshape(1, -1))
        for (hi, ci), (h, c) in zip(self._state_in, state):
            it.set_tensor(hi, h)
            it.set_tensor(ci, c)
        it.invoke()
        m = self.mixtures
        out = StepOutput(
            it.get_tensor(self._out["logits"])[0],
            it.get_tensor(self._out["mu"]).reshape(m, 3),
            it.get_tensor(self._out["log_sigma"]).reshape(m, 3),
        )
        return out, [(it.get_tensor(ho), it.get_tensor(co)) for ho, co in self._state_out]

    def sigma_scale(self, activity: str) -> float:
        """The sampling sigma scale calibrated for ``activity`` (1.0 if uncalibrated)."""
        table = self.metadata.get("sampling", {}).get("sigma_scale", {})
        return float(table.get(activity.strip().upper(), 1.0))

    def one_hot(self, activity: str | None) -> np.ndarray:
        v = np.zeros(len(self.activities), np.float32)
        if activity is not None:
            v[activity_index(activity, self.activities)] = 1.0
        return v


class SyntheticStream:
    """Synthetic samples that continue a real context.

    ``prime(context)`` sets the level (mean of the context) and warms the LSTM state on it;
    ``next()`` then returns one sample in g per call, conditioned on ``cover``. Values depend
    only on the model, the context and the seed.
    """

    def __init__(self, generator: Generator, cover: str, seed: int, sampling: SamplingOptions | None = None):
        self.generator = generator
        self.cover = self.generator.one_hot(cover)
        self._unknown = self.generator.one_hot(None)
        sampling = sampling or SamplingOptions()
        if sampling.sigma_scale is None:
            sampling = replace(sampling, sigma_scale=generator.sigma_scale(cover))
        self.sampling = sampling
        self._sample = MixtureSampler(seed, self.sampling)
        self._block = BlockSampler(generator.block, self._sample.rng, self.sampling) if generator.block is not None else None
        self._ahead: np.ndarray = np.empty((0, 3))  # block path: samples drawn, not yet returned (in g)
        self._ahead_i = 0
        self.level = generator.population_level.copy()
        self.state = generator.zero_state()
        self._last_z = np.zeros(3)

    def prime(self, context: np.ndarray) -> None:
        """Warm up on the last ``priming`` rows of ``context`` (n, 3) in g; n may be 0."""
        g = self.generator
        ctx = np.asarray(context, np.float64)[-g.priming :]
        self.state = g.zero_state()
        self._ahead, self._ahead_i = np.empty((0, 3)), 0
        if len(ctx) == 0:
            self.level = g.population_level.copy()
            self._last_z = np.zeros(3)
            return
        self.level = ctx.mean(axis=0)
        z = (ctx - self.level) / g.scale
        for row in z[:-1]:
            _, self.state = g.step(row, self._unknown, self.state)
        self._last_z = z[-1]

    def next(self) -> np.ndarray:
        """The next synthetic sample in g.

        Raises:
            GeneratorFault: the interpreter failed or returned non-finite values.
        """
        if self._block is not None:
            return self._next_from_block()
        g = self.generator
        try:
            out, state = g.step(self._last_z, self.cover, self.state)
        except Exception as exc:  # any interpreter failure is a generator fault
            raise GeneratorFault(f"generator step failed: {exc!r}") from exc
        z = self._sample(out.logits, out.mu, out.log_sigma).astype(np.float64)
        if not (np.isfinite(z).all() and np.isfinite(state[-1][0]).all()):
            raise GeneratorFault("generator produced non-finite values")
        self.state, self._last_z = state, z
        return self._output(z)

    def _next_from_block(self) -> np.ndarray:
        """``next()`` on the block path: one interpreter call per ``k`` samples."""
        if self._ahead_i >= len(self._ahead):
            z, self.state = self._block.draw(self._last_z, self.state, self._cond_rows(self._block.steps))
            self._last_z = z[-1]
            self._ahead, self._ahead_i = self._output(z), 0
        y = self._ahead[self._ahead_i]
        self._ahead_i += 1
        return y

    def _cond_rows(self, k: int) -> np.ndarray:
        """The conditioning rows of the next ``k`` steps, (k, C)."""
        return np.broadcast_to(self.cover, (k, len(self.cover)))

    def _output(self, z: np.ndarray) -> np.ndarray:
        """Samples in the normalised frame (…, 3) -> g."""
        return self.level + z * self.generator.scale
