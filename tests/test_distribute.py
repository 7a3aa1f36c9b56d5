"""tf.distribute training: two replicas (two logical CPU devices) match one replica for the
same global batch, with and without DP. Devices must be split before TensorFlow initialises,
so the training runs in a subprocess."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from converter.distribute import make_strategy, read_tf_config

ROOT = Path(__file__).resolve().parent.parent

TRAIN = textwrap.dedent(
    """
    import json, sys
    import numpy as np
    from converter.distribute import configure_logical_cpus
    configure_logical_cpus(2)
    import keras
    from converter.dp import DPConfig
    from converter.hapt import Split, load_hapt
    from converter.presets import GeneratorConfig
    from converter.train import train_generator

    out, runs = sys.argv[1], json.loads(sys.argv[2])
    ds = load_hapt(users=[1, 3, 4])
    cfg = GeneratorConfig(lstm_units=(8,), dense_units=8, mixtures=2, window=64, priming=16, batch_size=64, epochs=1)
    result = {}
    for name, strategy, replicas, dp in runs:
        dp = DPConfig(noise_multiplier=1.0, noise_seed=5) if dp else None
        r = train_generator(ds, cfg, f"{out}/{name}", split=Split((1,), (3,), (4,)), progress=False,
                            dp=dp, strategy=strategy, replicas=replicas)
        w = keras.models.load_model(f"{out}/{name}/generator.keras", compile=False).get_weights()
        np.savez(f"{out}/{name}.npz", *w)
        result[name] = {"history": r.history, "test_nll": r.test_nll}
    print("RESULT" + json.dumps(result))
    """
)


def _run(code: str, *args, env=None, timeout=300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", code, *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout, env=env
    )


def _result(proc: subprocess.CompletedProcess) -> dict:
    assert proc.returncode == 0, proc.stderr[-3000:]
    line = next(ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT"))
    return json.loads(line[len("RESULT") :])


def _weights(path: Path) -> list[np.ndarray]:
    z = np.load(path)
    return [z[f"arr_{i}"] for i in range(len(z.files))]


def _assert_close(a: Path, b: Path, tol: float = 1e-5) -> None:
    for x, y in zip(_weights(a), _weights(b), strict=True):
        np.testing.assert_allclose(x, y, rtol=tol, atol=tol)


def test_two_replicas_match_one_replica_for_same_global_batch(tmp_path, hapt_root):
    runs = [
        ["one", "default", 1, False],
        ["two", "mirrored", 2, False],
        ["one_dp", "default", 1, True],
        ["two_dp", "mirrored", 2, True],
    ]
    res = _result(_run(TRAIN, str(tmp_path), json.dumps(runs)))
    _assert_close(tmp_path / "one.npz", tmp_path / "two.npz")
    _assert_close(tmp_path / "one_dp.npz", tmp_path / "two_dp.npz")
    for a, b in (("one", "two"), ("one_dp", "two_dp")):
        assert res[a]["history"][0]["train_nll"] == pytest.approx(res[b]["history"][0]["train_nll"], rel=1e-5)
        assert res[a]["test_nll"] == pytest.approx(res[b]["test_nll"], rel=1e-5)
    # the DP runs really are different from the plain ones (noise, no global clip)
    assert res["one"]["test_nll"] != pytest.approx(res["one_dp"]["test_nll"], rel=1e-3)
    run = json.loads((tmp_path / "two_dp" / "run.json").read_text())
    assert run["privacy"]["steps"] == 1243 // 64


def _free_ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("localhost", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


@pytest.mark.slow
def test_two_workers_match_one_replica_with_tf_config(tmp_path, hapt_root):
    runs = json.dumps([["one", "default", 1, True]])
    one = _result(_run(TRAIN, str(tmp_path / "single"), runs))
    cluster = {"worker": [f"localhost:{p}" for p in _free_ports(2)]}
    procs = []
    for i in range(2):
        env = dict(os.environ, TF_CONFIG=json.dumps({"cluster": cluster, "task": {"type": "worker", "index": i}}))
        code = TRAIN.replace("configure_logical_cpus(2)", "")
        procs.append(
            subprocess.Popen(
                [sys.executable, "-c", code, str(tmp_path / "multi"), json.dumps([["mw", "multiworker", 1, True]])],
                cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            )
        )
    outs = [p.communicate(timeout=600) for p in procs]
    for p, (out, err) in zip(procs, outs):
        assert p.returncode == 0, err[-3000:]
    _assert_close(tmp_path / "single" / "one.npz", tmp_path / "multi" / "mw.npz")
    # only the chief (worker 0) writes the run; the other worker keeps its own checkpoints
    assert (tmp_path / "multi" / "mw" / "run.json").exists()
    assert (tmp_path / "multi" / "mw" / "workers" / "worker1" / "checkpoints" / "checkpoint").exists()
    assert json.loads((tmp_path / "multi" / "mw" / "run.json").read_text())["test_nll"] == pytest.approx(one["one"]["test_nll"], rel=1e-5)


def test_make_strategy_rejects_unknown_name():
    with pytest.raises(ValueError, match="unknown strategy 'tpu'"):
        make_strategy("tpu")


def test_make_strategy_rejects_replicas_without_mirrored():
    with pytest.raises(ValueError, match=r"strategy 'default' runs one replica \(per worker\), got replicas=2"):
        make_strategy("default", replicas=2)
    with pytest.raises(ValueError, match="replicas must be an integer >= 1, got 0"):
        make_strategy("mirrored", replicas=0)


def test_multiworker_without_tf_config_raises(monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    with pytest.raises(ValueError, match="needs the TF_CONFIG environment variable"):
        make_strategy("multiworker")


@pytest.mark.parametrize(
    "value, message",
    [
        ("{not json", "TF_CONFIG is not valid JSON"),
        ('{"cluster": {"worker": ["a:1"]}}', "needs 'cluster' and 'task'"),
        ('{"cluster": {"worker": ["a:1"]}, "task": {"type": "worker", "index": 3}}', "is not in its cluster"),
    ],
)
def test_malformed_tf_config_raises(monkeypatch, value, message):
    monkeypatch.setenv("TF_CONFIG", value)
    with pytest.raises(ValueError, match=message):
        read_tf_config()
