"""One loader for every SDK model file: incomplete metadata is a ModelError (never a
KeyError), and a file of a newer format_version is refused with a clear message."""
import json

import pytest

from sdk.detector import DETECTOR_FORMAT, ActivityDetector
from sdk.errors import ModelError
from sdk.generator import GENERATOR_FORMAT, Generator, bundled_model_path
from sdk.model_file import FORMAT_VERSION, pack_model, read_model

MODELS = [(Generator, "generator_default_int8.tflite"), (ActivityDetector, "detector_default_int8.tflite")]


def repacked(tmp_path, name, edit):
    m = read_model(bundled_model_path(name))
    meta = json.loads(json.dumps({k: v for k, v in m.metadata.items() if k not in ("sha256", "flatbuffer_size")}))
    edit(meta)
    path = tmp_path / f"edited_{name}"
    path.write_bytes(pack_model(m.flatbuffer, meta))
    return path


@pytest.mark.parametrize("cls, name", MODELS)
def test_newer_format_version_is_refused(tmp_path, cls, name):
    path = repacked(tmp_path, name, lambda m: m.update(format_version=FORMAT_VERSION + 1))
    with pytest.raises(ModelError, match=rf"format version {FORMAT_VERSION + 1} is newer than this SDK reads \({FORMAT_VERSION}\); upgrade"):
        cls(path)


@pytest.mark.parametrize("cls, name", MODELS)
@pytest.mark.parametrize("value", [None, "1", 0])
def test_missing_or_invalid_format_version_is_refused(tmp_path, cls, name, value):
    path = repacked(tmp_path, name, lambda m: m.update(format_version=value) if value is not None else m.pop("format_version"))
    with pytest.raises(ModelError, match="no valid format_version"):
        cls(path)


@pytest.mark.parametrize("field", ["architecture", "normalisation", "rate_hz", "activities"])
def test_generator_with_incomplete_metadata_raises_model_error(tmp_path, field):
    path = repacked(tmp_path, "generator_default_int8.tflite", lambda m: m.pop(field))
    with pytest.raises(ModelError, match=rf"{GENERATOR_FORMAT} metadata incomplete or malformed \(KeyError\('{field}'\)\)"):
        Generator(path)


def test_generator_with_malformed_metadata_raises_model_error(tmp_path):
    path = repacked(tmp_path, "generator_default_int8.tflite", lambda m: m["normalisation"].update(scale=[1.0, 2.0]))
    with pytest.raises(ModelError, match="metadata incomplete or malformed"):
        Generator(path)


@pytest.mark.parametrize("field", ["classes", "window", "features"])
def test_detector_with_incomplete_metadata_raises_model_error(tmp_path, field):
    path = repacked(tmp_path, "detector_default_int8.tflite", lambda m: m.pop(field))
    with pytest.raises(ModelError, match=rf"{DETECTOR_FORMAT} metadata incomplete or malformed \(KeyError\('{field}'\)\)"):
        ActivityDetector(path)


def test_bundled_models_load_with_the_current_format_version():
    for cls, name in MODELS:
        m = cls(bundled_model_path(name))
        assert m.metadata["format_version"] == FORMAT_VERSION


def _with_members(tmp_path, edit):
    from sdk.postures import STILLNESS_MEMBER

    m = read_model(bundled_model_path())
    meta = {k: v for k, v in m.metadata.items() if k not in ("sha256", "flatbuffer_size", "members")}
    members = dict(m.members)
    edit(members, STILLNESS_MEMBER)
    path = tmp_path / "edited.tflite"
    path.write_bytes(pack_model(m.flatbuffer, meta, members))
    return path


def test_generator_listing_population_stillness_it_does_not_hold_is_refused(tmp_path):
    path = _with_members(tmp_path, lambda members, name: members.pop(name))
    with pytest.raises(ModelError, match="lists population stillness but the file holds no stillness.npz"):
        Generator(path)


def test_generator_with_malformed_population_stillness_is_refused(tmp_path):
    import io

    import numpy as np

    def shapes_of_another_model(members, name):
        buf = io.BytesIO()
        arrays = {f"{a}/{k}": np.ones((2, 5, 3)) for a in ("SITTING", "STANDING", "LAYING") for k in ("weights", "factors_re", "factors_im")}
        np.savez(buf, **arrays)
        members[name] = buf.getvalue()

    with pytest.raises(ModelError, match="population stillness needs weights"):
        Generator(_with_members(tmp_path, shapes_of_another_model))
    with pytest.raises(ModelError, match="population stillness member is unreadable"):
        Generator(_with_members(tmp_path, lambda members, name: members.update({name: b"PK not an npz"})))
    with pytest.raises(ModelError, match="population stillness member is unreadable"):
        Generator(_with_members(tmp_path, lambda members, name: members.update({name: b"PK\x03\x04 a broken zip"})))
