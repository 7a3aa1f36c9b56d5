"""Per-window features of a 3-axis accelerometer signal, in numpy only.

The detector's TFLite model takes these features, so the phone and the trainer must compute
them identically: both call :func:`window_features`. ``FEATURES_VERSION`` is stored in every
detector file and checked on load.
"""
from __future__ import annotations

import numpy as np

FEATURES_VERSION = "sensegen-features-v1"
#: band edges (Hz) of the pooled power spectrum
BANDS_HZ = (0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 7.0, 10.0, 25.0)
AUTOCORR_LAGS = (5, 10, 15, 20, 25, 30, 40, 50)


def _band_matrix(length: int, rate_hz: float) -> np.ndarray:
    freqs = np.fft.rfftfreq(length, 1.0 / rate_hz)
    edges = np.asarray(BANDS_HZ)
    m = np.zeros((len(freqs), len(edges) - 1))
    for b in range(len(edges) - 1):
        hi = edges[b + 1] if b < len(edges) - 2 else np.inf
        m[(freqs > edges[b]) & (freqs <= hi), b] = 1.0
    return m


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


def _skew(x: np.ndarray) -> np.ndarray:
    c = x - x.mean(axis=1, keepdims=True)
    s = c.std(axis=1)
    return (c**3).mean(axis=1) / np.maximum(s, 1e-6) ** 3


def _acf(x: np.ndarray, lags) -> np.ndarray:
    c = x - x.mean(axis=1, keepdims=True)
    var = (c**2).sum(axis=1) + 1e-9
    return np.stack([(c[:, lag:] * c[:, :-lag]).sum(axis=1) / var for lag in lags], axis=1)


def window_features(windows: np.ndarray, rate_hz: float = 50.0) -> np.ndarray:
    """Features of ``windows`` (n, L, 3) or (L, 3) in g -> (n, F) float32.

    Time-domain statistics per axis, the gravity direction (unit mean vector), axis
    correlations, statistics of the magnitude and of the dynamic part projected on the
    gravity direction (vertical) and orthogonal to it (horizontal), log band powers and
    autocorrelations of those three signals.
    """
    w = np.asarray(windows, dtype=np.float64)
    if w.ndim == 2:
        w = w[None]
    if w.ndim != 3 or w.shape[2] != 3 or w.shape[1] < 16:
        raise ValueError(f"windows must be (n, L >= 16, 3), got {w.shape}")
    n, length, _ = w.shape
    mean = w.mean(axis=1)
    std = w.std(axis=1)
    p10, p90 = np.percentile(w, [10, 90], axis=1)
    med = np.median(w, axis=1)
    mad = np.median(np.abs(w - med[:, None, :]), axis=1)
    absdiff = np.abs(np.diff(w, axis=1)).mean(axis=1)
    feats = [mean, std, w.min(axis=1), w.max(axis=1), p10, p90, mad, absdiff]
    gnorm = np.linalg.norm(mean, axis=1, keepdims=True)
    gdir = mean / np.maximum(gnorm, 1e-6)
    feats.append(gdir)
    c = w - mean[:, None, :]
    cov = np.einsum("nta,ntb->nab", c, c) / length
    sd = np.sqrt(np.maximum(np.einsum("naa->na", cov), 1e-12))
    corr = cov / (sd[:, :, None] * sd[:, None, :])
    feats.append(np.stack([corr[:, 0, 1], corr[:, 0, 2], corr[:, 1, 2]], axis=1))
    mag = np.linalg.norm(w, axis=2)
    vert = np.einsum("nta,na->nt", c, gdir)
    horiz = np.linalg.norm(c - vert[:, :, None] * gdir[:, None, :], axis=2)
    for sig in (mag, vert, horiz):
        feats.append(
            np.stack(
                [sig.mean(axis=1), sig.std(axis=1), sig.min(axis=1), sig.max(axis=1), _skew(sig),
                 np.abs(np.diff(sig, axis=1)).mean(axis=1)],
                axis=1,
            )
        )
    dv = np.diff(vert, axis=1)
    feats.append(np.stack([dv.max(axis=1), -dv.min(axis=1)], axis=1))
    bands = _band_matrix(length, rate_hz)
    lags = [lag for lag in AUTOCORR_LAGS if lag < length]
    hann = np.hanning(length)
    specs = {}
    for name, sig in (("vert", vert), ("horiz", horiz - horiz.mean(axis=1, keepdims=True)), ("mag", mag - mag.mean(axis=1, keepdims=True))):
        power = np.abs(np.fft.rfft(sig * hann, axis=1)) ** 2 / length
        specs[name] = power
        feats.append(np.log(power @ bands + 1e-6))
        feats.append(_acf(sig, lags))
    freqs = np.fft.rfftfreq(length, 1.0 / rate_hz)
    pv = specs["vert"][:, 1:]
    pn = pv / np.maximum(pv.sum(axis=1, keepdims=True), 1e-12)
    entropy = -(pn * np.log(pn + 1e-12)).sum(axis=1) / np.log(pv.shape[1])
    feats.append(
        np.stack([freqs[1:][pv.argmax(axis=1)], freqs[1:][specs["mag"][:, 1:].argmax(axis=1)], entropy], axis=1)
    )
    out = np.concatenate(feats, axis=1).astype(np.float32)
    return out
