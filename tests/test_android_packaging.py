"""What ``android_demo/buildozer.spec`` puts into the APK (no Android SDK needed): the
files buildozer would copy, and that every bundled model runs on python-for-android's
tflite-runtime 2.8 recipe."""
from __future__ import annotations

import configparser
import fnmatch
import os
import re
from pathlib import Path

import pytest

from sdk.model_file import min_runtime_version, read_model, version_tuple

ROOT = Path(__file__).resolve().parent.parent
SPEC = ROOT / "android_demo" / "buildozer.spec"
P4A_TFLITE_RUNTIME = "2.8.0"


def _spec() -> configparser.ConfigParser:
    cp = configparser.ConfigParser()
    cp.read(SPEC)
    return cp


def _list(cp, key: str) -> list[str]:
    return [v.strip() for v in cp.get("app", key, fallback="").split(",") if v.strip()]


def packaged_files(cp=None) -> set[str]:
    """The files buildozer 1.6 copies from ``source.dir`` (same rules as
    ``Buildozer._copy_application_sources``: hidden entries, ``exclude_dirs`` prefixes,
    ``exclude_patterns`` on the relative path, ``include_exts``)."""
    cp = cp or _spec()
    src = (SPEC.parent / cp.get("app", "source.dir")).resolve()
    exts = [e.lower() for e in _list(cp, "source.include_exts")]
    ex_dirs = [d.lower().rstrip("/") + "/" for d in _list(cp, "source.exclude_dirs")]
    ex_pats = [p.lower() for p in _list(cp, "source.exclude_patterns")]
    out = set()
    for root, _dirs, files in os.walk(src, followlinks=True):
        rel = os.path.relpath(root, src)
        rel = "" if rel == "." else rel
        if rel and any(part.startswith(".") for part in rel.split(os.sep)):
            continue
        froot = (rel.lower() + "/") if rel else ""
        if froot and (any(froot.startswith(d) for d in ex_dirs) or any(fnmatch.fnmatch(froot, p) for p in ex_pats)):
            continue
        for fn in files:
            if fn.startswith("."):
                continue
            dfn = froot + fn.lower() if froot else fn.lower()
            if any(fnmatch.fnmatch(dfn, p) for p in ex_pats):
                continue
            ext = os.path.splitext(fn)[1][1:].lower()
            if ext and exts and ext not in exts:
                continue
            out.add(f"{rel}/{fn}" if rel else fn)
    return out


def test_spec_targets_arm64_api24_with_required_recipes():
    cp = _spec()
    reqs = {r.split("==")[0] for r in _list(cp, "requirements")}
    assert {"python3", "kivy", "numpy", "plyer", "tflite-runtime"} <= reqs
    assert _list(cp, "android.archs") == ["arm64-v8a"]
    assert cp.getint("app", "android.minapi") == 24
    assert "tflite" in _list(cp, "source.include_exts")


def test_apk_contents_hold_app_sdk_and_default_models_only():
    files = packaged_files()
    for need in ("main.py", "android_demo/app.py", "android_demo/__main__.py", "android_demo/sources/android.py",
                 "sdk/filter.py", "sdk/resample.py", "sdk/models/generator_default_int8.tflite"):
        assert need in files, need
    assert not [f for f in files if f.split("/")[0] in {"converter", "tests", "benchmarks", "docs"}]
    assert not [f for f in files if "float32" in f or f.endswith(".npz")]


def test_bundled_models_in_apk_load_on_tflite_runtime_2_8():
    models = sorted(f for f in packaged_files() if f.endswith(".tflite"))
    assert models
    for rel in models:
        m = read_model(ROOT / rel)
        need = min_runtime_version(m.flatbuffer)
        assert need is not None, rel
        assert version_tuple(need) <= version_tuple(P4A_TFLITE_RUNTIME), f"{rel} needs runtime {need}"


def test_packaged_modules_never_import_tensorflow_or_converter_at_import_time():
    bad = re.compile(r"^(import|from)\s+(tensorflow|keras|converter)\b", re.M)
    for rel in sorted(f for f in packaged_files() if f.endswith(".py")):
        text = (ROOT / rel).read_text()
        assert not bad.search(text), rel


def test_buildozer_copies_same_files_when_installed(tmp_path):
    buildozer = pytest.importorskip("buildozer")
    b = buildozer.Buildozer(filename=str(SPEC))
    b.config.set("buildozer", "build_dir", str(tmp_path / "bz"))
    b.targetname = "android"
    cwd = os.getcwd()
    try:
        os.chdir(SPEC.parent)
        b._copy_application_sources()
    finally:
        os.chdir(cwd)
    app = Path(b.app_dir)
    copied = {p.relative_to(app).as_posix() for p in app.rglob("*") if p.is_file()}
    assert copied == packaged_files()
