"""``sensegen generate``: synthetic labelled datasets in the HAPT raw layout (and CSV), read
back by the project's own readers, deterministic for a seed, with distinct placements and the
model's DP record in plain words. Real bundled model, real HAPT data for the placement spread."""
from __future__ import annotations

import json

import numpy as np
import pytest

from converter.cli import main
from converter.generate import (
    GenerateOptions,
    ScheduleError,
    generate_dataset,
    label_spans,
    parse_schedule,
    placement_model,
    placement_source,
    rotation_matrix,
)
from converter.hapt import load_hapt
from sdk.activities import ACTIVITIES
from sdk.generator import Generator, bundled_model_path
from sdk.model_file import pack_model, read_model
from sdk.recording import read_csv

SCHEDULE = "WALKING:12,WALKING_UPSTAIRS:6,SITTING:8"


@pytest.fixture(scope="module")
def placement(hapt_root, generator):
    users, source = placement_source(generator.metadata)
    acts = [a for a in generator.activities if a != "OTHER"]
    return placement_model(load_hapt(hapt_root, users=users), acts, users, source)


@pytest.fixture(scope="module")
def cli_dataset(tmp_path_factory, hapt_root):
    out = tmp_path_factory.mktemp("gen") / "synthetic"
    rc = main(["generate", "--schedule", SCHEDULE, "--users", "2", "--seed", "7", "--data", str(hapt_root),
               "--out", str(out), "--no-progress"])
    assert rc == 0
    return out


def _repacked(tmp_path, **changes):
    """The bundled generator with its metadata changed (the flatbuffer and its sha256 untouched)."""
    m = read_model(bundled_model_path())
    meta = {k: v for k, v in m.metadata.items() if k not in ("sha256", "flatbuffer_size", "members")} | changes
    path = tmp_path / "generator_changed.tflite"
    path.write_bytes(pack_model(m.flatbuffer, meta, m.members))  # the block variant, if any, kept
    return path


# --- schedule ---------------------------------------------------------------------------------

def test_parse_schedule_reads_names_case_insensitively():
    s = parse_schedule("walking:60, WALKING_UPSTAIRS:20 ,Sitting:30.5")
    assert [(i.activity, i.seconds) for i in s] == [("WALKING", 60.0), ("WALKING_UPSTAIRS", 20.0), ("SITTING", 30.5)]


@pytest.mark.parametrize("text, message", [
    ("", "empty schedule"),
    ("   ", "empty schedule"),
    ("WALKING", r"bad schedule entry 'WALKING'.*ACTIVITY:SECONDS"),
    ("WALKING:60,,SITTING:5", r"bad schedule entry ''"),
    ("WALKING:60:5", r"bad schedule entry 'WALKING:60:5'"),
    ("WALKING:abc", r"bad length 'abc' for WALKING: seconds must be a number"),
    ("WALKING:-5", r"bad length '-5' for WALKING: need a finite number of seconds >= 1"),
    ("WALKING:0.5", r"bad length '0.5' for WALKING"),
    ("WALKING:nan", r"bad length 'nan' for WALKING"),
    ("WALKING:inf", r"bad length 'inf' for WALKING"),
    ("JOGGING:10", r"unknown activity 'JOGGING' in the schedule; known: WALKING, WALKING_UPSTAIRS"),
    ("OTHER:10", r"OTHER cannot be scheduled: label 0 marks the transitions"),
    ("WALKING:90000", r"schedule is 90000 s long; at most 86400 s per user"),
])
def test_parse_schedule_rejects_bad_input(text, message):
    with pytest.raises(ScheduleError, match=message):
        parse_schedule(text)


@pytest.mark.parametrize("kwargs, message", [
    ({"users": 0}, "users must be an integer from 1 to 999, got 0"),
    ({"format": "parquet"}, "format must be one of hapt, csv, got 'parquet'"),
    ({"seed": -1}, "seed must be >= 0"),
    ({"transition_s": (3.0, 2.0)}, "transition_s must be"),
    ({"context_s": 0.0}, r"context_s must be in \(0, 60\] seconds, got 0.0"),
])
def test_generate_options_reject_bad_values(kwargs, message):
    with pytest.raises(ValueError, match=message):
        GenerateOptions(parse_schedule(SCHEDULE), **kwargs)


# --- layout and read-back ---------------------------------------------------------------------

def test_generate_writes_hapt_layout_that_load_hapt_reads(cli_dataset):
    raw = cli_dataset / "RawData"
    assert sorted(p.name for p in raw.iterdir()) == ["acc_exp01_user01.txt", "acc_exp02_user02.txt", "labels.txt"]
    assert (cli_dataset / "activity_labels.txt").read_text().splitlines()[:2] == ["1 WALKING", "2 WALKING_UPSTAIRS"]
    ds = load_hapt(cli_dataset)
    assert ds.users == [1, 2] and [e.exp for e in ds.experiments] == [1, 2]
    for e in ds.experiments:
        counts = np.bincount(e.labels.astype(np.int64), minlength=len(ACTIVITIES))
        assert counts[ACTIVITIES.index("WALKING")] == 12 * 50
        assert counts[ACTIVITIES.index("WALKING_UPSTAIRS")] == 6 * 50
        assert counts[ACTIVITIES.index("SITTING")] == 8 * 50
        assert np.isfinite(e.xyz).all()
        # schedule order, with a 2-4 s unlabelled transition between activities
        spans = label_spans(e.labels)
        assert [ACTIVITIES[a] for a, _, _ in spans] == ["WALKING", "WALKING_UPSTAIRS", "SITTING"]
        gaps = [spans[i + 1][1] - spans[i][2] - 1 for i in range(2)]
        assert all(100 <= g <= 200 for g in gaps), gaps
        assert len(e) == 26 * 50 + sum(gaps) and counts[0] == sum(gaps)


def test_data_info_describes_generated_dataset(cli_dataset, capsys):
    capsys.readouterr()
    assert main(["data", "info", "--data", str(cli_dataset)]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["users"] == [1, 2] and info["experiments"] == 2 and info["split"] is None
    assert info["samples"] == sum(len(e) for e in load_hapt(cli_dataset).experiments)


def test_generated_activities_look_like_their_labels(cli_dataset):
    """Walking moves, sitting is still: the labels describe the data."""
    for e in load_hapt(cli_dataset).experiments:
        walk = e.xyz[e.labels == ACTIVITIES.index("WALKING")].std(axis=0).mean()
        sit = e.xyz[e.labels == ACTIVITIES.index("SITTING")].std(axis=0).mean()
        assert walk > 0.1 and sit < walk / 2, (walk, sit)


def test_readme_and_json_record_model_schedule_seed_and_no_dp(cli_dataset):
    meta = json.loads((cli_dataset / "generation.json").read_text())
    model = bundled_model_path()
    import hashlib

    sha = hashlib.sha256(model.read_bytes()).hexdigest()
    assert meta["model"]["file"] == model.name and meta["model"]["sha256"] == sha
    assert meta["schedule"] == SCHEDULE and meta["seed"] == 7
    assert meta["privacy"] == {"differential_privacy": False, "guarantee": "no DP guarantee"}
    assert meta["placement_model"]["source"] == "training users"
    assert meta["placement_model"]["users"] == read_model(model).metadata["training"]["split_users"]["train"]
    readme = (cli_dataset / "README.txt").read_text()
    for text in ("No DP guarantee", sha, SCHEDULE, "seed 7", "SYNTHETIC", "labelled 0"):
        assert text in readme, text


def test_users_get_distinct_recorded_placements(cli_dataset):
    meta = json.loads((cli_dataset / "generation.json").read_text())
    p1, p2 = (u["placement"] for u in meta["users"])
    assert p1["rotation_vector_deg"] != p2["rotation_vector_deg"] and p1["gravity_scale"] != p2["gravity_scale"]
    ds = load_hapt(cli_dataset)
    sit = [e.xyz[e.labels == ACTIVITIES.index("SITTING")].mean(axis=0) for e in ds.experiments]
    # each user's sitting level is the recorded placement's, not the population's
    for level, p in zip(sit, (p1, p2)):
        assert np.abs(level - p["levels_g"]["SITTING"]).max() < 0.08
    assert np.abs(sit[0] - sit[1]).max() > 0.03


# --- determinism ------------------------------------------------------------------------------

def test_generate_is_deterministic_for_a_seed(tmp_path, generator, placement):
    opts = GenerateOptions(parse_schedule("STANDING:3,WALKING:4"), users=2, seed=3)
    a = generate_dataset(None, tmp_path / "a", opts, progress=False, generator=generator, placement=placement)
    b = generate_dataset(None, tmp_path / "b", opts, progress=False, generator=generator, placement=placement)
    c = generate_dataset(None, tmp_path / "c", GenerateOptions(opts.schedule, users=2, seed=4), progress=False,
                         generator=generator, placement=placement)
    for name in ("RawData/acc_exp01_user01.txt", "RawData/acc_exp02_user02.txt", "RawData/labels.txt", "README.txt", "generation.json"):
        assert (a.out_dir / name).read_bytes() == (b.out_dir / name).read_bytes(), name
    assert (a.out_dir / "RawData/acc_exp01_user01.txt").read_bytes() != (c.out_dir / "RawData/acc_exp01_user01.txt").read_bytes()
    # user 1 of a 2-user dataset is user 1 of a 3-user dataset with the same seed
    d = generate_dataset(None, tmp_path / "d", GenerateOptions(opts.schedule, users=3, seed=3), progress=False,
                         generator=generator, placement=placement)
    assert (d.out_dir / "RawData/acc_exp01_user01.txt").read_bytes() == (a.out_dir / "RawData/acc_exp01_user01.txt").read_bytes()


def test_csv_format_writes_t_xyz_label(tmp_path, generator, placement, capsys):
    opts = GenerateOptions(parse_schedule("LAYING:3,STANDING:3"), users=1, seed=0, format="csv")
    res = generate_dataset(None, tmp_path / "csv", opts, progress=False, generator=generator, placement=placement)
    path = res.out_dir / "user01.csv"
    assert path.read_text().splitlines()[0] == "t,ax,ay,az,label"
    rec = read_csv(path)  # the SDK's reader takes it (extra column ignored)
    labels = np.loadtxt(path, delimiter=",", skiprows=1, usecols=4).astype(int)
    assert np.allclose(np.diff(rec.t), 0.02) and len(rec) == len(labels)
    assert (labels == ACTIVITIES.index("LAYING")).sum() == 150 and (labels == ACTIVITIES.index("STANDING")).sum() == 150
    assert set(labels[150:-150]) == {0}
    assert not (res.out_dir / "RawData").exists() and (res.out_dir / "README.txt").is_file()


# --- placement --------------------------------------------------------------------------------

def test_rotation_matrix_is_a_rotation_by_its_angle():
    r = rotation_matrix(np.deg2rad([0.0, 0.0, 90.0]))
    assert np.allclose(r @ [1, 0, 0], [0, 1, 0]) and np.allclose(r @ r.T, np.eye(3))


def test_placement_draws_match_the_real_spread(placement):
    """Drawn levels deviate from each activity's reference by that activity's RMS angle in
    the real experiments (LAYING, how people lie, more than the phone's tilt)."""
    assert placement.experiments >= 10
    assert 2.0 < placement.rms_tilt_deg["WALKING"] < placement.rms_tilt_deg["LAYING"] < 45.0
    assert placement.activity_sigma_deg["LAYING"] > 3 * placement.activity_sigma_deg["WALKING"]
    rng = np.random.default_rng(0)
    draws = [placement.draw(rng) for _ in range(3000)]
    for act in ("WALKING", "LAYING"):
        ref = np.asarray(placement.reference_levels[act])
        lv = np.asarray([d.levels[act] for d in draws])
        cos = lv @ ref / np.linalg.norm(lv, axis=1) / np.linalg.norm(ref)
        rms = np.sqrt(np.mean(np.degrees(np.arccos(np.clip(cos, -1, 1))) ** 2))
        assert rms == pytest.approx(placement.rms_tilt_deg[act], rel=0.1), act


# --- bad input --------------------------------------------------------------------------------

def test_cli_unknown_activity_is_a_one_line_error(tmp_path, capsys):
    rc = main(["generate", "--schedule", "WALKING:10,JOGGING:5", "--out", str(tmp_path / "x"), "--no-progress"])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and err.startswith("sensegen generate: error: unknown activity 'JOGGING'") and "\n" not in err
    assert not (tmp_path / "x").exists()


def test_cli_bad_schedule_is_a_one_line_error(tmp_path, capsys):
    rc = main(["generate", "--schedule", "WALKING=10", "--out", str(tmp_path / "x"), "--no-progress"])
    assert rc == 2 and "bad schedule entry 'WALKING=10'" in capsys.readouterr().err


def test_model_without_the_activity_is_refused(tmp_path, hapt_root, capsys):
    acts = [a if a != "LAYING" else "CYCLING" for a in ACTIVITIES]
    model = _repacked(tmp_path, activities=acts)
    rc = main(["generate", "--model", str(model), "--schedule", "WALKING:5,LAYING:5", "--data", str(hapt_root),
               "--out", str(tmp_path / "x"), "--no-progress"])
    assert rc == 2
    assert "generator_changed.tflite cannot generate LAYING; it knows WALKING" in capsys.readouterr().err
    with pytest.raises(ScheduleError, match="cannot generate LAYING"):
        generate_dataset(model, tmp_path / "y", GenerateOptions(parse_schedule("LAYING:5")), data=hapt_root, progress=False)


def test_output_folder_must_be_new_or_empty(tmp_path, generator, placement):
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "keep.txt").write_text("mine")
    with pytest.raises(ValueError, match="exists and is not empty"):
        generate_dataset(None, tmp_path / "full", GenerateOptions(parse_schedule("WALKING:2")), progress=False,
                         generator=generator, placement=placement)
    assert (tmp_path / "full" / "keep.txt").read_text() == "mine"


def test_missing_placement_data_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="HAPT data folder not found"):
        generate_dataset(None, tmp_path / "x", GenerateOptions(parse_schedule("WALKING:2")), data=tmp_path / "nodata", progress=False)


# --- DP record --------------------------------------------------------------------------------

def test_dp_model_record_is_written_in_plain_words(tmp_path, hapt_root):
    """A model carrying a DP record (accounted by dp-accounting) passes it on, and its
    synthetic users take their placements from its validation users."""
    from converter.dp import DPConfig, privacy_record

    record = privacy_record(
        DPConfig(noise_multiplier=1.1), noise_multiplier=1.1, delta=1e-5, n_examples=4000, batch_size=64,
        steps=600, planned_steps=600, window_samples=179, windows_per_sample=2, rate_hz=50.0, n_users=10,
        max_windows_per_user=500,
    )
    model = _repacked(tmp_path, privacy=record)
    res = generate_dataset(model, tmp_path / "dp", GenerateOptions(parse_schedule("WALKING:3,SITTING:3")), data=hapt_root,
                           progress=False)
    meta = json.loads((res.out_dir / "generation.json").read_text())
    assert meta["privacy"]["differential_privacy"] is True
    assert meta["privacy"]["epsilon"] == pytest.approx(record["epsilon"]) and meta["privacy"]["delta"] == 1e-5
    assert meta["privacy"]["unit_of_privacy"] == "one training window"
    assert meta["placement_model"]["users"] == read_model(model).metadata["training"]["split_users"]["val"]
    readme = (res.out_dir / "README.txt").read_text()
    assert f"ε = {record['epsilon']:.2f}" in readme and "δ = 1.0e-05" in readme
    assert "Not a per-person guarantee" in readme and "placement spread" in readme
    assert "No DP guarantee" not in readme
    summary = res.summary()
    assert summary["privacy"].startswith(f"(ε = {record['epsilon']:.3g}, δ = 1.0e-05)-DP per one training window")


def test_failed_generation_leaves_no_partial_dataset(tmp_path, placement, monkeypatch):
    from sdk.errors import GeneratorFault

    generator = Generator(use_block=False)  # the one-step path: every sample is one ``step`` call
    real_step, calls = generator.step, [0]

    def dying_step(*args):
        calls[0] += 1
        if calls[0] > 600:  # part-way through the second user
            raise RuntimeError("interpreter died")
        return real_step(*args)

    monkeypatch.setattr(generator, "step", dying_step)
    with pytest.raises(GeneratorFault, match="generator step failed"):
        generate_dataset(None, tmp_path / "x", GenerateOptions(parse_schedule("WALKING:5"), users=2), progress=False,
                         generator=generator, placement=placement)
    assert calls[0] > 600 and not (tmp_path / "x").exists()
