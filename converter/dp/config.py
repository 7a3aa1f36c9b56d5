"""The settings of a differentially private training run, and their construction from the
command line's options."""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

ACCOUNTANTS = ("rdp", "pld")
SAMPLING = ("poisson", "shuffle")


@dataclass(frozen=True)
class DPConfig:
    """Settings of a differentially private training run.

    Give exactly one of ``noise_multiplier`` (z: noise std = z * clip_norm) and
    ``target_epsilon`` (z is then calibrated by dp-accounting for the planned steps).

    Attributes:
        noise_multiplier: z, the ratio of the Gaussian noise's std to ``clip_norm``.
        clip_norm: C, every training window's gradient is clipped to global L2 norm ≤ C.
        delta: δ of (ε, δ)-DP; default ``default_delta(n_windows)`` (≤ 1 / (10 n)).
        target_epsilon: choose z so that the planned run ends at this ε.
        accountant: ``"rdp"`` (Rényi DP) or ``"pld"`` (privacy loss distributions, tighter).
        sampling: ``"poisson"`` (each window joins a step's batch independently with
            probability q; what the accountant assumes) or ``"shuffle"`` (fixed-size batches
            of a shuffled order; accounted as Poisson with q = B/N, an approximation).
        disjoint_windows: train on non-overlapping windows, so that every sensor reading is
            in exactly one window (fewer windows, but a per-reading guarantee equal to ε).
        noise_seed: fixes the noise and sampling seed. For tests only: anyone who knows it
            can remove the noise, so the run then carries no guarantee. Default: a secret
            random seed kept only in the training checkpoints.
    """

    noise_multiplier: float | None = None
    clip_norm: float = 1.0
    delta: float | None = None
    target_epsilon: float | None = None
    accountant: str = "rdp"
    sampling: str = "poisson"
    disjoint_windows: bool = False
    noise_seed: int | None = None

    def __post_init__(self) -> None:
        if self.noise_multiplier is None and self.target_epsilon is None:
            raise ValueError("differentially private training needs a noise_multiplier or a target_epsilon")
        if self.noise_multiplier is not None and self.target_epsilon is not None:
            raise ValueError(
                f"give either noise_multiplier ({self.noise_multiplier}) or target_epsilon "
                f"({self.target_epsilon}), not both"
            )
        if self.noise_multiplier is not None and not (math.isfinite(self.noise_multiplier) and self.noise_multiplier > 0):
            raise ValueError(f"noise_multiplier must be a finite number > 0, got {self.noise_multiplier!r}")
        if self.target_epsilon is not None and not (math.isfinite(self.target_epsilon) and self.target_epsilon > 0):
            raise ValueError(f"target_epsilon must be a finite number > 0, got {self.target_epsilon!r}")
        if not (math.isfinite(self.clip_norm) and self.clip_norm > 0):
            raise ValueError(f"clip_norm must be a finite number > 0, got {self.clip_norm!r}")
        if self.delta is not None and not (0 < self.delta < 1):
            raise ValueError(f"delta must lie strictly between 0 and 1, got {self.delta!r}")
        if self.accountant not in ACCOUNTANTS:
            raise ValueError(f"unknown accountant {self.accountant!r}; choose one of {', '.join(ACCOUNTANTS)}")
        if self.sampling not in SAMPLING:
            raise ValueError(f"unknown sampling {self.sampling!r}; choose one of {', '.join(SAMPLING)}")
        if self.noise_seed is not None and self.noise_seed < 0:
            raise ValueError(f"noise_seed must be >= 0, got {self.noise_seed!r}")

    def to_dict(self) -> dict:
        d = asdict(self)
        d.pop("noise_seed")  # never written anywhere: it would let anyone remove the noise
        d["fixed_noise_seed"] = self.noise_seed is not None
        return d


def dp_config_from_args(args) -> DPConfig | None:
    """The ``DPConfig`` of ``sensegen train``'s options, or None without ``--dp``.

    Reads ``dp``, ``noise_multiplier``, ``clip_norm``, ``delta``, ``target_epsilon`` and,
    when present, ``accountant``, ``dp_sampling``, ``disjoint_windows`` from an argparse
    namespace.

    Raises:
        ValueError: DP options without ``--dp``, or invalid DP settings.
    """
    if not getattr(args, "dp", False):
        given = [k for k in ("noise_multiplier", "target_epsilon", "delta") if getattr(args, k, None) is not None]
        if given:
            raise ValueError(f"--{given[0].replace('_', '-')} needs --dp")
        return None
    return DPConfig(
        noise_multiplier=args.noise_multiplier,
        clip_norm=args.clip_norm,
        delta=args.delta,
        target_epsilon=args.target_epsilon,
        accountant=getattr(args, "accountant", "rdp"),
        sampling=getattr(args, "dp_sampling", "poisson"),
        disjoint_windows=getattr(args, "disjoint_windows", False),
    )
