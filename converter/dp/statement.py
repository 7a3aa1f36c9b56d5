"""The privacy record of a DP run (``run.json``, then the model's ``metadata["privacy"]``) and
its guarantee in plain language, with every parameter and caveat."""
from __future__ import annotations

import math
from importlib import metadata

from .accounting import compute_epsilon, group_privacy
from .config import DPConfig

_ACCOUNTANT_NAMES = {"rdp": "RDP", "pld": "PLD"}
WEAK_EPSILON = 10.0


def privacy_record(
    dp: DPConfig,
    *,
    noise_multiplier: float,
    delta: float,
    n_examples: int,
    batch_size: int,
    steps: int,
    planned_steps: int,
    window_samples: int,
    windows_per_sample: int,
    rate_hz: float,
    n_users: int,
    max_windows_per_user: int,
) -> dict:
    """The privacy entry of ``run.json`` (exported as the model's ``metadata["privacy"]``)."""
    q = batch_size / n_examples
    eps = compute_epsilon(noise_multiplier, q, steps, delta, dp.accountant)
    g_eps, g_delta = group_privacy(eps, delta, windows_per_sample)
    u_eps, u_delta = group_privacy(eps, delta, max_windows_per_user)
    record = {
        "differential_privacy": True,
        "mechanism": "DP-SGD (per-window gradient clipping + Gaussian noise)",
        "epsilon": eps,
        "delta": delta,
        "accountant": _ACCOUNTANT_NAMES[dp.accountant],
        "accounting_library": f"dp-accounting {_dp_accounting_version()}",
        "neighbouring_relation": "add or remove one",
        "adjacency": "one training window",
        "window_samples": window_samples,
        "window_seconds": window_samples / rate_hz,
        "windows_per_sample": windows_per_sample,
        "per_sample_epsilon": g_eps,
        "per_sample_delta": g_delta,
        "user_level_epsilon": u_eps,
        "user_level_delta": u_delta,
        "noise_multiplier": noise_multiplier,
        "clip_norm": dp.clip_norm,
        "sampling": dp.sampling,
        "sampling_rate": q,
        "batch_size": batch_size,
        "training_windows": n_examples,
        "training_users": n_users,
        "max_windows_per_user": max_windows_per_user,
        "steps": steps,
        "planned_steps": planned_steps,
        "target_epsilon": dp.target_epsilon,
        "secure_noise": dp.noise_seed is None,
        "normalisation_source": "validation users (not covered by the guarantee)",
        "config": dp.to_dict(),
    }
    record["statement"] = privacy_statement(record)
    return record


def privacy_statement(r: dict) -> str:
    """The guarantee of a privacy record in plain language, with every parameter and caveat."""
    eps, delta, k = r["epsilon"], r["delta"], r["windows_per_sample"]
    lines = [
        f"Differential privacy: this model is (ε = {eps:.2f}, δ = {delta:.1e})-differentially private with respect to "
        f"adding or removing one training window ({r['window_samples']} consecutive accelerometer samples, "
        f"{r['window_seconds']:.1f} s of one person's recording) among {r['training_windows']} windows "
        f"from {r['training_users']} {'person' if r['training_users'] == 1 else 'people'}.",
        f"In plain words: whether any single window was used or not changes the probability of any outcome of "
        f"training, and of anything computed from the released model, by a factor of at most "
        f"e^ε = {math.exp(min(eps, 700)):.3g}, except with probability δ = {delta:.1e}.",
        f"Computed by the {r['accountant']} accountant of Google's {r['accounting_library']} for {r['steps']} steps "
        f"of the Poisson-subsampled Gaussian mechanism: sampling rate q = {r['sampling_rate']:.4g} "
        f"(batch {r['batch_size']} of {r['training_windows']}), noise multiplier {r['noise_multiplier']:.4g}, "
        f"per-window gradient clip norm {r['clip_norm']:.4g}.",
        f"Per person (user level): one person contributed up to {r['max_windows_per_user']} windows, so by group "
        f"privacy over all of them the guarantee for a whole person is (ε = {r['user_level_epsilon']:.3g}, "
        f"δ = {r['user_level_delta']:.1e}){_vacuous(r['user_level_epsilon'], r['user_level_delta'])}.",
        "Caveats:",
        "- Not a per-person guarantee: ε above protects one window. Whether a person took part, or what their "
        "movement looks like, is protected only by the user-level figure, which is much weaker and can be vacuous.",
    ]
    if k > 1:
        lines.append(
            f"- Windows overlap: one sensor reading lies in up to {k} windows, so it is protected as a group of {k}: "
            f"(ε = {r['per_sample_epsilon']:.2f}, δ = {r['per_sample_delta']:.1e})-DP by group privacy. "
            "Train with disjoint windows for a per-reading guarantee equal to ε."
        )
    else:
        lines.append("- Windows do not overlap: every sensor reading lies in exactly one window.")
    if r["sampling"] == "poisson":
        lines.append("- Batches were drawn by Poisson sampling (each window independently with probability q), as the accountant assumes.")
    else:
        lines.append(
            "- Batches were fixed-size slices of a shuffled order, but the accountant assumes Poisson sampling "
            f"with q = batch/N = {r['sampling_rate']:.4g}. This is the usual approximation, not a proof: "
            "shuffled batches can be measurably less private than the reported ε."
        )
    lines.append(
        "- Not covered: the validation users' data (normalisation statistics, choice of the best epoch), the test "
        "users' data (reported test NLL) and the choice of hyperparameters; those people get no guarantee."
    )
    if r["secure_noise"]:
        lines.append(
            "- The guarantee needs the noise to stay secret: the training checkpoints hold the noise seed; delete the "
            "run's checkpoints/ folder before sharing anything but the exported model."
        )
    else:
        lines.append(
            "- WARNING: a fixed noise seed was used (for testing). Anyone who knows it can remove the noise: "
            "this model has NO privacy guarantee."
        )
    lines.append("- The floating-point Gaussian noise is not hardened against precision-based attacks.")
    if eps > WEAK_EPSILON:
        lines.append(f"- ε = {eps:.3g} is large: the guarantee is weak.")
    return "\n".join(lines)


def _dp_accounting_version() -> str:
    try:
        return metadata.version("dp-accounting")
    except metadata.PackageNotFoundError:  # pragma: no cover - installed with the train extra
        return "unknown"


def _vacuous(epsilon: float, delta: float) -> str:
    """A plain-words note when a guarantee says nothing."""
    if delta >= 1.0 or epsilon > 100:
        return ": vacuous, i.e. no meaningful protection of a person as a whole"
    if epsilon > WEAK_EPSILON:
        return ": weak"
    return ""
