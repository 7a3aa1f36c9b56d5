"""``push()``'s one-sample release (``PrivacyFilter._release_one``) against the general release
path: the same blocks, values, replaced flags, faults, callbacks, output queue, history and
cover bank, bit for bit; noninterference and failing closed with one-sample pushes."""
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sdk.cover_bank import CoverBank
from sdk.filter import FilterOptions, PrivacyFilter, ReleasedBlock
from sdk.sensitivity import ManualSwitch, PrivateSpans, SensitivitySource

from .conftest import stream_of


@pytest.fixture(scope="module")
def walking(hapt_root):
    """60 s of a held-out user's walking (user 3, 165-225 s): the cover bank fills."""
    t, xyz = stream_of(hapt_root / "RawData" / "acc_exp05_user03.txt")
    m = (t >= 165) & (t < 225)
    return t[m] - t[m][0], xyz[m]


def inside(t, spans):
    m = np.zeros(len(t), bool)
    for a, b in spans:
        m |= (t >= a) & (t <= b)
    return m


class Flaky(SensitivitySource):
    """Asked sample by sample (it overrides is_sensitive); raises inside ``bad`` spans, says
    sensitive inside ``hot`` spans, and its forget_before / observe raise now and then."""

    def __init__(self, bad, hot, observe_bad=()):
        self.bad, self.hot, self.observe_bad = bad, hot, observe_bad
        self.asked = []

    def observe(self, t, xyz):
        if any(a <= float(t[0]) <= b for a, b in self.observe_bad):
            raise RuntimeError("observe crashed")

    def is_sensitive(self, t):
        self.asked.append(t)
        if any(a <= t <= b for a, b in self.bad):
            raise RuntimeError("source crashed")
        return any(a <= t <= b for a, b in self.hot)

    def forget_before(self, t):
        if int(t * 50) % 97 == 0:
            raise RuntimeError("prune crashed")


class FlakyBatch(PrivateSpans):
    """A batch source whose batch form raises inside ``bad``: asked again sample by sample."""

    def __init__(self, spans, bad, also_one_by_one=False):
        super().__init__(spans)
        self.bad, self.also_one_by_one = bad, also_one_by_one

    def is_sensitive(self, t):  # defined next to the batch form: the filter uses the batch form
        if self.also_one_by_one and any(a <= t <= b for a, b in self.bad):
            raise RuntimeError("source crashed")
        return super().is_sensitive(t)

    def _sensitive_mask(self, ts):
        if any(a <= ts[0] <= b for a, b in self.bad):
            raise RuntimeError("batch crashed")
        return super()._sensitive_mask(ts)


class Callback:
    def __init__(self, raise_every):
        self.raise_every, self.got, self.calls = raise_every, [], 0

    def __call__(self, block):
        self.calls += 1
        self.got.append((block.t.copy(), block.xyz.copy(), block.replaced.copy()))
        if self.raise_every and self.calls % self.raise_every == 0:
            raise RuntimeError("app bug")


def spans_from(pairs):
    return [(a, a + d) for a, d in pairs]


def run_pushes(generator, t, xyz, fast, *, spans, late, flips, bad, hot, observe_bad, batch_bad, blocks_at, delay, queue, raise_every, drain_every):
    """One filter fed one sample at a time (a 1 s ``push_block`` at ``blocks_at``); returns
    everything the app and an observer could see."""
    switch = ManualSwitch()
    private = PrivateSpans(spans)
    sources = [private, switch, Flaky(bad, hot, observe_bad), FlakyBatch(hot[:1], batch_bad)]
    cb = Callback(raise_every)
    f = PrivacyFilter(FilterOptions(seed=5, delay_s=delay, output_queue=queue), sources, generator=generator, on_release=cb)
    f._fast_push = fast
    fast_calls = [0]
    if fast:
        inner = f._release_one

        def counting(until):
            fast_calls[0] += 1
            return inner(until)

        f._release_one = counting
    out, drained = [], []
    i = 0
    while i < len(t):
        if i in flips:
            switch.set(not switch.on)
        if i in late:
            private.add(*late[i])
        if i in blocks_at:
            b = f.push_block(t[i : i + 50], xyz[i : i + 50])
            i += 50
        else:
            b = f.push(t[i], xyz[i])
            i += 1
        out.append((b.t, b.xyz, b.replaced))
        if drain_every and i % drain_every == 0:
            d = f.drain()
            drained.append((d.t, d.xyz, d.replaced))
    b = f.flush()
    out.append((b.t, b.xyz, b.replaced))
    d = f.drain()
    drained.append((d.t, d.xyz, d.replaced))
    st_ = f.status
    bank = [r.copy() for r in f.bank._runs] if f.bank is not None else None
    history = f._context()
    f.close()
    return {"out": out, "drained": drained, "callback": cb.got, "status": st_, "bank": bank, "history": history,
            "asked": sources[2].asked, "fast_calls": fast_calls[0]}


def assert_same(a, b):
    for key in ("out", "drained", "callback"):
        assert len(a[key]) == len(b[key]), key
        for x, y in zip(a[key], b[key]):
            for u, v in zip(x, y):
                assert u.dtype == v.dtype and u.shape == v.shape, key
                np.testing.assert_array_equal(u, v, err_msg=key)
    assert a["status"] == b["status"]
    assert (a["bank"] is None) == (b["bank"] is None)
    if a["bank"] is not None:
        assert len(a["bank"]) == len(b["bank"])
        for x, y in zip(a["bank"], b["bank"]):
            np.testing.assert_array_equal(x, y)
    np.testing.assert_array_equal(a["history"], b["history"])
    assert a["asked"] == b["asked"]  # every sample asked once, in the same order


times = st.floats(2, 55)
durations = st.floats(0, 4)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(
    spans=st.lists(st.tuples(times, durations), max_size=2),
    late=st.dictionaries(st.integers(0, 2900), st.tuples(times, durations), max_size=2),
    flips=st.sets(st.integers(0, 2999), max_size=4),
    bad=st.lists(st.tuples(times, st.floats(0, 1)), max_size=1),
    hot=st.lists(st.tuples(times, durations), max_size=2),
    observe_bad=st.lists(st.tuples(times, st.floats(0, 0.5)), max_size=1),
    batch_bad=st.lists(st.tuples(times, st.floats(0, 1)), max_size=1),
    blocks_at=st.sets(st.integers(0, 2900), max_size=2),
    delay=st.sampled_from([0.0, 0.3, 3.0]),
    queue=st.sampled_from([0, 1, 200]),
    raise_every=st.sampled_from([0, 7]),
    drain_every=st.sampled_from([0, 13]),
)
def test_one_sample_release_equals_the_general_path(generator, walking, spans, late, flips, bad, hot, observe_bad, batch_bad,
                                                     blocks_at, delay, queue, raise_every, drain_every):
    t, xyz = walking
    kw = dict(spans=spans_from(spans), late={i: (a, a + d) for i, (a, d) in late.items()}, flips=flips, bad=spans_from(bad),
              hot=spans_from(hot), observe_bad=spans_from(observe_bad), batch_bad=spans_from(batch_bad), blocks_at=blocks_at,
              delay=delay, queue=queue, raise_every=raise_every, drain_every=drain_every)
    fast = run_pushes(generator, t, xyz, True, **kw)
    general = run_pushes(generator, t, xyz, False, **kw)
    assert_same(fast, general)
    assert general["fast_calls"] == 0  # (how often the fast one fires: the tests below)


def test_one_sample_release_equals_the_general_path_with_segments_faults_and_a_full_bank(generator, walking):
    """A fixed case that goes through everything: the bank fills from one-sample releases and
    primes segments, spans, a late span, the switch, failing sources, a block push, callbacks
    that raise, a small output queue."""
    t, xyz = walking
    kw = dict(spans=[(40.0, 44.0)], late={2400: (47.5, 49.0)}, flips={2000, 2100}, bad=[(51.0, 51.5)], hot=[(53.0, 54.0)],
              observe_bad=[(55.0, 55.2)], batch_bad=[(53.5, 54.5)], blocks_at={1000}, delay=3.0, queue=120, raise_every=11,
              drain_every=17)
    fast = run_pushes(generator, t, xyz, True, **kw)
    general = run_pushes(generator, t, xyz, False, **kw)
    assert_same(fast, general)
    s = fast["status"]
    assert s.segments >= 4 and s.stride_segments >= 1 and s.bank_samples > 500  # the bank was filled and read
    assert fast["fast_calls"] > 0.6 * len(t)  # the rest: segments, crossfades, the block push, fault spans
    released = ReleasedBlock.concat([ReleasedBlock(*o) for o in fast["out"]])
    np.testing.assert_array_equal(released.t, t)
    assert released.replaced[inside(t, [(40.0, 44.0), (47.5, 49.0), (51.0, 51.5), (53.0, 54.0), (55.0, 55.2)])].all()


@pytest.mark.parametrize("source", ["spans", "switch"])
def test_one_sample_pushes_take_the_fast_release(generator, walking, source):
    """The usual one-sample stream (a private-spans source, or a switch, which observes the
    input) is released by ``_release_one`` for nearly every sample: the cheap path is in use."""
    t, xyz = walking
    src = PrivateSpans([(20.0, 22.0)]) if source == "spans" else ManualSwitch()
    f = PrivacyFilter(FilterOptions(), [src], generator=generator)
    calls = [0]
    inner = f._release_one

    def counting(until):
        calls[0] += 1
        return inner(until)

    f._release_one = counting
    for ti, xi in zip(t, xyz):
        f.push(ti, xi)
    assert calls[0] >= len(t) - 150 - 200  # all but the delay's samples and the span with its crossfade


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    spans=st.lists(st.tuples(st.floats(3, 55), st.floats(0.02, 5)), min_size=1, max_size=3),
    noise_seed=st.integers(0, 2**31),
    scale=st.sampled_from([0.0, 1.0, 50.0]),
    delay=st.sampled_from([0.0, 3.0]),
)
def test_one_sample_pushes_are_independent_of_sensitive_samples(generator, walking, spans, noise_seed, scale, delay):
    """Noninterference with the fast release on: changing the samples inside the private spans
    changes nothing that is released, and exactly those samples are replaced."""
    t, xyz = walking
    spans = spans_from(spans)
    m = inside(t, spans)
    altered = xyz.copy()
    altered[m] = np.random.default_rng(noise_seed).normal(size=(m.sum(), 3)) * scale

    def go(x):
        f = PrivacyFilter(FilterOptions(seed=7, delay_s=delay), [PrivateSpans(spans)], generator=generator)
        return ReleasedBlock.concat([f.push(ti, xi) for ti, xi in zip(t, x)] + [f.flush()])

    base, other = go(xyz), go(altered)
    np.testing.assert_array_equal(base.xyz, other.xyz)
    np.testing.assert_array_equal(base.replaced, m)


@pytest.mark.parametrize("where", ["is_sensitive", "batch"])
def test_one_sample_release_fails_closed(generator, walking, where):
    """A source that raises when asked about a sample makes it sensitive on the fast path too."""
    t, xyz = walking
    # the batch form raises, then the sample-by-sample form raises too
    src = Flaky([(20.0, 30.0)], []) if where == "is_sensitive" else FlakyBatch([], [(20.0, 30.0)], also_one_by_one=True)
    f = PrivacyFilter(FilterOptions(), [src], generator=generator)
    out = ReleasedBlock.concat([f.push(ti, xi) for ti, xi in zip(t, xyz)] + [f.flush()])
    m = (t >= 20) & (t <= 30)
    assert out.replaced[m].all()
    assert not np.any(np.all(out.xyz[m] == xyz[m], axis=1))
    assert any("source crashed" in msg for msg in f.status.faults)
    np.testing.assert_array_equal(out.xyz[t < 20], xyz[t < 20])


def test_cover_bank_failing_on_one_sample_release_is_turned_off(generator, walking, monkeypatch):
    t, xyz = walking

    def broken(self, t, row):
        raise RuntimeError("bank broke")

    want = ReleasedBlock.concat([PrivacyFilter(FilterOptions(cover_bank=None), [PrivateSpans([(30, 35)])], generator=generator).push_block(t, xyz)])
    monkeypatch.setattr(CoverBank, "add_released_one", broken)
    f = PrivacyFilter(FilterOptions(), [PrivateSpans([(30, 35)])], generator=generator)
    out = ReleasedBlock.concat([f.push(ti, xi) for ti, xi in zip(t, xyz)])
    assert f.bank is None and any("cover bank failed, turned off" in m and "bank broke" in m for m in f.status.faults)
    np.testing.assert_array_equal(out.t, want.t)
    np.testing.assert_array_equal(out.xyz, want.xyz)
    np.testing.assert_array_equal(out.replaced, want.replaced)
