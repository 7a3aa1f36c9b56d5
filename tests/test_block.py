"""Block sampling: the block variant inside a generator file (``k`` samples per interpreter
call, the mixture drawn in the graph from noise drawn in numpy) against ``k`` single steps."""
from __future__ import annotations

import io
import json
import zipfile

import numpy as np
import pytest

from converter import export as export_mod
from sdk.block import BLOCK_MEMBER, BlockSampler
from sdk.errors import ExportError, GeneratorFault, ModelError, ModelIntegrityError
from sdk.generator import Generator, SyntheticStream
from sdk.mdn import SamplingOptions, _draw
from sdk.model_file import min_runtime_version, pack_model, read_model, version_tuple


def single_steps(g: Generator, x, state, drift, cond, uniform, normal, opts):
    """``k`` calls of the step model with the numpy draw and the drift guard of
    ``SyntheticStream``, fed the given noise."""
    alpha = 0.0 if opts.drift_tau_s is None else 1.0 / (opts.drift_tau_s * g.rate_hz)
    out = []
    for t in range(len(cond)):
        step, state = g.step(x, cond[t], state)
        x = _draw(step.logits, step.mu, step.log_sigma, float(uniform[t]), normal[t].astype(np.float64), opts, step.coupling)
        drift = drift + alpha * (x - drift)
        x = x - drift
        out.append(x)
    return np.array(out), state, drift


@pytest.mark.parametrize("dtype", ["float32", "float16", "int8"])
def test_block_variant_equals_k_single_steps_given_the_same_noise(tiny_export, dtype, rng):
    path = tiny_export["files"][dtype].path
    g = Generator(path)
    k = g.block.steps
    assert k == export_mod.BLOCK_STEPS
    opts = SamplingOptions(temperature=0.7, sigma_scale=(1.3, 0.9, 0.6), drift_tau_s=0.3)
    state, x, drift = g.zero_state(), np.zeros(3), np.zeros(3)
    width = len(g.condition(None))
    for b in range(6):
        cond = np.zeros((k, width), np.float32)
        cond[np.arange(k), rng.integers(0, len(g.activities), k)] = 1.0  # a different row at every step
        cond[:, len(g.activities) :] = rng.uniform(-1, 1, (k, width - len(g.activities)))  # the gait clock, if any
        z, block_state, block_drift = BlockSampler(g.block, np.random.default_rng(b), opts, g.rate_hz).draw(x, state, drift, cond)
        noise = np.random.default_rng(b)  # the sampler's draws: uniforms, then normals, for 32 blocks
        uniform = noise.random((BlockSampler.NOISE_BLOCKS, 1, k), dtype=np.float32)[0, 0]
        normal = noise.standard_normal((BlockSampler.NOISE_BLOCKS, 1, k, 3), dtype=np.float32)[0, 0]
        ref, state, drift = single_steps(g, x, state, drift, cond, uniform, normal, opts)
        np.testing.assert_allclose(z, ref, atol=1e-4)
        np.testing.assert_allclose(block_drift, drift, atol=1e-4)
        for (hb, cb), (hs, cs) in zip(block_state, state):
            np.testing.assert_allclose(hb, hs, atol=1e-4)
            np.testing.assert_allclose(cb, cs, atol=1e-4)
        x = ref[-1]


@pytest.mark.parametrize("dtype", ["float32", "float16", "int8"])
def test_block_variant_is_recorded_and_fits_android_runtime(tiny_export, dtype):
    e = tiny_export["files"][dtype]
    model = read_model(e.path)
    info = model.metadata["variants"]["block"]
    assert model.metadata["variants"]["step"]["steps"] == 1
    assert info["steps"] == e.block_steps == export_mod.BLOCK_STEPS and info["member"] == BLOCK_MEMBER
    assert info["parity"]["max_abs_error"] == e.block_parity_max_error <= export_mod.BLOCK_PARITY_TOLERANCE
    flat = model.members[BLOCK_MEMBER]
    assert info["min_runtime_version"] == min_runtime_version(flat)
    assert version_tuple(min_runtime_version(flat)) <= (2, 8, 0)
    assert b"Flex" not in flat and b"WHILE" not in flat


def test_conditioning_rows_act_per_step_and_only_forward(tiny_export):
    """Changing the row of step t changes samples t + 1… only: the block reads ``cond`` per step."""
    g = Generator(tiny_export["files"]["float32"].path)
    k, n = g.block.steps, len(g.condition(None))
    cond = np.tile(g.condition("WALKING"), (k, 1))
    other = cond.copy()
    other[4] = g.condition("LAYING")
    a, _, _ = BlockSampler(g.block, np.random.default_rng(0), SamplingOptions()).draw(np.zeros(3), g.zero_state(), np.zeros(3), cond)
    b, _, _ = BlockSampler(g.block, np.random.default_rng(0), SamplingOptions()).draw(np.zeros(3), g.zero_state(), np.zeros(3), other)
    np.testing.assert_array_equal(a[:4], b[:4])
    assert np.abs(a[4:] - b[4:]).max() > 1e-4
    assert cond.shape == (k, n)


def test_stream_uses_block_path_and_is_reproducible(tiny_export):
    path = tiny_export["files"]["int8"].path
    ctx = np.tile([1.0, -0.2, 0.1], (60, 1)) + np.random.default_rng(0).normal(0, 0.05, (60, 3))

    def run(g, seed):
        s = SyntheticStream(g, "WALKING", seed=seed)
        s.prime(ctx)
        return np.array([s.next() for _ in range(35)])

    g = Generator(path)
    assert g.block is not None and "blocks of" in g.info
    a, b, c = run(g, 3), run(g, 3), run(g, 4)
    np.testing.assert_array_equal(a, b)
    assert np.isfinite(a).all() and not np.allclose(a, c)
    step_only = Generator(path, use_block=False)
    assert step_only.block is None
    assert np.isfinite(run(step_only, 3)).all()


def test_block_fault_is_typed(tiny_export, monkeypatch):
    g = Generator(tiny_export["files"]["int8"].path)
    s = SyntheticStream(g, "WALKING", seed=0)
    monkeypatch.setattr(g.block, "run", lambda *a: (np.full((g.block.steps, 3), np.nan), np.zeros((1, 2 * sum(g.units)))))
    with pytest.raises(GeneratorFault, match="non-finite"):
        s.next()

    def boom(*a):
        raise RuntimeError("interpreter exploded")

    monkeypatch.setattr(g.block, "run", boom)
    s = SyntheticStream(g, "WALKING", seed=0)
    with pytest.raises(GeneratorFault, match="generator block failed: RuntimeError"):
        s.next()


def test_file_without_block_variant_samples_one_step_at_a_time(tiny_export, tmp_path):
    model = read_model(tiny_export["files"]["int8"].path)
    meta = {k: v for k, v in model.metadata.items() if k not in ("variants", "members")}
    old = tmp_path / "old.tflite"
    old.write_bytes(pack_model(model.flatbuffer, meta))
    g = Generator(old)
    assert g.block is None
    s = SyntheticStream(g, "WALKING", seed=0)
    assert np.isfinite([s.next() for _ in range(12)]).all()


def test_listed_block_variant_missing_or_tampered_is_refused(tiny_export, tmp_path):
    model = read_model(tiny_export["files"]["int8"].path)
    meta = {k: v for k, v in model.metadata.items() if k != "members"}
    missing = tmp_path / "missing.tflite"
    missing.write_bytes(pack_model(model.flatbuffer, meta))
    with pytest.raises(ModelError, match="lists a block variant but the file holds no block.tflite"):
        Generator(missing)
    assert Generator(missing, use_block=False).block is None

    # a member whose bytes no longer match the sha256 recorded in the metadata
    bad = bytearray(model.members[BLOCK_MEMBER])
    bad[len(bad) // 2] ^= 0xFF
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("metadata.json", json.dumps(model.metadata))
        zf.writestr(BLOCK_MEMBER, bytes(bad))
    tampered = tmp_path / "tampered.tflite"
    tampered.write_bytes(model.flatbuffer + buf.getvalue())
    with pytest.raises(ModelIntegrityError, match="sha256 of member block.tflite does not match"):
        Generator(tampered)


def test_export_without_block_and_refusing_a_block_failing_parity(tiny_export, tmp_path, monkeypatch):
    (e,) = export_mod.export_generator(tiny_export["run"], tmp_path / "plain", dtypes=("float32",), block=0)
    assert "block" not in read_model(e.path).metadata["variants"] and Generator(e.path).block is None
    monkeypatch.setattr(export_mod, "BLOCK_PARITY_TOLERANCE", 0.0)
    with pytest.raises(ExportError, match="float32 block export differs from 10 single steps"):
        export_mod.export_generator(tiny_export["run"], tmp_path / "strict", dtypes=("float32",))
    assert not (tmp_path / "strict" / "generator_float32.tflite").exists()


def test_same_step_outputs_tells_the_same_weights_from_others(tiny_export):
    """add_block_variant's proof that the weights are the file's when today's converter writes
    other bytes: bit-identical step outputs on random inputs and states."""
    int8, f32 = (read_model(tiny_export["files"][d].path).flatbuffer for d in ("int8", "float32"))
    assert export_mod.same_step_outputs(f32, f32) and export_mod.same_step_outputs(int8, int8)
    assert not export_mod.same_step_outputs(int8, f32)
    block = read_model(tiny_export["files"]["int8"].path).members[BLOCK_MEMBER]
    assert not export_mod.same_step_outputs(int8, block)  # other tensors altogether


def test_add_block_variant_refuses_weights_of_another_model(tiny_export, tmp_path):
    from sdk.generator import bundled_model_path

    with pytest.raises(ExportError, match="does not reproduce"):
        export_mod.add_block_variant(tiny_export["files"]["int8"].path, bundled_model_path("generator_default_weights.npz"), tmp_path / "x.tflite")
    assert not (tmp_path / "x.tflite").exists()


def test_take_draws_the_same_sequence_as_next(tiny_export):
    g = Generator(tiny_export["files"]["int8"].path)
    ctx = np.random.default_rng(4).normal(size=(60, 3)) * 0.1 + [1.0, 0.0, 0.0]
    one, many = SyntheticStream(g, "WALKING", seed=[1, 2]), SyntheticStream(g, "WALKING", seed=[1, 2])
    one.prime(ctx)
    many.prime(ctx)
    n = 6 * g.block.steps
    a = np.array([one.next() for _ in range(n)])
    parts, sizes, got = [], [3, 1, 20, 7, 50], 0
    while got < n:
        parts.append(many.take(min(sizes[len(parts) % len(sizes)], n - got)).copy())
        assert 1 <= len(parts[-1]) <= g.block.steps
        got += len(parts[-1])
    np.testing.assert_array_equal(a, np.concatenate(parts))
    # between blocks the state stays packed; read, it is the same state
    for (h1, c1), (h2, c2) in zip(one.state, many.state):
        np.testing.assert_array_equal(h1, h2)
        np.testing.assert_array_equal(c1, c2)
    np.testing.assert_array_equal(one.next(), many.next())
