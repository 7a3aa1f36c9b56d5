"""Per-window features of a 3-axis accelerometer signal, in numpy only.

The detector's TFLite model takes these features, so the phone and the trainer must compute
them identically: both call :func:`window_features`. ``FEATURES_VERSION`` is stored in every
detector file and checked on load.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

FEATURES_VERSION = "sensegen-features-v1"
#: band edges (Hz) of the pooled power spectrum
BANDS_HZ = (0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 7.0, 10.0, 25.0)
AUTOCORR_LAGS = (5, 10, 15, 20, 25, 30, 40, 50)


@lru_cache(maxsize=16)
def _band_matrix(length: int, rate_hz: float) -> np.ndarray:
    freqs = np.fft.rfftfreq(length, 1.0 / rate_hz)
    edges = np.asarray(BANDS_HZ)
    m = np.zeros((len(freqs), len(edges) - 1))
    for b in range(len(edges) - 1):
        hi = edges[b + 1] if b < len(edges) - 2 else np.inf
        m[(freqs > edges[b]) & (freqs <= hi), b] = 1.0
    m.setflags(write=False)
    return m


@dataclass(frozen=True)
class _Constants:
    """What ``window_features`` needs per window length and rate, computed once."""

    dft: np.ndarray  # (L, 2K): Hann-windowed cos | -sin of the K rfft bins, scaled by 1/sqrt(L)
    bands: np.ndarray  # (K, bands) 0/1 band membership of each bin
    freqs1: np.ndarray  # (K - 1,) bin frequencies without DC
    lag_step: int  # the lags' greatest common divisor
    lag_pick: np.ndarray  # which multiples of lag_step (minus one) are the lags
    pad: int  # the largest lag
    sorted_at: np.ndarray  # positions in a sorted window: 0, L-1, p10/p90 lo, hi, base, median pair
    p_coef: np.ndarray  # (2, 1): numpy's _lerp of p10/p90 as base + (hi - lo) * coef
    kth: list  # partition positions for the median
    mid: np.ndarray  # the median pair (equal for odd L)
    log_bins: float  # log of the number of bins without DC


@lru_cache(maxsize=16)
def _constants(length: int, rate_hz: float) -> _Constants:
    n_bins = length // 2 + 1
    k = np.arange(n_bins)
    t = np.arange(length)
    angle = 2 * np.pi * np.outer(t, k) / length
    dft = np.concatenate([np.cos(angle), -np.sin(angle)], axis=1) * (np.hanning(length) / np.sqrt(length))[:, None]
    lags = np.asarray([lag for lag in AUTOCORR_LAGS if lag < length], dtype=np.intp)
    pad = int(lags.max())
    lag_step = int(np.gcd.reduce(lags))
    # np.percentile's "linear" method: virtual index q * (L - 1), interpolated as numpy's _lerp:
    # b - (b - a) * (1 - g) when g >= 0.5, else a + (b - a) * g; both are base + (b - a) * coef
    q = np.true_divide([10, 90], 100)
    virtual = length * q + (1 + q * (1 - 1 - 1)) - 1
    below = np.floor(virtual).astype(np.intp)
    gamma = virtual - below
    base = np.where(gamma >= 0.5, below + 1, below)
    coef = np.where(gamma >= 0.5, -(1 - gamma), gamma)
    h = length // 2
    mid = np.asarray([h - 1, h] if length % 2 == 0 else [h, h], dtype=np.intp)
    sorted_at = np.concatenate([[0, length - 1], below, below + 1, base, mid]).astype(np.intp)
    consts = _Constants(
        dft=dft, bands=_band_matrix(length, rate_hz), freqs1=np.fft.rfftfreq(length, 1.0 / rate_hz)[1:],
        lag_step=lag_step, lag_pick=lags // lag_step - 1, pad=pad, sorted_at=sorted_at, p_coef=coef,
        kth=sorted(set(mid.tolist())), mid=mid, log_bins=float(np.log(n_bins - 1)),
    )
    for a in (consts.dft, consts.freqs1, consts.lag_pick, consts.sorted_at, consts.p_coef, consts.mid):
        a.setflags(write=False)
    return consts


def feature_names(length: int = 128) -> list[str]:
    names = []
    for stat in ("mean", "std", "min", "max", "p10", "p90", "mad", "absdiff"):
        names += [f"{stat}_{a}" for a in "xyz"]
    names += [f"gdir_{a}" for a in "xyz"]
    names += ["corr_xy", "corr_xz", "corr_yz"]
    for sig in ("mag", "vert", "horiz"):
        names += [f"{sig}_{s}" for s in ("mean", "std", "min", "max", "skew", "absdiff")]
    names += ["vert_jerk_pos", "vert_jerk_neg"]
    for sig in ("vert", "horiz", "mag"):
        names += [f"{sig}_band{b}" for b in range(len(BANDS_HZ) - 1)]
        names += [f"{sig}_acf{lag}" for lag in AUTOCORR_LAGS if lag < length]
    names += ["vert_peak_hz", "mag_peak_hz", "vert_spec_entropy"]
    return names


#: rows of the six-signal array: x, y, z, magnitude, vertical, horizontal
_MAG, _VERT, _HORIZ = 3, 4, 5
#: the spectral signals in feature order: vertical, horizontal, magnitude
_SPEC = np.asarray([_VERT, _HORIZ, _MAG], dtype=np.intp)
_PAIR_I, _PAIR_J = np.asarray([0, 0, 1], dtype=np.intp), np.asarray([1, 2, 2], dtype=np.intp)


def window_features(windows: np.ndarray, rate_hz: float = 50.0) -> np.ndarray:
    """Features of ``windows`` (n, L, 3) or (L, 3) in g -> (n, F) float32.

    Time-domain statistics per axis, the gravity direction (unit mean vector), axis
    correlations, statistics of the magnitude and of the dynamic part projected on the
    gravity direction (vertical) and orthogonal to it (horizontal), log band powers and
    autocorrelations of those three signals.

    Computed on all six signals at once with a fixed number of numpy calls whatever the number
    of windows (about 60; a phone classifies one or two windows per call, so the per-call
    overhead is the cost): one sort gives every minimum, maximum, percentile and median, one
    partition the median absolute deviation, one product matrix the variances and axis
    covariances, one product with a Hann-windowed DFT matrix the three spectra, one view of
    lagged copies the autocorrelations. The values are those of ``FEATURES_VERSION`` (tested
    against the plain per-feature formulas on real windows to float32 rounding).
    """
    w = np.asarray(windows, dtype=np.float64)
    if w.ndim == 2:
        w = w[None]
    if w.ndim != 3 or w.shape[2] != 3 or w.shape[1] < 16:
        raise ValueError(f"windows must be (n, L >= 16, 3), got {w.shape}")
    n, length, _ = w.shape
    k = _constants(length, float(rate_hz))
    n_bins, n_bands, n_lags = k.bands.shape[0], k.bands.shape[1], len(k.lag_pick)

    sig = np.empty((n, 6, length))  # x, y, z, magnitude, vertical, horizontal
    a = sig[:, :3]
    a[...] = w.transpose(0, 2, 1)
    mean = a.sum(axis=2) / length
    gdir = mean / np.maximum(np.sqrt((mean * mean).sum(axis=1)), 1e-6)[:, None]
    c = a - mean[:, :, None]
    vert = np.einsum("nal,na->nl", c, gdir, out=sig[:, _VERT])
    np.sqrt((a * a).sum(axis=1), out=sig[:, _MAG])
    h = c - vert[:, None, :] * gdir[:, :, None]
    np.sqrt((h * h).sum(axis=1), out=sig[:, _HORIZ])

    mean6 = sig.sum(axis=2) / length
    c6 = sig - mean6[:, :, None]
    prod = c6 @ c6.transpose(0, 2, 1)  # (n, 6, 6) sums of centred products
    ss = np.einsum("naa->na", prod)  # sums of squares
    std6 = np.sqrt(ss / length)
    sd = np.sqrt(np.maximum(ss[:, :3] / length, 1e-12))
    corr = (prod[:, _PAIR_I, _PAIR_J] / length) / (sd[:, _PAIR_I] * sd[:, _PAIR_J])
    d6 = sig[:, :, 1:] - sig[:, :, :-1]
    absdiff6 = np.abs(d6).sum(axis=2) / (length - 1)
    dv = d6[:, _VERT]

    # one sort: min, max, p10 / p90 (np.percentile's linear method) and the median
    g = np.sort(sig, axis=2)[:, :, k.sorted_at]  # (n, 6, 10): min, max, lo(2), hi(2), base(2), middle(2)
    pct = g[:, :3, 6:8] + (g[:, :3, 4:6] - g[:, :3, 2:4]) * k.p_coef
    med = (g[:, :3, 8] + g[:, :3, 9]) / 2
    dev = np.partition(np.abs(a - med[:, :, None]), k.kth, axis=2)[:, :, k.mid]
    mad = (dev[:, :, 0] + dev[:, :, 1]) / 2
    cs = c6[:, 3:]
    s3 = np.maximum(std6[:, 3:], 1e-6)
    skew = ((cs * cs * cs).sum(axis=2) / length) / (s3 * s3 * s3)

    # spectra (Hann window) and autocorrelations of vertical, horizontal, magnitude
    cc = c6[:, _SPEC]  # (n, 3, L)
    y = np.dot(cc.reshape(3 * n, length), k.dft).reshape(n, 3, 2 * n_bins)
    y *= y
    power = y[:, :, :n_bins] + y[:, :, n_bins:]  # |rfft(hann * x)|^2 / L
    logband = np.log(power @ k.bands + 1e-6)
    padded = np.zeros((n, 3, length + k.pad))
    padded[:, :, :length] = cc
    # lagged copies as a view: shifted[i, s, j, t] = padded[i, s, (j + 1) * lag_step + t]
    steps = k.pad // k.lag_step
    shifted = np.ndarray((n, 3, steps, length), buffer=padded, offset=k.lag_step * padded.itemsize,
                         strides=padded.strides[:2] + (k.lag_step * padded.itemsize, padded.itemsize))
    lagged = np.einsum("nsjt,nst->nsj", shifted, cc)[:, :, k.lag_pick]
    acf = lagged / (ss[:, _SPEC] + 1e-9)[:, :, None]
    pv = power[:, 0, 1:]
    pn = pv / np.maximum(pv.sum(axis=1, keepdims=True), 1e-12)
    entropy = -(pn * np.log(pn + 1e-12)).sum(axis=1) / k.log_bins

    n_spec = 3 * (n_bands + n_lags)
    out = np.empty((n, 50 + n_spec + 3), np.float32)
    o = out[:, :24].reshape(n, 8, 3)  # mean, std, min, max, p10, p90, mad, absdiff of x, y, z
    o[:, 0] = mean6[:, :3]
    o[:, 1] = std6[:, :3]
    o[:, 2:4] = g[:, :3, 0:2].transpose(0, 2, 1)
    o[:, 4:6] = pct.transpose(0, 2, 1)
    o[:, 6] = mad
    o[:, 7] = absdiff6[:, :3]
    out[:, 24:27] = gdir
    out[:, 27:30] = corr
    s = out[:, 30:48].reshape(n, 3, 6)  # magnitude, vertical, horizontal: mean, std, min, max, skew, absdiff
    s[:, :, 0] = mean6[:, 3:]
    s[:, :, 1] = std6[:, 3:]
    s[:, :, 2:4] = g[:, 3:, 0:2]
    s[:, :, 4] = skew
    s[:, :, 5] = absdiff6[:, 3:]
    out[:, 48] = dv.max(axis=1)
    out[:, 49] = -dv.min(axis=1)
    spec = out[:, 50 : 50 + n_spec].reshape(n, 3, n_bands + n_lags)  # vertical, horizontal, magnitude
    spec[:, :, :n_bands] = logband
    spec[:, :, n_bands:] = acf
    out[:, -3:-1] = k.freqs1[power[:, ::2, 1:].argmax(axis=2)]  # vertical, magnitude
    out[:, -1] = entropy
    return out
