"""Named generator sizes. ``paper`` is SenseGen's architecture (Alzantot et al. 2017)."""
from __future__ import annotations

from dataclasses import asdict, dataclass, replace

from sdk.gait import CLOCK_WIDTH, STRIDE_CLOCK_WIDTH
from sdk.mdn import COVARIANCES


@dataclass(frozen=True)
class GeneratorConfig:
    """Architecture and training settings of a generator."""

    lstm_units: tuple[int, ...] = (128, 128)
    dense_units: int = 64
    mixtures: int = 12
    window: int = 128  # truncated-BPTT length in samples
    priming: int = 50  # samples that set the level before each window / replaced segment
    batch_size: int = 64
    learning_rate: float = 2e-3
    clip_norm: float = 1.0
    epochs: int = 15
    clock: bool = True  # condition on the gait clock (sdk.gait) besides the activity
    stride_clock: bool = False  # the clock also gives the stride's half phase (which step of the two)
    input_noise: float = 0.0  # std of white Gaussian noise on teacher-forced inputs (normalised units)
    drift_noise: float = 0.0  # std of a slow (1 s) random offset on teacher-forced inputs: teaches mean reversion
    reference: int = 0  # samples of a reference clip of the same person before each window (0: none)
    covariance: str = "diagonal"  # mixture components: "diagonal", or "full" (axis-autoregressive Cholesky form)
    scheduled_sampling: float = 0.0  # share of teacher-forced inputs replaced by the model's own one-step samples

    def __post_init__(self) -> None:
        if self.covariance not in COVARIANCES:
            raise ValueError(f"covariance must be one of {', '.join(COVARIANCES)}, got {self.covariance!r}")
        if not 0.0 <= self.scheduled_sampling <= 1.0:
            raise ValueError(f"scheduled_sampling must be a share in [0, 1], got {self.scheduled_sampling!r}")

    @property
    def clock_width(self) -> int:
        """Width of the gait clock part of the condition input (0: no clock)."""
        return (STRIDE_CLOCK_WIDTH if self.stride_clock else CLOCK_WIDTH) if self.clock else 0

    def to_dict(self) -> dict:
        d = asdict(self)
        d["lstm_units"] = list(self.lstm_units)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "GeneratorConfig":
        d = dict(d)
        d["lstm_units"] = tuple(d["lstm_units"])
        d.setdefault("clock", False)  # runs written before the clock existed
        return cls(**{k: v for k, v in d.items() if k in cls.__dataclass_fields__})


PRESETS: dict[str, GeneratorConfig] = {
    # a few seconds of training, for tests
    "tiny": GeneratorConfig(lstm_units=(16,), dense_units=16, mixtures=3, window=32, batch_size=32, epochs=1),
    # the bundled default: trains on 2 shared CPU cores in about 11 minutes; its clock and noise
    # levers were chosen by the personal-cover ablation (README)
    "default": GeneratorConfig(input_noise=0.1, drift_noise=0.5),
    # SenseGen as published: 3 x LSTM(256) -> Dense(128, sigmoid) -> MDN with 24 components
    "paper": GeneratorConfig(lstm_units=(256, 256, 256), dense_units=128, mixtures=24, learning_rate=1e-3, epochs=20, input_noise=0.1, drift_noise=0.5),
}


def get_preset(name: str, **overrides) -> GeneratorConfig:
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}")
    cfg = PRESETS[name]
    overrides = {k: v for k, v in overrides.items() if v is not None}
    return replace(cfg, **overrides) if overrides else cfg
