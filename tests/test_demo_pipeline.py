"""The demo's Kivy-free core: a source feeding the SDK filter, and what the screen shows."""
import numpy as np
import pytest

from android_demo.pipeline import DemoSettings, Pipeline, Ring, spans_of
from android_demo.sources import SensorSource, SourceUnavailableError


class HandSource(SensorSource):
    """A source the test pushes by hand, on the test's thread."""

    name = "hand"

    def __init__(self, available=True):
        self._available = available
        self.callback = None

    def why_unavailable(self):
        return None if self._available else "no hands"

    def start(self, callback, on_error=None):
        if not self._available:
            raise SourceUnavailableError("hand: no hands")
        self.callback = callback

    def stop(self):
        self.callback = None

    @property
    def running(self):
        return self.callback is not None

    def push_seconds(self, t0, seconds, rng):
        n = int(round(seconds * 50))
        t = t0 + np.arange(n) / 50.0
        xyz = np.column_stack([np.full(n, 1.0), np.zeros(n), np.zeros(n)]) + 0.05 * rng.normal(size=(n, 3))
        self.callback(t, xyz)
        return t0 + n / 50.0


@pytest.fixture
def rng():
    return np.random.default_rng(7)


def test_ring_keeps_last_samples_in_order_when_wrapped():
    r = Ring(5)
    r.extend(np.arange(3.0), np.zeros((3, 3)))
    r.extend(np.arange(3.0, 8.0), np.ones((5, 3)), np.array([1, 0, 1, 0, 1], bool))
    t, x, f = r.view()
    assert t.tolist() == [3, 4, 5, 6, 7] and f.tolist() == [True, False, True, False, True]
    assert r.view(since=6)[0].tolist() == [6, 7]


def test_spans_of_covers_each_run_of_flags():
    t = np.arange(10) / 50.0
    f = np.array([0, 1, 1, 0, 0, 1, 0, 0, 1, 1], bool)
    spans = spans_of(t, f, 0.02)
    assert len(spans) == 3
    assert spans[0] == pytest.approx((0.01, 0.05))
    assert spans[-1] == pytest.approx((0.15, 0.19))
    assert spans_of(t, np.zeros(10, bool), 0.02) == []


def test_private_span_is_replaced_and_shaded_when_released(rng):
    p = Pipeline(DemoSettings(delay_s=1.0, private_spans=((2.0, 4.0),)))
    src = HandSource()
    p.start(src)
    assert p.snapshot().banner.startswith("BUFFERING")
    t = 0.0
    for _ in range(8):
        t = src.push_seconds(t, 1.0, rng)
    snap = p.snapshot()
    assert snap.state == "passing"
    assert len(snap.raw_t) == 400 and 349 <= len(snap.out_t) <= 351  # 1 s release delay
    assert len(snap.replaced_spans) == 1
    a, b = snap.replaced_spans[0]
    assert a == pytest.approx(2.0, abs=0.02) and b == pytest.approx(4.0, abs=0.02)
    inside = (snap.out_t >= 2.0) & (snap.out_t <= 4.0)
    raw_inside = (snap.raw_t >= 2.0) & (snap.raw_t <= 4.0)
    assert not np.allclose(snap.out_xyz[inside], snap.raw_xyz[raw_inside])  # synthetic
    assert 27.0 < float(snap.counters["replaced"].split()[0]) < 30.0  # ~101 of ~350 released
    p.stop()


def test_private_switch_turns_banner_to_replacing_after_delay(rng):
    p = Pipeline(DemoSettings(delay_s=1.0, sensitive=()))
    src = HandSource()
    p.start(src)
    t = src.push_seconds(0.0, 3.0, rng)
    p.set_private(True)
    t = src.push_seconds(t, 0.5, rng)
    assert p.snapshot().state == "passing"  # switched on, but not yet released
    t = src.push_seconds(t, 1.0, rng)
    snap = p.snapshot()
    assert snap.state == "replacing" and snap.banner == "REPLACING as WALKING"
    p.set_private(False)
    src.push_seconds(t, 2.0, rng)
    assert p.snapshot().state == "passing"
    p.stop()
    assert p.snapshot().state == "idle"


def test_stop_withholds_samples_still_in_release_buffer(rng):
    p = Pipeline(DemoSettings(delay_s=2.0))
    src = HandSource()
    p.start(src)
    src.push_seconds(0.0, 5.0, rng)
    p.stop()
    snap = p.snapshot()
    assert snap.out_t[-1] <= 3.0 + 1e-9  # the last 2 s were never released
    assert snap.raw_t[-1] == pytest.approx(4.98)


def test_reconfigure_switches_cover_while_running(rng):
    p = Pipeline(DemoSettings(delay_s=0.5, sensitive=()))
    src = HandSource()
    p.start(src)
    t = src.push_seconds(0.0, 2.0, rng)
    p.reconfigure(cover="SITTING", delay_s=1.0)
    p.set_private(True)
    t = src.push_seconds(t, 3.0, rng)
    snap = p.snapshot()
    assert snap.banner == "REPLACING as SITTING"
    assert p.settings.delay_s == 1.0
    p.stop()


def test_missing_model_is_shown_not_raised(tmp_path, rng):
    p = Pipeline(DemoSettings(model=tmp_path / "nope.tflite"))
    src = HandSource()
    p.start(src)
    src.push_seconds(0.0, 2.0, rng)
    snap = p.snapshot()
    assert snap.state == "error" and "nothing is released" in snap.banner
    assert len(snap.out_t) == 0 and len(snap.raw_t) == 100
    assert any("model file not found" in m for m in snap.messages)
    p.stop()


def test_unavailable_source_raises_typed_error_and_pipeline_stays_idle():
    p = Pipeline()
    with pytest.raises(SourceUnavailableError, match="no hands"):
        p.start(HandSource(available=False))
    assert not p.running and p.snapshot().state == "idle"


def test_detector_reports_activity_when_bundled(rng, hapt_file):
    from sdk.recording import read_hapt_raw

    p = Pipeline(DemoSettings(sensitive=("WALKING_UPSTAIRS",), cover="WALKING", delay_s=1.0))
    src = HandSource()
    p.start(src)
    if not p.detector.available:
        pytest.skip(f"no bundled detector: {p.detector.detail}")
    rec = read_hapt_raw(hapt_file)
    i = 175 * 50  # user 3 walking
    src.callback(rec.t[: 6 * 50], rec.xyz[i : i + 6 * 50])
    snap = p.snapshot()
    assert snap.activity.startswith("activity: ")
    assert snap.activity != "activity: …"
    assert p.detector.reason == "hide WALKING_UPSTAIRS as WALKING"
    p.stop()


def test_detector_is_off_when_nothing_is_sensitive():
    p = Pipeline(DemoSettings(sensitive=()))
    p.start(HandSource())
    assert not p.detector.available
    assert p.snapshot().activity.startswith("detector: ")
    p.stop()


def test_decoy_rate_setting_reaches_the_filter_and_its_status(rng):
    p = Pipeline(DemoSettings(delay_s=1.0, decoy_rate=0.3))
    src = HandSource()
    p.start(src)
    t = src.push_seconds(0.0, 2.0, rng)
    expected = "rate 0.3" if p.detector.available else "off (no activity detector)"
    assert p.snapshot().counters["decoys"] == f"{expected}, 0 so far"
    p.reconfigure(decoy_rate=0.0)
    t = src.push_seconds(t, 2.0, rng)
    assert p.snapshot().counters["decoys"] == "off, 0 so far"
    p.reconfigure(decoy_rate=2.0)
    assert any("decoy rate must be in [0, 0.9]" in m for m in p.snapshot().messages)
    p.stop()


def test_cover_bank_is_kept_between_runs_and_forgotten_on_request(tmp_path, hapt_file):
    """A run of the owner's walking fills the cover bank, which is saved when the run stops;
    the next run's first private segment is drawn from it, not from the generator; "forget"
    empties it and deletes its file."""
    from sdk.recording import read_hapt_raw

    rec = read_hapt_raw(hapt_file)
    walk = rec.xyz[int(174 * 50) : int(226 * 50)]  # user 3 walking (a short turn at 197-205 s)
    settings = DemoSettings(sensitive=(), cover="WALKING", delay_s=1.0, bank_dir=tmp_path / "bank")
    p = Pipeline(settings)
    assert p.bank_path == tmp_path / "bank" / "cover_bank_walking.npz"
    src = HandSource()
    p.start(src)
    src.callback(np.arange(len(walk)) / 50.0, walk)
    first = p.snapshot().counters["cover bank"]
    assert not p.bank_path.exists()
    p.save_bank()  # the app is paused: written while the stream runs
    assert p.bank_path.is_file()
    p.stop()
    assert p.bank_path.is_file()
    banked = float(first.split()[0])
    assert banked >= 10, first

    p = Pipeline(settings)
    src = HandSource()
    p.start(src)
    n = 3 * 50
    src.callback(np.arange(n) / 50.0, walk[:n])
    p.set_private(True)
    src.callback((n + np.arange(6 * 50)) / 50.0, walk[n : n + 6 * 50])
    counter = p.snapshot().counters["cover bank"]
    assert float(counter.split()[0]) >= banked, counter  # restored from the file (3 s of walking could not give it)
    assert counter.endswith("segments drawn from it 1, from the generator 0"), counter
    p.clear_bank()
    assert not p.bank_path.exists()
    assert p.snapshot().counters["cover bank"].startswith("0 s of your walking")
    p.stop()


def test_without_a_bank_dir_the_bank_is_not_kept(rng):
    p = Pipeline(DemoSettings(delay_s=1.0, sensitive=()))
    assert p.bank_path is None
    src = HandSource()
    p.start(src)
    src.push_seconds(0.0, 2.0, rng)
    assert "not kept after this run" in p.snapshot().counters["cover bank"]
    p.clear_bank()  # nothing to delete: no error
    p.stop()


def test_a_bank_dir_that_cannot_be_made_does_not_stop_the_filter(tmp_path, rng):
    (tmp_path / "file").write_text("not a folder")
    p = Pipeline(DemoSettings(delay_s=1.0, sensitive=(), bank_dir=tmp_path / "file" / "bank"))
    src = HandSource()
    p.start(src)
    t = src.push_seconds(0.0, 3.0, rng)
    p.set_private(True)
    src.push_seconds(t, 2.0, rng)
    snap = p.snapshot()
    assert snap.state == "replacing" and p.model_error is None
    p.stop()
