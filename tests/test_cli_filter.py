"""`sensegen filter` end to end through the CLI in a subprocess (`python -m converter.cli`)."""
import subprocess
import sys

import numpy as np
import pytest

from sdk.recording import read_csv, read_hapt_raw, write_csv

SPANS = [(40.0, 70.0), (150.0, 175.5)]


def sensegen(*args, cwd=None):
    """``sensegen ARGS`` on the tree under test (the installed console script may point at
    another checkout in an editable install)."""
    from tests.test_cli_conventions import cli

    return cli(*args, cwd=cwd)


def span_args():
    return [a for s in SPANS for a in ("--private-span", f"{s[0]}:{s[1]}")]


def test_filter_cli_output_ignores_data_inside_spans(tmp_path, hapt_file):
    rec = read_hapt_raw(hapt_file)
    noisy = rec.xyz.copy()
    inside = np.zeros(len(rec), bool)
    for a, b in SPANS:
        inside |= (rec.t >= a) & (rec.t <= b)
    noisy[inside] = np.random.default_rng(0).normal(0, 2, size=(inside.sum(), 3))
    write_csv(tmp_path / "noisy.csv", rec.t, noisy)

    p1 = sensegen("filter", hapt_file, "--out", tmp_path / "a.csv", *span_args(), "--plot")
    p2 = sensegen("filter", tmp_path / "noisy.csv", "--out", tmp_path / "b.csv", *span_args())
    assert p1.returncode == 0, p1.stderr
    assert p2.returncode == 0, p2.stderr
    a = np.loadtxt(tmp_path / "a.csv", delimiter=",", skiprows=1)
    b = np.loadtxt(tmp_path / "b.csv", delimiter=",", skiprows=1)
    assert a.shape == (len(rec), 5)
    np.testing.assert_array_equal(a[:, 1:], b[:, 1:])  # bit-identical values and flags
    np.testing.assert_array_equal(a[:, 4].astype(bool), inside)
    assert not np.any(np.all(a[inside, 1:4] == rec.xyz[inside], axis=1))
    assert read_csv(tmp_path / "a.csv").t.shape == rec.t.shape
    png = tmp_path / "a.png"
    assert png.is_file() and png.stat().st_size > 20_000

    # seams: the jump into and out of each span is within the real data's 99th percentile step
    typical = np.percentile(np.abs(np.diff(rec.xyz, axis=0)), 99, axis=0)
    for s, e in SPANS:
        i, j = np.searchsorted(rec.t, s), np.searchsorted(rec.t, e, side="right")
        for k in (i, j):
            assert np.all(np.abs(a[k, 1:4] - a[k - 1, 1:4]) <= typical), (k, a[k - 1 : k + 1], typical)


@pytest.mark.parametrize(
    "args, message",
    [
        (["--private-span", "10"], "START:END"),
        (["--private-span", "20:10"], "end must be >= start"),
        (["--cover", "DANCING"], "unknown activity 'DANCING'"),
        (["--model", "/nonexistent.tflite"], "model file not found"),
    ],
)
def test_filter_cli_reports_bad_arguments(tmp_path, hapt_file, args, message):
    p = sensegen("filter", hapt_file, "--out", tmp_path / "o.csv", *args)
    assert p.returncode == 2
    assert message in p.stderr


def test_filter_cli_reports_missing_input(tmp_path):
    p = sensegen("filter", tmp_path / "missing.txt", "--out", tmp_path / "o.csv")
    assert p.returncode == 2 and "not found" in p.stderr


def test_filter_cli_hides_detected_activity_with_bundled_detector(tmp_path, hapt_file):
    import json

    from converter.hapt import load_hapt

    p = sensegen("filter", hapt_file, "--out", tmp_path / "o.csv", "--sensitive", "WALKING_UPSTAIRS", "--cover", "WALKING")
    assert p.returncode == 0, p.stderr
    summary = json.loads(p.stdout)
    assert summary["detector"]["policy"] == "hide WALKING_UPSTAIRS as WALKING"
    out = np.loadtxt(tmp_path / "o.csv", delimiter=",", skiprows=1)
    labels = next(e.labels for e in load_hapt(users=[3]).experiments if e.exp == 5)
    upstairs = labels == 2
    # after the first 3 s of each upstairs bout (the onset allowance), every sample is replaced
    onset_ok = upstairs.copy()
    edges = np.flatnonzero(np.diff(np.concatenate([[0], upstairs.astype(np.int8)])) == 1)
    for e in edges:
        onset_ok[e : e + 150] = False
    assert out[onset_ok, 4].mean() >= 0.99, out[onset_ok, 4].mean()


def test_filter_cli_refuses_cover_that_is_sensitive(tmp_path, hapt_file):
    p = sensegen("filter", hapt_file, "--out", tmp_path / "o.csv", "--sensitive", "WALKING", "--cover", "WALKING")
    assert p.returncode == 2 and "is itself sensitive" in p.stderr


def test_filter_cli_plot_without_matplotlib_is_a_clear_error(tmp_path, hapt_file):
    """--plot in an install without matplotlib (blocked here) fails before filtering, clearly."""
    code = (
        "import sys, importlib.abc\n"
        "class B(importlib.abc.MetaPathFinder):\n"
        "    def find_spec(self, n, p=None, t=None):\n"
        "        if n.split('.')[0] == 'matplotlib': raise ImportError(n)\n"
        "sys.meta_path.insert(0, B())\n"
        "import importlib.util\n"
        "importlib.util.find_spec = lambda n, *a: None if n == 'matplotlib' else __import__('importlib.machinery').machinery.PathFinder.find_spec(n)\n"
        "from converter.cli import main\n"
        f"sys.exit(main(['filter', {str(hapt_file)!r}, '--out', {str(tmp_path / 'o.csv')!r}, '--plot']))\n"
    )
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert p.returncode == 2, p.stderr
    assert "--plot needs matplotlib" in p.stderr
    assert "pip install matplotlib" in p.stderr and "pip install -e '.[train]'" in p.stderr
    assert not (tmp_path / "o.csv").exists()


def test_filter_cli_decoy_rate_adds_decoys_or_turns_them_off(tmp_path, hapt_file, capsys):
    """--decoy-rate: decoys replace some walking besides the detected stairs; 0 turns them off."""
    import json

    from converter.cli import main  # the checkout's own CLI (the console script may be another install)

    got = {}
    for rate in ("0.5", "0"):
        assert main(["filter", str(hapt_file), "--out", str(tmp_path / f"o{rate}.csv"), "--sensitive", "WALKING_UPSTAIRS",
                     "--decoy-rate", rate]) == 0
        got[rate] = json.loads(capsys.readouterr().out)
    assert got["0.5"]["decoys"] == "rate 0.5" and got["0.5"]["decoy_segments"] >= 1
    assert got["0"]["decoys"] == "off" and got["0"]["decoy_segments"] == 0
    assert got["0.5"]["replaced"] > got["0"]["replaced"]
    assert got["0.5"]["segments"] > got["0"]["segments"]  # decoys are generator segments too
    # the owner's walking fills the bank, and later walking segments are drawn from its strides
    assert got["0.5"]["bank_samples"] > 0 and 1 <= got["0.5"]["stride_segments"] <= got["0.5"]["segments"]


@pytest.mark.parametrize("rate", ["-0.1", "1.5"])
def test_filter_cli_refuses_bad_decoy_rate(tmp_path, hapt_file, capsys, rate):
    from converter.cli import main

    assert main(["filter", str(hapt_file), "--out", str(tmp_path / "o.csv"), "--decoy-rate", rate]) == 2
    assert f"decoy rate must be in [0, 0.9] (share of cover time), got {float(rate)}" in capsys.readouterr().err


def test_filter_cli_is_filter_recording_and_reports_gaps(tmp_path, hapt_file, capsys):
    """In-process: the CLI's output is exactly ``filter_recording`` with the same sources,
    and a gap in the input is counted in the summary (not a warning on stderr)."""
    import json

    from converter.cli import main
    from sdk.filter import FilterOptions, filter_recording
    from sdk.sensitivity import PrivateSpans

    rec = read_hapt_raw(hapt_file)
    t = rec.t[:6000].copy()
    t[3000:] += 4.0
    write_csv(tmp_path / "gap.csv", t, rec.xyz[:6000])
    assert main(["filter", str(tmp_path / "gap.csv"), "--out", str(tmp_path / "o.csv"), "--private-span", "20:40", "--seed", "5"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["gaps"] == 1 and summary["segments"] == 1
    got = read_csv(tmp_path / "o.csv")
    want = filter_recording(t, rec.xyz[:6000], FilterOptions(seed=5), [PrivateSpans([(20.0, 40.0)])])
    np.testing.assert_allclose(got.xyz, want.xyz, rtol=1e-15)
    with pytest.raises(SystemExit) as exit_:  # argparse refuses the name (exit 2) with the known ones
        main(["filter", str(tmp_path / "gap.csv"), "--out", str(tmp_path / "o.csv"), "--cover", "FLYING"])
    assert exit_.value.code == 2
    assert "unknown activity 'FLYING'" in capsys.readouterr().err


def test_filter_cli_static_cover_is_drawn_from_the_owners_stillness(tmp_path, hapt_root, capsys):
    """--cover SITTING with a private span inside the second sitting bout of a recording: the
    first bout fills the bank and the span is drawn from the owner's stillness; a span inside the
    first bout is drawn from the generator file's population stillness."""
    import json

    from converter.cli import main

    src = hapt_root / "RawData" / "acc_exp01_user01.txt"  # sitting 27.8-43.9 s and 94.7-113.3 s
    assert main(["filter", str(src), "--out", str(tmp_path / "o.csv"), "--cover", "SITTING", "--private-span", "100:108",
                 "--decoy-rate", "0"]) == 0
    got = json.loads(capsys.readouterr().out)
    assert got["segments"] == 1 and got["posture_segments"] == 1 and got["stride_segments"] == 0
    assert got["bank_samples"] > 500 and got["population_stillness_segments"] == 0
    # a span inside the first bout, before the bank holds 10 s of sitting: population stillness
    assert main(["filter", str(src), "--out", str(tmp_path / "o.csv"), "--cover", "SITTING", "--private-span", "30:38",
                 "--decoy-rate", "0"]) == 0
    got = json.loads(capsys.readouterr().out)
    assert got["segments"] == got["population_stillness_segments"] == 1 and got["posture_segments"] == 0


def test_filter_cli_bank_file_carries_the_owners_walking_to_the_next_recording(tmp_path, capsys):
    """--bank FILE: the first run leaves the owner's walking in FILE; in the next run a private
    span before any walking is drawn from the owner's strides (without the file: the generator)."""
    import json

    from converter.cli import main

    bank = tmp_path / "me" / "bank.npz"
    assert main(["filter", "--sample", "--out", str(tmp_path / "a.csv"), "--bank", str(bank)]) == 0
    first = json.loads(capsys.readouterr().out)
    assert bank.is_file() and first["bank_file"] == str(bank) and first["bank_samples"] > 1000
    span = ["--private-span", "2:6", "--decoy-rate", "0"]  # the sample recording: laying from 2.3 to 21.3 s, walking later
    assert main(["filter", "--sample", "--out", str(tmp_path / "b.csv"), *span]) == 0
    cold = json.loads(capsys.readouterr().out)
    assert cold["segments"] == 1 and cold["stride_segments"] == 0
    assert main(["filter", "--sample", "--out", str(tmp_path / "c.csv"), "--bank", str(bank), *span]) == 0
    warm = json.loads(capsys.readouterr().out)
    assert warm["segments"] == 1 and warm["stride_segments"] == 1 and not warm["faults"]
    assert main(["filter", "--sample", "--out", str(tmp_path / "d.csv"), "--bank", str(tmp_path / "d.csv")]) == 2
    assert "is the input or the output" in capsys.readouterr().err
