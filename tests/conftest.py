"""Shared fixtures. Real HAPT data is read from ``$SENSEGEN_HAPT_DIR``, else the per-user data
folder ``sensegen data download`` fills (``converter.hapt.default_data_dir``); without it the
data-hungry tests skip and say why, except in CI (CI=true), where they fail. Tests that only
need a real recording use the sample shipped in the package (``sdk.sample_recording_path``)."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from converter.hapt import default_data_dir

ROOT = Path(__file__).resolve().parent.parent


def hapt_dir() -> Path:
    d = default_data_dir()
    if not (d / "RawData" / "labels.txt").is_file() and not (d / "labels.txt").is_file():
        msg = (f"needs the full HAPT dataset, not found at {d} (run 'sensegen data download', "
               "or set SENSEGEN_HAPT_DIR to a HAPT folder)")
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(msg + " -- CI must have the data")
        pytest.skip(msg)
    return d


@pytest.fixture(scope="session")
def hapt_root() -> Path:
    return hapt_dir()


@pytest.fixture(scope="session")
def hapt_file(hapt_root) -> Path:
    """A real recording of a held-out test user (user 3 is in the default test split)."""
    return hapt_root / "RawData" / "acc_exp05_user03.txt"


@pytest.fixture(scope="module")
def generator():
    """The bundled default generator (one per test module)."""
    from sdk.generator import Generator

    return Generator()


@pytest.fixture(scope="module")
def detector():
    """The bundled activity detector (one per test module)."""
    from sdk.detector import ActivityDetector

    return ActivityDetector()


@pytest.fixture(scope="session")
def tiny_export(tmp_path_factory, hapt_root):
    """A tiny generator trained for one short epoch on 4 real users, exported in all dtypes."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    from converter.export import export_generator
    from converter.hapt import Split, load_hapt
    from converter.presets import get_preset
    from converter.train import train_generator

    ds = load_hapt(hapt_root, users=[1, 2, 3, 4])
    run = tmp_path_factory.mktemp("tiny_run")
    result = train_generator(ds, get_preset("tiny", epochs=1), run, split=Split((1, 2), (3,), (4,)), progress=False, preset="tiny")
    out = tmp_path_factory.mktemp("tiny_export")
    exported = export_generator(run, out)
    return {"run": run, "result": result, "dir": out, "files": {e.dtype: e for e in exported}}


@pytest.fixture(scope="session")
def tiny_full_export(tmp_path_factory, hapt_root):
    """As ``tiny_export`` with full-covariance mixture components, exported int8 and float32."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    from converter.export import export_generator
    from converter.hapt import Split, load_hapt
    from converter.presets import get_preset
    from converter.train import train_generator

    ds = load_hapt(hapt_root, users=[1, 2, 3, 4])
    run = tmp_path_factory.mktemp("tiny_full_run")
    train_generator(ds, get_preset("tiny", epochs=1, covariance="full"), run, split=Split((1, 2), (3,), (4,)), progress=False, preset="tiny")
    out = tmp_path_factory.mktemp("tiny_full_export")
    exported = export_generator(run, out, dtypes=("float32", "int8"))
    return {"run": run, "dir": out, "files": {e.dtype: e for e in exported}}


def count_predictions(monkeypatch, detector) -> list[int]:
    """Make ``detector.predict_proba`` record the number of windows of each call (for this
    test only); returns that list."""
    calls: list[int] = []
    real = detector.predict_proba

    def counting(w):
        calls.append(len(w))
        return real(w)

    monkeypatch.setattr(detector, "predict_proba", counting)
    return calls


def stream_of(path, seconds: float | None = None):
    from sdk.recording import read_hapt_raw

    rec = read_hapt_raw(path)
    n = len(rec) if seconds is None else int(seconds * 50)
    return rec.t[:n].copy(), rec.xyz[:n].copy()


@pytest.fixture
def rng():
    return np.random.default_rng(1234)
