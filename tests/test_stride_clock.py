"""The stride clock: the gait clock also tells the two steps of a stride apart (half phase)."""
from __future__ import annotations

import json

import numpy as np
import pytest

from sdk.errors import ModelError
from sdk.gait import CLOCK_WIDTH, STRIDE_CLOCK_WIDTH, Cadence, PhaseClock, clock_rows
from sdk.generator import Generator, SyntheticStream
from sdk.model_file import pack_model, read_model


def assert_half_angles(rows: np.ndarray) -> None:
    """Columns 2, 3 are (sin, cos) of half of the phase of columns 0, 1, and move smoothly."""
    s, c, hs, hc = rows.T.astype(np.float64)
    np.testing.assert_allclose(c, 2 * hc**2 - 1, atol=1e-5)
    np.testing.assert_allclose(s, 2 * hs * hc, atol=1e-5)
    half = np.unwrap(np.arctan2(hs, hc))
    assert np.abs(np.diff(half)).max() < 0.2  # no jump where the step phase wraps


def test_phase_clock_adds_the_half_phase_and_keeps_the_step_phase():
    cad = Cadence(1.9, 0.1)
    step = PhaseClock(cad, 50.0, seed=4, psi0=0.3).rows(700)
    stride = PhaseClock(cad, 50.0, seed=4, psi0=0.3, width=STRIDE_CLOCK_WIDTH)
    rows = np.concatenate([stride.rows(300), stride.rows(400)])  # across calls too
    assert rows.shape == (700, STRIDE_CLOCK_WIDTH)
    np.testing.assert_allclose(rows[:, :CLOCK_WIDTH], step, atol=1e-5)
    assert_half_angles(rows)
    # one stride is two steps: the half phase turns once while the step phase turns twice
    turns = np.unwrap(np.arctan2(rows[:, 2], rows[:, 3]))
    steps = np.unwrap(np.arctan2(rows[:, 0], rows[:, 1]))
    np.testing.assert_allclose(turns[-1] - turns[0], (steps[-1] - steps[0]) / 2, rtol=1e-3)
    with pytest.raises(ValueError, match="clock width must be 2 or 4"):
        PhaseClock(cad, 50.0, seed=0, width=3)


def test_phase_clock_solves_its_recurrence_whatever_the_rows_per_call():
    """The clock's closed form equals the recurrence it stands for (log frequency
    y <- a y + b e, phase psi <- psi + d exp(y), the same normals), in one call or many, across
    its pieces of 256 rows: a stream may draw its rows ahead without changing them."""
    import math

    cad = Cadence(1.8, 0.12)
    clock = PhaseClock(cad, 50.0, seed=9, psi0=1.1)
    a, b, d = math.exp(-1 / 50.0), math.sqrt(1 - math.exp(-2 / 50.0)) * 0.12, 2 * math.pi * 1.8 / 50.0
    psi, y, want = 1.1, 0.0, []
    for e in np.random.default_rng(9).standard_normal(700).tolist():
        want.append(psi)
        y = a * y + b * e
        psi += d * math.exp(y)
    want = np.stack([np.sin(want), np.cos(want)], axis=1)
    np.testing.assert_allclose(clock.rows(700), want, atol=1e-5)
    parts = PhaseClock(cad, 50.0, seed=9, psi0=1.1)
    np.testing.assert_allclose(np.concatenate([parts.rows(k) for k in (1, 10, 300, 0, 389)]), want, atol=1e-5)


def test_training_clock_rows_have_a_continuous_half_phase():
    psi = np.angle(np.exp(1j * 2 * np.pi * 1.8 * np.arange(500) / 50))  # wrapped, as step_phase gives it
    rows = clock_rows(psi, STRIDE_CLOCK_WIDTH)
    np.testing.assert_allclose(rows[:, :2], clock_rows(psi), atol=1e-6)
    assert_half_angles(rows)


@pytest.fixture(scope="module")
def stride_export(tmp_path_factory, hapt_root):
    from converter.export import export_generator
    from converter.hapt import Split, load_hapt
    from converter.presets import get_preset
    from converter.train import train_generator

    ds = load_hapt(hapt_root, users=[1, 2, 3, 4])
    run = tmp_path_factory.mktemp("tiny_stride_run")
    train_generator(ds, get_preset("tiny", epochs=1, stride_clock=True), run, split=Split((1, 2), (3,), (4,)), progress=False, preset="tiny")
    return export_generator(run, tmp_path_factory.mktemp("tiny_stride_export"), dtypes=("int8",))[0]


def test_stride_clock_model_exports_and_samples(stride_export):
    g = Generator(stride_export.path)
    assert g.clock_width == STRIDE_CLOCK_WIDTH == g.metadata["architecture"]["clock_width"]
    assert len(g.condition("WALKING")) == len(g.activities) + STRIDE_CLOCK_WIDTH
    ctx = np.tile([1.0, -0.2, 0.1], (60, 1)) + np.random.default_rng(0).normal(0, 0.05, (60, 3))
    runs = []
    for use_block in (True, False):
        s = SyntheticStream(Generator(stride_export.path, use_block=use_block), "WALKING", seed=5)
        s.prime(ctx)
        runs.append(np.array([s.next() for _ in range(40)]))
        assert np.isfinite(runs[-1]).all()
    never_primed = SyntheticStream(g, "WALKING", seed=5)
    assert np.isfinite([never_primed.next() for _ in range(12)]).all()


def test_generator_refuses_an_unknown_clock_width(stride_export, tmp_path):
    model = read_model(stride_export.path)
    meta = json.loads(json.dumps(model.metadata))
    meta["architecture"]["clock_width"] = 3
    bad = tmp_path / "clock3.tflite"
    bad.write_bytes(pack_model(model.flatbuffer, meta, model.members))
    with pytest.raises(ModelError, match="unknown gait clock width 3"):
        Generator(bad)
    meta["architecture"]["clock_width"] = 2  # says 2, the file takes 4
    bad.write_bytes(pack_model(model.flatbuffer, meta, model.members))
    with pytest.raises(ModelError, match="input shapes do not match the metadata"):
        Generator(bad)
