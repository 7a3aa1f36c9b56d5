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
from .gait import CLOCK_WIDTH, DYNAMIC, STRIDE_CLOCK_WIDTH, Cadence, PhaseClock, clock_rows, phase_at_end, step_phase
from .mdn import COVARIANCES, MixtureSampler, SamplingOptions
from .postures import STILLNESS_MEMBER, PopulationStillness, PostureOptions
from .runtime import RuntimeInfo, load_model

log = logging.getLogger(__name__)

GENERATOR_FORMAT = "sensegen-generator"
DEFAULT_GENERATOR = "generator_default_int8.tflite"
#: condition rows (one-hot and gait clock) a stream draws ahead at a time
COND_AHEAD = 128


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
    coupling: np.ndarray | None = None  # (M, 3) for a full-covariance mixture (sdk.mdn)


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
        loaded = load_model(self.path, GENERATOR_FORMAT, self._read_metadata, runtime, num_threads)
        self.runtime: RuntimeInfo = loaded.runtime
        self._interp = loaded.interpreter
        self._bind(loaded.signature)
        self.block: BlockModel | None = None
        block = self.metadata.get("variants", {}).get("block")
        if use_block and block is not None:
            member = loaded.file.members.get(block.get("member", BLOCK_MEMBER))
            if member is None:
                raise ModelError(f"{self.path}: metadata lists a block variant but the file holds no {BLOCK_MEMBER}")
            self.block = BlockModel(member, block, self.units, len(self.activities) + self.clock_width, self.path, runtime, num_threads)
        self._stillness: dict[str, PopulationStillness] = {}
        listed = self.metadata.get("stillness")
        if listed is not None:
            data = loaded.file.members.get(STILLNESS_MEMBER)
            if data is None:
                raise ModelError(f"{self.path}: metadata lists population stillness but the file holds no {STILLNESS_MEMBER}")
            for activity in listed.get("activities", []):
                try:
                    model = PopulationStillness.from_member(data, activity, self.rate_hz)
                except ModelError as exc:
                    raise ModelError(f"{self.path}: {exc}") from None
                if model is None:
                    raise ModelError(f"{self.path}: {STILLNESS_MEMBER} holds no population stillness of {activity}")
                self._stillness[activity.strip().upper()] = model

    def _read_metadata(self, meta: dict) -> None:
        self.metadata = meta
        arch = meta["architecture"]
        self.units: list[int] = [int(u) for u in arch["lstm_units"]]
        self.mixtures: int = int(arch["mixtures"])
        self.covariance: str = str(arch.get("covariance", "diagonal"))
        if self.covariance not in COVARIANCES:
            raise ModelError(f"{self.path}: unknown mixture covariance {self.covariance!r} in the metadata")
        self.activities: tuple[str, ...] = tuple(meta["activities"])
        self.rate_hz: float = float(meta["rate_hz"])
        norm = meta["normalisation"]
        self.scale = np.asarray(norm["scale"], dtype=np.float64).reshape(3)
        self.population_level = np.asarray(norm["population_level"], dtype=np.float64).reshape(3)
        self.priming: int = int(norm["priming_samples"])
        self.clock_width: int = int(arch.get("clock_width", CLOCK_WIDTH)) if arch.get("clock") else 0
        if self.clock_width not in (0, CLOCK_WIDTH, STRIDE_CLOCK_WIDTH):
            raise ModelError(f"{self.path}: unknown gait clock width {self.clock_width} in the metadata")
        self.reference_samples: int = int(arch.get("reference_samples", 0))
        self.cadences: dict[str, Cadence] = {
            a: Cadence(float(c["step_hz"]), float(c["jitter"])) for a, c in meta.get("cadence", {}).items()
        }

    def _bind(self, sig: dict) -> None:
        ins, outs = sig["inputs"], sig["outputs"]
        need_in = ["x", "cond"] + [f"{s}{i}" for i in range(len(self.units)) for s in "hc"]
        need_out = ["logits", "mu", "log_sigma"] + (["coupling"] if self.covariance == "full" else [])
        need_out += [f"{s}{i}_out" for i in range(len(self.units)) for s in "hc"]
        missing = [n for n in need_in if n not in ins] + [n for n in need_out if n not in outs]
        if missing:
            raise ModelError(f"{self.path}: model tensors {missing} missing; metadata and file do not match")
        details = {d["index"]: d for d in self._interp.get_input_details()}
        if tuple(details[ins["x"]]["shape"]) != (1, 3) or tuple(details[ins["cond"]]["shape"]) != (1, len(self.activities) + self.clock_width):
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
            it.get_tensor(self._out["coupling"]).reshape(m, 3) if "coupling" in self._out else None,
        )
        return out, [(it.get_tensor(ho), it.get_tensor(co)) for ho, co in self._state_out]

    def population_stillness(self, activity: str, options: PostureOptions | None = None) -> PopulationStillness | None:
        """The population stillness of a static ``activity`` packed in the file (``sdk.postures``),
        with ``options`` for the stream that draws it; ``None`` if the file has none for it."""
        model = self._stillness.get(activity.strip().upper())
        if model is None:
            return None
        return model if options is None or options == model.options else model.with_options(options)

    def sigma_scale(self, activity: str) -> float | tuple[float, float, float]:
        """The sampling sigma scale calibrated for ``activity``: one factor, or one per axis
        (1.0 if uncalibrated)."""
        table = self.metadata.get("sampling", {}).get("sigma_scale", {})
        v = table.get(activity.strip().upper(), 1.0)
        return tuple(float(a) for a in v) if isinstance(v, list) else float(v)

    def uses_clock(self, activity: str | None) -> bool:
        """Whether samples of ``activity`` are generated with a gait clock."""
        return bool(self.clock_width) and activity is not None and activity.strip().upper() in DYNAMIC

    def default_cadence(self, activity: str) -> Cadence:
        """The population cadence of ``activity`` recorded at export (or a typical walk)."""
        return self.cadences.get(activity.strip().upper(), Cadence(1.8, 0.08))

    def condition(self, activity: str | None) -> np.ndarray:
        """The model's condition row (C,) for ``activity`` (``None``: unknown), clock at zero."""
        return np.concatenate([self.one_hot(activity), np.zeros(self.clock_width, np.float32)])

    def one_hot(self, activity: str | None) -> np.ndarray:
        v = np.zeros(len(self.activities), np.float32)
        if activity is not None:
            v[activity_index(activity, self.activities)] = 1.0
        return v


class SyntheticStream:
    """Synthetic samples that continue a real context.

    ``prime(context, reference)`` sets the level (mean of the context), starts the gait clock
    and warms the LSTM state; ``next()`` then returns one sample in g per call, conditioned on
    ``cover``. Values depend only on the model, the context, the reference, the cadence and
    the seed.

    Args:
        generator: a loaded ``Generator``.
        cover: the activity to imitate.
        seed: anything ``numpy.random.default_rng`` takes.
        sampling: temperature / sigma scale (default: the file's calibrated sigma scale).
        cadence: the walker's step frequency and jitter (e.g. from their cover bank);
            ``None``: the model's population cadence for ``cover``.
    """

    def __init__(
        self, generator: Generator, cover: str, seed, sampling: SamplingOptions | None = None, cadence: Cadence | None = None
    ):
        self.generator = generator
        self.cover = self.generator.one_hot(cover)
        self._unknown = generator.condition(None)
        sampling = sampling or SamplingOptions()
        if sampling.sigma_scale is None:
            sampling = replace(sampling, sigma_scale=generator.sigma_scale(cover))
        self.sampling = sampling
        self._seed = [int(v) for v in np.atleast_1d(seed)]
        self._sample = MixtureSampler(seed, self.sampling)
        self.cadence = (cadence or generator.default_cadence(cover)) if generator.uses_clock(cover) else None
        self._clock: PhaseClock | None = None
        self._cover_cond = generator.condition(cover)
        self._block = BlockSampler(generator.block, self._sample.rng, self.sampling, generator.rate_hz) if generator.block is not None else None
        self._ahead: np.ndarray = np.empty((0, 3))  # block path: samples drawn, not yet returned (in g)
        self._ahead_i = 0
        self.level = generator.population_level.copy()
        self._packed: np.ndarray | None = None  # block path: LSTM state and drift mean as the block model takes them
        self._drift = np.zeros(3)
        self.state = generator.zero_state()
        self._last_z = np.zeros(3)
        tau = self.sampling.drift_tau_s
        self._drift_alpha = 0.0 if tau is None else 1.0 / (tau * generator.rate_hz)
        # condition rows drawn ahead (the clock advanced for them), next at ``_cond_i``: the
        # clock's recurrence runs in Python, so rows are made COND_AHEAD at a time
        self._cond_ahead = np.empty((0, len(self._cover_cond)), np.float32)
        self._cond_i = 0

    @property
    def state(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """The LSTM state ``[(h0, c0), (h1, c1), …]`` after the samples drawn so far."""
        self._unpack()
        return self._state

    @state.setter
    def state(self, value) -> None:
        self._unpack()
        self._state = value

    def _unpack(self) -> None:
        """Between blocks the state stays packed; unpack it (and the drift mean) when read."""
        if self._packed is not None:
            self._state, self._drift = self._block.model.unpack(self._packed)
            self._packed = None

    def prime(self, context: np.ndarray, reference: np.ndarray | None = None, level: np.ndarray | None = None) -> None:
        """Warm up on the last ``priming`` rows of ``context`` (n, 3) in g (n may be 0).

        A model trained with reference clips (``reference_samples`` > 0) first reads one:
        the last ``reference_samples + 1`` rows of ``reference`` (real samples of the cover
        activity, e.g. from the owner's cover bank) in their own level-removed frame with
        the cover's condition and their own clock, or zeros when ``reference`` is missing or
        shorter, as in training. Other models ignore ``reference``. ``level`` (g) replaces
        the context's mean as the level of the generated samples (e.g. the owner's walking
        level from the cover bank)."""
        g = self.generator
        ctx = np.asarray(context, np.float64)
        self.state = g.zero_state()
        n = g.reference_samples
        if n:
            zr = np.zeros((n, 3))
            cond = np.zeros((n, len(self._unknown)), np.float32)
            if reference is not None and len(reference) >= n + 1:
                ref = np.asarray(reference, np.float64)[-(n + 1) :]
                zr = ((ref - ref.mean(axis=0)) / g.scale)[:-1]
                cond[:] = self._cover_cond
                if self.cadence is not None:
                    cond[:, len(self.cover) :] = clock_rows(step_phase(ref, g.rate_hz)[0], g.clock_width)[1:]
            for row, c in zip(zr, cond):
                _, self.state = g.step(row, c, self.state)
        if self.cadence is not None:
            psi0 = phase_at_end(ctx, self.cadence.step_hz, g.rate_hz) if len(ctx) >= g.rate_hz / 2 else None
            rng = np.random.default_rng(self._seed + [1])
            if psi0 is None:
                psi0 = float(rng.uniform(0, 2 * np.pi))
            if g.clock_width == STRIDE_CLOCK_WIDTH:  # which step of the stride comes next: a seeded guess
                psi0 += 2 * np.pi * int(rng.integers(2))
            self._clock = PhaseClock(self.cadence, g.rate_hz, rng, psi0 + 2 * np.pi * self.cadence.step_hz / g.rate_hz, width=g.clock_width)
            self._cond_ahead, self._cond_i = self._cond_ahead[:0], 0
        ctx = ctx[-g.priming :]
        self._ahead, self._ahead_i = np.empty((0, 3)), 0
        self._unpack()
        self._drift = np.zeros(3)
        if len(ctx) == 0:
            self.level = g.population_level.copy() if level is None else np.asarray(level, np.float64)
            self._last_z = np.zeros(3)
            return
        z = (ctx - ctx.mean(axis=0)) / g.scale
        for row in z[:-1]:
            _, self.state = g.step(row, self._unknown, self.state)
        self._last_z = z[-1]
        self.level = ctx.mean(axis=0) if level is None else np.asarray(level, np.float64)

    def _cond_rows(self, k: int) -> np.ndarray:
        """The condition rows (k, C) float32 of the next ``k`` generated samples: the cover's
        one-hot, then the clock. A view of rows drawn ahead, ``COND_AHEAD`` at a time (the
        clock is a seeded recurrence of its own, so drawing ahead changes no value)."""
        i = self._cond_i
        if i + k > len(self._cond_ahead):
            rest = self._cond_ahead[i:]
            n = -(-COND_AHEAD // k) * k  # whole calls of k rows
            rows = np.repeat(self._cover_cond[None], n, axis=0)
            if self.cadence is not None:
                if self._clock is None:  # never primed: start at a seeded phase
                    rng = np.random.default_rng(self._seed + [1])
                    width = self.generator.clock_width
                    turns = 2 if width == STRIDE_CLOCK_WIDTH else 1  # a stride clock runs over two steps
                    self._clock = PhaseClock(self.cadence, self.generator.rate_hz, rng, float(rng.uniform(0, 2 * np.pi * turns)), width=width)
                rows[:, len(self.cover) :] = self._clock.rows(n)
            self._cond_ahead, i = (np.concatenate([rest, rows]) if len(rest) else rows), 0
        self._cond_i = i + k
        return self._cond_ahead[i : i + k]

    def next(self) -> np.ndarray:
        """The next synthetic sample in g.

        Raises:
            GeneratorFault: the interpreter failed or returned non-finite values.
        """
        if self._block is not None:
            return self._next_from_block()
        g = self.generator
        cond = self._cond_rows(1)[0]
        try:
            out, state = g.step(self._last_z, cond, self.state)
        except Exception as exc:  # any interpreter failure is a generator fault
            raise GeneratorFault(f"generator step failed: {exc!r}") from exc
        z = self._sample(out.logits, out.mu, out.log_sigma, out.coupling).astype(np.float64)
        if not (np.isfinite(z).all() and np.isfinite(state[-1][0]).all()):
            raise GeneratorFault("generator produced non-finite values")
        if self._drift_alpha:  # drift guard: the slow mean of what is fed back stays at the level
            self._drift += self._drift_alpha * (z - self._drift)
            z = z - self._drift
        self.state, self._last_z = state, z
        return self._output(z)

    def take(self, n: int) -> np.ndarray:
        """Up to ``n`` (at least one) next synthetic samples in g, (m, 3): on the block path
        what is left of the current block, else one sample. ``take`` and ``next`` draw from
        the same sequence.

        Raises:
            GeneratorFault: the interpreter failed or returned non-finite values (no sample
                is consumed).
        """
        if self._block is None:
            return self.next()[None]
        if self._ahead_i >= len(self._ahead):
            self._draw_block()
        i = self._ahead_i
        self._ahead_i = j = min(len(self._ahead), i + max(1, int(n)))
        return self._ahead[i:j]

    def _next_from_block(self) -> np.ndarray:
        """``next()`` on the block path: one interpreter call per ``k`` samples."""
        if self._ahead_i >= len(self._ahead):
            self._draw_block()
        y = self._ahead[self._ahead_i]
        self._ahead_i += 1
        return y

    def _draw_block(self) -> None:
        packed = self._packed if self._packed is not None else self._block.model.pack(self._state, self._drift)
        z, self._packed = self._block.draw_packed(self._last_z, packed, self._cond_rows(self._block.steps))
        self._last_z = z[-1]
        self._ahead, self._ahead_i = self._output(z), 0

    def _output(self, z: np.ndarray) -> np.ndarray:
        """Samples in the normalised frame (…, 3) -> g."""
        return self.level + z * self.generator.scale
