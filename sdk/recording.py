"""Accelerometer recordings on disk: ``t,ax,ay,az`` CSV files, HAPT raw files and the CSV
exports of two phone sensor-logger apps, all read into one ``Recording`` (seconds, g).

Numpy only, so the phone side, the demo app and the CLI can all read them. Any of these
files may be gzip-compressed (``.gz``).

Formats (``read_recording(path, format=...)``; ``"auto"`` tells them apart by name and header):

- ``csv``: header ``t,ax,ay,az`` (extra columns ignored), seconds and g.
- ``hapt``: HAPT ``acc_expXX_userYY.txt``, three numbers a row, no header, 50 Hz, g.
- ``sensor-logger``: *Sensor Logger* (Kelvin Choi, tszheichoi.com/sensorlogger), zip/CSV
  export, one file per sensor. Columns ``time,seconds_elapsed,z,y,x``: ``time`` is the UNIX
  epoch in **nanoseconds**, ``seconds_elapsed`` seconds since the start tap (may be negative
  for buffered samples); ``x,y,z`` in **m/s²** (g taken as 9.80665). On Android
  ``Accelerometer.csv`` is acceleration **without** gravity and ``TotalAcceleration.csv``
  the raw reading **with** gravity; iOS logs only ``Accelerometer.csv`` (without gravity)
  plus ``Gravity.csv``. Source: github.com/tszheichoi/awesome-sensor-logger, README
  ("Understanding Timestamps") and UNITS.md ("Accelerometer").
- ``phyphox``: *phyphox* (RWTH Aachen) CSV export of the "Acceleration with g" experiment:
  header ``"Time (s)","Acceleration x (m/s^2)","Acceleration y (m/s^2)","Acceleration z
  (m/s^2)","Absolute acceleration (m/s^2)"``, seconds since start, **m/s²**, gravity
  included. The "Linear Acceleration" experiment (without g) exports ``"Linear Acceleration
  x (m/s^2)"``… Comma, tab, or semicolon with decimal comma are all phyphox CSV options.
  Source: github.com/phyphox/phyphox-experiments, ``accelerometer.phyphox`` and
  ``linear_accelerometer.phyphox`` (their ``<export>`` sets).

The model was trained on acceleration *with* gravity (HAPT), so linear acceleration
(without gravity) is refused with a clear message instead of being filtered into nonsense.
"""
from __future__ import annotations

import gzip
import io
import logging
import re
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import DataError, RateMismatchError

log = logging.getLogger(__name__)

HAPT_RATE_HZ = 50.0
CSV_HEADER = ("t", "ax", "ay", "az")
STANDARD_GRAVITY = 9.80665  # m/s² per g
FORMATS = ("auto", "csv", "hapt", "sensor-logger", "phyphox")
_HAPT_NAME = re.compile(r"acc_exp(\d+)_user(\d+)\.txt(\.gz)?$")
SAMPLE_RECORDING = Path(__file__).resolve().parent / "data" / "hapt_user02_exp03.csv.gz"


def sample_recording_path() -> Path:
    """The sample recording shipped inside the package: 212 s of HAPT user 2 (a training
    user), experiment 3, at 50 Hz in g: laying, walking, and three flights of stairs up and
    down. Columns ``t,ax,ay,az,label`` (``label``: index into ``sdk.ACTIVITIES``, 0 for
    unlabelled and postural transitions). Licence: HAPT, non-commercial use only; see
    ``sdk/data/README.md``."""
    if not SAMPLE_RECORDING.is_file():
        raise DataError(f"the sample recording is missing from {SAMPLE_RECORDING.parent} (broken install?)")
    return SAMPLE_RECORDING


def _open_text(path: Path):
    if path.suffix == ".gz":
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8-sig")
    return path.open(encoding="utf-8-sig")


def _loadtxt(path: Path, **kw) -> np.ndarray:
    """``np.loadtxt`` without its "input contained no data" warning (an empty file gets our
    own clear error) and through gzip when needed."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        with _open_text(path) as fh:
            return np.loadtxt(fh, dtype=np.float64, ndmin=2, **kw)


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

    def check_rate(self, rate_hz: float, tolerance: float = 0.02, jitter: float = 0.25) -> None:
        """Refuse a recording that is not on a regular ``rate_hz`` grid.

        Regular means: the median interval is within ``tolerance`` of ``1 / rate_hz`` and
        95 % of the intervals are within ``jitter`` periods of it (gaps are allowed).

        Raises:
            RateMismatchError: with the measured rate and the interval spread.
        """
        if len(self) < 2:
            return
        dt = np.diff(self.t)
        period = 1.0 / rate_hz
        off = np.abs(dt / period - 1.0)
        median_ok = abs(float(np.median(dt)) / period - 1.0) <= tolerance
        if median_ok and float(np.percentile(off, 95)) <= jitter:
            return
        lo, hi = np.percentile(dt, [5, 95]) * 1000
        raise RateMismatchError(
            f"the recording is not a regular {rate_hz:g} Hz stream: measured {self.rate_hz:.1f} Hz "
            f"(median interval {np.median(dt) * 1000:.1f} ms, 5-95 % {lo:.1f}-{hi:.1f} ms); resample it "
            "onto the model's grid (sensegen filter --resample, or sdk.resample)"
        )

    def resampled(self, rate_hz: float) -> "Recording":
        """This recording on a ``rate_hz`` grid from its first timestamp (``sdk.resample``:
        linear interpolation, no extrapolation, gaps over 0.5 s left as gaps)."""
        from .resample import resample

        t, xyz = resample(self.t, self.xyz, rate_hz)
        return Recording(t, xyz)


def read_hapt_raw(path: str | Path, rate_hz: float = HAPT_RATE_HZ) -> Recording:
    """Read a HAPT ``acc_expXX_userYY.txt`` file (three floats a row, no header, 50 Hz).

    Raises:
        DataError: missing file, wrong column count, non-numeric or non-finite values.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"HAPT file not found: {path}")
    try:
        xyz = _loadtxt(path)
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


def _header(path: Path) -> tuple[list[str], str]:
    """The first line's column names (quotes and blanks stripped) and its delimiter."""
    with _open_text(path) as fh:
        first = fh.readline()
    delim = "\t" if "\t" in first else ";" if ";" in first else ","
    return [h.strip().strip('"').strip() for h in first.strip().split(delim)], delim


def _columns(path: Path, delim: str, cols: list[int], decimal_comma: bool = False) -> np.ndarray:
    kw = {"converters": (lambda v: float(v.replace(",", "."))) if decimal_comma else None}
    try:
        data = _loadtxt(path, delimiter=delim, skiprows=1, usecols=cols, quotechar='"', **kw)
    except ValueError as exc:
        raise DataError(f"{path}: malformed CSV ({exc})") from None
    if data.size == 0:
        raise DataError(f"{path}: no rows")
    if not np.isfinite(data).all():
        raise DataError(f"{path}: non-finite value")
    return data


def read_csv(path: str | Path) -> Recording:
    """Read a CSV with header ``t,ax,ay,az`` (seconds, g); extra columns are ignored."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"CSV file not found: {path}")
    header, delim = _header(path)
    if not set(CSV_HEADER) <= set(header):
        raise DataError(f"{path}: header must contain {','.join(CSV_HEADER)}, found {','.join(header)!r}")
    data = _columns(path, delim, [header.index(c) for c in CSV_HEADER])
    t = data[:, 0]
    if len(t) > 1 and np.any(np.diff(t) <= 0):
        raise DataError(f"{path}: timestamps are not strictly increasing")
    return Recording(t, data[:, 1:4])


_LINEAR_HINT = (
    "the model needs acceleration WITH gravity: export Sensor Logger's TotalAcceleration.csv "
    "(Android), or phyphox's 'Acceleration with g' experiment"
)


def _phone_recording(path: Path, t: np.ndarray, xyz_ms2: np.ndarray, app: str) -> Recording:
    """m/s² → g, time sorted and de-duplicated, linear acceleration refused."""
    order = np.argsort(t, kind="stable")
    t, xyz = t[order], xyz_ms2[order] / STANDARD_GRAVITY
    keep = np.concatenate([[True], np.diff(t) > 0])
    if not keep.all():
        log.warning("%s: dropped %d samples with a repeated timestamp", path, int((~keep).sum()))
        t, xyz = t[keep], xyz[keep]
    magnitude = float(np.median(np.linalg.norm(xyz, axis=1)))
    if magnitude < 0.5:
        raise DataError(
            f"{path}: this {app} file looks like linear acceleration without gravity (median |a| = "
            f"{magnitude:.2f} g, expected about 1 g); {_LINEAR_HINT}"
        )
    return Recording(t, xyz)


def read_sensor_logger(path: str | Path) -> Recording:
    """Read a Sensor Logger accelerometer CSV (``time,seconds_elapsed,z,y,x``; m/s²) into
    seconds since the start tap and g. See the module docstring for the format.

    Raises:
        DataError: missing columns, malformed rows, or acceleration without gravity
            (``Accelerometer.csv``: use ``TotalAcceleration.csv``).
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"Sensor Logger file not found: {path}")
    header, delim = _header(path)
    need = ("seconds_elapsed", "x", "y", "z")
    if not set(need) <= set(header):
        raise DataError(f"{path}: not a Sensor Logger accelerometer export: header must contain "
                        f"time,seconds_elapsed,z,y,x, found {','.join(header)!r}")
    data = _columns(path, delim, [header.index(c) for c in need])
    return _phone_recording(path, data[:, 0], data[:, 1:4], "Sensor Logger")


def read_phyphox(path: str | Path) -> Recording:
    """Read a phyphox "Acceleration with g" CSV export (``Time (s)``, ``Acceleration x
    (m/s^2)``…) into seconds and g. Comma, tab, or semicolon with decimal comma.

    Raises:
        DataError: missing columns, malformed rows, or a "Linear Acceleration" export.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"phyphox file not found: {path}")
    header, delim = _header(path)
    low = [h.lower() for h in header]
    if any(h.startswith("linear acceleration") for h in low):
        raise DataError(f"{path}: a phyphox 'Linear Acceleration' export holds acceleration without gravity; {_LINEAR_HINT}")
    try:
        cols = [low.index("time (s)")] + [low.index(f"acceleration {a} (m/s^2)") for a in "xyz"]
    except ValueError:
        raise DataError(f"{path}: not a phyphox acceleration export: header must contain 'Time (s)', "
                        f"'Acceleration x (m/s^2)', 'Acceleration y (m/s^2)', 'Acceleration z (m/s^2)', "
                        f"found {','.join(header)!r}") from None
    data = _columns(path, delim, cols, decimal_comma=delim == ";")
    return _phone_recording(path, data[:, 0], data[:, 1:4], "phyphox")


def detect_format(path: str | Path) -> str:
    """Which of ``FORMATS`` a file is, from its name and first line.

    Raises:
        DataError: missing file, or a header no reader knows.
    """
    path = Path(path)
    if _HAPT_NAME.search(path.name):
        return "hapt"
    if not path.is_file():
        raise DataError(f"recording not found: {path}")
    header, _ = _header(path)
    first = header[0] if header else ""
    if not first or not first[0].isalpha():
        return "hapt"
    low = {h.lower() for h in header}
    if set(CSV_HEADER) <= set(header):
        return "csv"
    if {"seconds_elapsed", "x", "y", "z"} <= low:
        return "sensor-logger"
    if "time (s)" in low and any("acceleration x" in h for h in low):
        return "phyphox"
    raise DataError(
        f"{path}: unknown recording format (header {','.join(header)!r}); supported: a t,ax,ay,az CSV in "
        "seconds and g, a HAPT raw file, a Sensor Logger accelerometer CSV, a phyphox acceleration CSV"
    )


def read_recording(path: str | Path, format: str = "auto") -> Recording:
    """Read a recording in any of ``FORMATS`` (``"auto"``: ``detect_format``), in seconds and g.

    Raises:
        DataError: unknown format name, missing or malformed file, linear acceleration.
    """
    readers = {"csv": read_csv, "hapt": read_hapt_raw, "sensor-logger": read_sensor_logger, "phyphox": read_phyphox}
    if format != "auto" and format not in readers:
        raise DataError(f"unknown recording format {format!r}; choose one of {', '.join(FORMATS)}")
    fmt = detect_format(path) if format == "auto" else format
    return readers[fmt](path)


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
