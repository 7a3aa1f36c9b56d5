"""Resuming after an interruption: a training process killed after its first checkpoint,
then rerun, ends with the same weights as an uninterrupted run with the same seed."""
from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from converter.dp import DPConfig
from converter.hapt import HaptDataset, Split, load_hapt
from converter.presets import GeneratorConfig
from converter.train import train_generator

ROOT = Path(__file__).resolve().parent.parent
CFG = GeneratorConfig(lstm_units=(8,), dense_units=8, mixtures=2, window=64, priming=16, batch_size=64, epochs=3)
SPLIT = Split((1,), (3,), (4,))
USERS = [1, 3, 4]
EXPERIMENTS = (1, 5, 7)  # one recording per user keeps the test short

TRAIN = """
import sys
from converter.dp import DPConfig
from converter.hapt import HaptDataset, Split, load_hapt
from converter.presets import GeneratorConfig
from converter.train import train_generator
cfg = GeneratorConfig(lstm_units=(8,), dense_units=8, mixtures=2, window=64, priming=16, batch_size=64, epochs=3)
dp = DPConfig(noise_multiplier=1.0, noise_seed=9) if sys.argv[2] == "dp" else None
full = load_hapt(users=[1, 3, 4])
ds = HaptDataset([e for e in full.experiments if e.exp in (1, 5, 7)], full.root)  # one recording per user
train_generator(ds, cfg, sys.argv[1], seed=3, split=Split((1,), (3,), (4,)), progress=False, dp=dp)
"""


def _dp(mode: str) -> DPConfig | None:
    return DPConfig(noise_multiplier=1.0, noise_seed=9) if mode == "dp" else None


def _kill_after_first_checkpoint(out: Path, mode: str) -> int:
    proc = subprocess.Popen([sys.executable, "-c", TRAIN, str(out), mode], cwd=ROOT, stderr=subprocess.PIPE, text=True)
    state = out / "checkpoints" / "checkpoint"
    deadline = time.time() + 240
    while not state.exists():
        if proc.poll() is not None:
            raise AssertionError(f"training ended before its first checkpoint: {proc.stderr.read()[-2000:]}")
        if time.time() > deadline:
            proc.kill()
            raise AssertionError("no checkpoint within 240 s")
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    proc.stderr.close()
    return proc.returncode


def _checkpoint_values(ckpt_dir: Path) -> dict[str, np.ndarray]:
    import tensorflow as tf

    reader = tf.train.load_checkpoint(str(ckpt_dir))
    keys = [k for k in reader.get_variable_to_shape_map() if k.startswith(("model/", "optimizer/", "epoch/"))]
    return {k: reader.get_tensor(k) for k in keys}


@pytest.fixture(scope="module")
def ds(hapt_root):
    full = load_hapt(hapt_root, users=USERS)
    return HaptDataset([e for e in full.experiments if e.exp in EXPERIMENTS], full.root)


@pytest.mark.parametrize("mode", ["plain", pytest.param("dp", marks=pytest.mark.slow)])
def test_resume_after_kill_matches_uninterrupted_run(ds, tmp_path, mode):
    import keras

    whole = train_generator(ds, CFG, tmp_path / "whole", seed=3, split=SPLIT, progress=False, dp=_dp(mode))

    cut = tmp_path / "cut"
    assert _kill_after_first_checkpoint(cut, mode) == -signal.SIGKILL
    mid = json.loads((cut / "run.json").read_text())
    assert "test_nll" not in mid and len(mid["history"]) < CFG.epochs  # really interrupted mid-run
    resumed = train_generator(ds, CFG, cut, seed=3, split=SPLIT, progress=False, dp=_dp(mode))

    assert [h["epoch"] for h in resumed.history] == [1, 2, 3]
    np.testing.assert_allclose([h["val_nll"] for h in resumed.history], [h["val_nll"] for h in whole.history], rtol=1e-5)
    assert resumed.test_nll == pytest.approx(whole.test_nll, rel=1e-5)
    a = keras.models.load_model(tmp_path / "whole" / "generator.keras", compile=False).get_weights()
    b = keras.models.load_model(cut / "generator.keras", compile=False).get_weights()
    for x, y in zip(a, b, strict=True):
        np.testing.assert_allclose(x, y, rtol=1e-5, atol=1e-6)
    final_a, final_b = _checkpoint_values(tmp_path / "whole" / "checkpoints"), _checkpoint_values(cut / "checkpoints")
    assert final_a.keys() == final_b.keys() and len(final_a) > 3
    for k in final_a:
        np.testing.assert_allclose(final_a[k], final_b[k], rtol=1e-5, atol=1e-6, err_msg=k)
    if mode == "dp":
        steps = CFG.epochs * (whole.privacy["training_windows"] // CFG.batch_size)
        assert resumed.privacy["steps"] == whole.privacy["steps"] == steps
        assert resumed.privacy["epsilon"] == pytest.approx(whole.privacy["epsilon"])
