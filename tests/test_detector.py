"""The activity detector: export checks (parity with Keras, runtime <= 2.8, int8 accuracy),
the packed file's metadata, the SDK runtime, and the bundled model on a held-out user."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from sdk.activities import activity_index
from sdk.detector import DEFAULT_DETECTOR, DETECTOR_FORMAT, ActivityDetector, DetectorSource
from sdk.errors import ExportError, ModelError, ModelIntegrityError
from sdk.features import FEATURES_VERSION, feature_names, window_features
from sdk.model_file import min_runtime_version, pack_model, read_model, version_tuple
from sdk.policy import Policy

from .conftest import ROOT


@pytest.fixture(scope="module")
def tiny_detector(tmp_path_factory, hapt_root):
    """A detector trained for a few epochs on 2 real users, exported in both dtypes."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    from converter.detector import DetectorConfig, export_detector, train_detector
    from converter.hapt import Split, load_hapt

    ds = load_hapt(hapt_root, users=[1, 2, 5, 3])
    run = tmp_path_factory.mktemp("det_run")
    cfg = DetectorConfig(train_hop=64, epochs=4, patience=4, rotate_deg=0.0, hidden=(32,))
    result = train_detector(ds, run, cfg, split=Split((1, 2), (5,), (3,)), progress=False)
    out = tmp_path_factory.mktemp("det_export")
    exported = export_detector(run, out, max_int8_drop=1.0)
    return {"run": run, "result": result, "dir": out, "files": {e.dtype: e for e in exported}}


# -- export ---------------------------------------------------------------------------------------

def test_training_reports_user_disjoint_accuracies(tiny_detector):
    r = tiny_detector["result"]
    assert r.split.test == (3,) and r.split.val == (5,)
    assert 0.0 <= r.test_accuracy <= 1.0 and r.val_accuracy > 1 / 6  # better than chance after 4 epochs
    run = json.loads((tiny_detector["run"] / "run.json").read_text())
    assert len(run["test_confusion"]) == 6 and run["test"]["users"] == [3]


@pytest.mark.parametrize("dtype", ["float32", "int8"])
def test_exported_file_runs_on_2_8_and_matches_keras(tiny_detector, dtype):
    import keras

    exp = tiny_detector["files"][dtype]
    meta = read_model(exp.path, expect_format=DETECTOR_FORMAT).metadata
    assert version_tuple(meta["min_runtime_version"]) <= (2, 8, 0)
    assert meta["features"]["version"] == FEATURES_VERSION and meta["window"] == 128 and meta["dtype"] == dtype
    # the SDK (TFLite interpreter, numpy features) against Keras on real windows of a held-out user
    det = ActivityDetector(exp.path)
    model = keras.models.load_model(tiny_detector["run"] / "detector.keras", compile=False)
    from converter.detector import cut_windows
    from converter.hapt import load_hapt

    w = cut_windows(load_hapt(users=[3]).experiments, 128, 256)
    keras_p = np.asarray(model(window_features(w.xyz), training=False)["probs"])
    sdk_p = det.predict_proba(w.xyz)
    tol = 1e-4 if dtype == "float32" else 0.1
    assert np.abs(sdk_p - keras_p).max() <= tol
    assert (sdk_p.argmax(1) == keras_p.argmax(1)).mean() >= (1.0 if dtype == "float32" else 0.95)


def test_export_refuses_file_when_parity_fails(tiny_detector, tmp_path, monkeypatch):
    import converter.detector as cd

    monkeypatch.setitem(cd.PARITY_TOLERANCE, "int8", 1e-9)
    with pytest.raises(ExportError, match="int8 detector differs from Keras"):
        cd.export_detector(tiny_detector["run"], tmp_path, dtypes=("int8",))
    assert not (tmp_path / "detector_int8.tflite").exists()


def test_export_refuses_file_when_runtime_newer_than_2_8(tiny_detector, tmp_path, monkeypatch):
    import converter.detector as cd
    import converter.export as ce

    monkeypatch.setattr(ce, "min_runtime_version", lambda flat: "2.17.0")
    with pytest.raises(ExportError, match="needs TFLite runtime 2.17.0, newer than 2.8.0"):
        cd.export_detector(tiny_detector["run"], tmp_path, dtypes=("float32",))
    assert not list(tmp_path.glob("*.tflite"))


def test_export_refuses_int8_when_it_loses_accuracy(tiny_detector, tmp_path, monkeypatch):
    import converter.detector as cd

    real = cd.tflite_probs
    monkeypatch.setattr(cd, "tflite_probs", lambda flat, x: real(flat, x)[:, ::-1])  # wrong classes
    monkeypatch.setitem(cd.PARITY_TOLERANCE, "int8", 10.0)
    with pytest.raises(ExportError, match="int8 detector accuracy .* below float"):
        cd.export_detector(tiny_detector["run"], tmp_path, dtypes=("int8",))


# -- loading --------------------------------------------------------------------------------------

def test_detector_refuses_generator_file():
    from sdk.generator import bundled_model_path

    with pytest.raises(ModelError, match="is a 'sensegen-generator' model, expected 'sensegen-detector'"):
        ActivityDetector(bundled_model_path())


def test_detector_refuses_file_when_tampered(tmp_path):
    data = bytearray(bundled().read_bytes())
    data[100] ^= 0xFF
    (tmp_path / "d.tflite").write_bytes(bytes(data))
    with pytest.raises(ModelIntegrityError, match="sha256"):
        ActivityDetector(tmp_path / "d.tflite")


def test_detector_refuses_file_when_features_differ(tmp_path):
    m = read_model(bundled())
    meta = {k: v for k, v in m.metadata.items() if k not in ("sha256", "flatbuffer_size")}
    meta["features"] = dict(meta["features"], version="sensegen-features-v0")
    (tmp_path / "d.tflite").write_bytes(pack_model(m.flatbuffer, meta))
    with pytest.raises(ModelError, match="expects features 'sensegen-features-v0'"):
        ActivityDetector(tmp_path / "d.tflite")


def test_predict_refuses_windows_of_wrong_length():
    with pytest.raises(ValueError, match=r"windows must be \(n, 128, 3\)"):
        ActivityDetector().predict_proba(np.zeros((2, 100, 3)))


def test_sdk_detector_imports_without_tensorflow():
    code = "import sys, sdk.detector, sdk.policy, sdk.features; bad = [m for m in ('tensorflow', 'keras', 'sklearn', 'matplotlib') if m in sys.modules]; assert not bad, bad"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


# -- the bundled detector ----------------------------------------------------------------------------

def bundled():
    from sdk.generator import bundled_model_path

    return bundled_model_path(DEFAULT_DETECTOR)


def test_bundled_detector_is_small_int8_and_runs_on_2_8():
    path = bundled()
    assert path.stat().st_size < 300_000
    m = read_model(path, expect_format=DETECTOR_FORMAT)
    assert m.metadata["dtype"] == "int8"
    assert version_tuple(min_runtime_version(m.flatbuffer)) <= (2, 8, 0)
    assert m.metadata["features"]["names"] == feature_names(128)
    assert set(m.metadata["training"]["split_users"]["test"]) == {3, 4, 15, 20}


def test_bundled_detector_recognises_activities_of_held_out_user(hapt_root):
    from converter.detector import cut_windows
    from converter.hapt import load_hapt

    w = cut_windows(load_hapt(hapt_root, users=[20]).experiments, 128, 64)
    w = w.subset((w.label > 0) & (w.purity == 1.0))
    det = ActivityDetector()
    pred = np.asarray(det.classes)[det.predict_proba(w.xyz).argmax(1)]
    truth = np.asarray([["OTHER", *det.classes][k] for k in w.label])
    assert (pred == truth).mean() >= 0.85


def test_bundled_detector_covers_upstairs_after_onset_on_held_out_user(hapt_root):
    """Driven as the filter drives it (3 s release delay): every upstairs sample more than
    3 s after an onset is marked sensitive, and few samples of other activities are."""
    from converter.evaluation.streams import Stream, release_mask, segments
    from converter.hapt import load_hapt

    s = Stream.from_experiment(load_hapt(hapt_root, users=[15]).experiments[0])
    mask = release_mask(s, [DetectorSource(Policy(("WALKING_UPSTAIRS",), "WALKING"))], delay_s=3.0)
    up = s.labels == activity_index("WALKING_UPSTAIRS")
    after = np.zeros_like(up)
    for a, b in segments(up):
        after[a + 150 : b] = True
    assert after.sum() > 500
    assert mask[after].mean() >= 0.99
    others = (s.labels > 0) & ~up
    assert mask[others].mean() <= 0.15
