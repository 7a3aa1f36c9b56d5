"""Checking blocks of accelerometer samples at the door of every stream operator."""
from __future__ import annotations

import numpy as np

from .errors import SampleValueError


def as_sample_block(t, xyz) -> tuple[np.ndarray, np.ndarray]:
    """``t`` (n,) and ``xyz`` (n, 3) as float64 arrays with finite values.

    Raises:
        SampleValueError: non-numeric values, wrong shapes, NaN or inf in ``xyz``.
    """
    try:
        ts = np.asarray(t, dtype=np.float64).reshape(-1)
        xs = np.asarray(xyz, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise SampleValueError(f"samples must be numbers: {exc}") from None
    if xs.ndim != 2 or xs.shape[1] != 3 or xs.shape[0] != ts.shape[0]:
        raise SampleValueError(f"need t (n,) and xyz (n, 3), got {ts.shape} and {xs.shape}")
    if not np.isfinite(xs).all():
        row = int(np.argmax(~np.isfinite(xs).all(axis=1)))
        raise SampleValueError(f"sample at t={float(ts[row])!r} holds NaN or inf: {xs[row].tolist()}")
    return ts, xs
