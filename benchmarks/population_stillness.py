"""How the population stillness was chosen: fitted on one half of the development users, judged
on the other half (and the reverse), with every bout of a static posture replaced through the
shipped PrivacyFilter (no stillness of the posture in the bank: the cold start), against the
generator's LSTM on the same segments. Development users only; the test users are measured by
``benchmarks.personal_cover --cover SITTING|STANDING|LAYING``.

    python -m benchmarks.population_stillness [--data DIR] [--clusters 1 4 8 16] [--no-lstm] [--json OUT]
"""
from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np

from converter.evaluation import metrics as M
from converter.evaluation.streams import SenseGenMethod, Stream, Windows, cut, label_mask
from converter.evaluation.tells import top_tells
from converter.hapt import load_hapt
from converter.stillness import stillness_member
from sdk.activities import activity_index
from sdk.generator import Generator, bundled_model_path
from sdk.model_file import pack_model, read_model
from sdk.postures import STATIC, STILLNESS_MEMBER

DEVELOPMENT = (1, 2, 5, 10, 11, 12, 13, 14, 21, 22, 23, 24)


def with_stillness(src: Path, dst: Path, ds, clusters: int) -> Path:
    """``src`` with its population stillness refitted on ``ds`` with ``clusters`` clusters."""
    model = read_model(src)
    member, held = stillness_member(ds, clusters=clusters)
    meta = dict(model.metadata, stillness=dict(model.metadata.get("stillness", {}), activities=held, clusters=clusters))
    dst.write_bytes(pack_model(model.flatbuffer, meta, dict(model.members) | {STILLNESS_MEMBER: member}))
    return dst


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=None)
    ap.add_argument("--clusters", type=int, nargs="+", default=[8])
    ap.add_argument("--no-lstm", action="store_true")
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)
    ds = load_hapt(args.data, users=DEVELOPMENT)
    t0 = time.time()
    pairs: dict[tuple[str, str], list] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for fold in (0, 1):
            fit_users, judged_users = DEVELOPMENT[fold::2], DEVELOPMENT[1 - fold :: 2]
            streams = [Stream.from_experiment(e) for e in ds.for_users(judged_users).experiments]
            methods = []
            for k in args.clusters:
                g = Generator(with_stillness(bundled_model_path(), Path(tmp) / f"k{k}_{fold}.tflite", ds.for_users(fit_users), k))
                methods.append((f"population stillness, {k} clusters", SenseGenMethod(g, crossfade_s=0.5)))
            methods.append(("generator (LSTM)", SenseGenMethod(Generator(), crossfade_s=0.5, population_stillness=False)))
            for name, m in methods:
                for cover in STATIC:
                    k = activity_index(cover)
                    for si, s in enumerate(streams):
                        mask = label_mask(s, [cover])
                        if not mask.any():
                            continue
                        offset = (100 * fold + si) * 1_000_000
                        real, rel = cut(s, 128, 64, offset), cut(m.release(s, mask, cover, seed=si), 128, 64, offset)
                        keep = (real.label == k) & (real.purity == 1.0) & (rel.replaced == 1.0)
                        pairs.setdefault((name, cover), []).append((real.subset(keep), rel.subset(keep)))
    rows = []
    for (name, cover), ps in pairs.items():
        r, f = Windows.concat([p[0] for p in ps]), Windows.concat([p[1] for p in ps])
        a = (r.xyz, f.xyz, r.group, f.group, r.user, f.user)
        row = {"method": name, "cover": cover, "windows": len(f),
               "feature_judge": M.feature_discriminator(*a, folds=3, seed=0).accuracy,
               "lstm_judge": float("nan") if args.no_lstm else M.lstm_discriminator(*a, folds=3, epochs=12, units=32, seed=0).accuracy,
               "spread_ratio": (np.median(f.xyz.std(axis=1), axis=0) / np.median(r.xyz.std(axis=1), axis=0)).round(3).tolist(),
               "top_tells": [(t["feature"], round(t["real"], 4), round(t["replaced"], 4)) for t in top_tells(r, f, top=4)]}
        rows.append(row)
        print(f"{name:34s} {cover:9s} feature {row['feature_judge']:.3f} LSTM {row['lstm_judge']:.3f} spread {row['spread_ratio']}", flush=True)
    out = {"what": __doc__.splitlines()[0], "users": list(DEVELOPMENT), "rows": rows, "seconds": time.time() - t0}
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
