"""`sensegen train --dp` end to end: the budget reaches the exported model's metadata."""
import json

import pytest

from converter.cli import main
from sdk.generator import Generator


@pytest.fixture
def two_users(tmp_path, hapt_root):
    data = tmp_path / "hapt" / "RawData"  # linked, not copied, from the shared data
    data.mkdir(parents=True)
    for name in ("labels.txt", "acc_exp01_user01.txt", "acc_exp03_user02.txt", "acc_exp05_user03.txt"):
        (data / name).symlink_to(hapt_root / "RawData" / name)
    return data.parent


def test_cli_dp_training_records_epsilon_in_exported_metadata(tmp_path, two_users, capsys):
    run = tmp_path / "run"
    rc = main(["train", "--data", str(two_users), "--preset", "tiny", "--epochs", "1", "--out", str(run),
               "--no-progress", "--dp", "--noise-multiplier", "1.1", "--clip-norm", "1.0"])
    assert rc == 0
    err = capsys.readouterr().err
    assert "differentially private" in err and "Not a per-person guarantee" in err
    privacy = json.loads((run / "run.json").read_text())["privacy"]
    assert privacy["differential_privacy"] is True
    assert privacy["epsilon"] > 0 and 0 < privacy["delta"] < 1e-3
    assert main(["export", str(run), "--out", str(tmp_path / "exp"), "--dtype", "int8", "--no-calibrate"]) == 0
    meta = Generator(tmp_path / "exp" / "generator_int8.tflite").metadata["privacy"]
    assert meta["epsilon"] == privacy["epsilon"] and meta["delta"] == privacy["delta"]
    assert "statement" in meta


def test_cli_dp_options_need_dp_flag(tmp_path, two_users, capsys):
    rc = main(["train", "--data", str(two_users), "--preset", "tiny", "--out", str(tmp_path / "r"), "--noise-multiplier", "1.0"])
    assert rc == 2
    assert "needs --dp" in capsys.readouterr().err
