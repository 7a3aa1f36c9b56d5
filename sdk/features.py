"""Per-window features of a 3-axis accelerometer signal, in numpy only.

The detector's TFLite model takes these features, so the phone and the trainer must compute
them identically: both call :func:`window_features`. ``FEATURES_VERSION`` is stored in every
detector file and checked on load.
"""
from __future__ import annotations

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


@lru_cache(maxsize=16)
def _window_constants(length: int, rate_hz: float):
    """Per window length: Hann window, frequencies, band matrix, lags, percentile positions."""
    lags = np.asarray([lag for lag in AUTOCORR_LAGS if lag < length], dtype=np.intp)
    # np.percentile's "linear" method: virtual index q * (L - 1), interpolated as numpy's _lerp
    q = np.true_divide([10, 90], 100)
    virtual = length * q + (1 + q * (1 - 1 - 1)) - 1
    below = np.floor(virtual).astype(np.intp)
    gamma = virtual - below
    return np.hanning(length), np.fft.rfftfreq(length, 1.0 / rate_hz), _band_matrix(length, rate_hz), lags, below, gamma


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


def _lerp(a: np.ndarray, b: np.ndarray, t: float) -> np.ndarray:
    """numpy's percentile interpolation (``numpy.lib._function_base_impl._lerp``)."""
    d = b - a
    return b - d * (1 - t) if t >= 0.5 else a + d * t


def _median_sorted_or_partitioned(x: np.ndarray) -> np.ndarray:
    """Median along the last axis of an array partitioned (or sorted) at its middle."""
    h = x.shape[-1] // 2
    if x.shape[-1] % 2:
        return x[..., h]
    return (x[..., h - 1] + x[..., h]) / 2


def window_features(windows: np.ndarray, rate_hz: float = 50.0) -> np.ndarray:
    """Features of ``windows`` (n, L, 3) or (L, 3) in g -> (n, F) float32.

    Time-domain statistics per axis, the gravity direction (unit mean vector), axis
    correlations, statistics of the magnitude and of the dynamic part projected on the
    gravity direction (vertical) and orthogonal to it (horizontal), log band powers and
    autocorrelations of those three signals.

    Computed on all six signals at once (one sort, one partition, one FFT pair for spectra and
    autocorrelations), so the cost per call is a few dozen numpy calls whatever the number
    of windows; the values are those of ``FEATURES_VERSION`` (tested against the plain
    per-feature formulas on real windows).
    """
    w = np.asarray(windows, dtype=np.float64)
    if w.ndim == 2:
        w = w[None]
    if w.ndim != 3 or w.shape[2] != 3 or w.shape[1] < 16:
        raise ValueError(f"windows must be (n, L >= 16, 3), got {w.shape}")
    n, length, _ = w.shape
    hann, freqs, bands, lags, below, gamma = _window_constants(length, float(rate_hz))
    a = np.ascontiguousarray(w.transpose(0, 2, 1))  # (n, 3, L)
    mean = a.mean(axis=2)
    gdir = mean / np.maximum(np.sqrt((mean * mean).sum(axis=1)), 1e-6)[:, None]
    c = a - mean[:, :, None]
    vert = np.einsum("nal,na->nl", c, gdir)
    sig = np.empty((n, 6, length))  # x, y, z, magnitude, vertical, horizontal
    sig[:, :3] = a
    sig[:, 3] = np.sqrt((a * a).sum(axis=1))
    sig[:, 4] = vert
    h = c - vert[:, None, :] * gdir[:, :, None]
    sig[:, 5] = np.sqrt((h * h).sum(axis=1))
    mean6 = sig.mean(axis=2)
    c6 = sig - mean6[:, :, None]
    std6 = np.sqrt((c6 * c6).mean(axis=2))
    d6 = np.diff(sig, axis=2)
    absdiff6 = np.abs(d6).mean(axis=2)
    srt = np.sort(a, axis=2)
    p10 = _lerp(srt[:, :, below[0]], srt[:, :, below[0] + 1], gamma[0])
    p90 = _lerp(srt[:, :, below[1]], srt[:, :, below[1] + 1], gamma[1])
    med = _median_sorted_or_partitioned(srt)
    half = length // 2
    dev = np.partition(np.abs(a - med[:, :, None]), [half - 1, half] if length % 2 == 0 else [half], axis=2)
    mad = _median_sorted_or_partitioned(dev)
    cov = np.matmul(c, c.transpose(0, 2, 1)) / length
    sd = np.sqrt(np.maximum(np.einsum("naa->na", cov), 1e-12))
    corr = cov / (sd[:, :, None] * sd[:, None, :])
    s3 = std6[:, 3:]
    skew = (c6[:, 3:] ** 3).mean(axis=2) / np.maximum(s3, 1e-6) ** 3
    # spectra and autocorrelations of vertical, horizontal, magnitude (in that order)
    order = [4, 5, 3]
    cc = c6[:, order]
    cc = cc - cc.mean(axis=2, keepdims=True)
    # one FFT of length 2L for both: the Hann-windowed signals (their even bins are the L-point
    # spectrum) and the centred ones (zero-padded: |F|^2 -> linear autocorrelation)
    both = np.fft.rfft(np.concatenate([np.stack([vert, c6[:, 5], c6[:, 3]], axis=1) * hann, cc], axis=1), n=2 * length, axis=2)
    f = both[:, 3:]
    power = np.abs(both[:, :3, ::2]) ** 2 / length
    logband = np.log(power @ bands + 1e-6)  # (n, 3, bands)
    r = np.fft.irfft(f.real**2 + f.imag**2, n=2 * length, axis=2)
    acf = r[:, :, lags] / ((cc * cc).sum(axis=2) + 1e-9)[:, :, None]
    pv = power[:, 0, 1:]
    pn = pv / np.maximum(pv.sum(axis=1, keepdims=True), 1e-12)
    entropy = -(pn * np.log(pn + 1e-12)).sum(axis=1) / np.log(pv.shape[1])
    sig_stats = np.stack([mean6[:, 3:], std6[:, 3:], sig[:, 3:].min(axis=2), sig[:, 3:].max(axis=2), skew, absdiff6[:, 3:]], axis=2)
    dv = d6[:, 4]
    parts = [
        mean6[:, :3], std6[:, :3], srt[:, :, 0], srt[:, :, -1], p10, p90, mad, absdiff6[:, :3], gdir,
        corr[:, [0, 0, 1], [1, 2, 2]],
        sig_stats.reshape(n, -1),  # magnitude, vertical, horizontal: mean, std, min, max, skew, absdiff
        np.stack([dv.max(axis=1), -dv.min(axis=1)], axis=1),
        np.concatenate([logband, acf], axis=2).reshape(n, -1),  # vertical, horizontal, magnitude
        np.stack([freqs[1:][pv.argmax(axis=1)], freqs[1:][power[:, 2, 1:].argmax(axis=1)], entropy], axis=1),
    ]
    return np.concatenate(parts, axis=1).astype(np.float32)
