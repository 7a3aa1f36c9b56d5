"""The evaluation's metrics, each a plain function of windows or streams.

Realism: an LSTM discriminator (the SenseGen paper's test) and a feature discriminator
(random forest), both with grouped cross-validation so overlapping windows of one segment
never sit on both sides; statistics (per-axis mean/std, autocorrelation, power spectrum,
MMD). Utility: train-on-synthetic / test-on-real. Privacy on released streams: an attacker,
a utility classifier, a splice detector, and the count of real sensitive samples released.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from sdk.features import window_features

log = logging.getLogger(__name__)

ACF_LAGS = 50


# --- cross-validation helpers ------------------------------------------------------------------

def _grouped_folds(groups: np.ndarray, folds: int, seed: int, users: np.ndarray | None = None) -> list[np.ndarray]:
    """Test masks of ``folds`` folds that never split a group and, when ``users`` is given,
    hold every user in about the same share (scikit-learn's ``StratifiedGroupKFold``,
    stratified by user, groups shuffled with ``seed``)."""
    import warnings

    from sklearn.model_selection import StratifiedGroupKFold

    folds = max(2, min(folds, len(np.unique(groups))))
    strata = users if users is not None else np.zeros(len(groups), int)
    splitter = StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=seed)
    masks = []
    with warnings.catch_warnings():  # a user with fewer groups than folds is expected here
        warnings.filterwarnings("ignore", message="The least populated class", category=UserWarning)
        for _, test in splitter.split(np.zeros(len(groups)), strata, groups):
            m = np.zeros(len(groups), bool)
            m[test] = True
            masks.append(m)
    return [m for m in masks if m.any()]


def per_user_standardise(x: np.ndarray, users: np.ndarray) -> np.ndarray:
    """Standardise rows (n, ..., C) per user: each user's mean and std per channel over all
    of that user's rows (and time steps). The judge then sees every window relative to the
    user's own stream, as an app that knows this user does (DESIGN.md: realism is dominated
    by the person). Label-agnostic: real and generated rows of a user share one scale."""
    out = np.empty_like(x, dtype=np.float64)
    for u in np.unique(users):
        m = users == u
        flat = x[m].reshape(-1, x.shape[-1])
        out[m] = (x[m] - flat.mean(axis=0)) / (flat.std(axis=0) + 1e-6)
    return out


def _per_user(correct: np.ndarray, users: np.ndarray) -> dict[str, float]:
    return {str(int(u)): float(correct[users == u].mean()) for u in np.unique(users)}


@dataclass
class DiscriminatorResult:
    accuracy: float  # held-out accuracy, pooled over folds (0.5 = indistinguishable)
    balanced_accuracy: float
    per_user: dict[str, float]
    n_real: int
    n_fake: int

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def _discriminate(real, fake, groups_real, groups_fake, users_real, users_fake, fit_predict, folds: int, seed: int, user_relative: bool) -> DiscriminatorResult:
    if len(real) < 4 or len(fake) < 4:
        return DiscriminatorResult(float("nan"), float("nan"), {}, len(real), len(fake))
    x = np.concatenate([real, fake])
    y = np.r_[np.zeros(len(real)), np.ones(len(fake))].astype(int)
    g = np.concatenate([groups_real, groups_fake])
    u = np.concatenate([users_real, users_fake])
    if user_relative:
        x = per_user_standardise(x, u)
    pred = np.full(len(y), -1)
    for k, test in enumerate(_grouped_folds(g, folds, seed, u)):
        train = ~test
        if len(np.unique(y[train])) < 2 or not test.any():
            continue
        pred[test] = fit_predict(x[train], y[train], x[test], seed + k)
    ok = pred >= 0
    correct = (pred == y)[ok]
    bal = float(np.mean([correct[y[ok] == c].mean() for c in (0, 1) if (y[ok] == c).any()]))
    return DiscriminatorResult(float(correct.mean()), bal, _per_user(correct, u[ok]), len(real), len(fake))


def lstm_discriminator(
    real: np.ndarray,
    fake: np.ndarray,
    groups_real: np.ndarray,
    groups_fake: np.ndarray,
    users_real: np.ndarray,
    users_fake: np.ndarray,
    folds: int = 3,
    epochs: int = 15,
    units: int = 32,
    seed: int = 0,
    min_steps: int = 120,
    user_relative: bool = True,
) -> DiscriminatorResult:
    """The SenseGen paper's test: an LSTM trained on real vs generated windows (n, L, 3), its
    accuracy on held-out windows (grouped folds; 0.5 = indistinguishable). The LSTM reads
    each window and its first difference, standardised with one global mean/std per
    channel, so both levels (how the phone sits) and dynamics count; with ``user_relative``
    (default) each user's windows are first standardised by that user's statistics."""
    import keras

    def fit_predict(xtr, ytr, xte, s):
        keras.utils.set_random_seed(s)
        mu, sd = xtr.reshape(-1, 6).mean(axis=0), xtr.reshape(-1, 6).std(axis=0) + 1e-6
        xtr, xte = ((xtr - mu) / sd).astype(np.float32), ((xte - mu) / sd).astype(np.float32)
        # early stopping only when the validation part is big enough to mean something;
        # small sets train for a fixed number of gradient steps instead
        val = np.random.default_rng(s).random(len(ytr)) < (0.15 if len(ytr) >= 150 else 0.0)
        n_epochs = max(epochs, int(np.ceil(min_steps / max(1, np.ceil((~val).sum() / 32)))))
        model = keras.Sequential([keras.Input(xtr.shape[1:]), keras.layers.LSTM(units), keras.layers.Dense(1, activation="sigmoid")])
        model.compile(keras.optimizers.Adam(3e-3), "binary_crossentropy")
        kw = {}
        if val.any():
            kw = dict(validation_data=(xtr[val], ytr[val]), callbacks=[keras.callbacks.EarlyStopping("val_loss", patience=5, restore_best_weights=True)])
        model.fit(xtr[~val], ytr[~val], epochs=n_epochs, batch_size=32, verbose=0, **kw)
        prob = np.concatenate([np.asarray(model(xte[i : i + 256], training=False))[:, 0] for i in range(0, len(xte), 256)])
        return (prob >= 0.5).astype(int)

    return _discriminate(_with_diff(real), _with_diff(fake), groups_real, groups_fake, users_real, users_fake, fit_predict, folds, seed, user_relative)


def _with_diff(w: np.ndarray) -> np.ndarray:
    return np.concatenate([w, np.diff(w, axis=1, prepend=w[:, :1])], axis=2)


def feature_discriminator(
    real, fake, groups_real, groups_fake, users_real, users_fake, folds: int = 3, seed: int = 0, user_relative: bool = True
) -> DiscriminatorResult:
    """A random forest on window features (levels, spreads, spectra) as in DESIGN.md's realism
    finding: usually a stronger judge than the LSTM. With ``user_relative`` the features are
    standardised per user first."""
    from sklearn.ensemble import RandomForestClassifier

    fr, ff = window_features(real), window_features(fake)

    def fit_predict(xtr, ytr, xte, s):
        clf = RandomForestClassifier(200, min_samples_leaf=2, n_jobs=2, random_state=s)
        return clf.fit(xtr, ytr).predict(xte)

    return _discriminate(fr, ff, groups_real, groups_fake, users_real, users_fake, fit_predict, folds, seed, user_relative)


# --- statistics --------------------------------------------------------------------------------

def autocorrelation(windows: np.ndarray, lags: int = ACF_LAGS) -> np.ndarray:
    """Mean per-axis autocorrelation (lags 0..``lags``) of window-demeaned windows -> (lags+1, 3)."""
    c = windows - windows.mean(axis=1, keepdims=True)
    var = (c**2).sum(axis=1) + 1e-12
    return np.stack([((c[:, k:] * c[:, : c.shape[1] - k]).sum(axis=1) / var).mean(axis=0) for k in range(lags + 1)])


def power_spectrum(windows: np.ndarray, rate_hz: float = 50.0) -> tuple[np.ndarray, np.ndarray]:
    """(frequencies, mean per-axis periodogram (F, 3)) of Hann-windowed, demeaned windows."""
    c = windows - windows.mean(axis=1, keepdims=True)
    hann = np.hanning(windows.shape[1])[None, :, None]
    p = (np.abs(np.fft.rfft(c * hann, axis=1)) ** 2).mean(axis=0) / windows.shape[1]
    return np.fft.rfftfreq(windows.shape[1], 1 / rate_hz), p


def mmd2(a: np.ndarray, b: np.ndarray, max_n: int = 400, seed: int = 0) -> float:
    """Unbiased squared MMD with an RBF kernel (median-heuristic bandwidth) between two
    sets of feature rows, standardised with ``a``'s statistics."""
    rng = np.random.default_rng(seed)
    if len(a) > max_n:
        a = a[rng.choice(len(a), max_n, replace=False)]
    if len(b) > max_n:
        b = b[rng.choice(len(b), max_n, replace=False)]
    if len(a) < 2 or len(b) < 2:
        return float("nan")
    mu, sd = a.mean(axis=0), a.std(axis=0) + 1e-6
    a, b = (a - mu) / sd, (b - mu) / sd
    z = np.concatenate([a, b])
    sq = (z**2).sum(axis=1)
    d2 = np.maximum(sq[:, None] + sq[None] - 2 * z @ z.T, 0)
    bw = np.median(d2[np.triu_indices(len(z), 1)]) + 1e-12
    k = np.exp(-d2 / bw)
    n, m = len(a), len(b)
    kaa, kbb, kab = k[:n, :n], k[n:, n:], k[:n, n:]
    return float((kaa.sum() - n) / (n * (n - 1)) + (kbb.sum() - m) / (m * (m - 1)) - 2 * kab.mean())


def window_statistics(
    real: np.ndarray, fake: np.ndarray, groups_real: np.ndarray | None = None, seed: int = 0, users_real: np.ndarray | None = None
) -> dict:
    """Per-axis mean/std, autocorrelation, spectrum and MMD of generated vs real windows.

    ``mmd2_real_halves`` is the MMD between two halves of the real windows (split by group):
    the scale below which a difference is noise (halves dealt within each user when
    ``users_real`` is given, so both hold the same people).
    """
    out: dict = {"n_real": int(len(real)), "n_fake": int(len(fake))}
    if len(real) < 2 or len(fake) < 2:
        return out
    out["mean_real"], out["mean_fake"] = real.mean(axis=(0, 1)).tolist(), fake.mean(axis=(0, 1)).tolist()
    # within-window std: the dynamics, not the level
    out["std_real"], out["std_fake"] = real.std(axis=1).mean(axis=0).tolist(), fake.std(axis=1).mean(axis=0).tolist()
    ar, af = autocorrelation(real), autocorrelation(fake)
    out["acf_real"], out["acf_fake"] = ar.tolist(), af.tolist()
    out["acf_mae"] = float(np.abs(ar[1:] - af[1:]).mean())
    f, pr = power_spectrum(real)
    _, pf = power_spectrum(fake)
    out["freqs"], out["spectrum_real"], out["spectrum_fake"] = f.tolist(), pr.tolist(), pf.tolist()
    # log-spectral distance (dB, RMS over 0.5-20 Hz and axes)
    band = (f >= 0.5) & (f <= 20)
    out["log_spectral_distance_db"] = float(np.sqrt(np.mean((10 * np.log10((pr[band] + 1e-9) / (pf[band] + 1e-9))) ** 2)))
    fr, ff = window_features(real), window_features(fake)
    out["mmd2"] = mmd2(fr, ff, seed=seed)
    if groups_real is not None and len(np.unique(groups_real)) >= 2:
        half = _grouped_folds(groups_real, 2, seed, users_real)[0]
        out["mmd2_real_halves"] = mmd2(fr[half], fr[~half], seed=seed)
    return out


# --- classifiers on real data -------------------------------------------------------------------

def _forest(seed: int, balanced: bool = False, trees: int = 150):
    from sklearn.ensemble import RandomForestClassifier

    return RandomForestClassifier(
        trees, min_samples_leaf=2, n_jobs=2, random_state=seed, class_weight="balanced" if balanced else None
    )


def train_on_synthetic(real_by_user: dict, fake_by_user: dict, seed: int = 0) -> dict:
    """Train-on-synthetic / test-on-real vs train-on-real, leaving one user out: a forest on
    window features trained on the other users' generated (resp. real) windows, tested on
    the held-out user's real windows. ``*_by_user``: user -> (windows, labels)."""
    users = sorted(set(real_by_user) & set(fake_by_user))
    res = {"per_user": {}, "tstr": float("nan"), "trtr": float("nan")}
    hits = {"tstr": [], "trtr": []}
    for u in users:
        others = [v for v in users if v != u]
        xr_te, yr_te = real_by_user[u]
        if not others or len(yr_te) == 0:
            continue
        row = {}
        for name, source in (("tstr", fake_by_user), ("trtr", real_by_user)):
            xs = [source[v][0] for v in others if len(source[v][1])]
            ys = [source[v][1] for v in others if len(source[v][1])]
            if not xs or len(np.unique(np.concatenate(ys))) < 2:
                continue
            clf = _forest(seed).fit(window_features(np.concatenate(xs)), np.concatenate(ys))
            ok = clf.predict(window_features(xr_te)) == yr_te
            row[name] = float(ok.mean())
            hits[name].append(ok)
        res["per_user"][str(u)] = row
    for name in hits:
        if hits[name]:
            res[name] = float(np.concatenate(hits[name]).mean())
    res["ratio"] = res["tstr"] / res["trtr"] if res["trtr"] > 0 else float("nan")
    return res


@dataclass
class RealDataClassifiers:
    """Classifiers an app (or an attacker) trains on real data of other people."""

    attacker: object  # binary: sensitive vs anything else, class-balanced
    utility: object  # the six activities
    sensitive: tuple[int, ...]

    @classmethod
    def fit(cls, windows: np.ndarray, labels: np.ndarray, sensitive, seed: int = 0) -> "RealDataClassifiers":
        f = window_features(windows)
        sens = tuple(int(s) for s in sensitive)
        attacker = _forest(seed, balanced=True).fit(f, np.isin(labels, sens).astype(int))
        utility = _forest(seed + 1).fit(f, labels)
        return cls(attacker, utility, sens)


def attacker_recall(clf: RealDataClassifiers, windows: np.ndarray, labels: np.ndarray, cover: int | None = None) -> dict:
    """Share of sensitive windows the attacker flags (recall), and its false-positive rate on
    windows of the cover activity (what a replaced segment imitates) and on all others."""
    if len(windows) == 0:
        return {"recall": float("nan"), "n_sensitive": 0}
    hit = clf.attacker.predict(window_features(windows)).astype(bool)
    sens = np.isin(labels, clf.sensitive)
    out = {"recall": float(hit[sens].mean()) if sens.any() else float("nan"), "n_sensitive": int(sens.sum())}
    out["false_positive_rate"] = float(hit[~sens].mean()) if (~sens).any() else float("nan")
    if cover is not None and (labels == cover).any():
        out["false_positive_rate_cover"] = float(hit[labels == cover].mean())
    return out


def attacker_excess(clf: RealDataClassifiers, windows: np.ndarray, labels: np.ndarray, replaced: np.ndarray, users: np.ndarray, cover: int) -> dict:
    """What the attacker learns from a replaced segment beyond what it says of the person
    anyway: per user, the share of wholly replaced sensitive windows it flags minus the share
    of that user's *real* released cover windows it flags (its false-positive rate on this
    person's walking), averaged over users weighted by their replaced windows. A cover that
    passes as the owner scores about 0 whatever the attacker thinks of the owner's gait; a
    positive figure means the cover looks more sensitive than the owner's own cover activity,
    a negative one less (also a tell: this person's walking does not look like that)."""
    sens = np.isin(labels, clf.sensitive)
    fake, real = sens & (replaced == 1.0), (labels == cover) & (replaced == 0)
    if not fake.any():
        return {"excess": float("nan"), "per_user": {}}
    hit = clf.attacker.predict(window_features(windows)).astype(bool)
    per_user, num, den = {}, 0.0, 0
    for u in np.unique(users[fake]):
        f, r = fake & (users == u), real & (users == u)
        if not r.any():
            continue
        d = float(hit[f].mean() - hit[r].mean())
        per_user[str(int(u))] = {"replaced_flagged": float(hit[f].mean()), "own_cover_flagged": float(hit[r].mean()), "windows": int(f.sum())}
        num, den = num + d * f.sum(), den + int(f.sum())
    return {"excess": num / den if den else float("nan"), "per_user": per_user}


def utility_accuracy(clf: RealDataClassifiers, windows: np.ndarray, labels: np.ndarray) -> float:
    """Accuracy of the six-activity classifier on the windows of non-sensitive activities."""
    keep = ~np.isin(labels, clf.sensitive)
    if not keep.any():
        return float("nan")
    return float((clf.utility.predict(window_features(windows[keep])) == labels[keep]).mean())


def splice_features(windows: np.ndarray) -> np.ndarray:
    """Window features plus what a splice leaves: jumps and level shifts inside a window."""
    d = np.abs(np.diff(windows, axis=1))
    jump = d.max(axis=1) / (np.median(d, axis=1) + 1e-6)
    q = windows.shape[1] // 4
    shift = np.abs(windows[:, :q].mean(axis=1) - windows[:, -q:].mean(axis=1))
    return np.concatenate([window_features(windows), jump, shift], axis=1)


def splice_detector_auc(windows: np.ndarray, is_replaced: np.ndarray, users: np.ndarray, seed: int = 0, user_relative: bool = True) -> dict:
    """How well a forest finds replaced windows among real ones (leave one user out, ROC AUC
    of the held-out scores pooled over users; 0.5 = cannot tell). With ``user_relative`` the
    features are standardised per user over all of that user's windows (what an app seeing
    the user's released stream can do)."""
    from sklearn.metrics import roc_auc_score

    y = np.asarray(is_replaced, int)
    if len(np.unique(y)) < 2:
        return {"auc": float("nan"), "separability": float("nan"), "n_replaced": int(y.sum()), "n_real": int((1 - y).sum())}
    score = splice_scores(windows, y, users, seed=seed, user_relative=user_relative)
    ok = np.isfinite(score)
    auc = float(roc_auc_score(y[ok], score[ok])) if len(np.unique(y[ok])) == 2 else float("nan")
    # an AUC well below 0.5 is information too (the detector is consistently wrong across
    # users): "separability" max(AUC, 1 - AUC) is what a detector with the sign fixed reaches
    return {"auc": auc, "separability": max(auc, 1 - auc), "n_replaced": int(y.sum()), "n_real": int((1 - y).sum())}


def splice_scores(
    windows: np.ndarray, is_replaced: np.ndarray, users: np.ndarray, seed: int = 0, user_relative: bool = True,
    train: np.ndarray | None = None,
) -> np.ndarray:
    """The splice detector's held-out score (probability "replaced") of every window: for each
    user, a forest trained on the other users' windows (those in ``train``, default all).
    NaN where the other users' training windows hold one class only."""
    y = np.asarray(is_replaced, int)
    users = np.asarray(users)
    train = np.ones(len(y), bool) if train is None else np.asarray(train, bool)
    f = splice_features(windows)
    if user_relative:
        f = per_user_standardise(f, users)
    score = np.full(len(y), np.nan)
    for u in np.unique(users):
        test = users == u
        fit = ~test & train
        if len(np.unique(y[fit])) < 2:
            continue
        clf = _forest(seed, balanced=True).fit(f[fit], y[fit])
        score[test] = clf.predict_proba(f[test])[:, 1]
    return score


# --- leaks -------------------------------------------------------------------------------------

def real_sensitive_released(
    labels: np.ndarray, real: np.ndarray, released: np.ndarray, sensitive, grace_samples: int, tol: float = 1e-9
) -> dict:
    """Count samples of sensitive activities whose released value is the real one.

    Judged by value, not by any "replaced" flag, so a generator that copies its input is
    caught. ``after_grace`` counts only samples at least ``grace_samples`` after the onset
    of their sensitive run.
    """
    sens = np.isin(labels, list(sensitive))
    same = np.all(np.abs(np.asarray(released) - np.asarray(real)) <= tol, axis=1)
    onset_ok = np.zeros(len(labels), bool)
    d = np.diff(np.r_[0, sens.astype(np.int8), 0])
    for a, b in zip(np.flatnonzero(d == 1), np.flatnonzero(d == -1)):
        onset_ok[a + grace_samples : b] = True
    leaked = sens & same
    return {
        "sensitive_samples": int(sens.sum()),
        "released_real": int(leaked.sum()),
        "after_grace_samples": int((sens & onset_ok).sum()),
        "released_real_after_grace": int((leaked & onset_ok).sum()),
    }
