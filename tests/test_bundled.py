"""The bundled default generator: loads without TensorFlow, fits python-for-android's
runtime, and samples plausible accelerometer data per activity (vs held-out users' data)."""
import json
import subprocess
import sys

import numpy as np
import pytest

from converter.hapt import load_hapt
from sdk.activities import ACTIVITIES
from sdk.generator import Generator, SyntheticStream, bundled_model_path
from sdk.model_file import min_runtime_version, read_model, version_tuple

from .conftest import ROOT

BLOCKER = r"""
import importlib.abc, sys
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in ('tensorflow', 'keras', 'kivy', 'matplotlib', 'tf_keras'):
            raise ImportError('blocked for this test: ' + name)
sys.meta_path.insert(0, Block())
"""

NO_TF_PROGRAM = BLOCKER + r"""
import json, pkgutil, importlib
import numpy as np
import sdk
mods = [m.name for m in pkgutil.walk_packages(sdk.__path__, 'sdk.')]
for m in mods:
    importlib.import_module(m)
from sdk.generator import Generator, SyntheticStream
g = Generator()
s = SyntheticStream(g, 'WALKING', seed=0)
s.prime(np.tile([1.0, -0.2, 0.1], (50, 1)))
x = np.array([s.next() for _ in range(200)])
print(json.dumps({'runtime': g.runtime.name, 'modules': mods, 'finite': bool(np.isfinite(x).all()),
                  'tf_loaded': any(k.split('.')[0] in ('tensorflow', 'keras') for k in sys.modules)}))
"""


def test_bundled_model_loads_and_samples_with_tensorflow_blocked():
    proc = subprocess.run([sys.executable, "-c", NO_TF_PROGRAM], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["finite"] and not out["tf_loaded"]
    assert out["runtime"] in ("ai_edge_litert", "tflite_runtime")
    assert "sdk.filter" in out["modules"] and "sdk.generator" in out["modules"]


def test_blocker_really_blocks_tensorflow():
    proc = subprocess.run([sys.executable, "-c", BLOCKER + "import tensorflow"], capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0 and "blocked for this test" in proc.stderr


def test_bundled_model_fits_android_runtime_and_size():
    path = bundled_model_path()
    model = read_model(path, expect_format="sensegen-generator")
    assert path.stat().st_size <= 1_500_000
    assert model.metadata["dtype"] == "int8"
    assert version_tuple(min_runtime_version(model.flatbuffer)) <= (2, 8, 0)
    assert model.metadata["parity"]["max_abs_error"] <= model.metadata["parity"]["tolerance"]
    assert model.metadata["training"]["split_users"]["test"]
    assert (path.parent / "MODEL_CARD.md").is_file()


def _segments(ds, activity: int, length: int, limit: int = 6):
    out = []
    for e in ds.experiments:
        lab = e.labels
        edges = np.flatnonzero(np.diff(np.concatenate([[0], (lab == activity).astype(np.int8), [0]])))
        for a, b in zip(edges[::2], edges[1::2]):
            if b - a >= length:
                out.append(e.xyz[a : a + length].astype(np.float64))
    return out[:: max(1, len(out) // limit)][:limit]


@pytest.fixture(scope="module")
def held_out(hapt_root):
    g = Generator()
    users = g.metadata["training"]["split_users"]["test"]
    return g, load_hapt(hapt_root, users=users)


@pytest.mark.parametrize("activity", ACTIVITIES[1:])
def test_bundled_samples_match_held_out_statistics_per_activity(held_out, activity):
    """Primed on 1 s of a held-out user's real data of ``activity``, 5 s generated for the same
    activity have that data's level (|mean diff| < 0.12 g) and spread (std ratio in [1/3, 3])."""
    g, ds = held_out
    k = ACTIVITIES.index(activity)
    segs = _segments(ds, k, 50 + 250)
    assert len(segs) >= 2
    mean_err, ratios = [], []
    for i, seg in enumerate(segs):
        s = SyntheticStream(g, activity, seed=i)
        s.prime(seg[:50])
        gen = np.array([s.next() for _ in range(250)])
        real = seg[50:]
        assert np.all(np.abs(gen) < 4.0)
        mean_err.append(np.abs(gen.mean(0) - real.mean(0)))
        ratios.append((gen.std(0) + 0.005) / (real.std(0) + 0.005))
    assert np.median(mean_err, axis=0).max() < 0.12, np.median(mean_err, axis=0)
    r = np.median(ratios, axis=0)
    assert np.all((r > 1 / 3) & (r < 3)), r


def test_bundled_walking_moves_more_than_sitting(held_out):
    g, ds = held_out
    seg = _segments(ds, ACTIVITIES.index("STANDING"), 50)[0]
    stds = {}
    for act in ("WALKING", "SITTING"):
        s = SyntheticStream(g, act, seed=0)
        s.prime(seg)
        stds[act] = np.array([s.next() for _ in range(500)])[100:].std(0).sum()
    assert stds["WALKING"] > 3 * stds["SITTING"], stds
