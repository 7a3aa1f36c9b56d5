"""Figures (PNG) and the Markdown report of an evaluation."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from sdk.activities import ACTIVITIES, activity_index

from . import metrics as M

COLOURS = {"real": "black", "sensegen": "tab:blue", "gaussian": "tab:orange", "replay": "tab:green", "copy-input": "tab:red"}


def _colour(name: str, i: int) -> str:
    return COLOURS.get(name, f"C{(i + 4) % 10}")


def write_figures(out: Path, real: dict, fake: dict, results: dict, released: dict, policy, cfg) -> list[str]:
    """Write the PNG figures into ``out``; return their file names."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    files = []
    methods = list(fake)
    acts = [a for a in real if len(real[a])]

    # 1. traces: one window per activity, real vs each method at the same position
    if acts:
        fig, axes = plt.subplots(len(acts), 1 + len(methods), figsize=(3.2 * (1 + len(methods)), 1.9 * len(acts)), squeeze=False, sharex=True)
        t = np.arange(cfg.window) / 50.0
        for r, a in enumerate(acts):
            rw = real[a]
            idx = len(rw) // 2
            panels = [("real", rw.xyz[idx])]
            for m in methods:
                fw = fake[m][a]
                j = np.flatnonzero((fw.group == rw.group[idx]))
                panels.append((m, fw.xyz[j[min(len(j) - 1, 1)]] if len(j) else None))
            lo = min(p.min() for _, p in panels if p is not None) - 0.05
            hi = max(p.max() for _, p in panels if p is not None) + 0.05
            for c, (name, w) in enumerate(panels):
                ax = axes[r, c]
                if w is not None:
                    for k, lab in enumerate("xyz"):
                        ax.plot(t, w[:, k], lw=0.8, label=lab)
                ax.set_ylim(lo, hi)
                if r == 0:
                    ax.set_title(name)
                if c == 0:
                    ax.set_ylabel(f"{a.lower()}\n[g]", fontsize=8)
        axes[0, 0].legend(fontsize=7, loc="upper right")
        for ax in axes[-1]:
            ax.set_xlabel("s")
        fig.suptitle(f"Real vs replaced windows (user {int(real[acts[0]].user[len(real[acts[0]]) // 2])} etc.; same positions)", fontsize=10)
        fig.tight_layout()
        fig.savefig(out / "traces.png", dpi=72)
        plt.close(fig)
        files.append("traces.png")

    # 2. spectra and 3. autocorrelation per activity
    for kind in ("spectra", "autocorr"):
        if not acts:
            break
        cols = min(3, len(acts))
        rows = int(np.ceil(len(acts) / cols))
        fig, axes = plt.subplots(rows, cols, figsize=(4.3 * cols, 3.0 * rows), squeeze=False)
        for i, a in enumerate(acts):
            ax = axes[i // cols, i % cols]
            series = [("real", real[a].xyz)] + [(m, fake[m][a].xyz) for m in methods]
            for j, (name, w) in enumerate(series):
                if len(w) < 2:
                    continue
                if kind == "spectra":
                    f, p = M.power_spectrum(w)
                    ax.semilogy(f[1:], p[1:].sum(axis=1), color=_colour(name, j), lw=1.2 if name == "real" else 0.9, label=name)
                    ax.set_xlabel("Hz")
                else:
                    acf = M.autocorrelation(w).mean(axis=1)
                    ax.plot(np.arange(len(acf)) / 50.0, acf, color=_colour(name, j), label=name)
                    ax.set_xlabel("lag [s]")
            ax.set_title(a.lower(), fontsize=9)
        for k in range(len(acts), rows * cols):
            axes[k // cols, k % cols].axis("off")
        axes[0, 0].legend(fontsize=7)
        fig.suptitle("Power spectrum (sum over axes)" if kind == "spectra" else "Autocorrelation (mean over axes)", fontsize=10)
        fig.tight_layout()
        fig.savefig(out / f"{kind}.png", dpi=90)
        plt.close(fig)
        files.append(f"{kind}.png")

    # 4. discriminator accuracy per activity and method
    realism = results.get("realism", {})
    discs = [d for d in ("lstm_discriminator", "feature_discriminator") if any(d in realism.get(m, {}).get(a, {}) for m in methods for a in acts)]
    if discs and acts:
        fig, axes = plt.subplots(1, len(discs), figsize=(6.5 * len(discs), 3.4), squeeze=False)
        width = 0.8 / max(len(methods), 1)
        for d, disc in enumerate(discs):
            ax = axes[0, d]
            for j, m in enumerate(methods):
                vals = [realism[m][a].get(disc, {}).get("accuracy", np.nan) for a in acts]
                ax.bar(np.arange(len(acts)) + j * width, vals, width, color=_colour(m, j), label=m)
            ax.axhline(0.55, color="red", ls="--", lw=1, label="target 0.55")
            ax.axhline(0.5, color="grey", ls=":", lw=1)
            ax.set_xticks(np.arange(len(acts)) + width * (len(methods) - 1) / 2)
            ax.set_xticklabels([a.lower().replace("walking_", "w_") for a in acts], fontsize=8, rotation=20)
            ax.set_ylim(0.3, 1.02)
            ax.set_title(disc.replace("_", " ") + " (held-out accuracy)", fontsize=9)
        handles, labels = axes[0, 0].get_legend_handles_labels()
        fig.legend(handles, labels, fontsize=7, loc="upper center", ncol=len(labels))
        fig.tight_layout(rect=(0, 0, 1, 0.9))
        fig.savefig(out / "realism.png", dpi=90)
        plt.close(fig)
        files.append("realism.png")

    # 5. privacy: leaks by delay, and the three classifiers
    priv = results.get("privacy", {}).get("methods", {})
    if priv:
        fig, axes = plt.subplots(1, 2, figsize=(11, 3.6))
        ax = axes[0]
        for j, (m, row) in enumerate(priv.items()):
            ds = sorted(row["leaks"], key=float)
            ax.plot([float(d) for d in ds], [100 * row["leaks"][d]["after_grace_fraction"] for d in ds], "o-", color=_colour(m, j), label=f"{m} (> {cfg.grace_s:g} s after onset)")
            if j == 0:
                ax.plot([float(d) for d in ds], [100 * row["leaks"][d]["fraction"] for d in ds], "s--", color=_colour(m, j), alpha=0.6, label="all methods (incl. the onset)")
        ax.axhline(1.0, color="red", ls="--", lw=1, label="target 1 %")
        ax.set_xlabel("release delay [s]")
        ax.set_ylabel("real sensitive samples released [%]")
        top = max([100 * r["leaks"][d]["fraction"] for r in priv.values() for d in r["leaks"] if r["leaks"][d]["fraction"] < 0.5] + [2.0])
        ax.set_ylim(0, top * 1.15)  # a copying generator (100 %) is off the chart; see the report
        ax.legend(fontsize=7, loc="upper right")
        ax = axes[1]
        names = ["attacker recall", "utility ratio", "splice separability"]
        keys = [lambda r: r.get("attacker", {}).get("recall"), lambda r: r.get("utility_ratio"), lambda r: r.get("splice_detector", {}).get("separability")]
        targets = [0.10, 0.95, 0.60]
        width = 0.8 / max(len(priv), 1)
        for j, (m, row) in enumerate(priv.items()):
            vals = [k(row) if k(row) is not None else np.nan for k in keys]
            ax.bar(np.arange(3) + j * width, vals, width, color=_colour(m, j), label=m)
        for i, tv in enumerate(targets):
            ax.hlines(tv, i - 0.1, i + 0.9, color="red", ls="--", lw=1)
        raw = results["privacy"]["raw"]["attacker"]["recall"]
        ax.hlines(raw, -0.1, 0.9, color="black", ls=":", lw=1.5, label=f"attacker on raw data ({raw:.2f})")
        ax.set_xticks(np.arange(3) + width * (len(priv) - 1) / 2)
        ax.set_xticklabels(names)
        ax.set_ylim(0, 1.3)
        ax.legend(fontsize=7, loc="upper center", ncol=2)
        fig.suptitle(f"Privacy on released streams: {policy.describe()}, delay {cfg.delay_s:g} s (red: targets)", fontsize=10)
        fig.tight_layout()
        fig.savefig(out / "privacy.png", dpi=90)
        plt.close(fig)
        files.append("privacy.png")

    # 6. a released stream around a sensitive segment
    if released:
        first = next(iter(released.values()))
        sens = [activity_index(a) for a in policy.sensitive]
        pick = None
        for si, r in enumerate(first):
            on = np.flatnonzero(np.isin(r.stream.labels, sens))
            if len(on):
                pick = (si, on[0])
                break
        if pick is not None:
            si, a0 = pick
            s = first[si].stream
            lo, hi = max(0, a0 - 500), min(len(s), a0 + 1500)
            names = list(released)
            fig, axes = plt.subplots(len(names) + 1, 1, figsize=(11, 1.7 * (len(names) + 1)), sharex=True)
            rows = [("real input", s.xyz, np.zeros(len(s), bool))] + [(m, released[m][si].xyz, released[m][si].replaced) for m in names]
            tt = s.t[lo:hi]
            sens_m = np.isin(s.labels[lo:hi], sens)
            for ax, (name, x, rep) in zip(axes, rows):
                ax.plot(tt, x[lo:hi], lw=0.6)
                ax.fill_between(tt, 0, 1, where=sens_m, transform=ax.get_xaxis_transform(), color="red", alpha=0.12, label="truly sensitive")
                ax.fill_between(tt, 0, 1, where=rep[lo:hi], transform=ax.get_xaxis_transform(), color="blue", alpha=0.10, label="replaced")
                ax.set_ylabel(name, fontsize=8)
            axes[0].legend(fontsize=7, loc="upper right")
            axes[-1].set_xlabel(f"time [s] (user {s.user}, exp {s.exp})")
            fig.suptitle(f"Released stream around a sensitive segment ({policy.describe()}, delay {cfg.delay_s:g} s)", fontsize=10)
            fig.tight_layout()
            fig.savefig(out / "released_example.png", dpi=72)
            plt.close(fig)
            files.append("released_example.png")
    return files


def _f(v, pct: bool = False, digits: int = 3) -> str:
    if v is None or (isinstance(v, float) and not np.isfinite(v)):
        return "–"
    return f"{100 * v:.2f} %" if pct else f"{v:.{digits}f}"


def _mark(check) -> str:
    if not check or check.get("met") is None:
        return ""
    return " ✓" if check["met"] else " ✗"


def write_report(path: Path, results: dict, cfg) -> None:
    """A short Markdown report: headline table, per-activity realism, per-user, leaks by delay."""
    s = results.get("summary", {})
    methods = results.get("methods", list(s))
    models = results.get("models", {})
    lines = [
        "# SenseGen Privacy — evaluation",
        "",
        f"Evaluation users: {', '.join(map(str, cfg.users))} (reference users for baselines and the classifiers: "
        f"{', '.join(map(str, results.get('reference_users', [])))}). Policy: hide {', '.join(cfg.sensitive)} as {cfg.cover}; "
        f"main release delay {cfg.delay_s:g} s. Window {cfg.window} samples, hop {cfg.hop}. "
        f"Runtime {results.get('timing', {}).get('total_s', float('nan')) / 60:.1f} min.",
        "",
    ]
    for name, info in models.items():
        seen = info.get("evaluation_users_seen_in_training")
        lines.append(f"- {name}: `{Path(info['file']).name}` ({info.get('quantisation')}); "
                     + ("**trained on evaluation users " + str(seen) + ": not a held-out result**" if seen else "evaluation users held out from its training"))
    lines += [
        "",
        "## Headline (targets: discriminator ≤ 0.55, attacker recall ≤ 0.10, utility ≥ 0.95 of raw, splice AUC ≤ 0.6, "
        f"real sensitive samples released > {cfg.grace_s:g} s after onset ≤ 1 %)",
        "",
        "| method | LSTM disc. worst (pooled) | feature disc. pooled | TSTR / TRTR | attacker recall | utility ratio | splice AUC* | leak > grace |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for m in methods:
        r = s.get(m, {})
        t = r.get("targets", {})
        lstm = t.get("discriminator_accuracy", {}).get("value")
        lines.append(
            f"| {m} | {_f(lstm)}{_mark(t.get('discriminator_accuracy'))} ({_f(r.get('lstm_discriminator_pooled'))}) "
            f"| {_f(r.get('feature_discriminator_pooled'))} | {_f(r.get('tstr'))} / {_f(r.get('trtr'))} "
            f"| {_f(r.get('attacker_recall'))}{_mark(t.get('attacker_recall'))} | {_f(r.get('utility_ratio'))}{_mark(t.get('utility_ratio'))} "
            f"| {_f(r.get('splice_auc'))}{_mark(t.get('splice_auc'))} | {_f(r.get('leak_after_grace_fraction'), pct=True)}{_mark(t.get('leak_after_grace_fraction'))} |"
        )
    lines += ["", "LSTM disc. worst: the highest held-out accuracy over the cover activities (pooled: over all windows). "
              "*Splice AUC as separability max(AUC, 1 − AUC) of a leave-one-user-out detector; "
              "the raw AUC is in `results.json` (below 0.5 means the detector is consistently wrong on new users)."]
    pc = results.get("personal_cover")
    if pc:
        from .tells import format_report

        lines += [
            "",
            f"## Personal cover: replaced {pc['cover']} vs the same person's real {pc['cover']}",
            "",
            "Every other segment of the cover activity replaced through the filter (the released ones fill the cover "
            "bank, as on a phone); replaced windows judged against the real windows at the same positions, user-relative, "
            "grouped folds. The floor row puts real walking of the same recording's other segments in their place: what a "
            "perfect generator of this person scores. Targets: feature judge ≤ 0.75, LSTM judge ≤ 0.70. Columns after the "
            "judges: medians of the tells (DESIGN.md).",
            "",
            format_report(pc),
            "",
            "What separates the product's replaced windows from real ones (random-forest importance, medians real → replaced): "
            + "; ".join(f"{t['feature']} {t['real']:.2f} → {t['replaced']:.2f}" for t in pc.get("top_tells", [])),
        ]
    judged = {m: r.get("released_cover_feature_judge") for m, r in s.items() if r.get("released_cover_feature_judge") is not None}
    if judged:
        lines += ["", "Privacy run, replaced windows vs the same users' released real cover windows (feature judge; "
                  "groups hold one kind only, which biases it down): " + ", ".join(f"{m} {_f(v)}" for m, v in judged.items())]
    excess = {m: r.get("attacker", {}).get("over_own_cover", {}).get("excess") for m, r in results.get("privacy", {}).get("methods", {}).items()}
    excess = {m: v for m, v in excess.items() if v is not None}
    if excess:
        lines += ["", "Attacker recall over its false-positive rate on the same users' own released cover windows "
                  "(0: the cover is flagged as often as the person's real cover activity; per user, weighted by replaced windows): "
                  + ", ".join(f"{m} {v:+.3f}" for m, v in excess.items())]
    raw = results.get("privacy", {}).get("raw", {})
    if raw:
        lines += ["", f"On the raw streams (no filter) the attacker's recall is {_f(raw['attacker'].get('recall'))} "
                  f"(false-positive rate {_f(raw['attacker'].get('false_positive_rate'))}) and the utility classifier's accuracy "
                  f"{_f(raw.get('utility_accuracy'))}."]
    realism = results.get("realism", {})
    acts = [a for a in ACTIVITIES if any(a in realism.get(m, {}) for m in methods)]
    if acts:
        lines += ["", "## Realism per cover activity (held-out accuracy; 0.5 = indistinguishable)", "",
                  "Generated windows of user u are compared with u's own real windows of the activity, "
                  "at the same positions of the stream (oracle segments from the labels).", "",
                  "| activity | windows | " + " | ".join(f"{m} LSTM / features" for m in methods) + " |",
                  "|---|---|" + "---|" * len(methods)]
        for a in acts:
            cells = []
            n = ""
            for m in methods:
                row = realism.get(m, {}).get(a, {})
                n = n or str(row.get("windows_real", ""))
                cells.append(f"{_f(row.get('lstm_discriminator', {}).get('accuracy'))} / {_f(row.get('feature_discriminator', {}).get('accuracy'))}")
            lines.append(f"| {a} | {n} | " + " | ".join(cells) + " |")
        lines += ["", "Per user (held-out accuracy on user u's windows, averaged over activities weighted by windows; LSTM / features):", "",
                  "| method | " + " | ".join(f"user {u}" for u in cfg.users) + " |", "|---|" + "---|" * len(cfg.users)]
        for m in methods:
            per: dict = {}
            for a in acts:
                row = realism.get(m, {}).get(a, {})
                for disc in ("lstm_discriminator", "feature_discriminator"):
                    d = row.get(disc) or {}
                    n = d.get("n_real", 0) + d.get("n_fake", 0)
                    for u, v in (d.get("per_user") or {}).items():
                        if v is not None and np.isfinite(v):
                            per.setdefault((disc, u), []).append((v, max(n, 1)))

            def avg(disc, u):
                vals = per.get((disc, str(u)))
                return _f(np.average([v for v, _ in vals], weights=[n for _, n in vals])) if vals else "–"

            lines.append(f"| {m} | " + " | ".join(f"{avg('lstm_discriminator', u)} / {avg('feature_discriminator', u)}" for u in cfg.users) + " |")
        lines += ["", "Statistics (pooled over users): MMD² on window features (real-vs-real halves for scale), "
                  "autocorrelation MAE (lags 1–50), log-spectral distance (dB, 0.5–20 Hz), within-window std per axis (real → generated).", "",
                  "| activity | method | MMD² (real halves) | ACF MAE | LSD dB | std x,y,z |", "|---|---|---|---|---|---|"]
        for a in acts:
            for m in methods:
                st = realism.get(m, {}).get(a, {}).get("statistics", {})
                if "mmd2" not in st:
                    continue
                sr, sf = st.get("std_real", [np.nan] * 3), st.get("std_fake", [np.nan] * 3)
                stds = ", ".join(f"{x:.3f}→{y:.3f}" for x, y in zip(sr, sf))
                lines.append(f"| {a} | {m} | {_f(st.get('mmd2'))} ({_f(st.get('mmd2_real_halves'))}) | {_f(st.get('acf_mae'))} | {_f(st.get('log_spectral_distance_db'), digits=1)} | {stds} |")
    priv = results.get("privacy", {})
    if priv.get("methods"):
        delays = sorted(next(iter(priv["methods"].values()))["leaks"], key=float)
        first = next(iter(priv["methods"].values()))["leaks"]
        any_d = next(iter(first.values()))
        lines += ["", "## Real sensitive samples released, by release delay", "",
                  f"{any_d['sensitive_samples']} sensitive samples in the evaluation streams, {any_d['after_grace_samples']} of them more than "
                  f"{cfg.grace_s:g} s after the onset of their segment.", "",
                  f"Counted by value (a released sample equal to the real one), so a generator that copies its input is caught. "
                  f"'> {cfg.grace_s:g} s' counts only samples more than {cfg.grace_s:g} s after the onset of their segment.", "",
                  "| delay [s] | detector covers | other activities replaced | " + " | ".join(f"{m}: all / > {cfg.grace_s:g} s (count)" for m in priv["methods"]) + " |",
                  "|---|---|---|" + "---|" * len(priv["methods"])]
        for d in delays:
            det = priv.get("detection", {}).get(d, {})
            cells = [f"{_f(row['leaks'][d]['fraction'], pct=True)} / {_f(row['leaks'][d]['after_grace_fraction'], pct=True)} ({row['leaks'][d]['released_real_after_grace']})" for row in priv["methods"].values()]
            lines.append(f"| {float(d):g} | {_f(det.get('sensitive_covered'), pct=True)} | {_f(det.get('other_replaced'), pct=True)} | " + " | ".join(cells) + " |")
    lines += ["", "## Methods", "",
              "- **sensegen**: the generator through `PrivacyFilter` (primed on the released samples before a segment, crossfade back).",
              "- **gaussian**: i.i.d. Gaussian noise, mean = the user's level over the last second before the segment, per-axis std = "
              "the cover activity's within-segment std on reference users.",
              "- **replay**: a random real segment of the cover activity from a reference user, replayed as recorded.",
              "- LSTM discriminator (the paper's test): LSTM(%d) → sigmoid over each window and its first difference, every user's windows "
              "standardised by that user's own statistics (the judge sees a window relative to the user's stream), grouped %d-fold CV "
              "(a segment's windows never on both sides; every fold holds every user)." % (cfg.lstm_units, cfg.folds),
              "- feature discriminator / attacker / utility / splice detector: random forests on window features "
              "(`sdk.features`; splice detector adds jump and level-shift features), trained on reference users "
              "(attacker, utility) or leave-one-user-out on the released streams (splice detector: windows ≥ 50 % replaced vs real windows of the cover activity).",
              ""]
    if results.get("decoys"):
        from .decoys import tradeoff_table

        lines += ["## Decoys", "", "What an observer learns from a synthetic segment, by decoy rate (`sdk.decoys`; "
                  "targets at the default rate: P(policy | synthetic segment) <= 0.5 in every length bin, utility ratio >= 0.95, "
                  "attacker recall <= 0.10).", "", tradeoff_table(results["decoys"]), ""]
    figs = results.get("figures") or []
    if figs:
        lines += ["## Figures", ""] + [f"![{f}]({f})" for f in figs] + [""]
    path.write_text("\n".join(lines))
