"""Phone recordings and the bundled sample: Sensor Logger and phyphox exports (small
hand-written files in each app's exact format), units, gravity, irregular rates."""
from __future__ import annotations

import gzip
import warnings

import numpy as np
import pytest

from sdk.errors import DataError, RateMismatchError
from sdk.recording import (
    STANDARD_GRAVITY,
    detect_format,
    read_hapt_raw,
    read_recording,
    sample_recording_path,
)

G = STANDARD_GRAVITY

# Sensor Logger (Android), TotalAcceleration.csv: time in ns since the epoch, seconds since
# the start tap, then z, y, x in m/s^2, gravity included.
SENSOR_LOGGER_TOTAL = """time,seconds_elapsed,z,y,x
1698501144401773000,0.21677294921875,9.6,1.1,-0.5
1698501144411773000,0.22677294921875,9.7,1.0,-0.4
1698501144421773000,0.23677294921875,9.5,1.2,-0.6
1698501144431773000,0.24677294921875,9.65,1.05,-0.45
"""

# Sensor Logger, Accelerometer.csv: the same columns, acceleration WITHOUT gravity.
SENSOR_LOGGER_LINEAR = """time,seconds_elapsed,z,y,x
1698501144401773000,0.21677294921875,-0.10382747650146484,-0.0009566396474838257,0.06110857427120209
1698501144411773000,0.22677294921875,-0.10387134552001953,-0.002205267548561096,0.06393256038427353
1698501144421773000,0.23677294921875,-0.1039,-0.0021,0.0640
"""

# phyphox "Acceleration with g", CSV (comma, decimal point).
PHYPHOX_COMMA = '''"Time (s)","Acceleration x (m/s^2)","Acceleration y (m/s^2)","Acceleration z (m/s^2)","Absolute acceleration (m/s^2)"
0.000000000E0,1.000000000E0,2.000000000E0,9.500000000E0,9.759610647E0
1.000000000E-2,1.100000000E0,2.100000000E0,9.400000000E0,9.694328241E0
2.000000000E-2,1.200000000E0,2.200000000E0,9.300000000E0,9.631718437E0
'''

# phyphox, CSV (semicolon, decimal comma).
PHYPHOX_SEMICOLON = '''"Time (s)";"Acceleration x (m/s^2)";"Acceleration y (m/s^2)";"Acceleration z (m/s^2)";"Absolute acceleration (m/s^2)"
0,000000000E0;1,000000000E0;2,000000000E0;9,500000000E0;9,759610647E0
1,000000000E-2;1,100000000E0;2,100000000E0;9,400000000E0;9,694328241E0
2,000000000E-2;1,200000000E0;2,200000000E0;9,300000000E0;9,631718437E0
'''

PHYPHOX_LINEAR = '''"Time (s)","Linear Acceleration x (m/s^2)","Linear Acceleration y (m/s^2)","Linear Acceleration z (m/s^2)","Absolute acceleration (m/s^2)"
0.0,0.01,0.02,0.03,0.037
0.01,0.02,0.01,0.02,0.03
'''


def write(tmp_path, name, text):
    p = tmp_path / name
    p.write_text(text)
    return p


def test_sensor_logger_total_acceleration_is_read_in_seconds_and_g(tmp_path):
    p = write(tmp_path, "TotalAcceleration.csv", SENSOR_LOGGER_TOTAL)
    assert detect_format(p) == "sensor-logger"
    rec = read_recording(p)
    np.testing.assert_allclose(rec.t, [0.21677294921875, 0.22677294921875, 0.23677294921875, 0.24677294921875])
    # columns come as z, y, x: the recording is x, y, z
    np.testing.assert_allclose(rec.xyz[0], np.array([-0.5, 1.1, 9.6]) / G)
    np.testing.assert_allclose(rec.xyz[3], np.array([-0.45, 1.05, 9.65]) / G)


def test_sensor_logger_accelerometer_without_gravity_is_refused(tmp_path):
    p = write(tmp_path, "Accelerometer.csv", SENSOR_LOGGER_LINEAR)
    with pytest.raises(DataError, match=r"linear acceleration without gravity .*TotalAcceleration\.csv"):
        read_recording(p)


def test_sensor_logger_rows_out_of_order_are_sorted_and_repeats_dropped(tmp_path):
    lines = SENSOR_LOGGER_TOTAL.strip().split("\n")
    text = "\n".join([lines[0], lines[2], lines[1], lines[2], lines[3], lines[4]]) + "\n"
    rec = read_recording(write(tmp_path, "TotalAcceleration.csv", text), format="sensor-logger")
    assert len(rec) == 4 and np.all(np.diff(rec.t) > 0)


@pytest.mark.parametrize("text", [PHYPHOX_COMMA, PHYPHOX_SEMICOLON, PHYPHOX_COMMA.replace(",", "\t")],
                         ids=["comma", "semicolon-decimal-comma", "tab"])
def test_phyphox_acceleration_with_g_is_read_in_seconds_and_g(tmp_path, text):
    p = write(tmp_path, "Raw Data.csv", text)
    assert detect_format(p) == "phyphox"
    rec = read_recording(p)
    np.testing.assert_allclose(rec.t, [0.0, 0.01, 0.02])
    np.testing.assert_allclose(rec.xyz[1], np.array([1.1, 2.1, 9.4]) / G)


def test_phyphox_linear_acceleration_is_refused(tmp_path):
    p = write(tmp_path, "Raw Data.csv", PHYPHOX_LINEAR)
    with pytest.raises(DataError, match="'Linear Acceleration' export holds acceleration without gravity"):
        read_recording(p)


def test_declared_format_that_does_not_match_the_header_is_refused(tmp_path):
    p = write(tmp_path, "TotalAcceleration.csv", SENSOR_LOGGER_TOTAL)
    with pytest.raises(DataError, match="not a phyphox acceleration export"):
        read_recording(p, format="phyphox")
    with pytest.raises(DataError, match="unknown recording format 'excel'"):
        read_recording(p, format="excel")


def test_unknown_header_lists_the_supported_formats(tmp_path):
    p = write(tmp_path, "x.csv", "when,a,b,c\n0,1,2,3\n")
    with pytest.raises(DataError, match="unknown recording format .*Sensor Logger.*phyphox"):
        read_recording(p)


def test_gzipped_csv_is_read(tmp_path):
    p = tmp_path / "r.csv.gz"
    with gzip.open(p, "wt") as fh:
        fh.write("t,ax,ay,az\n0,0,0,1\n0.02,0,0,1.01\n")
    rec = read_recording(p)
    np.testing.assert_allclose(rec.xyz[:, 2], [1.0, 1.01])


def test_empty_hapt_file_is_a_clear_error_without_numpy_warning(tmp_path):
    p = write(tmp_path, "acc_exp01_user01.txt", "")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(DataError, match="empty file"):
            read_hapt_raw(p)


def _phone_stream(rate_hz: float, seconds: float, jitter: float, seed: int = 0):
    rng = np.random.default_rng(seed)
    n = int(rate_hz * seconds)
    dt = (1.0 / rate_hz) * (1.0 + rng.uniform(-jitter, jitter, n))
    t = np.cumsum(dt)
    xyz = np.column_stack([0.1 * np.sin(2 * np.pi * 2 * t), 0.05 * np.cos(2 * np.pi * 2 * t), 1 + 0.1 * np.sin(t)])
    return t, xyz


def test_irregular_stream_is_refused_with_its_measured_rate_then_resampled(tmp_path):
    from sdk.recording import Recording

    t, xyz = _phone_stream(100.0, 10.0, jitter=0.6)
    rec = Recording(t, xyz)
    assert 90 < rec.rate_hz < 110
    with pytest.raises(RateMismatchError, match=rf"measured {rec.rate_hz:.1f} Hz .*--resample"):
        rec.check_rate(50.0)
    grid = rec.resampled(50.0)
    grid.check_rate(50.0)  # regular now
    np.testing.assert_allclose(np.diff(grid.t), 0.02, atol=1e-9)
    assert grid.t[0] == t[0] and grid.t[-1] <= t[-1]


def test_regular_50hz_with_small_jitter_passes_the_rate_check():
    from sdk.recording import Recording

    t, xyz = _phone_stream(50.0, 10.0, jitter=0.1)
    Recording(t, xyz).check_rate(50.0)


def test_sample_recording_is_small_real_and_covers_walking_stairs_and_a_posture():
    path = sample_recording_path()
    assert path.stat().st_size < 300_000
    rec = read_recording(path)
    assert rec.rate_hz == pytest.approx(50.0)
    assert 180 <= len(rec) / 50 <= 300
    rec.check_rate(50.0)
    labels = np.loadtxt(path, delimiter=",", skiprows=1, usecols=4, dtype=int)
    seconds = {a: (labels == a).sum() / 50 for a in range(7)}
    assert seconds[1] > 30 and seconds[2] > 30 and seconds[3] > 30  # walking, up, down
    assert max(seconds[4], seconds[5], seconds[6]) > 15  # a posture
    assert 0.9 < np.median(np.linalg.norm(rec.xyz, axis=1)) < 1.1  # g, gravity included
    readme = (path.parent / "README.md").read_text()
    assert "Any\ncommercial use is prohibited" in readme or "commercial use is prohibited" in readme.replace("\n", " ")
    assert "Reyes-Ortiz" in readme


def test_sample_recording_matches_the_hapt_rows_it_was_cut_from(hapt_root):
    """The sample is HAPT exp 3 of user 2, rows 6301-16900, rounded to 1e-5 g, with its labels."""
    from converter.hapt import load_hapt, split_users

    exp = next(e for e in load_hapt(hapt_root, users=[2]).experiments if e.exp == 3)
    rec = read_recording(sample_recording_path())
    np.testing.assert_allclose(rec.xyz, exp.xyz[6300:16900], atol=6e-6)
    labels = np.loadtxt(sample_recording_path(), delimiter=",", skiprows=1, usecols=4, dtype=int)
    np.testing.assert_array_equal(labels, exp.labels[6300:16900])
    assert 2 in split_users(load_hapt(hapt_root).users).train
