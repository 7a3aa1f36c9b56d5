"""Accelerometer recordings on disk: ``t,ax,ay,az`` CSV files and HAPT raw files.

Numpy only, so the phone side, the demo app and the CLI can all read them.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import DataError

HAPT_RATE_HZ = 50.0
CSV_HEADER = ("t", "ax", "ay", "az")
_HAPT_NAME = re.compile(r"acc_exp(\d+)_user(\d+)\.txt$")


@dataclass(frozen=True)
class Recording:
    """A three-axis accelerometer recording in g, timestamps in seconds."""

    t: np.ndarray  # (n,) float64, strictly increasing
    xyz: np.ndarray  # (n, 3) float64

    def __post_init__(self) -> None:
        if self.xyz.ndim != 2 or self.xyz.shape[1] != 3 or self.t.shape != (self.xyz.shape[0],):
            raise DataError(f"recording needs t (n,) and xyz (n, 3), got {self.t.shape} and {self.xyz.shape}")

    def __len__(self) -> int:
        return int(self.t.shape[0])

    @property
    def rate_hz(self) -> float:
        """Median sample rate."""
        if len(self) < 2:
            return float("nan")
        return float(1.0 / np.median(np.diff(self.t)))


def read_hapt_raw(path: str | Path, rate_hz: float = HAPT_RATE_HZ) -> Recording:
    """Read a HAPT ``acc_expXX_userYY.txt`` file (three floats a row, no header, 50 Hz).

    Raises:
        DataError: missing file, wrong column count, non-numeric or non-finite values.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"HAPT file not found: {path}")
    try:
        xyz = np.loadtxt(path, dtype=np.float64, ndmin=2)
    except ValueError as exc:
        raise DataError(f"{path}: not a HAPT accelerometer file ({exc})") from None
    if xyz.size == 0:
        raise DataError(f"{path}: empty file")
    if xyz.shape[1] != 3:
        raise DataError(f"{path}: expected 3 columns (x y z), found {xyz.shape[1]}")
    if not np.isfinite(xyz).all():
        bad = int(np.argmax(~np.isfinite(xyz).all(axis=1)))
        raise DataError(f"{path}: non-finite value on row {bad + 1}")
    t = np.arange(len(xyz), dtype=np.float64) / rate_hz
    return Recording(t, xyz)


def read_csv(path: str | Path) -> Recording:
    """Read a CSV with header ``t,ax,ay,az`` (seconds, g); extra columns are ignored."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"CSV file not found: {path}")
    with path.open() as fh:
        header = [h.strip() for h in fh.readline().strip().split(",")]
    if not set(CSV_HEADER) <= set(header):
        raise DataError(f"{path}: header must contain {','.join(CSV_HEADER)}, found {','.join(header)!r}")
    cols = [header.index(c) for c in CSV_HEADER]
    try:
        data = np.loadtxt(path, delimiter=",", skiprows=1, usecols=cols, dtype=np.float64, ndmin=2)
    except ValueError as exc:
        raise DataError(f"{path}: malformed CSV ({exc})") from None
    if data.size == 0:
        raise DataError(f"{path}: no rows")
    if not np.isfinite(data).all():
        raise DataError(f"{path}: non-finite value")
    t = data[:, 0]
    if len(t) > 1 and np.any(np.diff(t) <= 0):
        raise DataError(f"{path}: timestamps are not strictly increasing")
    return Recording(t, data[:, 1:4])


def read_recording(path: str | Path) -> Recording:
    """Read either format: HAPT raw when the name matches ``acc_expXX_userYY.txt`` or the
    first line has no header, CSV otherwise."""
    path = Path(path)
    if _HAPT_NAME.search(path.name):
        return read_hapt_raw(path)
    if not path.is_file():
        raise DataError(f"recording not found: {path}")
    with path.open() as fh:
        first = fh.readline()
    if first.strip() and first.strip()[0].isalpha():
        return read_csv(path)
    return read_hapt_raw(path)


def write_csv(path: str | Path, t: np.ndarray, xyz: np.ndarray, replaced: np.ndarray | None = None) -> None:
    """Write ``t,ax,ay,az`` (plus ``replaced`` 0/1 when given) with full float precision."""
    t = np.asarray(t, dtype=np.float64)
    xyz = np.asarray(xyz, dtype=np.float64)
    cols = [t[:, None], xyz]
    header = list(CSV_HEADER)
    fmt = ["%.6f", "%.17g", "%.17g", "%.17g"]
    if replaced is not None:
        cols.append(np.asarray(replaced, dtype=np.float64)[:, None])
        header.append("replaced")
        fmt.append("%d")
    np.savetxt(path, np.hstack(cols), delimiter=",", header=",".join(header), comments="", fmt=fmt)
