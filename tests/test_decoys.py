"""Decoy segments (sdk.decoys): where they go, how long they last, how many there are, and that
they read only released real data. The noninterference property test is in test_filter.py."""
import numpy as np
import pytest

from sdk.activities import ACTIVITIES
from sdk.decoys import DEFAULT_DECOY_RATE, DecoyOptions, DecoyScheduler
from sdk.detector import DetectorSource
from sdk.filter import FilterOptions, PrivacyFilter, ReleasedBlock, filter_recording
from sdk.policy import Policy
from sdk.sensitivity import PrivateSpans

from .conftest import count_predictions, stream_of


@pytest.fixture(scope="module")
def recording(hapt_root):
    return stream_of(hapt_root / "RawData" / "acc_exp05_user03.txt")


def clip(recording, start_s, end_s):
    t, xyz = recording
    m = (t >= start_s) & (t < end_s)
    return t[m], xyz[m]


class AlwaysCover:
    """Stands in for the detector: every window is the cover activity (WALKING)."""

    classes = ACTIVITIES[1:]
    window, hop = 128, 25

    def __init__(self):
        self.windows = 0

    def predict_proba(self, windows):
        w = np.asarray(windows)
        self.windows += len(w)
        out = np.zeros((len(w), len(self.classes)))
        out[:, 0] = 1.0
        return out


class NeverCover(AlwaysCover):
    """Every window is something else than the cover activity."""

    def predict_proba(self, windows):
        self.windows += len(windows)
        out = np.zeros((len(windows), len(self.classes)))
        out[:, 3] = 1.0
        return out


def runs(mask):
    d = np.diff(np.r_[0, mask.astype(np.int8), 0])
    return list(zip(np.flatnonzero(d == 1), np.flatnonzero(d == -1)))


# -- options ----------------------------------------------------------------------------------

@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"rate": -0.1}, r"decoy rate must be in \[0, 0.9\].*-0.1"),
        ({"rate": 0.95}, r"decoy rate must be in \[0, 0.9\].*0.95"),
        ({"cover_probability": 0.0}, "cover_probability"),
        ({"default_lengths_s": ()}, "default_lengths_s must be positive"),
        ({"default_lengths_s": (3.0, -1.0)}, "default_lengths_s must be positive"),
        ({"jitter": 1.0}, "jitter"),
        ({"balance": -0.1}, r"balance must be in \[0, 1\]"),
        ({"balance": 1.5}, r"balance must be in \[0, 1\]"),
        ({"bins_s": (10.0, 5.0)}, "bins_s must be increasing positive seconds"),
        ({"bins_s": (0.0, 5.0)}, "bins_s must be increasing positive seconds"),
    ],
)
def test_bad_decoy_options_are_refused(kwargs, match):
    with pytest.raises(ValueError, match=match):
        DecoyOptions(**kwargs)


def test_scheduler_refuses_a_detector_without_the_cover():
    with pytest.raises(ValueError, match="does not know the cover activity 'DANCING'"):
        DecoyScheduler(AlwaysCover(), "DANCING", DecoyOptions(), 0, 50.0)


def test_default_rate_is_on():
    assert FilterOptions().decoys.rate == DEFAULT_DECOY_RATE > 0


# -- where decoys go --------------------------------------------------------------------------

def test_decoys_appear_while_walking_and_are_flagged_replaced(generator, detector, recording):
    t, xyz = clip(recording, 165, 255)  # user 3 (held out): walking from 173.7 s on
    f = PrivacyFilter(FilterOptions(seed=2, decoys=DecoyOptions(rate=0.5, detector=detector)), [], generator=generator)
    out = ReleasedBlock.concat([f.push_block(t, xyz), f.flush()])
    assert out.replaced.sum() > 5 * 50  # nothing is sensitive: every replaced sample is a decoy
    assert not np.any(np.all(out.xyz[out.replaced] == xyz[out.replaced], axis=1))
    np.testing.assert_array_equal(out.t, t)
    status = f.status
    assert status.decoys == "rate 0.5" and status.decoy_segments == len(runs(out.replaced)) >= 1
    assert status.segments == status.decoy_segments  # decoys go through the generator's segments
    for a, _ in runs(out.replaced):
        assert t[a] >= 173.7 + 128 / 50  # only after a whole window of released walking


def test_no_decoys_without_the_cover_activity(generator, detector, recording):
    t, xyz = clip(recording, 0, 150)  # standing, sitting, lying and transitions: no walking
    out = filter_recording(t, xyz, FilterOptions(decoys=DecoyOptions(rate=0.9, detector=detector)), [], generator=generator)
    assert not out.replaced.any()


def test_no_decoys_at_rate_zero_or_without_a_detector(generator, recording):
    t, xyz = clip(recording, 165, 255)
    for opts in (FilterOptions(decoys=DecoyOptions(rate=0.0, detector=AlwaysCover())), FilterOptions(decoys=DecoyOptions(rate=0.5))):
        f = PrivacyFilter(opts, [PrivateSpans([(200, 205)])], generator=generator)
        out = ReleasedBlock.concat([f.push_block(t, xyz), f.flush()])
        np.testing.assert_array_equal(out.replaced, (t >= 200) & (t <= 205))
    assert f.status.decoys == "off (no activity detector)"


def test_a_failing_scheduler_stops_decoys_not_the_filter(generator, recording, monkeypatch):
    t, xyz = clip(recording, 165, 200)

    def boom(self, *args):
        raise RuntimeError("scheduler bug")

    monkeypatch.setattr(DecoyScheduler, "released", boom)
    f = PrivacyFilter(FilterOptions(decoys=DecoyOptions(rate=0.5, detector=AlwaysCover())), [PrivateSpans([(170, 172)])], generator=generator)
    out = ReleasedBlock.concat([f.push_block(t, xyz), f.flush()])
    np.testing.assert_array_equal(out.t, t)
    np.testing.assert_array_equal(out.replaced, (t >= 170) & (t <= 172))
    assert any("decoys stopped: RuntimeError('scheduler bug')" in m for m in f.status.faults)


# -- how many and how long ----------------------------------------------------------------------

def test_share_of_cover_time_replaced_follows_the_rate(generator, recording):
    t0, x0 = clip(recording, 173.7, 196.7)  # real walking, looped into 40 min of "walking"
    n = 40 * 60 * 50
    t, xyz = np.arange(n) / 50.0, x0[np.arange(n) % len(x0)]
    for rate in (0.1, 0.3):
        out = filter_recording(t, xyz, FilterOptions(seed=1, decoys=DecoyOptions(rate=rate, detector=AlwaysCover())), [], generator=generator)
        assert out.replaced.mean() == pytest.approx(rate, abs=0.05), rate


def test_decoy_lengths_follow_the_policy_segments(generator, recording):
    t0, x0 = clip(recording, 173.7, 196.7)
    n = 30 * 60 * 50
    t, xyz = np.arange(n) / 50.0, x0[np.arange(n) % len(x0)]
    spans = [(60.0 * k + 10, 60.0 * k + 22) for k in range(30)]  # the policy hides 12 s every minute
    opts = FilterOptions(seed=4, decoys=DecoyOptions(rate=0.5, detector=AlwaysCover(), prior_weight=0.0, jitter=0.1))
    out = filter_recording(t, xyz, opts, [PrivateSpans(spans)], generator=generator)
    in_span = np.zeros(n, bool)
    for a, b in spans:
        in_span |= (t >= a) & (t <= b)
    decoys = [(a, b) for a, b in runs(out.replaced) if not in_span[a:b].any() and t[a] > 23.0 and b < n]
    assert len(decoys) >= 10
    lengths = np.array([(b - a) / 50 for a, b in decoys])
    assert np.all((lengths >= 12.0 * 0.9 - 0.05) & (lengths <= 12.02 * 1.1 + 0.05)), lengths
    assert len(np.unique(lengths)) > len(lengths) // 2  # jittered: no exact copies of a past length


def test_balance_sends_the_next_decoy_to_the_bins_the_decoys_left_short():
    """The policy made as many 4 s as 15 s segments; the decoys so far were all 4 s: with
    balance 0.5 the next one is 15 s with probability 0.5 * 0.5 + 0.5 * 1 (its share plus
    the whole shortfall), and a bin the policy never used gets nothing."""
    s = DecoyScheduler(AlwaysCover(), "WALKING", DecoyOptions(rate=0.2, prior_weight=0.0, jitter=0.0, balance=0.5), 0, 50.0)
    s.lengths_s.extend([4.0] * 10 + [15.0] * 10)
    s.decoy_lengths_s.extend([4.1] * 5)
    share, made, p = s.bin_shares()
    np.testing.assert_allclose(share, [0.5, 0, 0.5, 0])
    np.testing.assert_array_equal(made, [5, 0, 0, 0])
    np.testing.assert_allclose(p, [0.25, 0, 0.75, 0])
    draws = np.array([s.draw_length_s() for _ in range(2000)])
    assert set(np.unique(draws)) == {4.0, 15.0}
    assert np.mean(draws == 15.0) == pytest.approx(0.75, abs=0.04)
    # every bin keeps at least (1 - balance) of its share, however the decoys fell
    s.decoy_lengths_s.extend([15.0] * 40)
    _, _, p = s.bin_shares()
    assert p[2] >= 0.5 * 0.5 - 1e-12 and p[0] == pytest.approx(0.75)


def test_balance_zero_copies_lengths_and_without_decoys_so_far_both_rules_agree():
    """balance 0 is the copying rule; before any decoy the balanced rule's bin shares are the
    policy's (nothing is short yet)."""
    for balance in (0.0, 1.0):
        s = DecoyScheduler(AlwaysCover(), "WALKING", DecoyOptions(rate=0.2, prior_weight=0.0, jitter=0.0, balance=balance), 3, 50.0)
        s.lengths_s.extend([4.0] * 30 + [25.0] * 10)
        share, made, p = s.bin_shares()
        np.testing.assert_allclose(p, share)
        draws = np.array([s.draw_length_s() for _ in range(2000)])
        assert np.mean(draws == 25.0) == pytest.approx(0.25, abs=0.04)
    s.decoy_lengths_s.extend([4.0] * 3)  # balance 1: only the shortfall counts -> the 20+ s bin
    assert {s.draw_length_s() for _ in range(50)} == {25.0}


def test_decoy_lengths_are_counted_as_the_app_saw_them(generator, recording):
    """The balanced rule counts the decoys by the replaced runs the app received (never by
    anything it did not see)."""
    t0, x0 = clip(recording, 173.7, 196.7)
    n = 10 * 60 * 50
    t, xyz = np.arange(n) / 50.0, x0[np.arange(n) % len(x0)]
    f = PrivacyFilter(FilterOptions(seed=3, decoys=DecoyOptions(rate=0.3, detector=AlwaysCover())), [], generator=generator)
    out = ReleasedBlock.concat([f.push_block(t, xyz), f.flush()])
    seen = [(b - a) / 50 for a, b in runs(out.replaced) if b < n]
    assert len(seen) >= 3
    np.testing.assert_allclose(list(f._decoys.decoy_lengths_s), seen[-f._decoys.decoy_lengths_s.maxlen:])


def test_before_any_segment_lengths_come_from_the_documented_default():
    s = DecoyScheduler(AlwaysCover(), "WALKING", DecoyOptions(rate=0.2, default_lengths_s=(7.0,), jitter=0.0), 0, 50.0)
    assert {s.draw_length_s() for _ in range(20)} == {7.0}
    assert s.mean_length_s() == 7.0


# -- what decoys may read ---------------------------------------------------------------------------

def test_detector_source_results_are_reused_not_recomputed(generator, detector, recording, monkeypatch):
    """With a DetectorSource the scheduler reads its window results (only windows of released
    real samples) instead of classifying again, and still schedules decoys."""
    t, xyz = clip(recording, 165, 255)
    policy = Policy(("WALKING_UPSTAIRS",), "WALKING")
    src = DetectorSource(policy, detector)
    calls = count_predictions(monkeypatch, detector)
    out = filter_recording(t, xyz, FilterOptions(seed=2, decoys=DecoyOptions(rate=0.5)), [src], generator=generator)
    assert out.replaced.any()
    assert sum(calls) == src.windows_classified  # every classified window is the source's own


def test_scheduler_never_reads_a_window_reaching_into_unreleased_or_replaced_samples():
    """Drive the scheduler by hand with a detector source's window results that say "cover":
    windows that end after the sample being released, or start before the current run of
    real samples, are never used (the scheduler's own view of the released samples says
    "not cover" here, so any decoy would come from a window it must not read)."""
    from collections import deque

    from sdk.detector import WindowResult

    cover = np.eye(6)[0]
    own = NeverCover()
    windows = deque(maxlen=100)
    s = DecoyScheduler(own, "WALKING", DecoyOptions(rate=0.9), 0, 50.0, windows=windows, hop=25)
    # the only window on offer ends in the future (still in the release buffer): the
    # scheduler classifies the released samples itself instead
    windows.append(WindowResult(0.0, 10.0, cover, 0.0))
    for i in range(500):
        s.released(i / 50, np.zeros(3), False, False)
    assert s.decoys_started == 0 and own.windows > 0
    # a replaced sample at 10 s starts a new run: a window starting before it is not read
    s.released(10.0, np.zeros(3), True, True)
    windows.append(WindowResult(9.0, 12.0, cover, 0.0))
    before = own.windows
    for i in range(501, 800):
        s.released(i / 50, np.zeros(3), False, False)
    assert s.decoys_started == 0 and own.windows == before
    # windows inside the run of released real samples are used
    for i in range(800, 5000):
        if i % 25 == 0:
            windows.append(WindowResult(i / 50 - 2.54, i / 50, cover, 0.0))
        s.released(i / 50, np.zeros(3), False, False)
        if s.decoy_next:
            break
    assert s.decoy_next and own.windows == before


def test_large_blocks_fall_back_to_classifying_released_samples(generator, detector, recording):
    """A whole recording pushed at once outruns the detector source's window memory: the
    scheduler then classifies the released samples itself, so decoys still happen."""
    t, xyz = recording
    src = DetectorSource(Policy(("WALKING_UPSTAIRS",), "WALKING"), detector)
    f = PrivacyFilter(FilterOptions(seed=2, decoys=DecoyOptions(rate=0.5)), [src], generator=generator)
    ReleasedBlock.concat([f.push_block(t, xyz), f.flush()])
    assert f.status.decoy_segments >= 1
