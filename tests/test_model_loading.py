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
