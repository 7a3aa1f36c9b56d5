"""The SDK's public surface: ``from sdk import ...`` is the documented way in, small and
one name per concept; the README's Python example runs as written."""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np

import sdk

ROOT = Path(__file__).resolve().parent.parent


def test_public_surface_is_small_and_every_name_resolves():
    assert len(sdk.__all__) == len(set(sdk.__all__)) <= 26
    for name in sdk.__all__:
        assert getattr(sdk, name) is not None, name
    errors = [n for n in sdk.__all__ if n.endswith(("Error", "Warning"))]
    assert len(errors) <= 5
    assert "Resampler" in sdk.__all__ and "sample_recording_path" in sdk.__all__
    assert "find_runtime" not in sdk.__all__  # plumbing stays in its submodule
    from sdk.errors import TimestampError  # noqa: F401  finer types stay importable
    from sdk.runtime import find_runtime  # noqa: F401


def test_readme_sdk_example_runs_with_top_level_imports_only():
    readme = (ROOT / "README.md").read_text()
    code = re.search(r"## Using the SDK\s+```python\n(.*?)```", readme, re.S).group(1)
    imports = re.findall(r"^from (\S+) import", code, re.M)
    assert imports == ["sdk"], imports
    scope: dict = {}
    exec(compile(code, "README.md", "exec"), scope)
    sensor, app, tail = scope["sensor"], scope["app"], scope["tail"]
    t = np.array([a[0] for a in app] + list(tail.t))
    replaced = np.array([a[2] for a in app] + list(tail.replaced))
    np.testing.assert_array_equal(t, sensor.t)  # every sample released once, in order
    inside = (sensor.t >= 60) & (sensor.t <= 90)
    assert replaced[inside].all() and not replaced[sensor.t < 59].any()


def test_model_loading_drops_only_the_xnnpack_line_from_native_stderr(capfd):
    import os

    from sdk.runtime import _quiet_native_stderr

    with _quiet_native_stderr():
        os.write(2, b"INFO: Created TensorFlow Lite XNNPACK delegate for CPU.\n")
        os.write(2, b"ERROR: something the user must see\n")
    err = capfd.readouterr().err
    assert "XNNPACK" not in err and "ERROR: something the user must see" in err
    sdk.Generator()  # a real model load through the real runtime
    assert "XNNPACK" not in capfd.readouterr().err
