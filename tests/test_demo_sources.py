"""Sensor sources of the demo app: replay timing, the plyer source on a desktop and with a
fake phone sensor. No Kivy here."""
import threading
import time

import numpy as np
import pytest

from android_demo.sources import STANDARD_GRAVITY, SensorSource, SourceUnavailableError
from android_demo.sources.android import AndroidSource
from android_demo.sources.replay import ReplaySource
from sdk.recording import Recording, write_csv


class FakeClock:
    def __init__(self, t=1000.0):
        self.t = t

    def __call__(self):
        return self.t

    def advance(self, dt):
        self.t += dt


def _recording(n=100, rate=50.0):
    t = np.arange(n) / rate
    xyz = np.column_stack([np.arange(n), -np.arange(n), np.ones(n)]).astype(float)
    return Recording(t, xyz)


class Collector:
    def __init__(self):
        self.t, self.x = [], []
        self.lock = threading.Lock()

    def __call__(self, t, xyz):
        with self.lock:
            self.t.append(np.array(t))
            self.x.append(np.array(xyz))

    @property
    def times(self):
        with self.lock:
            return np.concatenate(self.t) if self.t else np.empty(0)

    @property
    def values(self):
        with self.lock:
            return np.vstack(self.x) if self.x else np.empty((0, 3))


# -- replay -------------------------------------------------------------------------------------

def test_replay_delivers_samples_as_they_fall_due_with_fake_clock():
    clock = FakeClock()
    src = ReplaySource(_recording(), clock=clock)
    got = Collector()
    src._callback = got  # drive it by hand: no thread
    src._begin()
    assert src.deliver_due() == 1  # t = 0 is due at once
    clock.advance(0.1)
    assert src.deliver_due() == 5  # 0.02 .. 0.10
    assert src.deliver_due() == 0
    clock.advance(0.5)
    assert src.deliver_due() == 25
    assert np.allclose(got.times, np.arange(31) / 50.0)
    assert np.array_equal(got.values[:, 0], np.arange(31))


def test_replay_loops_with_monotonic_timestamps_when_recording_ends():
    clock = FakeClock()
    src = ReplaySource(_recording(100), clock=clock)
    got = Collector()
    src._callback = got
    src._begin()
    clock.advance(2.5)  # 2.5 s of a 2 s recording
    src.deliver_due()
    t, x = got.times, got.values
    assert len(t) == 126
    assert np.allclose(np.diff(t), 0.02)
    assert np.array_equal(x[100:, 0], np.arange(26))  # starts over


def test_replay_stops_at_end_when_not_looping():
    clock = FakeClock()
    src = ReplaySource(_recording(10), clock=clock, loop=False)
    got = Collector()
    src._callback = got
    src._begin()
    clock.advance(5.0)
    src.deliver_due()
    src.deliver_due()
    assert len(got.times) == 10 and src.finished


def test_replay_runs_in_real_time_when_started(tmp_path):
    rec = _recording(5000)
    src = ReplaySource(rec)
    got = Collector()
    t0 = time.monotonic()
    src.start(got)
    assert src.running
    time.sleep(1.0)
    src.stop()
    wall = time.monotonic() - t0
    assert not src.running
    n = len(got.times)
    # real time: about 50 samples a second (the machine is shared: generous bounds)
    assert 0.7 * 50 * 1.0 <= n <= 50 * wall + 2
    assert np.allclose(np.diff(got.times), 0.02)
    assert got.times[0] == 0.0


def test_replay_restarts_timestamps_at_zero_when_restarted():
    src = ReplaySource(_recording(500))
    for _ in range(2):
        got = Collector()
        src.start(got)
        time.sleep(0.2)
        src.stop()
        assert got.times[0] == 0.0


def test_replay_reads_hapt_file_and_starts_late_when_asked(hapt_file):
    src = ReplaySource(hapt_file, start_s=175.0)
    assert src.available and src.why_unavailable() is None
    assert src.name == f"replay {hapt_file.name}"
    from sdk.recording import read_hapt_raw

    rec = read_hapt_raw(hapt_file)
    clock = FakeClock()
    src.clock = clock
    got = Collector()
    src._callback = got
    src._begin()
    src.deliver_due()
    assert np.array_equal(got.values[0], rec.xyz[175 * 50])


def test_replay_resamples_csv_when_rate_differs(tmp_path):
    t = np.arange(0, 4, 0.01)  # 100 Hz
    xyz = np.column_stack([t, 2 * t, np.zeros_like(t)])
    path = tmp_path / "phone.csv"
    write_csv(path, t, xyz)
    src = ReplaySource(path)
    assert src.available
    assert abs(src.duration_s - 4.0) < 0.05
    clock = FakeClock()
    src.clock = clock
    got = Collector()
    src._callback = got
    src._begin()
    clock.advance(1.0)
    src.deliver_due()
    assert len(got.times) == 51
    assert np.allclose(got.values[:, 0], got.times, atol=1e-9)  # linear signal survives resampling


def test_replay_reports_unreadable_file_without_raising(tmp_path):
    bad = tmp_path / "nonsense.csv"
    bad.write_text("t,ax,ay,az\n0,1,2\n")
    for path in (tmp_path / "missing.txt", bad):
        src = ReplaySource(path)
        assert not src.available
        assert "cannot replay" in src.why_unavailable()
        with pytest.raises(SourceUnavailableError, match="cannot replay"):
            src.start(lambda t, x: None)
        assert not src.running


def test_replay_refuses_bad_speed():
    with pytest.raises(ValueError, match="speed must be a positive"):
        ReplaySource(_recording(), speed=0)


def test_replay_reports_error_and_stops_when_callback_raises():
    src = ReplaySource(_recording(500))
    errors = []
    done = threading.Event()

    def boom(t, x):
        raise RuntimeError("consumer broke")

    src.start(boom, on_error=lambda e: (errors.append(e), done.set()))
    assert done.wait(5.0)
    src.stop()
    assert isinstance(errors[0], RuntimeError) and not src.running
    assert isinstance(src.error, RuntimeError)


# -- plyer / Android ----------------------------------------------------------------------------

def test_android_source_reports_unavailable_on_desktop_without_raising():
    src = AndroidSource()
    assert isinstance(src, SensorSource)
    reason = src.why_unavailable()
    assert not src.available
    assert isinstance(reason, str) and reason
    with pytest.raises(SourceUnavailableError, match="phone accelerometer"):
        src.start(lambda t, x: None)
    assert not src.running
    src.stop()  # harmless


def test_android_source_reports_missing_plyer(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_plyer(name, *a, **k):
        if name == "plyer":
            raise ImportError("No module named 'plyer'")
        return real_import(name, *a, **k)

    monkeypatch.setattr(builtins, "__import__", no_plyer)
    src = AndroidSource()
    assert "plyer is not usable here" in src.why_unavailable()


class FakeAccelerometer:
    """plyer's facade as on a phone: the latest event's values in m/s^2."""

    def __init__(self):
        self.enabled = False
        self.values = (None, None, None)

    def enable(self):
        self.enabled = True

    def disable(self):
        self.enabled = False

    @property
    def acceleration(self):
        return self.values


def test_android_source_converts_to_g_and_resamples_to_50hz():
    clock = FakeClock(500.0)
    acc = FakeAccelerometer()
    src = AndroidSource(accelerometer=acc, clock=clock)
    assert src.available and not acc.enabled  # the probe leaves the sensor off
    got = Collector()
    src._callback = got
    src._begin()
    assert acc.enabled
    assert src.deliver_due() == 0  # no event yet
    rng = np.random.default_rng(0)
    t = 0.0
    for i in range(400):  # ~100 Hz events with jitter, a linear ramp in m/s^2
        t += rng.uniform(0.007, 0.013)
        clock.t = 500.0 + t
        acc.values = (STANDARD_GRAVITY * t, 0.0, STANDARD_GRAVITY)
        src.deliver_due()
    ts, xs = got.times, got.values
    assert np.allclose(np.diff(ts), 0.02, atol=1e-9)
    assert np.allclose(xs[:, 0], ts, atol=1e-9)  # in g, interpolated on the grid
    assert np.allclose(xs[:, 2], 1.0)
    assert abs(src.event_rate_hz - 100) < 10
    src._end()
    assert not acc.enabled


def test_android_source_repeats_still_reading_so_stream_has_no_gap():
    clock = FakeClock(0.0)
    acc = FakeAccelerometer()
    src = AndroidSource(accelerometer=acc, clock=clock)
    got = Collector()
    src._callback = got
    src._begin()
    acc.values = (0.0, 0.0, STANDARD_GRAVITY)  # a phone lying still: identical readings
    for _ in range(200):  # 1 s of polls at 200 Hz
        clock.advance(0.005)
        src.deliver_due()
    ts = got.times
    assert len(ts) >= 45
    assert np.max(np.diff(ts)) <= 0.02 + 1e-9


def test_android_source_reports_broken_sensor_as_unavailable():
    class Broken(FakeAccelerometer):
        @property
        def acceleration(self):
            raise Exception("Could not enable accelerometer!")

    src = AndroidSource(accelerometer=Broken())
    assert "Could not enable accelerometer" in src.why_unavailable()
    with pytest.raises(SourceUnavailableError):
        src.start(lambda t, x: None)
