"""The streaming resampler: irregular timestamps in, a fixed 50 Hz grid out."""
import numpy as np
import pytest

from sdk.errors import InputError, SampleValueError, TimestampError
from sdk.resample import Resampler, resample


def _jittery(n=1000, seed=0, lo=0.004, hi=0.016):
    rng = np.random.default_rng(seed)
    t = 100.0 + np.cumsum(rng.uniform(lo, hi, n))
    xyz = np.column_stack([np.sin(t), 0.5 * t, -2.0 * t + 1.0])
    return t, xyz


def test_output_lies_on_grid_when_input_jitters():
    t, xyz = _jittery()
    to, _ = resample(t, xyz, 50.0)
    assert to[0] == t[0]
    assert np.allclose(np.diff(to), 0.02, atol=1e-9)
    assert np.allclose(to, t[0] + 0.02 * np.arange(len(to)), atol=1e-9)


def test_linear_signal_is_reproduced_exactly_when_interpolated():
    t, xyz = _jittery()
    to, xo = resample(t, xyz, 50.0)
    assert np.allclose(xo[:, 1], 0.5 * to, atol=1e-9)
    assert np.allclose(xo[:, 2], -2.0 * to + 1.0, atol=1e-9)


def test_never_extrapolates_past_newest_input():
    t, xyz = _jittery()
    r = Resampler(50.0)
    for a, b in zip(t, xyz):
        to, _ = r.push(a, b)
        if len(to):
            assert to[-1] <= a + 1e-9
        assert r.next_grid_time > a - 1e-9


def test_streaming_matches_batch_when_split_anywhere():
    t, xyz = _jittery(500, seed=3)
    whole_t, whole_x = resample(t, xyz)
    r = Resampler(50.0)
    parts = [r.push_block(t[a:b], xyz[a:b]) for a, b in [(0, 1), (1, 7), (7, 7), (7, 300), (300, 500)]]
    got_t = np.concatenate([p[0] for p in parts])
    got_x = np.vstack([p[1] for p in parts])
    assert np.array_equal(got_t, whole_t)
    assert np.allclose(got_x, whole_x, atol=1e-12)
    assert r.samples_in == 500 and r.samples_out == len(whole_t)


def test_rate_is_kept_when_input_is_faster_or_slower():
    for dt in (0.005, 0.01, 0.033):
        t = np.arange(0, 20, dt)
        to, _ = resample(t, np.zeros((len(t), 3)), 50.0)
        assert abs(len(to) - (t[-1] - t[0]) * 50) <= 1.5


def test_grid_input_passes_through_unchanged():
    t = np.arange(200) / 50.0
    xyz = np.random.default_rng(1).normal(size=(200, 3))
    to, xo = resample(t, xyz)
    assert len(to) == 200
    assert np.allclose(to, t, atol=1e-12)
    assert np.allclose(xo, xyz, atol=1e-9)


def test_gap_is_skipped_not_interpolated_when_longer_than_max_gap():
    t = np.concatenate([np.arange(0, 1, 0.01), np.arange(3, 4, 0.01)])
    xyz = np.column_stack([t, t, t])
    r = Resampler(50.0, max_gap_s=0.5)
    to, _ = r.push_block(t, xyz)
    assert not np.any((to > 0.99 + 1e-9) & (to < 3.0 - 1e-9))
    assert r.gaps == 1
    # the grid keeps its phase after the gap
    assert np.allclose(to * 50, np.round(to * 50), atol=1e-6)


def test_refuses_nonincreasing_timestamp_without_consuming():
    r = Resampler()
    r.push_block([0.0, 0.01], np.zeros((2, 3)))
    before = (r.samples_in, r.next_grid_time)
    with pytest.raises(TimestampError, match="0.005 is not after the previous one 0.02"):
        r.push_block([0.02, 0.005], np.zeros((2, 3)))
    with pytest.raises(TimestampError, match="not after"):
        r.push(0.01, (0, 0, 0))
    assert (r.samples_in, r.next_grid_time) == before
    to, _ = r.push(0.03, (0, 0, 0))
    assert np.allclose(to, [0.02])


def test_refuses_nan_and_bad_shapes_with_typed_errors():
    r = Resampler()
    with pytest.raises(SampleValueError, match="NaN or inf"):
        r.push(0.0, (0.0, np.nan, 0.0))
    with pytest.raises(SampleValueError, match="3 values"):
        r.push(0.0, (0.0, 1.0))
    with pytest.raises(SampleValueError, match=r"need t \(n,\) and xyz \(n, 3\)"):
        r.push_block([0.0, 0.1], np.zeros((3, 3)))
    with pytest.raises(SampleValueError, match="must be numbers"):
        r.push_block(["a"], [[0, 0, 0]])
    with pytest.raises(TimestampError, match="finite"):
        r.push(np.inf, (0, 0, 0))
    assert issubclass(SampleValueError, InputError) and issubclass(TimestampError, ValueError)
    assert r.samples_in == 0 and r.next_grid_time is None


def test_constructor_refuses_bad_rate():
    with pytest.raises(ValueError, match="rate_hz must be a positive"):
        Resampler(0)
    with pytest.raises(ValueError, match="max_gap_s must be a positive"):
        Resampler(50, max_gap_s=-1)


def test_empty_block_returns_empty_arrays():
    to, xo = Resampler().push_block(np.empty(0), np.empty((0, 3)))
    assert to.shape == (0,) and xo.shape == (0, 3)


def test_reset_starts_a_new_grid():
    r = Resampler()
    r.push_block([0.0, 0.013, 0.04], np.zeros((3, 3)))
    r.reset()
    to, _ = r.push(10.007, (1, 1, 1))
    assert to.tolist() == [10.007]

