"""The streaming filter's invariants (DESIGN.md "Privacy invariants"), bad input and faults."""
import gc
import threading
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sdk.decoys import DEFAULT_BALANCE, DecoyOptions
from sdk.detector import ActivityDetector, DetectorSource
from sdk.errors import GeneratorFault, RateMismatchError, SampleValueError, TimestampError
from sdk.filter import FilterOptions, PrivacyFilter, ReleasedBlock, filter_recording
from sdk.policy import Policy
from sdk.sensitivity import Intervals, ManualSwitch, PrivateSpans, SensitivitySource

from .conftest import stream_of


@pytest.fixture(scope="module")
def real(hapt_root):
    """90 s of a held-out user's real stream (standing, sitting, transitions)."""
    return stream_of(hapt_root / "RawData" / "acc_exp05_user03.txt", seconds=90)


def run(generator, t, xyz, spans=(), **opts):
    return filter_recording(t, xyz, FilterOptions(**opts), [PrivateSpans(spans)], generator=generator)


def inside(t, spans):
    m = np.zeros(len(t), bool)
    for a, b in spans:
        m |= (t >= a) & (t <= b)
    return m


# -- invariant 1: noninterference -------------------------------------------------------------

@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    spans=st.lists(st.tuples(st.floats(5, 80), st.floats(0.1, 8)), min_size=1, max_size=3),
    noise_seed=st.integers(0, 2**31),
    scale=st.sampled_from([0.0, 1.0, 50.0]),
)
def test_released_stream_is_independent_of_sensitive_samples(generator, real, spans, noise_seed, scale):
    t, xyz = real
    spans = [(a, a + d) for a, d in spans]
    base = run(generator, t, xyz, spans, seed=7)
    altered = xyz.copy()
    m = inside(t, spans)
    altered[m] = np.random.default_rng(noise_seed).normal(size=(m.sum(), 3)) * scale
    other = run(generator, t, altered, spans, seed=7)
    np.testing.assert_array_equal(base.xyz, other.xyz)
    np.testing.assert_array_equal(base.replaced, m)


class GateOnly(DetectorSource):
    """The bundled detector as the decoys' view of the cover activity, never sensitive itself
    (so only the private spans decide what is sensitive)."""

    def is_sensitive(self, t):
        return False


@pytest.fixture(scope="module")
def walking(hapt_root):
    """90 s of a held-out user's stream with walking (user 3, 165-255 s): decoys happen."""
    t, xyz = stream_of(hapt_root / "RawData" / "acc_exp05_user03.txt")
    m = (t >= 165) & (t < 255)
    return t[m], xyz[m]


@pytest.fixture(scope="module")
def activity_detector():
    return ActivityDetector()


def run_with_decoys(generator, detector, t, xyz, spans, view, balance=DEFAULT_BALANCE):
    if view == "released":  # the scheduler classifies released real samples itself
        opts, sources = FilterOptions(seed=7, decoys=DecoyOptions(rate=0.5, detector=detector, balance=balance)), [PrivateSpans(spans)]
    else:  # it reuses the detector source's results of windows of released real samples
        opts = FilterOptions(seed=7, decoys=DecoyOptions(rate=0.5, balance=balance))
        sources = [PrivateSpans(spans), GateOnly(Policy(("WALKING_UPSTAIRS",), "WALKING"), detector)]
    f = PrivacyFilter(opts, sources, generator=generator)  # pushed as a sensor delivers: 10 at a time
    return ReleasedBlock.concat([f.push_block(t[i : i + 10], xyz[i : i + 10]) for i in range(0, len(t), 10)] + [f.flush()])


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    spans=st.lists(st.tuples(st.floats(5, 80), st.floats(0.1, 8)), min_size=1, max_size=3),
    noise_seed=st.integers(0, 2**31),
    scale=st.sampled_from([0.0, 1.0, 50.0]),
    view=st.sampled_from(["released", "detector-source"]),
    balance=st.sampled_from([0.0, DEFAULT_BALANCE, 1.0]),
)
def test_released_stream_with_decoys_is_independent_of_sensitive_samples(generator, activity_detector, walking, spans, noise_seed, scale, view, balance):
    """Invariant 1 with decoys on: where decoys start and how long they last (also the length
    bin the balanced rule picks) read only data released as real, so the output (values and
    flags) ignores the data inside private spans."""
    t, xyz = walking
    spans = [(t[0] + a, t[0] + a + d) for a, d in spans]
    base = run_with_decoys(generator, activity_detector, t, xyz, spans, view, balance)
    altered = xyz.copy()
    m = inside(t, spans)
    altered[m] = np.random.default_rng(noise_seed).normal(size=(m.sum(), 3)) * scale
    other = run_with_decoys(generator, activity_detector, t, altered, spans, view, balance)
    np.testing.assert_array_equal(base.xyz, other.xyz)
    np.testing.assert_array_equal(base.replaced, other.replaced)
    assert base.replaced[m].all()


def test_decoys_reading_unreleased_windows_would_break_noninterference(generator, activity_detector, walking, monkeypatch):
    """The property test above has teeth: a scheduler that reads the detector's newest window
    (which reaches into the release buffer) lets the private data choose the decoys."""
    from sdk.decoys import DecoyScheduler

    t, xyz = walking
    spans = [(t[0] + a, t[0] + a + 4) for a in (20, 35, 50, 65, 80)]
    altered = xyz.copy()
    m = inside(t, spans)
    altered[m] = np.random.default_rng(0).normal(size=(m.sum(), 3)) * 50
    outs = {}
    for leaky in (False, True):
        if leaky:
            monkeypatch.setattr(DecoyScheduler, "_lookup", lambda self, t: self._windows[-1].probs if self._windows else None)
        outs[leaky] = [run_with_decoys(generator, activity_detector, t, x, spans, "detector-source") for x in (xyz, altered)]
    np.testing.assert_array_equal(outs[False][0].replaced, outs[False][1].replaced)
    assert not np.array_equal(outs[True][0].replaced, outs[True][1].replaced)


def test_replaced_rows_never_equal_the_input(generator, real):
    t, xyz = real
    spans = [(10, 25), (50, 52)]
    out = run(generator, t, xyz, spans)
    m = inside(t, spans)
    assert out.replaced[m].all() and not out.replaced[~m].any()
    assert not np.any(np.all(out.xyz[m] == xyz[m], axis=1))
    np.testing.assert_array_equal(out.xyz[~m & ~inside(t, [(25, 25.6), (52, 52.6)])], xyz[~m & ~inside(t, [(25, 25.6), (52, 52.6)])])


def test_seed_changes_synthetic_data_but_is_reproducible(generator, real):
    t, xyz = real
    a, b, c = (run(generator, t, xyz, [(10, 20)], seed=s) for s in (1, 1, 2))
    np.testing.assert_array_equal(a.xyz, b.xyz)
    assert not np.array_equal(a.xyz, c.xyz)


# -- invariant 3: timestamps and rate ---------------------------------------------------------

def test_one_output_per_input_with_original_timestamps(generator, real):
    t, xyz = real
    out = run(generator, t, xyz, [(30, 40)])
    assert len(out) == len(t)
    np.testing.assert_array_equal(out.t, t)
    assert np.all(np.diff(out.t) > 0)


def test_sample_by_sample_equals_block_push(generator, real):
    t, xyz = real[0][:1500], real[1][:1500]
    f = PrivacyFilter(FilterOptions(seed=3), [PrivateSpans([(10, 15)])], generator=generator)
    blocks = [f.push(ti, xi) for ti, xi in zip(t, xyz)] + [f.flush()]
    one = ReleasedBlock.concat(blocks)
    block = run(generator, t, xyz, [(10, 15)], seed=3)
    np.testing.assert_array_equal(one.xyz, block.xyz)
    np.testing.assert_array_equal(one.replaced, block.replaced)


def test_push_takes_the_usual_sample_forms_as_push_block_does(generator, real):
    """push()'s fast path (plain floats) for lists, tuples, numpy rows of any numeric dtype
    and numpy scalars gives exactly what push_block gives."""
    t, xyz = real[0][:600], real[1][:600]
    spans = [(3.0, 6.0)]
    block = run(generator, t, xyz, spans, seed=3)
    forms = [
        lambda r: r.tolist(),
        lambda r: tuple(r.tolist()),
        lambda r: r,
        lambda r: r.astype(np.float32).astype(np.float64),  # float64 values of a float32 row
        lambda r: [np.float64(v) for v in r],
        lambda r: np.array(r),  # a copy, so the filter cannot rely on the caller's array
    ]
    for i, form in enumerate(forms):
        want = block if i != 3 else run(generator, t, xyz.astype(np.float32).astype(np.float64), spans, seed=3)
        f = PrivacyFilter(FilterOptions(seed=3), [PrivateSpans(spans)], generator=generator)
        out = ReleasedBlock.concat([f.push(ti, form(xi)) for ti, xi in zip(t.tolist(), xyz)] + [f.flush()])
        np.testing.assert_array_equal(out.t, want.t)
        np.testing.assert_array_equal(out.xyz, want.xyz)
        np.testing.assert_array_equal(out.replaced, want.replaced)
    f = PrivacyFilter(FilterOptions(seed=3), [PrivateSpans(spans)], generator=generator)
    ints = ReleasedBlock.concat([f.push(float(ti), [1, 0, 0]) for ti in t] + [f.flush()])
    assert ints.xyz.dtype == np.float64 and (ints.xyz[t < 3.0] == [1.0, 0.0, 0.0]).all()  # before the span (then a crossfade)


def test_released_blocks_are_the_apps_own_arrays(generator, real):
    """Changing a released block (or the pushed arrays) in place changes nothing the filter
    releases later: the filter keeps its own copies."""
    t, xyz = real[0][:1500], real[1][:1500]
    spans = [(10.0, 15.0), (22.0, 24.0)]
    clean = run(generator, t, xyz, spans, seed=3)
    f = PrivacyFilter(FilterOptions(seed=3), [PrivateSpans(spans)], generator=generator)
    blocks = []
    for i in range(0, len(t), 40):
        x = xyz[i : i + 40].copy()
        b = f.push_block(t[i : i + 40], x)
        x[:] = 99.0  # the app reuses its buffer
        blocks.append(ReleasedBlock(b.t.copy(), b.xyz.copy(), b.replaced.copy()))
        b.xyz[:] = -99.0  # and scribbles on what it received
    blocks.append(f.flush())
    out = ReleasedBlock.concat(blocks)
    np.testing.assert_array_equal(out.xyz, clean.xyz)


class CountingSpans(PrivateSpans):
    """Overrides is_sensitive: the filter must ask it sample by sample, not its batch form."""

    def __init__(self, spans):
        super().__init__(spans)
        self.asked = 0

    def is_sensitive(self, t):
        self.asked += 1
        return super().is_sensitive(t)


def test_sensitivity_asked_in_batches_equals_asking_sample_by_sample(generator, real):
    t, xyz = real[0][:1200], real[1][:1200]
    spans = [(5.0, 7.5), (7.5, 9.0), (20.0, 20.0), (21.99, 22.01)]
    counting = CountingSpans(spans)
    a = filter_recording(t, xyz, FilterOptions(seed=2), [counting], generator=generator)
    b = filter_recording(t, xyz, FilterOptions(seed=2), [PrivateSpans(spans)], generator=generator)
    assert counting.asked == len(t)
    np.testing.assert_array_equal(a.replaced, inside(t, spans))
    np.testing.assert_array_equal(a.xyz, b.xyz)
    np.testing.assert_array_equal(a.replaced, b.replaced)


@settings(max_examples=50, deadline=None)
@given(
    spans=st.lists(st.tuples(st.floats(-5, 15), st.floats(0, 5)), max_size=4),
    times=st.lists(st.floats(-10, 20), min_size=1, max_size=40, unique=True),
)
def test_intervals_mask_equals_contains(spans, times):
    iv = Intervals([(a, a + d) for a, d in spans] + [(a, a) for a, _ in spans[:1]])
    ts = sorted(times)
    assert iv.mask(ts) == [iv.contains(x) for x in ts]


# -- invariant 3b: release delay --------------------------------------------------------------

@pytest.mark.parametrize("delay", [0.0, 1.0, 3.0])
def test_sample_released_only_after_delay(generator, real, delay):
    t, xyz = real[0][:500], real[1][:500]
    f = PrivacyFilter(FilterOptions(delay_s=delay), generator=generator)
    for ti, xi in zip(t, xyz):
        out = f.push(ti, xi)
        assert np.all(out.t <= ti - delay + 1e-9)
        assert f.status.pending == np.sum((t <= ti) & (t > ti - delay + 1e-9))


@pytest.mark.parametrize("every", [0.1, 0.5])
def test_grouped_release_waits_at_most_its_interval_and_changes_nothing_else(generator, real, every):
    """``release_every_s``: a sample leaves no earlier than its delay and at most ``every`` (plus
    one period) later, in groups; what is released, replaced and crossfaded is the same as
    with one release per sample."""
    t, xyz = real[0][:1500], real[1][:1500]
    spans = [(10, 15)]
    f = PrivacyFilter(FilterOptions(seed=3, release_every_s=every), [PrivateSpans(spans)], generator=generator)
    blocks = []
    for ti, xi in zip(t, xyz):
        out = f.push(ti, xi)
        assert np.all(out.t <= ti - 3.0 + 1e-9)
        assert f.status.pending <= np.sum((t <= ti) & (t > ti - 3.0 - every - 0.02 - 1e-9))
        blocks.append(out)
    sizes = [len(b) for b in blocks if len(b)]
    assert np.median(sizes) >= round(every * 50)  # released in groups
    grouped = ReleasedBlock.concat(blocks + [f.flush()])
    single = run(generator, t, xyz, spans, seed=3)
    np.testing.assert_array_equal(grouped.t, single.t)
    np.testing.assert_array_equal(grouped.xyz, single.xyz)
    np.testing.assert_array_equal(grouped.replaced, single.replaced)
    with pytest.raises(ValueError, match="release_every_s"):
        FilterOptions(release_every_s=-1)


def test_span_declared_after_onset_still_covers_buffered_samples(generator, real):
    t, xyz = real
    spans = PrivateSpans()
    f = PrivacyFilter(FilterOptions(delay_s=3.0), [spans], generator=generator)
    blocks = []
    for i in range(len(t)):
        if t[i] == pytest.approx(42.0):  # the owner marks 40 s .. 50 s private two seconds late
            spans.add(40.0, 50.0)
        blocks.append(f.push(t[i], xyz[i]))
    out = ReleasedBlock.concat(blocks + [f.flush()])
    np.testing.assert_array_equal(out.replaced, inside(t, [(40, 50)]))


def test_manual_switch_replaces_from_switch_on_to_off(generator, real):
    t, xyz = real
    switch = ManualSwitch()
    f = PrivacyFilter(FilterOptions(delay_s=1.0), [switch], generator=generator)
    blocks = []
    for i in range(len(t)):
        if i == 1000:
            switch.set(True)
        if i == 1500:
            switch.set(False)
        blocks.append(f.push(t[i], xyz[i]))
    out = ReleasedBlock.concat(blocks + [f.flush()])
    expected = np.zeros(len(t), bool)
    expected[1000:1500] = True
    np.testing.assert_array_equal(out.replaced, expected)


# -- bad input: typed errors, nothing consumed, filter stays usable ---------------------------

@pytest.mark.parametrize(
    "bad, error, match",
    [
        ((1.0, [np.nan, 0, 0]), SampleValueError, "NaN or inf"),
        ((1.0, [np.inf, 0, 0]), SampleValueError, "NaN or inf"),
        ((1.0, [1.0, 2.0]), SampleValueError, "3 values"),
        ((1.0, [[1.0, 2.0, 3.0]]), SampleValueError, "3 values"),
        ((0.5, [1.0, 0.0, 0.0]), TimestampError, "not after the previous"),
        ((0.98, [1.0, 0.0, 0.0]), TimestampError, "not after the previous"),  # duplicate
        ((np.nan, [1.0, 0.0, 0.0]), TimestampError, "finite"),
        ((1.0, ["a", 0, 0]), SampleValueError, "numbers"),
        ((1.0, np.array([np.nan, 0, 0])), SampleValueError, "NaN or inf"),
        ((1.0, (0.0, np.inf, 0.0)), SampleValueError, "NaN or inf"),
        ((1.0, np.array([[1.0, 2.0, 3.0]])), SampleValueError, "3 values"),
        ((1.0, (1.0, 2.0)), SampleValueError, "3 values"),
        ((1.0, (1.0, None, 0.0)), SampleValueError, "NaN or inf"),  # numpy reads None as NaN
        (("x", [1.0, 0.0, 0.0]), SampleValueError, "numbers"),
        ((1.0, [1j, 0, 0]), SampleValueError, "numbers"),
    ],
)
def test_bad_sample_is_refused_and_filter_stays_usable(generator, real, bad, error, match):
    t, xyz = real[0][:200], real[1][:200]
    spans = [(1.5, 2.5)]
    clean = run(generator, t, xyz, spans)
    f = PrivacyFilter(FilterOptions(), [PrivateSpans(spans)], generator=generator)
    blocks = [f.push_block(t[:50], xyz[:50])]
    with pytest.raises(error, match=match):
        f.push(*bad)
    blocks += [f.push_block(t[50:], xyz[50:]), f.flush()]
    out = ReleasedBlock.concat(blocks)
    np.testing.assert_array_equal(out.xyz, clean.xyz)


def test_bad_block_is_refused_whole(generator, real):
    t, xyz = real[0][:100].copy(), real[1][:100].copy()
    xyz[60] = np.nan
    f = PrivacyFilter(FilterOptions(delay_s=0), generator=generator)
    with pytest.raises(SampleValueError, match=r"t=1\.2"):
        f.push_block(t, xyz)
    assert f.status.samples_in == 0


def test_stream_at_wrong_rate_is_refused(generator, real):
    t, xyz = real[0][:200], real[1][:200]
    f = PrivacyFilter(FilterOptions(), generator=generator)
    with pytest.raises(RateMismatchError, match="100.0 Hz"):
        f.push_block(t / 2, xyz)  # 100 Hz
    assert f.push_block(t, xyz) is not None  # the right rate is still accepted
    with pytest.raises(RateMismatchError, match="resample"):
        PrivacyFilter(FilterOptions(rate_hz=100), generator=generator)


def test_gap_is_reported_in_status_and_log_and_keeps_one_output_per_input(generator, real, caplog):
    t, xyz = real[0][:300].copy(), real[1][:300]
    t[150:] += 5.0
    t[250:] += 1.0
    f = PrivacyFilter(FilterOptions(), generator=generator)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no warnings.warn: not thread-safe for an app to silence
        with caplog.at_level("WARNING", logger="sdk.filter"):
            out = ReleasedBlock.concat([f.push_block(t[:200], xyz[:200]), f.push(t[200], xyz[200]), f.push_block(t[201:], xyz[201:]), f.flush()])
    np.testing.assert_array_equal(out.t, t)
    assert f.status.gaps == 2
    assert f.status.longest_gap_s == pytest.approx(5.02)
    assert any("gap of 5.020 s" in r.getMessage() for r in caplog.records)


def test_closed_filter_refuses_pushes_and_withholds_pending(generator, real):
    t, xyz = real
    with PrivacyFilter(FilterOptions(delay_s=3.0), generator=generator) as f:
        out = f.push_block(t[:500], xyz[:500])
    assert len(out) == 500 - 150
    with pytest.raises(RuntimeError, match="closed"):
        f.push(100.0, [1, 0, 0])


# -- invariant 2: fail closed ----------------------------------------------------------------

class BrokenGenerator:
    """Wraps a real generator; from step ``fail_at`` on, raises or returns NaN, on the one-step
    path and on the block path (a block fails when it holds step ``fail_at``).
    ``path="step"`` hides the block variant."""

    def __init__(self, inner, fail_at, mode, path="block"):
        self.inner, self.fail_at, self.mode, self.calls = inner, fail_at, mode, 0
        self.block = BrokenBlock(self, inner.block) if path == "block" and inner.block is not None else None

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def step(self, x, cond, state):
        self.calls += 1
        if self.calls >= self.fail_at:
            if self.mode == "raise":
                raise RuntimeError("interpreter exploded")
            if self.mode == "memory":
                raise MemoryError("no memory")
            out, state = self.inner.step(x, cond, state)
            out.mu[:] = np.nan
            return out, state
        return self.inner.step(x, cond, state)


class BrokenBlock:
    """The block variant of a ``BrokenGenerator``: counts ``steps`` calls per block."""

    def __init__(self, owner, inner):
        self.owner, self.inner = owner, inner

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def run(self, *args):
        o = self.owner
        o.calls += self.inner.steps
        if o.calls >= o.fail_at:
            if o.mode == "raise":
                raise RuntimeError("interpreter exploded")
            if o.mode == "memory":
                raise MemoryError("no memory")
            z, state = self.inner.run(*args)
            return np.full_like(z, np.nan), state
        return self.inner.run(*args)


def test_bundled_generator_samples_in_blocks(generator):
    assert generator.block is not None and generator.block.steps >= 10


@pytest.mark.parametrize("path", ["block", "step"])
@pytest.mark.parametrize("mode", ["raise", "nan", "memory"])
@pytest.mark.parametrize("fail_at", [1, 60, 400])
def test_generator_fault_never_releases_real_sensitive_samples(generator, real, mode, fail_at, path):
    t, xyz = real
    spans = [(20, 30)]
    broken = BrokenGenerator(generator, fail_at, mode, path)
    f = PrivacyFilter(FilterOptions(), [PrivateSpans(spans)], generator=broken)
    out = ReleasedBlock.concat([f.push_block(t, xyz), f.flush()])
    m = inside(t, spans)
    assert out.replaced[m].all()
    assert not np.any(np.all(np.isclose(out.xyz[m], xyz[m]), axis=1))
    assert np.isfinite(out.xyz).all()
    assert any("generator failed" in msg for msg in f.status.faults)
    np.testing.assert_array_equal(out.xyz[t < 20], xyz[t < 20])


def test_fault_fallback_holds_last_safe_value(generator, real):
    t, xyz = real
    broken = BrokenGenerator(generator, 49 + 10, "raise")  # 49 priming steps, then 10 good samples
    f = PrivacyFilter(FilterOptions(), [PrivateSpans([(20, 30)])], generator=broken)
    out = ReleasedBlock.concat([f.push_block(t, xyz), f.flush()])
    seg = out.xyz[inside(t, [(20, 30)])]
    np.testing.assert_array_equal(seg[10:], np.repeat(seg[9:10], len(seg) - 10, axis=0))


class ExplodingSource:
    def __init__(self, where):
        self.where = where

    def observe(self, t, xyz):
        if self.where == "observe" and t[0] >= 20:
            raise RuntimeError("detector crashed")

    def is_sensitive(self, t):
        if self.where == "is_sensitive" and 20 <= t <= 30:
            raise RuntimeError("detector crashed")
        return False

    def finish(self):
        pass

    def forget_before(self, t):
        pass


@pytest.mark.parametrize("where", ["observe", "is_sensitive"])
def test_failing_source_is_treated_as_sensitive(generator, real, where):
    t, xyz = real
    f = PrivacyFilter(FilterOptions(), [ExplodingSource(where)], generator=generator)
    out = ReleasedBlock.concat([f.push(ti, xi) for ti, xi in zip(t, xyz)] + [f.flush()])
    m = (t >= 20) & (t <= 30)
    assert out.replaced[m].all()
    assert not np.any(np.all(out.xyz[m] == xyz[m], axis=1))
    assert any("detector crashed" in msg for msg in f.status.faults)


def test_generator_fault_is_typed(generator):
    from sdk.generator import SyntheticStream

    s = SyntheticStream(BrokenGenerator(generator, 1, "nan"), "WALKING", seed=0)
    with pytest.raises(GeneratorFault, match="non-finite"):
        s.next()


# -- seams ------------------------------------------------------------------------------------

def test_seams_are_no_larger_than_real_sample_to_sample_changes(generator, hapt_root):
    """At span edges the jump is within the real data's 99th percentile of |Δx| per axis."""
    t, xyz = stream_of(hapt_root / "RawData" / "acc_exp05_user03.txt")
    typical = np.percentile(np.abs(np.diff(xyz, axis=0)), 99, axis=0)
    spans = [(40, 60), (120, 150), (200, 215), (300, 330)]
    jumps = []
    for seed in range(5):
        out = run(generator, t, xyz, spans, seed=seed)
        for a, b in spans:
            i, j = np.searchsorted(t, a), np.searchsorted(t, b, side="right")
            jumps += [np.abs(out.xyz[i] - out.xyz[i - 1]), np.abs(out.xyz[j] - out.xyz[j - 1])]
    jumps = np.asarray(jumps)
    assert np.all(np.median(jumps, axis=0) <= typical), (np.median(jumps, axis=0), typical)


def test_crossfade_blends_back_to_real(generator, real):
    t, xyz = real
    out = run(generator, t, xyz, [(20, 30)], crossfade_s=0.5)
    after = (t > 30) & (t <= 30.5)
    assert not out.replaced[after].any()
    assert not np.any(np.all(out.xyz[after] == xyz[after], axis=1))
    np.testing.assert_array_equal(out.xyz[(t > 30.52)], xyz[(t > 30.52)])


# -- threads and memory -----------------------------------------------------------------------

def test_push_from_sensor_thread_while_ui_thread_drains(generator, real):
    t, xyz = real
    switch = ManualSwitch()
    f = PrivacyFilter(FilterOptions(delay_s=0.5, output_queue=100_000), [switch], generator=generator)
    got = []
    done = threading.Event()

    def ui():
        while not done.is_set():
            got.append(f.drain())
            switch.set(len(got) % 7 < 3)

    reader = threading.Thread(target=ui)
    reader.start()
    for i in range(0, len(t), 10):
        f.push_block(t[i : i + 10], xyz[i : i + 10])
    f.flush()
    done.set()
    reader.join()
    out = ReleasedBlock.concat(got + [f.drain()])
    np.testing.assert_array_equal(out.t, t)
    assert f.status.samples_out == len(t)


def test_soak_million_samples_flat_memory(generator, hapt_root):
    """1 M samples (5.5 h at 50 Hz) with a private span every minute: memory stays flat."""
    import tracemalloc

    t0, x0 = stream_of(hapt_root / "RawData" / "acc_exp05_user03.txt")
    n_total, block = 1_000_000, 5000
    spans = PrivateSpans([(60.0 * k + 10, 60.0 * k + 12) for k in range(400)])
    f = PrivacyFilter(FilterOptions(delay_s=3.0), [spans], generator=generator)
    gc.collect()
    tracemalloc.start()
    released = replaced = 0
    peaks = []
    for start in range(0, n_total, block):
        idx = np.arange(start, start + block)
        out = f.push_block(idx / 50.0, x0[idx % len(x0)])
        released += len(out)
        replaced += int(out.replaced.sum())
        if start in (200_000, n_total - block):
            gc.collect()
            peaks.append(tracemalloc.get_traced_memory()[0])
    released += len(f.flush())
    tracemalloc.stop()
    assert released == n_total and replaced > 30_000
    assert peaks[1] - peaks[0] < 2_000_000, peaks


# -- app contracts: nothing lost when the app misbehaves ----------------------------------------

class FlakyCallback:
    """Raises on the calls listed in ``fail_on`` (after keeping part of the block if ``keep``);
    records the blocks it accepted; may call back into the filter."""

    def __init__(self, fail_on, keep: bool = False, reenter: bool = False):
        self.fail_on, self.keep, self.reenter = set(fail_on), keep, reenter
        self.calls, self.accepted, self.failed_now = 0, [], False
        self.filter = None

    def __call__(self, block):
        self.calls += 1
        self.failed_now = self.calls in self.fail_on
        if self.reenter:
            self.filter.status, self.filter.drain()
        if self.failed_now:
            if self.keep:
                self.partial = block.t[: len(block) // 2]
            raise RuntimeError(f"app bug on call {self.calls}")
        self.accepted.append(block)


@pytest.mark.parametrize("keep, reenter", [(False, False), (True, False), (False, True)])
def test_failing_callback_loses_no_samples(generator, real, keep, reenter):
    """Every input sample reaches the app exactly once and in order: by the callback when it
    succeeds, by the return value of the same call when it raises."""
    t, xyz = real[0][:3000], real[1][:3000]
    cb = FlakyCallback(fail_on={2, 5, 9}, keep=keep, reenter=reenter)
    f = PrivacyFilter(FilterOptions(delay_s=1.0, output_queue=10_000 if reenter else 0), [PrivateSpans([(20, 30)])],
                      generator=generator, on_release=cb)
    cb.filter = f
    got = []

    def take(ret):
        if cb.failed_now:
            got.append(ret)
            cb.failed_now = False
        elif len(ret):
            assert ret is cb.accepted[-1]  # the callback saw this very block

    for i in range(0, 1500, 50):
        take(f.push_block(t[i : i + 50], xyz[i : i + 50]))
    for i in range(1500, 3000):
        take(f.push(t[i], xyz[i]))
    take(f.flush())
    delivered = ReleasedBlock.concat(sorted(got + cb.accepted, key=lambda b: b.t[0]))
    np.testing.assert_array_equal(delivered.t, t)
    assert f.status.callback_failures == 3 and f.status.samples_out == 3000
    assert sum("on_release callback raised" in m and "app bug on call" in m for m in f.status.faults) == 3


def test_output_queue_counts_dropped_samples_and_logs_once(generator, real, caplog):
    t, xyz = real[0][:2000], real[1][:2000]
    f = PrivacyFilter(FilterOptions(delay_s=0.0, output_queue=100), generator=generator)
    with caplog.at_level("WARNING", logger="sdk.filter"):
        for i in range(0, 2000, 10):
            f.push_block(t[i : i + 10], xyz[i : i + 10])
    kept = f.drain()
    assert f.status.queue_dropped == 2000 - len(kept) == 1900
    np.testing.assert_array_equal(kept.t, t[-100:])  # the newest are kept, in order
    assert sum("output queue full" in r.getMessage() for r in caplog.records) == 1
    assert sum("output queue full" in m for m in f.status.faults) == 1


class OnlyIsSensitive(SensitivitySource):
    def is_sensitive(self, t):
        return 10.0 <= t <= 12.0


class TypoObserve(SensitivitySource):
    def obsreve(self, t, xyz):
        pass

    def is_sensitive(self, t):
        return False


class DuckWithoutFinish:
    def observe(self, t, xyz):
        pass

    def is_sensitive(self, t):
        return False

    def forget_before(self, t):
        pass


class WrongArity(SensitivitySource):
    def is_sensitive(self):
        return False


class NoIsSensitive(SensitivitySource):
    pass


@pytest.mark.parametrize("source, message", [
    (TypoObserve(), r"TypoObserve defines obsreve\(\): did you mean observe\(\)\?"),
    (DuckWithoutFinish(), r"DuckWithoutFinish has no method finish\(\); subclass sdk.SensitivitySource"),
    (WrongArity(), r"WrongArity.is_sensitive must take 1 argument"),
    (NoIsSensitive(), r"NoIsSensitive must implement is_sensitive"),
    (object(), r"object has no method observe"),
])
def test_source_with_wrong_shape_is_refused_when_the_filter_is_built(generator, source, message):
    with pytest.raises(TypeError, match=message):
        PrivacyFilter(FilterOptions(), [source], generator=generator)


def test_source_base_class_supplies_no_op_defaults(generator, real):
    t, xyz = real
    out = filter_recording(t, xyz, FilterOptions(delay_s=1.0), [OnlyIsSensitive()], generator=generator)
    np.testing.assert_array_equal(out.replaced, (t >= 10) & (t <= 12))
    assert not any("failed" in m for m in PrivacyFilter(FilterOptions(), [OnlyIsSensitive()], generator=generator).status.faults)


def test_intervals_add_open_close_and_forget():
    iv = Intervals([(5.0, 6.0), (1.0, 2.0)])
    assert list(iv) == [(1.0, 2.0), (5.0, 6.0)]
    iv.open(8.0)
    assert iv.contains(1e9) and not iv.contains(7.0)
    iv.close_last(9.0)
    assert list(iv)[-1] == (8.0, 9.0)
    iv.forget_before(5.5)
    assert list(iv) == [(5.0, 6.0), (8.0, 9.0)] and len(iv) == 2
    iv.forget_before(10.0)
    assert not iv


def test_three_threads_million_samples_nothing_lost_duplicated_or_reordered(generator, hapt_root):
    """A sensor thread pushing 1 M samples in blocks of 10, a UI thread draining, a thread
    flipping a manual switch: the drained stream is the pushed one, sample for sample."""
    from benchmarks.soak import threaded

    res = threaded(1_000_000, generator, flip_s=0.02)
    assert res["exact"], res
    assert res["samples_out"] == res["samples_in"] == 1_000_000 and res["queue_dropped"] == 0
    assert res["segments"] >= 10 and res["samples_replaced"] > 0  # the switch really flipped
