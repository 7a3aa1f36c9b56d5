"""The owner's policy and the detector-driven sensitivity source: validation, hysteresis,
onset coverage, fail-closed tails, and the combination with private spans in the filter."""
import numpy as np
import pytest

from sdk.activities import ACTIVITIES
from sdk.decoys import DecoyOptions
from sdk.detector import DetectorSource
from sdk.filter import FilterOptions, PrivacyFilter, ReleasedBlock
from sdk.policy import Policy, PolicyError
from sdk.sensitivity import PrivateSpans

RATE = 50.0


class ScriptedDetector:
    """Stands in for ActivityDetector: the probability of WALKING_UPSTAIRS of a window is the
    x value of the window's last sample, so a test scripts it sample by sample."""

    classes = ACTIVITIES[1:]
    window = 20
    hop = 5

    def __init__(self):
        self.calls = 0

    def predict_proba(self, windows):
        self.calls += len(windows)
        p = np.clip(np.asarray(windows)[:, -1, 0], 0, 1)
        out = np.zeros((len(p), len(self.classes)))
        out[:, 1] = p  # WALKING_UPSTAIRS
        out[:, 0] = 1 - p  # WALKING
        return out


class BrokenDetector(ScriptedDetector):
    def predict_proba(self, windows):
        raise RuntimeError("interpreter crashed")


POLICY = Policy(("WALKING_UPSTAIRS",), "WALKING", p_on=0.5, p_off=0.3, enter_windows=2, exit_windows=3, pad_before_s=0.0, pad_after_s=0.0)


def scripted(p_per_sample):
    p = np.asarray(p_per_sample, float)
    t = np.arange(len(p)) / RATE
    xyz = np.column_stack([p, np.zeros_like(p), np.ones_like(p)])
    return t, xyz


def feed(src, t, xyz, block=7):
    for s in range(0, len(t), block):
        src.observe(t[s : s + block], xyz[s : s + block])


# -- Policy ---------------------------------------------------------------------------------------

def test_policy_normalises_names_when_lowercase():
    p = Policy(["walking_upstairs", "Walking_Downstairs"], "walking")
    assert p.sensitive == ("WALKING_UPSTAIRS", "WALKING_DOWNSTAIRS")
    assert p.cover == "WALKING"


def test_policy_accepts_single_string_when_one_activity():
    assert Policy("SITTING", "STANDING").sensitive == ("SITTING",)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(sensitive=("JOGGING",), cover="WALKING"), "unknown sensitive activity 'JOGGING'"),
        (dict(sensitive=("WALKING",), cover="FLYING"), "unknown cover activity 'FLYING'"),
        (dict(sensitive=("WALKING",), cover="walking"), "cover activity WALKING is itself sensitive"),
        (dict(sensitive=(), cover="WALKING"), "at least one sensitive"),
        (dict(sensitive=("SITTING",), cover="WALKING", p_on=0.3, p_off=0.6), "p_off <= p_on"),
        (dict(sensitive=("SITTING",), cover="WALKING", enter_windows=0), "enter_windows and exit_windows must be >= 1"),
        (dict(sensitive=("OTHER",), cover="WALKING"), "unknown sensitive activity 'OTHER'"),
    ],
)
def test_policy_refuses_inconsistent_settings(kwargs, match):
    with pytest.raises(PolicyError, match=match):
        Policy(**kwargs)


def test_policy_error_is_a_value_error_when_caught_as_builtin():
    with pytest.raises(ValueError):
        Policy(("JOGGING",), "WALKING")


def test_policy_round_trips_when_saved_and_loaded(tmp_path):
    p = Policy(("WALKING_UPSTAIRS", "SITTING"), "WALKING", p_on=0.7, exit_windows=5)
    p.save(tmp_path / "policy.json")
    assert Policy.load(tmp_path / "policy.json") == p


def test_policy_load_refuses_unknown_fields(tmp_path):
    (tmp_path / "p.json").write_text('{"sensitive": ["SITTING"], "cover": "WALKING", "p_onn": 0.2}')
    with pytest.raises(PolicyError, match="unknown policy fields \\['p_onn'\\]"):
        Policy.load(tmp_path / "p.json")


def test_source_refuses_policy_when_detector_lacks_activity():
    class SixLess(ScriptedDetector):
        classes = ("WALKING", "SITTING")

    with pytest.raises(PolicyError, match="does not know \\['WALKING_UPSTAIRS'\\]"):
        DetectorSource(POLICY, SixLess())


# -- hysteresis ----------------------------------------------------------------------------------

def test_single_sensitive_window_does_not_open_segment_when_two_are_needed():
    # one window (the one ending at sample 59) above p_on, everything else 0
    p = np.zeros(200)
    p[59] = 0.9
    t, xyz = scripted(p)
    src = DetectorSource(POLICY, ScriptedDetector())
    feed(src, t, xyz)
    assert src.intervals == []
    assert not any(src.is_sensitive(x) for x in t)


def test_segment_opens_after_consecutive_sensitive_windows_and_covers_their_samples():
    p = np.zeros(400)
    p[100:250] = 0.9
    t, xyz = scripted(p)
    src = DetectorSource(POLICY, ScriptedDetector())
    feed(src, t[:106], xyz[:106])
    assert src.intervals == []  # only one sensitive window (ending at sample 104) so far
    feed(src, t[106:], xyz[106:])
    (a, b), = src.intervals
    # the first sensitive window ends at sample 104 and starts at sample 85: covered whole
    assert a == pytest.approx(t[85])
    assert src.is_sensitive(t[100]) and src.is_sensitive(t[85])
    assert not src.is_sensitive(t[84])
    # it closes at the end of the last window >= p_off (sample 249)
    assert b == pytest.approx(t[249])
    assert not src.in_segment


def test_segment_does_not_flicker_when_probability_dips_briefly():
    p = np.zeros(600)
    p[100:400] = 0.9
    p[200:210] = 0.1  # two windows below p_off: fewer than exit_windows = 3
    p[300:305] = 0.4  # between p_off and p_on: sustains the segment
    t, xyz = scripted(p)
    src = DetectorSource(POLICY, ScriptedDetector())
    feed(src, t, xyz)
    assert len(src.intervals) == 1
    (a, b), = src.intervals
    assert a <= t[100] and b >= t[399]


def test_segment_closes_when_exit_windows_are_below_p_off():
    p = np.zeros(600)
    p[100:200] = 0.9
    p[300:400] = 0.9
    t, xyz = scripted(p)
    src = DetectorSource(POLICY, ScriptedDetector())
    feed(src, t, xyz)
    assert len(src.intervals) == 2
    assert not src.is_sensitive(t[250])


def test_padding_widens_segment_when_policy_asks():
    p = np.zeros(400)
    p[100:200] = 0.9
    t, xyz = scripted(p)
    pol = Policy(("WALKING_UPSTAIRS",), "WALKING", enter_windows=2, exit_windows=3, pad_before_s=0.5, pad_after_s=1.0)
    src = DetectorSource(pol, ScriptedDetector())
    feed(src, t, xyz)
    (a, b), = src.intervals
    assert a == pytest.approx(t[85] - 0.5)
    assert b == pytest.approx(t[199] + 1.0)


def test_open_segment_covers_everything_after_onset_until_closed():
    p = np.r_[np.zeros(100), np.full(100, 0.9)]
    t, xyz = scripted(p)
    src = DetectorSource(POLICY, ScriptedDetector())
    feed(src, t, xyz)
    assert src.in_segment
    assert src.intervals[0][1] == np.inf
    assert src.is_sensitive(1e9)


def test_finish_marks_pending_run_sensitive_when_stream_ends_inside_it():
    p = np.r_[np.zeros(100), np.full(5, 0.9)]  # the stream ends right after one sensitive window
    t, xyz = scripted(p)
    src = DetectorSource(POLICY, ScriptedDetector())
    feed(src, t, xyz)
    assert src.intervals == []
    src.finish()  # 1 sensitive window < enter_windows: still sensitive (fail closed)
    assert src.is_sensitive(t[-1])
    assert not src.is_sensitive(t[50])


def test_gap_restarts_sliding_window_when_samples_are_missing():
    det = ScriptedDetector()
    src = DetectorSource(POLICY, det, max_gap_s=0.5)
    t = np.r_[np.arange(30), 100 + np.arange(30)] / RATE
    t[30:] += 10.0
    src.observe(t, np.zeros((60, 3)))
    # 30 samples on each side of the gap: windows end at samples 20, 25, 30 of each part
    assert det.calls == 6
    assert all(w.t_end - w.t_start < 0.5 for w in src.recent_windows)


def test_forget_before_keeps_segments_that_are_still_open():
    p = np.r_[np.zeros(100), np.full(200, 0.9)]
    t, xyz = scripted(p)
    src = DetectorSource(POLICY, ScriptedDetector())
    feed(src, t, xyz)
    src.forget_before(t[-1])
    assert src.is_sensitive(t[-1])


def test_forget_before_drops_closed_segments_when_released():
    p = np.zeros(500)
    p[100:200] = 0.9
    t, xyz = scripted(p)
    src = DetectorSource(POLICY, ScriptedDetector())
    feed(src, t, xyz)
    assert len(src.intervals) == 1
    src.forget_before(t[400])
    assert src.intervals == []


def test_current_activity_reports_latest_window():
    src = DetectorSource(POLICY, ScriptedDetector())
    assert src.current_activity is None
    t, xyz = scripted(np.r_[np.zeros(50), np.full(50, 0.9)])
    feed(src, t, xyz)
    assert src.current_activity == "WALKING_UPSTAIRS"
    t2, xyz2 = scripted(np.zeros(50))
    feed(src, t2 + 10, xyz2)
    assert src.current_activity == "WALKING"


def test_windows_are_classified_every_hop_when_blocks_have_any_size():
    rng = np.random.default_rng(0)
    t, xyz = scripted(np.zeros(503))
    counts = set()
    for _ in range(5):
        det = ScriptedDetector()
        src = DetectorSource(POLICY, det)
        s = 0
        while s < len(t):
            n = int(rng.integers(1, 40))
            src.observe(t[s : s + n], xyz[s : s + n])
            s += n
        counts.add(det.calls)
        ends = [w.t_end for w in src.recent_windows]
        assert np.allclose(np.diff(ends), 5 / RATE)
    assert counts == {1 + (503 - 20) // 5}


# -- with the filter: combination with private spans, fail closed --------------------------------

def run_filter(generator, t, xyz, sources, delay_s=1.0):
    # decoys off: these tests pin exactly which samples the detector and the spans replace
    f = PrivacyFilter(FilterOptions(delay_s=delay_s, crossfade_s=0.0, seed=3, decoys=DecoyOptions(rate=0.0)), sources, generator=generator)
    blocks = [f.push_block(t[s : s + 10], xyz[s : s + 10]) for s in range(0, len(t), 10)]
    blocks.append(f.flush())
    return ReleasedBlock.concat(blocks)


def test_filter_replaces_union_when_detector_and_private_spans_combine(generator):
    p = np.zeros(1500)
    p[300:500] = 0.9  # detector segment: ~5.7-10 s
    t, xyz = scripted(p)
    xyz[:, 0] = np.where(p > 0, p, 0.0)
    span = (20.0, 24.0)
    det_only = run_filter(generator, t, xyz, [DetectorSource(POLICY, ScriptedDetector())])
    both = run_filter(generator, t, xyz, [DetectorSource(POLICY, ScriptedDetector()), PrivateSpans([span])])
    in_span = (t >= span[0]) & (t <= span[1])
    assert det_only.replaced[300:500].all() and not det_only.replaced[in_span].any()
    np.testing.assert_array_equal(both.replaced, det_only.replaced | in_span)


def test_filter_replaces_everything_when_detector_fails(generator):
    t, xyz = scripted(np.zeros(600))
    out = run_filter(generator, t, xyz, [DetectorSource(POLICY, BrokenDetector()), PrivateSpans([(2.0, 3.0)])])
    # the first windows raise: from then on everything the source saw is withheld (fail closed)
    assert out.replaced[ScriptedDetector.window :].all()
    assert len(out) == len(t)
