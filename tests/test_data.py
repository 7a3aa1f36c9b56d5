import http.server
import io
import threading
import zipfile
from pathlib import Path

import numpy as np
import pytest

from converter.download import download_hapt
from converter.hapt import load_hapt, normalisation_stats, split_users
from sdk.errors import DataError
from sdk.recording import read_csv, read_hapt_raw, read_recording, write_csv


def test_load_hapt_reads_every_experiment_with_labels(hapt_root):
    ds = load_hapt(hapt_root)
    assert len(ds.experiments) == 29
    assert ds.users == [1, 2, 3, 4, 5, 10, 11, 12, 13, 14, 15, 20, 21, 22, 23, 24]
    assert ds.n_samples() == 512199
    e = ds.experiments[0]
    assert e.xyz.shape[1] == 3 and e.labels.shape == (len(e),)
    # labels.txt: exp 1 user 1 activity 5 (STANDING) covers samples 250..1232 (1-based, inclusive)
    assert e.labels[248] == 0 and e.labels[249] == 5 and e.labels[1231] == 5
    assert set(np.unique(np.concatenate([x.labels for x in ds.experiments]))) == set(range(7))


def test_split_users_is_disjoint_and_deterministic():
    users = [1, 2, 3, 4, 5, 10, 11, 12, 13, 14, 15, 20, 21, 22, 23, 24]
    a, b = split_users(users), split_users(users)
    assert a == b
    assert not set(a.train) & set(a.test) and not set(a.val) & set(a.test) and not set(a.train) & set(a.val)
    assert sorted(a.train + a.val + a.test) == users
    assert split_users(users, seed=1) != a


def test_split_users_refuses_too_few_users():
    with pytest.raises(DataError, match="at least 3 users"):
        split_users([1, 2])


def test_normalisation_stats_are_positive_scales(hapt_root):
    norm = normalisation_stats(load_hapt(hapt_root, users=[1, 2]), priming=50)
    assert all(0.01 < s < 1.0 for s in norm.scale)
    assert 0.5 < norm.population_level[0] < 1.2  # gravity on x for a waist-worn phone


def _copy_slice(src: Path, dst: Path, rows: int) -> None:
    dst.write_text("".join(src.read_text().splitlines(keepends=True)[:rows]))


def test_load_hapt_raises_on_missing_folder(tmp_path):
    with pytest.raises(DataError, match="not found"):
        load_hapt(tmp_path / "nope")


def test_load_hapt_raises_on_missing_labels(tmp_path, hapt_root):
    _copy_slice(hapt_root / "RawData" / "acc_exp01_user01.txt", tmp_path / "acc_exp01_user01.txt", 100)
    with pytest.raises(DataError, match="labels file not found"):
        load_hapt(tmp_path)


def test_load_hapt_raises_on_corrupt_data_file(tmp_path, hapt_root):
    raw = tmp_path / "RawData"
    raw.mkdir()
    _copy_slice(hapt_root / "RawData" / "labels.txt", raw / "labels.txt", 20)
    (raw / "acc_exp01_user01.txt").write_text("0.1 0.2 0.3\n0.1 oops 0.3\n")
    with pytest.raises(DataError, match="not a HAPT accelerometer file"):
        load_hapt(tmp_path)
    (raw / "acc_exp01_user01.txt").write_text("0.1 0.2\n0.1 0.2\n")
    with pytest.raises(DataError, match="expected 3 columns"):
        load_hapt(tmp_path)
    (raw / "acc_exp01_user01.txt").write_text("0.1 0.2 nan\n")
    with pytest.raises(DataError, match="non-finite"):
        load_hapt(tmp_path)


def test_load_hapt_raises_on_malformed_labels(tmp_path, hapt_root):
    raw = tmp_path / "RawData"
    raw.mkdir()
    _copy_slice(hapt_root / "RawData" / "acc_exp01_user01.txt", raw / "acc_exp01_user01.txt", 100)
    (raw / "labels.txt").write_text("1 1 5 250\n")
    with pytest.raises(DataError, match="expected 5 columns"):
        load_hapt(tmp_path)


def test_csv_round_trip_keeps_values_exactly(tmp_path, hapt_file):
    rec = read_hapt_raw(hapt_file)
    path = tmp_path / "rec.csv"
    write_csv(path, rec.t[:500], rec.xyz[:500])
    back = read_recording(path)
    np.testing.assert_array_equal(back.xyz, rec.xyz[:500])
    np.testing.assert_allclose(back.t, rec.t[:500])
    assert back.rate_hz == pytest.approx(50.0)


def test_read_csv_rejects_bad_header_and_order(tmp_path):
    p = tmp_path / "bad.csv"
    p.write_text("time,x,y,z\n0,1,2,3\n")
    with pytest.raises(DataError, match="header must contain"):
        read_csv(p)
    p.write_text("t,ax,ay,az\n0.02,1,2,3\n0.01,1,2,3\n")
    with pytest.raises(DataError, match="strictly increasing"):
        read_csv(p)


def _hapt_zip(hapt_root: Path, nested: bool) -> bytes:
    inner = io.BytesIO()
    with zipfile.ZipFile(inner, "w") as zf:
        for name in ("acc_exp01_user01.txt", "labels.txt", "activity_labels.txt"):
            zf.writestr(f"RawData/{name}", (hapt_root / "RawData" / name).read_bytes())
        zf.writestr("README.txt", "HAPT readme")
    if not nested:
        return inner.getvalue()
    outer = io.BytesIO()
    with zipfile.ZipFile(outer, "w") as zf:
        zf.writestr("HAPT Data Set.zip", inner.getvalue())
    return outer.getvalue()


@pytest.fixture
def file_server(tmp_path):
    """A local HTTP server on 127.0.0.1 serving ``tmp_path/www``."""
    www = tmp_path / "www"
    www.mkdir()

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *a, **k):
            super().__init__(*a, directory=str(www), **k)

        def log_message(self, *a):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield www, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@pytest.mark.parametrize("nested", [False, True])
def test_download_hapt_unpacks_rawdata_from_local_server(file_server, tmp_path, hapt_root, nested):
    www, base = file_server
    (www / "hapt.zip").write_bytes(_hapt_zip(hapt_root, nested))
    dest = download_hapt(tmp_path / "data", url=f"{base}/hapt.zip", progress=False)
    ds = load_hapt(dest)
    assert [e.exp for e in ds.experiments] == [1]
    assert (dest / "README.txt").is_file()


def test_download_hapt_reports_bad_archive_and_missing_url(file_server, tmp_path):
    www, base = file_server
    (www / "notzip.zip").write_bytes(b"hello")
    with pytest.raises(DataError, match="did not return a zip"):
        download_hapt(tmp_path / "d1", url=f"{base}/notzip.zip", progress=False)
    with pytest.raises(DataError, match="download of .* failed"):
        download_hapt(tmp_path / "d2", url=f"{base}/missing.zip", progress=False)


def test_default_data_dir_is_per_user_and_overridable(monkeypatch, tmp_path):
    from converter.hapt import ENV_VAR, default_data_dir

    monkeypatch.delenv(ENV_VAR, raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert default_data_dir() == tmp_path / "xdg" / "sensegen" / "hapt"  # Linux: platformdirs honours XDG
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "mine"))
    assert default_data_dir() == tmp_path / "mine"


def test_download_then_info_then_train_use_one_default_folder(file_server, tmp_path, hapt_root):
    """``sensegen data download`` with no --dest fills the folder every reader defaults to:
    data info and train --preset tiny then work with no --data (local HTTP server, 3 users)."""
    import json
    import os
    import subprocess
    import sys

    www, base = file_server
    buf = io.BytesIO()
    keep = {"acc_exp01_user01.txt": (1, 1), "acc_exp03_user02.txt": (3, 2), "acc_exp05_user03.txt": (5, 3)}
    labels = [r for r in (hapt_root / "RawData" / "labels.txt").read_text().splitlines()
              if tuple(map(int, r.split()[:2])) in keep.values()]
    with zipfile.ZipFile(buf, "w") as zf:
        for name in keep:
            zf.writestr(f"HAPT/RawData/{name}", (hapt_root / "RawData" / name).read_bytes())
        zf.writestr("HAPT/RawData/labels.txt", "\n".join(labels) + "\n")
        zf.writestr("HAPT/README.txt", "HAPT readme")
    (www / "hapt.zip").write_bytes(buf.getvalue())

    root = Path(__file__).resolve().parent.parent
    env = {k: v for k, v in os.environ.items() if k != "SENSEGEN_HAPT_DIR"}
    env.update(XDG_DATA_HOME=str(tmp_path / "xdg"), PYTHONPATH=str(root), TF_CPP_MIN_LOG_LEVEL="3")
    work = tmp_path / "work"
    work.mkdir()

    def cli(*args):
        p = subprocess.run([sys.executable, "-m", "converter.cli", *args], capture_output=True, text=True,
                           env=env, cwd=work, timeout=600)
        assert p.returncode == 0, p.stderr
        return json.loads(p.stdout)

    expected = tmp_path / "xdg" / "sensegen" / "hapt"
    got = cli("data", "download", "--url", f"{base}/hapt.zip", "--no-progress")
    assert Path(got["data"]) == expected and (expected / "RawData" / "labels.txt").is_file()
    assert not (work / "data").exists()  # nothing lands in the current folder
    info = cli("data", "info")
    assert Path(info["root"]) == expected and info["users"] == [1, 2, 3]
    run = cli("train", "--preset", "tiny", "--epochs", "1", "--out", str(tmp_path / "run"), "--no-progress")
    assert run["epochs"] == 1 and (tmp_path / "run" / "run.json").is_file()


@pytest.mark.parametrize("ci", ["", "true"])
def test_data_hungry_tests_skip_with_reason_without_data_but_fail_in_ci(tmp_path, ci):
    import os
    import subprocess
    import sys

    root = Path(__file__).resolve().parent.parent
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    env.update(SENSEGEN_HAPT_DIR=str(tmp_path / "empty"), XDG_DATA_HOME=str(tmp_path / "xdg"), CI=ci)
    (tmp_path / "empty").mkdir()
    p = subprocess.run([sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider",
                        "tests/test_data.py::test_load_hapt_reads_every_experiment_with_labels"],
                       capture_output=True, text=True, cwd=root, env=env, timeout=120)
    if ci:
        assert p.returncode == 1 and "CI must have the data" in p.stdout, p.stdout[-2000:]
    else:
        assert p.returncode == 0 and "1 skipped" in p.stdout, p.stdout[-2000:]
        assert "needs the full HAPT dataset, not found at" in p.stdout and "sensegen data download" in p.stdout
