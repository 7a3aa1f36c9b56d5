"""`sensegen train-detector` and `sensegen evaluate` through the CLI on real HAPT data."""
import json

from converter.cli import main
from sdk.detector import ActivityDetector


def test_cli_train_detector_exports_loadable_checked_models(tmp_path, hapt_root, capsys):
    assert main(["train-detector", "--data", str(hapt_root), "--out", str(tmp_path / "det"), "--no-progress"]) == 0
    trained = json.loads(capsys.readouterr().out)
    assert trained["split"]["test"] == [3, 4, 15, 20] and trained["test_accuracy"] > 0.8
    assert main(["export-detector", str(tmp_path / "det"), "--out", str(tmp_path / "exp"), "--dtype", "int8", "float32"]) == 0
    files = json.loads(capsys.readouterr().out)
    int8 = next(f["path"] for f in files if f["path"].endswith("_int8.tflite"))
    det = ActivityDetector(int8)
    assert det.metadata["min_runtime_version"] <= "2.8"
    assert "WALKING_UPSTAIRS" in det.classes


def test_cli_evaluate_quick_writes_report_and_summary(tmp_path, hapt_root, capsys):
    out_dir = tmp_path / "eval"
    assert main(["evaluate", "--data", str(hapt_root), "--users", "3", "--quick", "--out", str(out_dir), "--no-progress"]) == 0
    summary = json.loads(capsys.readouterr().out)["summary"]
    assert {"sensegen", "gaussian", "replay"} <= set(summary)
    assert (out_dir / "results.json").is_file() and (out_dir / "report.md").is_file()
    assert list(out_dir.glob("*.png"))
