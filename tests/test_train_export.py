import json

import numpy as np
import pytest

from converter import export as export_mod
from sdk.errors import ExportError, ModelError, ModelIntegrityError
from sdk.generator import Generator, SyntheticStream
from sdk.model_file import min_runtime_version, pack_model, read_model, version_tuple
from sdk.numpy_step import NumpyStep


def test_train_tiny_on_real_hapt_records_run(tiny_export):
    run = json.loads((tiny_export["run"] / "run.json").read_text())
    assert run["split"] == {"train": [1, 2], "val": [3], "test": [4]}
    assert len(run["history"]) == 1 and np.isfinite(run["history"][0]["train_nll"])
    assert np.isfinite(run["test_nll"]) and np.isfinite(run["best_val_nll"])
    assert len(run["normalisation"]["scale"]) == 3
    assert (tiny_export["run"] / "checkpoints" / "checkpoint").is_file()


@pytest.mark.parametrize("dtype", ["float32", "float16", "int8"])
def test_export_passes_parity_and_runtime_check_for_each_dtype(tiny_export, dtype):
    e = tiny_export["files"][dtype]
    assert e.parity_max_error <= export_mod.PARITY_TOLERANCE[dtype]
    model = read_model(e.path, expect_format="sensegen-generator")
    assert version_tuple(min_runtime_version(model.flatbuffer)) <= (2, 8, 0)
    assert model.metadata["dtype"] == dtype
    assert model.metadata["min_runtime_version"] == min_runtime_version(model.flatbuffer)
    assert model.metadata["normalisation"]["scale"] == json.loads((tiny_export["run"] / "run.json").read_text())["normalisation"]["scale"]
    g = Generator(e.path)
    s = SyntheticStream(g, "WALKING", seed=0)
    s.prime(np.tile([1.0, -0.2, 0.1], (50, 1)))
    assert np.isfinite([s.next() for _ in range(50)]).all()


def test_export_file_has_no_flex_or_resource_ops(tiny_export):
    flat = read_model(tiny_export["files"]["int8"].path).flatbuffer
    assert b"Flex" not in flat and b"VAR_HANDLE" not in flat and b"READ_VARIABLE" not in flat


@pytest.mark.parametrize("export", ["tiny_export", "tiny_full_export"])
def test_numpy_step_matches_float32_tflite(export, request, rng):
    """Every mixture output of the numpy step equals the float32 file's, for a diagonal and a
    full-covariance mixture."""
    exported = request.getfixturevalue(export)
    g = Generator(exported["files"]["float32"].path)
    n = NumpyStep(exported["dir"] / "generator_weights.npz")
    sg, sn = g.zero_state(), n.zero_state()
    for i in range(100):
        x, c = rng.normal(size=3), g.condition(("WALKING" if export == "tiny_full_export" else "SITTING") if i % 2 else None)
        og, sg = g.step(x, c, sg)
        on, sn = n.step(x, c, sn)
        np.testing.assert_allclose(og.mu, on.mu, atol=1e-4)
        np.testing.assert_allclose(og.logits, on.logits, atol=1e-4)
        np.testing.assert_allclose(og.log_sigma, on.log_sigma, atol=1e-4)
        if g.covariance == "full":
            assert og.coupling.shape == (g.mixtures, 3)
            np.testing.assert_allclose(og.coupling, on.coupling, atol=1e-4)
        else:
            assert og.coupling is None and on.coupling is None


def test_default_int8_quantisation_would_need_a_newer_runtime(tiny_export):
    """Per-channel dynamic-range int8 (TFLite's default) needs runtime > 2.8: the check is real."""
    import tensorflow as tf

    from converter.model import build_step_model
    from converter.train import load_run

    seq, cfg, _, _ = load_run(tiny_export["run"])
    conv = tf.lite.TFLiteConverter.from_keras_model(build_step_model(seq, cfg))
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    assert version_tuple(min_runtime_version(conv.convert())) > version_tuple(export_mod.MAX_RUNTIME)


def test_export_refuses_file_needing_runtime_above_limit(tiny_export, tmp_path, monkeypatch):
    monkeypatch.setattr(export_mod, "MAX_RUNTIME", "2.0.0")
    with pytest.raises(ExportError, match="newer than 2.0.0"):
        export_mod.export_generator(tiny_export["run"], tmp_path, dtypes=("int8",))
    assert not (tmp_path / "generator_int8.tflite").exists()


def test_export_refuses_file_failing_parity(tiny_export, tmp_path, monkeypatch):
    monkeypatch.setitem(export_mod.PARITY_TOLERANCE, "int8", 0.0)
    with pytest.raises(ExportError, match="differs from Keras"):
        export_mod.export_generator(tiny_export["run"], tmp_path, dtypes=("int8",))
    assert not (tmp_path / "generator_int8.tflite").exists()


def test_metadata_round_trips_and_detects_tampering(tiny_export, tmp_path):
    src = tiny_export["files"]["int8"].path
    model = read_model(src)
    again = tmp_path / "again.tflite"
    again.write_bytes(pack_model(model.flatbuffer, model.metadata))
    assert read_model(again).metadata == model.metadata

    data = bytearray(src.read_bytes())
    data[len(data) // 3] ^= 0xFF
    tampered = tmp_path / "tampered.tflite"
    tampered.write_bytes(bytes(data))
    with pytest.raises(ModelIntegrityError, match="sha256"):
        Generator(tampered)

    truncated = tmp_path / "truncated.tflite"
    truncated.write_bytes(src.read_bytes()[:5000])
    with pytest.raises(ModelError, match="truncated|metadata"):
        Generator(truncated)

    junk = tmp_path / "junk.tflite"
    junk.write_bytes(b"not a model at all")
    with pytest.raises(ModelError, match="not a TFLite model"):
        Generator(junk)
    with pytest.raises(ModelError, match="not found"):
        Generator(tmp_path / "missing.tflite")


def test_damaged_packed_metadata_is_an_integrity_error(tiny_export, tmp_path):
    """A flipped byte inside the compressed metadata (not the flatbuffer, not a member) is
    refused as corrupt, like a tampered flatbuffer: never a raw zlib error."""
    import struct
    import zipfile

    src = tiny_export["files"]["int8"].path
    data = bytearray(src.read_bytes())
    with zipfile.ZipFile(src) as zf:  # the zip follows the flatbuffer; offsets are of the whole file
        info = zf.getinfo("metadata.json")
    header = info.header_offset
    assert header >= read_model(src).metadata["flatbuffer_size"] and data[header : header + 4] == b"PK\x03\x04"
    n, e = struct.unpack_from("<HH", data, header + 26)
    for where in (0.25, 0.5, 0.75):
        bad = data.copy()
        bad[header + 30 + n + e + int(info.compress_size * where)] ^= 0xFF
        path = tmp_path / f"bad_metadata_{where}.tflite"
        path.write_bytes(bytes(bad))
        with pytest.raises(ModelIntegrityError, match="corrupt"):
            read_model(path)
        with pytest.raises(ModelIntegrityError):
            Generator(path)


def test_generator_refuses_mismatched_metadata(tiny_export, tmp_path):
    model = read_model(tiny_export["files"]["int8"].path)
    meta = json.loads(json.dumps(model.metadata))
    meta["architecture"]["lstm_units"] = [16, 16]
    bad = tmp_path / "mismatch.tflite"
    bad.write_bytes(pack_model(model.flatbuffer, meta))
    with pytest.raises(ModelError, match="missing; metadata and file do not match"):
        Generator(bad)
    meta = dict(model.metadata, format="sensegen-detector")
    bad.write_bytes(pack_model(model.flatbuffer, meta))
    with pytest.raises(ModelError, match="expected 'sensegen-generator'"):
        Generator(bad)


def test_cli_train_and_export_tiny(tmp_path, hapt_root):
    from converter.cli import main

    data = tmp_path / "hapt" / "RawData"  # four users, linked (not copied) from the shared data
    data.mkdir(parents=True)
    for name in ("labels.txt", "acc_exp01_user01.txt", "acc_exp03_user02.txt", "acc_exp05_user03.txt", "acc_exp07_user04.txt"):
        (data / name).symlink_to(hapt_root / "RawData" / name)
    assert main(["train", "--data", str(data.parent), "--preset", "tiny", "--epochs", "1", "--out", str(tmp_path / "run"), "--no-progress",
                 "--covariance", "full", "--stride-clock", "--scheduled-sampling", "0.3"]) == 0
    assert main(["export", str(tmp_path / "run"), "--out", str(tmp_path / "exp"), "--dtype", "int8", "--data", str(data.parent)]) == 0
    g = Generator(tmp_path / "exp" / "generator_int8.tflite")
    assert g.metadata["architecture"]["preset"] == "tiny"
    assert g.covariance == "full" and g.clock_width == 4
    assert json.loads((tmp_path / "run" / "run.json").read_text())["config"]["scheduled_sampling"] == 0.3
    sampling = g.metadata["sampling"]
    split = json.loads((tmp_path / "run" / "run.json").read_text())["split"]
    users = sampling["calibrated_on_users"]
    assert set(users) == set(sampling["sigma_scale"])
    assert all(u == sorted(split["train"] + split["val"]) and not set(u) & set(split["test"]) for u in users.values())
    assert set(sampling["sigma_scale"]) <= set(g.activities) and sampling["sigma_scale"]
    want = sampling["sigma_scale"].get("WALKING", 1.0)  # one factor, or one per axis
    assert g.sigma_scale("WALKING") == (tuple(want) if isinstance(want, list) else want)
    # recalibrating an exported file changes its sampling metadata only
    src = tmp_path / "exp" / "generator_int8.tflite"
    assert main(["calibrate", str(src), "--data", str(data.parent), "--out", str(tmp_path / "cal.tflite")]) == 0
    before, after = read_model(src), read_model(tmp_path / "cal.tflite")
    assert after.flatbuffer == before.flatbuffer and after.members == before.members
    assert after.metadata["sampling"] == sampling
    # one activity only: the others keep their values and provenance (here: a file calibrated before)
    meta = json.loads(json.dumps(before.metadata))
    meta["sampling"]["sigma_scale"]["WALKING"], meta["sampling"]["calibrated_on_users"] = 0.5, [1]
    (tmp_path / "older.tflite").write_bytes(pack_model(before.flatbuffer, meta, before.members))
    assert main(["calibrate", str(tmp_path / "older.tflite"), "--data", str(data.parent), "--activities", "sitting"]) == 0
    sit = read_model(tmp_path / "older.tflite").metadata["sampling"]
    assert sit["sigma_scale"]["WALKING"] == 0.5 and sit["calibrated_on_users"]["WALKING"] == [1]
    assert sit["sigma_scale"]["SITTING"] == sampling["sigma_scale"]["SITTING"] and sit["calibrated_on_users"]["SITTING"] != [1]
    assert {k: v for k, v in after.metadata.items() if k != "sampling"} == {k: v for k, v in before.metadata.items() if k != "sampling"}
    # population stillness: fitted at export on the same users, packed as a member, refitted alike
    from sdk.postures import STILLNESS_MEMBER

    still = before.metadata["stillness"]
    assert still["calibrated_on_users"] == sorted(split["train"] + split["val"]) and set(still["activities"]) <= {"SITTING", "STANDING", "LAYING"}
    assert STILLNESS_MEMBER in before.members and g.population_stillness(still["activities"][0]) is not None
    # one part only: the sigma scales leave the stillness member as it was, and the reverse
    (tmp_path / "nostill.tflite").write_bytes(pack_model(before.flatbuffer, {k: v for k, v in before.metadata.items() if k != "stillness"},
                                                         {k: v for k, v in before.members.items() if k != STILLNESS_MEMBER}))
    assert main(["calibrate", str(tmp_path / "nostill.tflite"), "--data", str(data.parent), "--parts", "sigma"]) == 0
    assert "stillness" not in read_model(tmp_path / "nostill.tflite").metadata
    assert main(["calibrate", str(tmp_path / "nostill.tflite"), "--data", str(data.parent), "--parts", "stillness", "--activities", "sitting"]) == 0
    one = read_model(tmp_path / "nostill.tflite")
    assert one.metadata["stillness"]["activities"] == ["SITTING"] and one.metadata["sampling"] == sampling


def test_reference_windows_come_from_the_same_recording_and_activity_without_overlap(hapt_root):
    """Reference-conditioned training (measured in the personal-cover ablation): each window
    starts with a clip of its own activity from elsewhere in the same recording, or zeros."""
    from converter.hapt import load_hapt
    from converter.windows import make_windows

    ds = load_hapt(hapt_root, users=[2])
    ref, priming, length = 64, 50, 64
    ws = make_windows(ds.experiments, length, priming, [0.2, 0.2, 0.2], clock=True, reference=ref, reference_prob=1.0)
    assert ws.inputs.shape[1] == ref + priming + length == ws.cond.shape[1]
    has = np.abs(ws.inputs[:, :ref]).sum(axis=(1, 2)) > 0
    assert has.mean() > 0.5
    # a reference carries the window's activity as its condition, and its clock only if dynamic
    act = ws.cond[has, :ref, :7].argmax(axis=2)
    assert np.all(act == ws.label[has, None])
    assert np.all(ws.cond[~has, :ref] == 0)
