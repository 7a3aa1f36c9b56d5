"""The HAPT raw dataset: continuous per-experiment streams with per-sample activity labels,
user-disjoint splits and normalisation statistics."""
from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from sdk.errors import DataError
from sdk.recording import HAPT_RATE_HZ, read_hapt_raw

log = logging.getLogger(__name__)

ENV_VAR = "SENSEGEN_HAPT_DIR"
_ACC = re.compile(r"acc_exp(\d+)_user(\d+)\.txt$")


@dataclass
class Experiment:
    """One HAPT experiment: a continuous 50 Hz stream of one user."""

    exp: int
    user: int
    xyz: np.ndarray  # (n, 3) float32, g
    labels: np.ndarray  # (n,) int8, index into ACTIVITIES (0 = unlabelled / transition)

    def __len__(self) -> int:
        return len(self.xyz)


@dataclass
class HaptDataset:
    experiments: list[Experiment]
    root: Path
    rate_hz: float = HAPT_RATE_HZ

    @property
    def users(self) -> list[int]:
        return sorted({e.user for e in self.experiments})

    def for_users(self, users) -> "HaptDataset":
        keep = set(users)
        return HaptDataset([e for e in self.experiments if e.user in keep], self.root, self.rate_hz)

    def n_samples(self) -> int:
        return sum(len(e) for e in self.experiments)


@dataclass(frozen=True)
class Split:
    train: tuple[int, ...]
    val: tuple[int, ...]
    test: tuple[int, ...]

    def to_dict(self) -> dict:
        return {"train": list(self.train), "val": list(self.val), "test": list(self.test)}


@dataclass
class Normalisation:
    """How the generator's frame relates to g: ``x = level + z * scale``.

    ``level`` is the mean of the priming context (per window in training, per replaced
    segment in the SDK); ``population_level`` stands in when there is no context yet.
    """

    scale: list[float] = field(default_factory=lambda: [1.0, 1.0, 1.0])
    population_level: list[float] = field(default_factory=lambda: [0.0, 0.0, 0.0])
    priming_samples: int = 50

    def to_dict(self) -> dict:
        return {
            "scale": list(self.scale),
            "population_level": list(self.population_level),
            "priming_samples": self.priming_samples,
            "frame": "x = level + z * scale; level = mean of the last priming_samples released samples",
        }

    @classmethod
    def from_dict(cls, d: dict) -> "Normalisation":
        return cls(list(d["scale"]), list(d["population_level"]), int(d["priming_samples"]))


def default_data_dir() -> Path:
    """Where ``sensegen data download`` puts HAPT and every reader looks for it:
    ``$SENSEGEN_HAPT_DIR`` if set, else ``hapt`` in the per-user data directory
    (``platformdirs.user_data_dir("sensegen")``: ``~/.local/share/sensegen/hapt`` on Linux,
    ``~/Library/Application Support/sensegen/hapt`` on macOS, ``%LOCALAPPDATA%\\sensegen\\hapt``
    on Windows). Independent of where the package is installed."""
    env = os.environ.get(ENV_VAR)
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_data_dir("sensegen", appauthor=False)) / "hapt"


def _raw_dir(root: Path) -> Path:
    if (root / "RawData").is_dir():
        return root / "RawData"
    return root


def _read_labels(path: Path) -> np.ndarray:
    if not path.is_file():
        raise DataError(f"labels file not found: {path}")
    try:
        rows = np.loadtxt(path, dtype=np.int64, ndmin=2)
    except ValueError as exc:
        raise DataError(f"{path}: malformed labels file ({exc})") from None
    if rows.shape[1] != 5:
        raise DataError(f"{path}: expected 5 columns (exp user activity start end), found {rows.shape[1]}")
    return rows


def load_hapt(root: str | Path | None = None, users=None) -> HaptDataset:
    """Load every ``acc_expXX_userYY.txt`` under ``root`` (or ``root/RawData``) with its labels.

    Args:
        root: dataset folder; default ``default_data_dir()``.
        users: optional iterable of user ids to keep.

    Raises:
        DataError: missing folder, no experiment files, missing/corrupt ``labels.txt`` or data file.
    """
    root = Path(root) if root is not None else default_data_dir()
    if not root.is_dir():
        raise DataError(f"HAPT data folder not found: {root} (set {ENV_VAR} or run 'sensegen data download')")
    raw = _raw_dir(root)
    files = sorted(p for p in raw.iterdir() if _ACC.search(p.name))
    if not files:
        raise DataError(f"no acc_expXX_userYY.txt files in {raw}")
    label_rows = _read_labels(raw / "labels.txt")
    want = set(users) if users is not None else None
    experiments = []
    for path in files:
        exp, user = (int(g) for g in _ACC.search(path.name).groups())
        if want is not None and user not in want:
            continue
        rec = read_hapt_raw(path)
        labels = np.zeros(len(rec), dtype=np.int8)
        for _, _, act, start, end in label_rows[(label_rows[:, 0] == exp) & (label_rows[:, 1] == user)]:
            if start < 1 or end < start:
                raise DataError(f"{raw / 'labels.txt'}: bad span {start}-{end} for exp {exp}")
            labels[start - 1 : min(end, len(rec))] = act if 1 <= act <= 6 else 0
        experiments.append(Experiment(exp, user, rec.xyz.astype(np.float32), labels))
    if not experiments:
        raise DataError(f"no experiments for users {sorted(want)} in {raw}")
    log.info("loaded %d experiments, %d users from %s", len(experiments), len({e.user for e in experiments}), raw)
    return HaptDataset(experiments, root)


def split_users(users, seed: int = 0, val_fraction: float = 0.125, test_fraction: float = 0.25) -> Split:
    """Deterministic user-disjoint split (shuffled with ``seed``); every part gets ≥ 1 user."""
    users = sorted(users)
    if len(users) < 3:
        raise DataError(f"need at least 3 users for a train/val/test split, have {len(users)}")
    order = np.random.default_rng(seed).permutation(users).tolist()
    n_test = max(1, round(len(users) * test_fraction))
    n_val = max(1, round(len(users) * val_fraction))
    test, val, train = order[:n_test], order[n_test : n_test + n_val], order[n_test + n_val :]
    return Split(tuple(sorted(train)), tuple(sorted(val)), tuple(sorted(test)))


def normalisation_stats(ds: HaptDataset, priming: int) -> Normalisation:
    """Per-axis std of the level-removed signal (x minus its 2 s moving average) and the
    population mean over ``ds`` (the training users only)."""
    from .windows import remove_level

    allx = np.concatenate([remove_level(e.xyz) for e in ds.experiments])
    level = np.concatenate([e.xyz for e in ds.experiments]).mean(axis=0)
    return Normalisation([float(s) for s in allx.std(axis=0)], [float(v) for v in level], priming)
