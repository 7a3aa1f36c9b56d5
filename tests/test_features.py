"""``sdk.features.window_features`` keeps every feature's meaning: the fast implementation is
checked against the plain per-feature formulas of ``sensegen-features-v1`` (kept below as the
oracle) on real windows of several users and activities."""
from __future__ import annotations

import numpy as np
import pytest

from sdk.features import AUTOCORR_LAGS, BANDS_HZ, feature_names, window_features
from tests.conftest import stream_of


def _band_matrix(length, rate_hz):
    freqs = np.fft.rfftfreq(length, 1.0 / rate_hz)
    edges = np.asarray(BANDS_HZ)
    m = np.zeros((len(freqs), len(edges) - 1))
    for b in range(len(edges) - 1):
        hi = edges[b + 1] if b < len(edges) - 2 else np.inf
        m[(freqs > edges[b]) & (freqs <= hi), b] = 1.0
    return m


def _skew(x):
    c = x - x.mean(axis=1, keepdims=True)
    s = c.std(axis=1)
    return (c**3).mean(axis=1) / np.maximum(s, 1e-6) ** 3


def _acf(x, lags):
    c = x - x.mean(axis=1, keepdims=True)
    var = (c**2).sum(axis=1) + 1e-9
    return np.stack([(c[:, lag:] * c[:, :-lag]).sum(axis=1) / var for lag in lags], axis=1)


def reference_features(windows, rate_hz=50.0):
    """``window_features`` as first written (sensegen-features-v1): one numpy call per feature."""
    w = np.asarray(windows, dtype=np.float64)
    n, length, _ = w.shape
    mean = w.mean(axis=1)
    std = w.std(axis=1)
    p10, p90 = np.percentile(w, [10, 90], axis=1)
    med = np.median(w, axis=1)
    mad = np.median(np.abs(w - med[:, None, :]), axis=1)
    absdiff = np.abs(np.diff(w, axis=1)).mean(axis=1)
    feats = [mean, std, w.min(axis=1), w.max(axis=1), p10, p90, mad, absdiff]
    gdir = mean / np.maximum(np.linalg.norm(mean, axis=1, keepdims=True), 1e-6)
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
        feats.append(np.stack([sig.mean(axis=1), sig.std(axis=1), sig.min(axis=1), sig.max(axis=1), _skew(sig),
                               np.abs(np.diff(sig, axis=1)).mean(axis=1)], axis=1))
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
    feats.append(np.stack([freqs[1:][pv.argmax(axis=1)], freqs[1:][specs["mag"][:, 1:].argmax(axis=1)], entropy], axis=1))
    return np.concatenate(feats, axis=1).astype(np.float32)


def real_windows(hapt_root, length, hop):
    """Windows of three users' recordings (walking, stairs, postures, transitions)."""
    out = []
    for name in ("acc_exp05_user03.txt", "acc_exp07_user04.txt", "acc_exp30_user15.txt"):
        _, xyz = stream_of(hapt_root / "RawData" / name)
        out += [xyz[i : i + length] for i in range(0, len(xyz) - length, hop)]
    return np.stack(out)


@pytest.mark.parametrize("length", [128, 100, 33])
def test_window_features_equal_reference_formulas_on_real_windows(hapt_root, length):
    w = real_windows(hapt_root, length, 37)
    fast, ref = window_features(w), reference_features(w)
    assert fast.shape == ref.shape == (len(w), len(feature_names(length)))
    np.testing.assert_allclose(fast, ref, rtol=2e-6, atol=1e-6)  # float32 rounding of each value


def test_window_features_of_one_window_equal_a_batch_row(hapt_root):
    w = real_windows(hapt_root, 128, 500)
    np.testing.assert_array_equal(window_features(w[3]), window_features(w)[3:4])


def test_window_features_refuse_bad_shapes():
    with pytest.raises(ValueError, match=r"windows must be \(n, L >= 16, 3\), got \(2, 8, 3\)"):
        window_features(np.zeros((2, 8, 3)))


def test_window_features_equal_reference_formulas_on_degenerate_windows():
    """The clamps (zero variance, zero spectrum) and tiny signals give the oracle's values."""
    rng = np.random.default_rng(1)
    ramp = np.tile(np.linspace(-1, 1, 128)[:, None], (1, 3))
    for w in (np.zeros((1, 128, 3)), np.ones((2, 128, 3)) * [0, 0, 1], ramp[None],
              rng.normal(size=(3, 128, 3)) * 1e-4 + [0.3, 0.1, 0.95], rng.normal(size=(2, 17, 3))):
        np.testing.assert_allclose(window_features(w), reference_features(w), rtol=2e-6, atol=1e-6)
