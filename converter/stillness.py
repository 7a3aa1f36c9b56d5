"""Population stillness: a spectral model of how the people a generator file is calibrated on
hold still in each static posture, packed in the file (``sdk.postures.PopulationStillness``),
for the static covers' segments before the owner's cover bank holds enough of their own
stillness.

Each user's bouts of the posture are cut into chunks of a detector window (2.56 s), each minus
its straight-line trend, restless ones (RMS over 3x the median: a movement the labels still
call the posture) left out, as ``sdk.postures`` cuts the owner's. The chunks are clustered by
the shape of their spectrum and their loudness (k-means), and each cluster is summarised by
its cross-spectral density: the mean of its chunks' ``X X^H`` (``X`` the chunk's ``rfft``),
each normalised by its total power, times the cluster's median power. A phone draws a chunk
from a cluster picked by its share. Only these averages leave the data.
"""
from __future__ import annotations

import io

import numpy as np

from sdk.activities import activity_index
from sdk.postures import STATIC, PostureOptions, detrend
from sdk.windowing import runs

CLUSTERS = 8
#: samples per chunk: a detector window (2.56 s at 50 Hz), as the bank cuts the owner's stillness
CHUNK = 128


def stillness_chunks(ds, activity: str, chunk: int, max_rms_ratio: float = PostureOptions.max_rms_ratio) -> np.ndarray:
    """(n, chunk, 3): the detrended chunks of every labelled bout of ``activity`` in ``ds`` (a
    ``HaptDataset``), restless ones left out."""
    k = activity_index(activity)
    out = []
    for e in ds.experiments:
        for a, b in runs(e.labels == k):
            x = e.xyz[a:b].astype(np.float64)
            out += [detrend(x[i : i + chunk]) for i in range(0, len(x) - chunk + 1, chunk)]
    if not out:
        return np.empty((0, chunk, 3))
    chunks = np.stack(out)
    rms = np.sqrt((chunks**2).mean(axis=(1, 2)))
    return chunks[rms <= max_rms_ratio * np.median(rms)]


def fit_stillness(chunks: np.ndarray, clusters: int = CLUSTERS, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``(weights (K,), factors (K, F, 3, 3) complex)`` of the chunks' clusters: each factor
    ``A`` per frequency with ``A A^H`` the cluster's cross-spectral density (module doc)."""
    from sklearn.cluster import KMeans

    if len(chunks) < 2 * clusters:
        raise ValueError(f"population stillness needs at least {2 * clusters} chunks, got {len(chunks)}")
    spec = np.fft.rfft(chunks, axis=1)  # (n, F, 3)
    csd = np.einsum("nfa,nfb->nfab", spec, spec.conj())
    total = np.real(np.einsum("nfaa->n", csd))
    shape = np.log(np.abs(spec[:, 1:]) ** 2 + 1e-12).reshape(len(spec), -1)
    features = np.c_[shape - shape.mean(axis=1, keepdims=True), 3 * np.log(total)]
    labels = KMeans(clusters, n_init=4, random_state=seed).fit_predict(features)
    weights, factors = [], []
    for j in range(clusters):
        members = labels == j
        density = (csd[members] / total[members, None, None, None]).mean(axis=0) * np.median(total[members])
        w, v = np.linalg.eigh(density)  # a factor that stays valid where the density is (nearly) singular
        factors.append(v * np.sqrt(np.clip(w, 0.0, None))[:, None, :])
        weights.append(members.mean())
    return np.asarray(weights), np.stack(factors)


def stillness_member(ds, activities=STATIC, chunk: int = CHUNK, clusters: int = CLUSTERS, seed: int = 0) -> tuple[bytes, list[str]]:
    """The ``STILLNESS_MEMBER`` of a generator file fitted on ``ds`` (its calibration users),
    and the activities it holds (those of ``activities`` with enough chunks)."""
    arrays, held = {}, []
    for name in activities:
        chunks = stillness_chunks(ds, name, chunk)
        if len(chunks) < 2 * clusters:
            continue
        weights, factors = fit_stillness(chunks, clusters, seed)
        arrays[f"{name}/weights"] = weights.astype(np.float32)
        arrays[f"{name}/factors_re"] = factors.real.astype(np.float32)
        arrays[f"{name}/factors_im"] = factors.imag.astype(np.float32)
        held.append(name)
    return npz_bytes(arrays), held


def npz_bytes(arrays: dict[str, np.ndarray]) -> bytes:
    """``arrays`` as the bytes of a compressed ``.npz`` (``numpy.load`` reads it) that depend
    on the arrays only: every entry carries one fixed date, so a file calibrated twice on the
    same data is the same file."""
    import zipfile

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name in sorted(arrays):
            entry = io.BytesIO()
            np.lib.format.write_array(entry, np.asarray(arrays[name]), allow_pickle=False)
            zf.writestr(zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0)), entry.getvalue(), zipfile.ZIP_DEFLATED)
    return buf.getvalue()


__all__ = ["CHUNK", "CLUSTERS", "fit_stillness", "npz_bytes", "stillness_chunks", "stillness_member"]
