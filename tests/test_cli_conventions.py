"""A newcomer's first hour: the README's quick start on a fresh copy with no dataset, and one
convention across the CLI (--sensitive, --out, spans, formats, help, quiet stderr). Needs no
HAPT data: the sample recording shipped in the package and hand-written phone exports."""
from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from sdk.recording import STANDARD_GRAVITY, read_recording, sample_recording_path

ROOT = Path(__file__).resolve().parent.parent


def cli(*args, cwd=None, env=None, root=ROOT):
    """``sensegen ARGS`` as ``python -m converter.cli`` on the tree under test."""
    e = dict(os.environ if env is None else env)
    e["PYTHONPATH"] = str(root)
    return subprocess.run([sys.executable, "-m", "converter.cli", *map(str, args)], capture_output=True,
                          text=True, cwd=cwd, env=e, timeout=300)


def first_code_block(readme: str) -> list[str]:
    """The commands of the README's first ```bash block (continuations joined, comments cut)."""
    block = re.search(r"```bash\n(.*?)```", readme, re.S).group(1)
    lines, cur = [], ""
    for raw in block.splitlines():
        cur += raw.split(" #")[0].rstrip().rstrip("\\") + " "
        if not raw.rstrip().endswith("\\"):
            if cur.strip():
                lines.append(cur.strip())
            cur = ""
    return lines


def test_readme_quick_start_runs_on_a_fresh_copy_with_no_data(tmp_path):
    """The first code block, on a copy of the project with no ../shared beside it, no HAPT
    folder and no network, in a fresh working folder: a CSV, a JSON summary, a quiet stderr."""
    clone = tmp_path / "clone"
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for part in ("sdk", "converter", "android_demo"):
        shutil.copytree(ROOT / part, clone / part, ignore=ignore)
    for f in ("README.md", "pyproject.toml", ".gitignore"):
        shutil.copy2(ROOT / f, clone / f)
    assert not (tmp_path / "shared").exists()
    empty = tmp_path / "no-data"
    empty.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SENSEGEN_")}
    env.update(SENSEGEN_HAPT_DIR=str(empty), XDG_DATA_HOME=str(tmp_path / "xdg"), no_proxy="*",
               http_proxy="http://127.0.0.1:9", https_proxy="http://127.0.0.1:9")

    commands = first_code_block((clone / "README.md").read_text())
    assert commands[0].startswith("pip install -e .")
    run = [shlex.split(c) for c in commands[1:]]
    assert run and all(c[0] == "sensegen" for c in run)
    for argv in run:
        p = cli(*argv[1:], cwd=clone, env=env, root=clone)
        assert p.returncode == 0, p.stderr
        assert p.stderr == "", p.stderr  # no XNNPACK INFO line, no warnings
        summary = json.loads(p.stdout)
        out = clone / summary["output"]
        assert out.is_file()
        rows = np.loadtxt(out, delimiter=",", skiprows=1)
        assert rows.shape == (len(read_recording(sample_recording_path())), 5)
        assert 0 < rows[:, 4].sum() < len(rows)  # the stairs went, the rest stayed
        if shutil.which("git") and (ROOT / ".git").exists():
            rel = out.relative_to(clone)
            assert subprocess.run(["git", "-C", str(ROOT), "check-ignore", "-q", str(rel)]).returncode == 0, \
                f"{rel} would be left untracked in the repository"


def test_sensitive_takes_a_list_or_repeated_flags_everywhere():
    from android_demo.__main__ import build_parser as demo_parser
    from converter.cli import build_parser

    p = build_parser()
    for cmd in (["filter", "x.csv", "--out", "o.csv"], ["evaluate"]):
        a = p.parse_args(cmd + ["--sensitive", "walking_upstairs", "WALKING_DOWNSTAIRS"])
        b = p.parse_args(cmd + ["--sensitive", "WALKING_UPSTAIRS", "--sensitive", "walking_downstairs"])
        assert a.sensitive == b.sensitive == ["WALKING_UPSTAIRS", "WALKING_DOWNSTAIRS"]
    d = demo_parser()
    assert d.parse_args(["--sensitive", "SITTING", "LAYING"]).sensitive == ["SITTING", "LAYING"]
    assert d.parse_args(["--sensitive", "SITTING", "--sensitive", "LAYING"]).sensitive == ["SITTING", "LAYING"]
    assert p.parse_args(["evaluate"]).sensitive is None  # the default is filled in, not extended


def test_demo_app_offers_the_sample_without_importing_converter():
    from android_demo.__main__ import default_replay_file

    assert default_replay_file() == sample_recording_path()


def test_unknown_activity_lists_the_known_ones():
    p = cli("filter", "--sample", "--out", "o.csv", "--sensitive", "JOGGING")
    assert p.returncode == 2
    assert "unknown activity 'JOGGING'; known: WALKING, WALKING_UPSTAIRS" in p.stderr


def test_out_equal_to_input_is_refused_and_input_untouched(tmp_path):
    src = tmp_path / "rec.csv.gz"
    shutil.copy(sample_recording_path(), src)
    before = src.read_bytes()
    for out in (src, tmp_path / "." / "rec.csv.gz"):
        p = cli("filter", src, "--out", out, "--private-span", "1:2")
        assert p.returncode == 2
        assert "is the input recording" in p.stderr
    assert src.read_bytes() == before


@pytest.mark.parametrize("span, message", [
    ("nan:10", "must be finite numbers"),
    ("5:inf", "must be finite numbers"),
    ("-5:10", "START must be >= 0"),
    ("20:10", "end must be >= start"),
])
def test_bad_spans_get_a_clear_message(span, message):
    for args in (["--private-span", span], [f"--private-span={span}"]):
        p = cli("filter", "--sample", "--out", "o.csv", *args)
        assert p.returncode == 2
        assert message in p.stderr and "expected one argument" not in p.stderr


def test_span_missing_the_recording_is_warned_about(tmp_path):
    p = cli("filter", "--sample", "--out", tmp_path / "o.csv", "--private-span", "500:600", "--private-span", "10:12")
    assert p.returncode == 0, p.stderr
    assert "--private-span 500:600 misses the recording (0-211.98 s)" in p.stderr
    assert "10:12" not in p.stderr
    assert json.loads(p.stdout)["replaced"] > 0


def test_filter_help_shows_defaults_seed_and_activity_names():
    p = cli("filter", "--help")
    text = " ".join(p.stdout.split())
    assert p.returncode == 0
    for needle in ("(default: 3.0)", "(default: 0.5)", "(default: WALKING)", "--seed SEED seed of the synthetic data",
                   "WALKING_DOWNSTAIRS, SITTING, STANDING, LAYING", "--sample", "--resample", "sensor-logger"):
        assert needle in text, needle


def test_input_and_sample_together_or_neither_is_refused():
    for args in ([], [str(sample_recording_path()), "--sample"]):
        p = cli("filter", *args, "--out", "o.csv")
        assert p.returncode == 2 and "give an INPUT recording or --sample" in p.stderr


def _phyphox_export(path: Path, seconds: float = 60.0, rate_hz: float = 100.0) -> np.ndarray:
    """A phyphox "Acceleration with g" export (m/s^2, jittery ~100 Hz) of real data: the
    sample recording interpolated at the phone's timestamps."""
    rec = read_recording(sample_recording_path())
    rng = np.random.default_rng(0)
    t = np.cumsum(np.full(int(seconds * rate_hz), 1 / rate_hz) * rng.uniform(0.5, 1.5, int(seconds * rate_hz)))
    t = t[t < rec.t[-1]]
    xyz = np.column_stack([np.interp(t, rec.t, rec.xyz[:, i]) for i in range(3)]) * STANDARD_GRAVITY
    with path.open("w") as fh:
        fh.write('"Time (s)","Acceleration x (m/s^2)","Acceleration y (m/s^2)","Acceleration z (m/s^2)",'
                 '"Absolute acceleration (m/s^2)"\n')
        for ti, (x, y, z) in zip(t, xyz):
            fh.write(f"{ti:.9E},{x:.9E},{y:.9E},{z:.9E},{np.sqrt(x * x + y * y + z * z):.9E}\n")
    return t


def test_irregular_phone_export_is_refused_then_filtered_with_resample(tmp_path):
    src = tmp_path / "Raw Data.csv"
    t = _phyphox_export(src)
    p = cli("filter", src, "--out", tmp_path / "o.csv", "--private-span", "10:20")
    assert p.returncode == 2
    assert re.search(r"not a regular 50 Hz stream: measured \d+\.\d Hz .*--resample", p.stderr), p.stderr
    p = cli("filter", src, "--out", tmp_path / "o.csv", "--private-span", "10:20", "--resample")
    assert p.returncode == 0, p.stderr
    out = np.loadtxt(tmp_path / "o.csv", delimiter=",", skiprows=1)
    np.testing.assert_allclose(np.diff(out[:, 0]), 0.02, atol=1e-5)
    assert out[0, 0] == pytest.approx(t[0], abs=1e-6) and out[-1, 0] <= t[-1]
    inside = (out[:, 0] >= 10) & (out[:, 0] <= 20)
    assert out[inside, 4].all() and not out[~inside & (out[:, 0] < 9), 4].any()
    assert 0.9 < np.median(np.linalg.norm(out[~inside, 1:4], axis=1)) < 1.1  # in g


def test_linear_acceleration_export_is_refused_by_the_cli(tmp_path):
    src = tmp_path / "Accelerometer.csv"
    src.write_text("time,seconds_elapsed,z,y,x\n" + "".join(
        f"{1698501144401773000 + i * 10_000_000},{i * 0.01:.2f},0.1,-0.05,0.02\n" for i in range(200)))
    p = cli("filter", src, "--out", tmp_path / "o.csv", "--private-span", "0:1")
    assert p.returncode == 2
    assert "linear acceleration without gravity" in p.stderr and "TotalAcceleration.csv" in p.stderr
    assert not (tmp_path / "o.csv").exists()
