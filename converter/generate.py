"""Synthetic labelled datasets from a generator model file (``sensegen generate``).

Every synthetic user is one continuous 50 Hz stream that follows a schedule of activities
(``WALKING:60,SITTING:30``: seconds per activity, in order), written in the HAPT raw layout
(``RawData/acc_expXX_userYY.txt``, ``RawData/labels.txt``, ``activity_labels.txt``) or as
``t,ax,ay,az,label`` CSV files, with a README and a JSON file that record the model, its
sha256, the schedule, the seed, each user's placement and the model's differential-privacy
record in plain words.

Samples come from the SDK's generator runtime (``sdk.generator.SyntheticStream``), one stream
per scheduled activity. A synthetic user's placement (how the phone sits on the body) is a
small rotation and a scale of the gravity vector, drawn from the spread of per-experiment mean
levels in the model's own training users (its validation users for a DP model, as its
normalisation); each stream is primed on a short synthetic context at that user's level for
its activity. Between two activities a 2-4 s transition, labelled 0 (unlabelled, as HAPT's
samples between activities), crossfades the outgoing stream into the incoming one with a
raised-cosine weight.
"""
from __future__ import annotations

import hashlib
import json
import logging
import math
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from sdk.activities import ACTIVITIES
from sdk.errors import DataError, ModelError

log = logging.getLogger(__name__)

FORMATS = ("hapt", "csv")
#: shortest and longest scheduled segment (seconds); a detector window is 2.56 s
MIN_SEGMENT_S = 1.0
MAX_TOTAL_S = 24 * 3600.0
#: fewest labelled samples of an activity for an experiment's level to count (2 s)
MIN_LEVEL_SAMPLES = 100
METADATA_NAME = "generation.json"
_ITEM = re.compile(r"^\s*([A-Za-z_]+)\s*:\s*([^,:\s]+)\s*$")


class ScheduleError(DataError):
    """A ``--schedule`` string is malformed or names an activity the model cannot make."""


# --- schedule ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class ScheduleItem:
    """One scheduled activity and its length in seconds."""

    activity: str
    seconds: float


def parse_schedule(text: str) -> tuple[ScheduleItem, ...]:
    """Parse ``"WALKING:60,WALKING_UPSTAIRS:20,SITTING:30"`` (case-insensitive names).

    Raises:
        ScheduleError: empty, malformed, a length that is not a number >= ``MIN_SEGMENT_S``,
            an unknown activity, OTHER (label 0 is for transitions), or over 24 hours.
    """
    if not text or not text.strip():
        raise ScheduleError("empty schedule; expected e.g. 'WALKING:60,SITTING:30' (activity:seconds, comma-separated)")
    items = []
    for part in text.split(","):
        m = _ITEM.match(part)
        if not m:
            raise ScheduleError(f"bad schedule entry {part.strip()!r} in {text!r}; expected ACTIVITY:SECONDS, e.g. WALKING:60")
        name, secs = m.group(1).upper(), m.group(2)
        if name not in ACTIVITIES:
            raise ScheduleError(f"unknown activity {m.group(1)!r} in the schedule; known: {', '.join(ACTIVITIES[1:])}")
        if name == ACTIVITIES[0]:
            raise ScheduleError(f"{name} cannot be scheduled: label 0 marks the transitions between activities")
        try:
            seconds = float(secs)
        except ValueError:
            raise ScheduleError(f"bad length {secs!r} for {name}: seconds must be a number") from None
        if not (math.isfinite(seconds) and seconds >= MIN_SEGMENT_S):
            raise ScheduleError(f"bad length {secs!r} for {name}: need a finite number of seconds >= {MIN_SEGMENT_S:g}")
        items.append(ScheduleItem(name, seconds))
    total = sum(i.seconds for i in items)
    if total > MAX_TOTAL_S:
        raise ScheduleError(f"schedule is {total:g} s long; at most {MAX_TOTAL_S:g} s per user")
    return tuple(items)


def format_schedule(schedule) -> str:
    return ",".join(f"{i.activity}:{i.seconds:g}" for i in schedule)


# --- placement --------------------------------------------------------------------------------

def rotation_matrix(rotvec: np.ndarray) -> np.ndarray:
    """Rotation matrix of a rotation vector (axis * angle in radians), Rodrigues' formula."""
    rotvec = np.asarray(rotvec, np.float64)
    angle = float(np.linalg.norm(rotvec))
    if angle == 0.0:
        return np.eye(3)
    k = rotvec / angle
    kx = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
    return np.eye(3) + math.sin(angle) * kx + (1 - math.cos(angle)) * (kx @ kx)


@dataclass
class Placement:
    """One synthetic user's phone placement: gravity rotated by ``rotation_deg`` (a rotation
    vector in degrees, shared by all activities; an activity with its own spread, e.g. how a
    person lies down, adds ``activity_rotation_deg``) and scaled by ``scale``; ``levels`` is
    the resulting mean level (g) of each activity."""

    rotation_deg: list[float]
    scale: float
    levels: dict[str, list[float]]
    activity_rotation_deg: dict[str, list[float]] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {
            "rotation_vector_deg": [round(v, 4) for v in self.rotation_deg],
            "tilt_deg": round(float(np.linalg.norm(self.rotation_deg)), 4),
            "activity_rotation_vector_deg": {a: [round(v, 4) for v in r] for a, r in self.activity_rotation_deg.items()},
            "gravity_scale": round(self.scale, 6),
            "levels_g": {a: [round(v, 6) for v in lv] for a, lv in self.levels.items()},
        }


@dataclass
class PlacementModel:
    """The spread of phone placements in real data.

    ``reference_levels``: per activity, the mean gravity direction of the experiments times
    their mean gravity magnitude (g). ``rms_tilt_deg``: per activity, the RMS angle between an
    experiment's level and that direction. A user's placement is a rotation shared by all
    activities (the phone on the body: rotation vector ~ N(0, tilt_sigma^2 I), tilt_sigma =
    the median over activities of the RMS angle / sqrt 2, since such a rotation tilts a vector
    by a Rayleigh angle of RMS sqrt 2 sigma) followed, for an activity that spreads more (how
    people lie down), by its own rotation of ``activity_sigma_deg`` that makes up the rest of
    its RMS angle. Gravity magnitude: log-normal, ``log_scale_mean`` / ``log_scale_std``
    relative to the reference.
    """

    reference_levels: dict[str, list[float]]
    rms_tilt_deg: dict[str, float]
    tilt_sigma_deg: float
    activity_sigma_deg: dict[str, float]
    log_scale_mean: float
    log_scale_std: float
    users: list[int]
    source: str
    experiments: int

    def draw(self, rng: np.random.Generator) -> Placement:
        """A random placement (a fixed number of draws from ``rng`` per call)."""
        rotvec = rng.normal(0.0, self.tilt_sigma_deg, size=3)
        scale = float(math.exp(rng.normal(self.log_scale_mean, self.log_scale_std)))
        shared = rotation_matrix(np.deg2rad(rotvec))
        levels, extra = {}, {}
        for a, ref in self.reference_levels.items():
            own = rng.normal(0.0, 1.0, size=3) * self.activity_sigma_deg.get(a, 0.0)
            if self.activity_sigma_deg.get(a, 0.0) > 0:
                extra[a] = own.tolist()
            levels[a] = (scale * rotation_matrix(np.deg2rad(own)) @ shared @ np.asarray(ref)).tolist()
        return Placement(rotvec.tolist(), scale, levels, extra)

    def to_dict(self) -> dict:
        r4 = lambda d: {a: round(v, 4) for a, v in d.items()}  # noqa: E731
        return {
            "source": self.source,
            "users": self.users,
            "experiments": self.experiments,
            "reference_levels_g": {a: [round(v, 6) for v in lv] for a, lv in self.reference_levels.items()},
            "rms_tilt_deg": r4(self.rms_tilt_deg),
            "tilt_sigma_deg": round(self.tilt_sigma_deg, 4),
            "activity_sigma_deg": r4(self.activity_sigma_deg),
            "log_gravity_scale_mean": round(self.log_scale_mean, 6),
            "log_gravity_scale_std": round(self.log_scale_std, 6),
            "method": "per experiment and activity, the mean level (g). A user's rotation vector ~ N(0, tilt_sigma^2 I), "
                      "tilt_sigma = median over activities of the RMS angle between an experiment's level and the "
                      "activity's reference direction, / sqrt(2); an activity whose RMS angle is larger adds its own "
                      "rotation, sigma = sqrt((rms^2 - (sqrt(2) tilt_sigma)^2) / 2); gravity scale log-normal with the "
                      "experiments' spread of |level| / |reference|",
        }


def placement_source(metadata: dict) -> tuple[list[int], str]:
    """The users whose placements a model's synthetic users imitate: its training users, or
    its validation users for a DP model (whose normalisation also comes from them, outside
    the guarantee).

    Raises:
        ModelError: the model records no user split.
    """
    split = (metadata.get("training") or {}).get("split_users") or {}
    dp = bool((metadata.get("privacy") or {}).get("differential_privacy"))
    key = "val" if dp else "train"
    users = split.get(key)
    if not users:
        raise ModelError(f"the model's metadata records no {key} users (training.split_users); cannot draw placements")
    return [int(u) for u in users], ("validation users (DP model: outside its guarantee)" if dp else "training users")


def placement_model(ds, activities, users: list[int], source: str) -> PlacementModel:
    """Fit the placement spread to the experiments of ``ds`` (a ``HaptDataset``); an
    activity without an experiment holding ``MIN_LEVEL_SAMPLES`` samples of it gets no level.

    Raises:
        DataError: no activity has such an experiment.
    """
    per_act: dict[str, list[np.ndarray]] = {a: [] for a in activities}
    for e in ds.experiments:
        for a in activities:
            mask = e.labels == ACTIVITIES.index(a)
            if mask.sum() >= MIN_LEVEL_SAMPLES:
                per_act[a].append(e.xyz[mask].astype(np.float64).mean(axis=0))
    refs, rms, log_scales = {}, {}, []
    for a, levels in per_act.items():
        if not levels:
            continue
        lv = np.asarray(levels)
        norms = np.linalg.norm(lv, axis=1)
        direction = (lv / norms[:, None]).mean(axis=0)
        direction /= np.linalg.norm(direction)
        ref_norm = float(norms.mean())
        refs[a] = (direction * ref_norm).tolist()
        angles = np.degrees(np.arccos(np.clip((lv / norms[:, None]) @ direction, -1.0, 1.0)))
        rms[a] = float(np.sqrt(np.mean(np.square(angles))))
        log_scales.extend(np.log(norms / ref_norm))
    if not refs:
        raise DataError(f"no experiment of users {users} has {MIN_LEVEL_SAMPLES} samples of any of {', '.join(activities)}")
    shared = float(np.median(list(rms.values())))
    own = {a: math.sqrt(max(0.0, r**2 - shared**2) / 2.0) for a, r in rms.items()}
    return PlacementModel(
        refs, rms, shared / math.sqrt(2.0), own, float(np.mean(log_scales)), float(np.std(log_scales)),
        list(users), source, len(ds.experiments),
    )


# --- one synthetic user -----------------------------------------------------------------------

@dataclass
class GenerateOptions:
    """Settings of ``generate_dataset``.

    Attributes:
        schedule: activities and seconds, in order (``parse_schedule``).
        users: number of synthetic users.
        seed: fixes everything (placements, transitions, samples).
        format: ``"hapt"`` (HAPT raw layout) or ``"csv"`` (``t,ax,ay,az,label`` per user).
        transition_s: (shortest, longest) transition between two activities, label 0.
        context_s: length of the synthetic context each stream is primed on.
    """

    schedule: tuple[ScheduleItem, ...]
    users: int = 1
    seed: int = 0
    format: str = "hapt"
    transition_s: tuple[float, float] = (2.0, 4.0)
    context_s: float = 1.0

    def __post_init__(self) -> None:
        if not self.schedule:
            raise ScheduleError("empty schedule")
        if not (isinstance(self.users, int) and 1 <= self.users <= 999):
            raise ValueError(f"users must be an integer from 1 to 999, got {self.users!r}")
        if self.format not in FORMATS:
            raise ValueError(f"format must be one of {', '.join(FORMATS)}, got {self.format!r}")
        lo, hi = self.transition_s
        if not (0 < lo <= hi <= 30):
            raise ValueError(f"transition_s must be (shortest, longest) with 0 < shortest <= longest <= 30, got {self.transition_s!r}")
        if self.seed < 0:
            raise ValueError(f"seed must be >= 0, got {self.seed!r}")
        if not (0 < self.context_s <= 60):
            raise ValueError(f"context_s must be in (0, 60] seconds, got {self.context_s!r}")


def check_model_activities(generator, schedule) -> None:
    """Raises ScheduleError when the model cannot make an activity of the schedule."""
    missing = sorted({i.activity for i in schedule} - set(generator.activities))
    if missing:
        raise ScheduleError(
            f"{generator.path.name} cannot generate {', '.join(missing)}; it knows {', '.join(a for a in generator.activities if a != ACTIVITIES[0])}"
        )


def _stream(generator, activity: str, level, seed: int, context: int):
    """A ``SyntheticStream`` of ``activity`` primed on ``context`` synthetic samples moved to ``level``."""
    from sdk.generator import SyntheticStream

    warm = SyntheticStream(generator, activity, seed)
    warm.prime(np.zeros((0, 3)))
    ctx = np.asarray([warm.next() for _ in range(context)])
    ctx = ctx - ctx.mean(axis=0) + np.asarray(level)
    stream = SyntheticStream(generator, activity, seed + 1)
    stream.prime(ctx)
    return stream


def synthesize_user(generator, schedule, placement: Placement, seed: int, options: GenerateOptions, tick=None):
    """One synthetic user's stream: ``(xyz (n, 3) float64 in g, labels (n,) int8)``.

    ``tick(k)`` is called after every ``k`` labelled samples (progress).
    """
    rate = generator.rate_hz
    rng = np.random.default_rng(seed)
    seeds = rng.integers(0, 2**31 - 2, size=len(schedule)) // 2 * 2  # even: warm-up seed s, stream s + 1
    lo, hi = options.transition_s
    trans = [int(round(rng.uniform(lo, hi) * rate)) for _ in schedule[1:]]
    context = max(2, int(round(options.context_s * rate)))
    xs, labels = [], []
    stream = _stream(generator, schedule[0].activity, placement.levels[schedule[0].activity], int(seeds[0]), context)
    for i, item in enumerate(schedule):
        n = int(round(item.seconds * rate))
        xs.append(np.asarray([stream.next() for _ in range(n)]))
        labels.append(np.full(n, ACTIVITIES.index(item.activity), np.int8))
        if tick:
            tick(n)
        if i + 1 < len(schedule):
            nxt = schedule[i + 1]
            incoming = _stream(generator, nxt.activity, placement.levels[nxt.activity], int(seeds[i + 1]), context)
            t = trans[i]
            w = 0.5 - 0.5 * np.cos(np.pi * (np.arange(t) + 0.5) / t)  # raised cosine, 0 -> 1
            a = np.asarray([stream.next() for _ in range(t)])
            b = np.asarray([incoming.next() for _ in range(t)])
            xs.append((1 - w)[:, None] * a + w[:, None] * b)
            labels.append(np.zeros(t, np.int8))
            stream = incoming
    return np.concatenate(xs), np.concatenate(labels)


# --- the dataset ------------------------------------------------------------------------------

def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def label_spans(labels: np.ndarray) -> list[tuple[int, int, int]]:
    """(activity, first, last) of every run of a non-zero label, 1-based inclusive (HAPT)."""
    edges = np.flatnonzero(np.diff(labels.astype(np.int64))) + 1
    starts = np.concatenate([[0], edges])
    ends = np.concatenate([edges, [len(labels)]])
    return [(int(labels[s]), int(s) + 1, int(e)) for s, e in zip(starts, ends) if labels[s] != 0]


def privacy_text(privacy: dict | None) -> str:
    """The model's differential-privacy record in plain words."""
    privacy = privacy or {}
    if not privacy.get("differential_privacy"):
        return (
            "No DP guarantee. The generator was trained on real people's recordings without differential privacy: "
            "nothing bounds what this synthetic data reveals about the people it was trained on. Treat it like a "
            "model of their data, not like anonymised data."
        )
    statement = privacy.get("statement") or (
        f"(ε = {privacy.get('epsilon')}, δ = {privacy.get('delta')})-differentially private with respect to "
        f"{privacy.get('adjacency', 'one training window')}."
    )
    return (
        statement
        + "\n- Synthetic data computed from a DP model is covered by the same guarantee (post-processing), except "
        "for the placement spread below, which is computed from the model's validation users, like its "
        "normalisation, and is not covered."
    )


def _privacy_json(privacy: dict | None) -> dict:
    privacy = privacy or {}
    if not privacy.get("differential_privacy"):
        return {"differential_privacy": False, "guarantee": "no DP guarantee"}
    keep = ("epsilon", "delta", "accountant", "adjacency", "neighbouring_relation", "window_samples", "window_seconds",
            "per_sample_epsilon", "per_sample_delta", "training_users", "max_windows_per_user", "secure_noise")
    return {"differential_privacy": True, "unit_of_privacy": privacy.get("adjacency"),
            **{k: privacy.get(k) for k in keep}}


@dataclass
class GeneratedDataset:
    """What ``generate_dataset`` wrote."""

    out_dir: Path
    files: list[Path]
    metadata: dict = field(default_factory=dict)

    def summary(self) -> dict:
        m = self.metadata
        return {
            "out": str(self.out_dir), "format": m["format"], "users": len(m["users"]), "files": len(self.files),
            "seconds_per_user": [u["seconds"] for u in m["users"]], "model": m["model"]["file"],
            "sha256": m["model"]["sha256"], "seed": m["seed"], "schedule": m["schedule"],
            "privacy": m["privacy"]["guarantee"] if "guarantee" in m["privacy"] else
            f"(ε = {m['privacy']['epsilon']:.3g}, δ = {m['privacy']['delta']:.1e})-DP per {m['privacy']['unit_of_privacy']}",
        }


def _write_user_hapt(raw: Path, exp: int, user: int, xyz: np.ndarray) -> Path:
    path = raw / f"acc_exp{exp:02d}_user{user:02d}.txt"
    np.savetxt(path, xyz, fmt="%.9g", delimiter=" ")
    return path


def _write_user_csv(out: Path, user: int, xyz: np.ndarray, labels: np.ndarray, rate: float) -> Path:
    path = out / f"user{user:02d}.csv"
    t = np.arange(len(xyz)) / rate
    table = np.column_stack([t, xyz, labels])
    np.savetxt(path, table, delimiter=",", header="t,ax,ay,az,label", comments="", fmt=["%.2f", "%.9g", "%.9g", "%.9g", "%d"])
    return path


def generate_dataset(
    model: str | Path | None,
    out_dir: str | Path,
    options: GenerateOptions,
    data: str | Path | None = None,
    progress: bool = True,
    generator=None,
    placement: PlacementModel | None = None,
) -> GeneratedDataset:
    """Write ``options.users`` synthetic users that follow ``options.schedule`` into ``out_dir``.

    Args:
        model: generator file written by ``sensegen export`` (``None``: the bundled model).
        out_dir: new or empty folder.
        options: schedule, users, seed, format, transitions.
        data: HAPT folder holding the model's training (or, for DP, validation) users, for the
            placement spread; default ``$SENSEGEN_HAPT_DIR``.
        progress: show a progress bar.
        generator / placement: an already loaded ``Generator`` / fitted ``PlacementModel``
            (to generate several datasets from one model without reloading).

    Raises:
        ScheduleError: the model cannot make a scheduled activity.
        DataError: ``out_dir`` is a non-empty folder or a file; missing placement data.
        ModelError: missing, corrupt or wrong model file.
    """
    from sdk.generator import Generator

    from .hapt import load_hapt

    out = Path(out_dir)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise DataError(f"output folder {out} exists and is not empty; choose a new folder")
    gen = generator if generator is not None else Generator(model)
    check_model_activities(gen, options.schedule)
    if placement is None:
        users, source = placement_source(gen.metadata)
        activities = [a for a in gen.activities if a != ACTIVITIES[0]]
        placement = placement_model(load_hapt(data, users=users), activities, users, source)
    missing = sorted({i.activity for i in options.schedule} - set(placement.reference_levels))
    if missing:
        raise ScheduleError(f"no placement for {', '.join(missing)}: users {placement.users} have no recording of it")

    per_user = sum(int(round(i.seconds * gen.rate_hz)) for i in options.schedule)
    out.mkdir(parents=True, exist_ok=True)
    try:
        return _write_dataset(gen, out, options, placement, per_user, progress)
    except BaseException:
        shutil.rmtree(out, ignore_errors=True)  # it was new or empty: leave no half-written dataset
        raise


def _write_dataset(gen, out: Path, options: GenerateOptions, placement: PlacementModel, per_user: int, progress: bool) -> GeneratedDataset:
    from tqdm.auto import tqdm

    rate = gen.rate_hz
    user_seqs = np.random.SeedSequence(options.seed).spawn(options.users)
    raw = out / "RawData" if options.format == "hapt" else out
    raw.mkdir(exist_ok=True)
    files, label_rows, user_meta = [], [], []
    bar = tqdm(total=per_user * options.users, desc="generate", unit=" labelled samples", disable=not progress, unit_scale=True)
    try:
        for k, seq in enumerate(user_seqs):
            user = exp = k + 1
            prng, srng = (np.random.default_rng(s) for s in seq.spawn(2))
            place = placement.draw(prng)
            user_seed = int(srng.integers(0, 2**31 - 1))
            xyz, labels = synthesize_user(gen, options.schedule, place, user_seed, options, tick=bar.update)
            if options.format == "hapt":
                files.append(_write_user_hapt(raw, exp, user, xyz))
                label_rows += [(exp, user, act, s, e) for act, s, e in label_spans(labels)]
            else:
                files.append(_write_user_csv(raw, user, xyz, labels, rate))
            user_meta.append({"user": user, "experiment": exp, "file": str(files[-1].relative_to(out)),
                              "samples": int(len(xyz)), "seconds": round(len(xyz) / rate, 2),
                              "transition_samples": int((labels == 0).sum()), "placement": place.to_dict()})
    finally:
        bar.close()
    if options.format == "hapt":
        np.savetxt(raw / "labels.txt", np.asarray(label_rows, np.int64).reshape(-1, 5), fmt="%d")
        files.append(raw / "labels.txt")
        (out / "activity_labels.txt").write_text("".join(f"{i} {a}\n" for i, a in enumerate(ACTIVITIES) if i > 0))
        files.append(out / "activity_labels.txt")

    meta = {
        "generator": "sensegen generate",
        "format": options.format,
        "rate_hz": rate,
        "units": "g",
        "axes": ["ax", "ay", "az"],
        "labels": {str(i): a for i, a in enumerate(ACTIVITIES)} | {"0": "unlabelled (transition between activities)"},
        "model": {"file": gen.path.name, "path": str(gen.path), "sha256": _sha256(gen.path),
                  "flatbuffer_sha256": gen.metadata.get("sha256"), "dtype": gen.metadata.get("dtype"),
                  "preset": gen.metadata.get("architecture", {}).get("preset"),
                  "training_split": (gen.metadata.get("training") or {}).get("split_users"),
                  "licence": gen.metadata.get("licence")},
        "schedule": format_schedule(options.schedule),
        "schedule_items": [{"activity": i.activity, "seconds": i.seconds} for i in options.schedule],
        "seed": options.seed,
        "transitions": {"seconds": list(options.transition_s), "label": 0,
                        "method": "raised-cosine crossfade from the outgoing activity's stream to the incoming one's"},
        "priming": {"context_seconds": options.context_s,
                    "method": "each activity's stream is primed on a short synthetic context of that activity moved to the user's level"},
        "placement_model": placement.to_dict(),
        "users": user_meta,
        "privacy": _privacy_json(gen.metadata.get("privacy")),
        "privacy_statement": privacy_text(gen.metadata.get("privacy")),
    }
    (out / METADATA_NAME).write_text(json.dumps(meta, indent=2, ensure_ascii=False) + "\n")
    (out / "README.txt").write_text(readme_text(meta), encoding="utf-8")
    files += [out / METADATA_NAME, out / "README.txt"]
    log.info("wrote %d synthetic users to %s", options.users, out)
    return GeneratedDataset(out, files, meta)


def readme_text(meta: dict) -> str:
    """The dataset's README.txt: what it is, how it was made, and its privacy status."""
    m = meta["model"]
    pm = meta["placement_model"]
    layout = (
        "RawData/acc_expXX_userYY.txt  x y z acceleration in g, one row per sample at 50 Hz (HAPT raw layout)\n"
        "RawData/labels.txt            experiment user activity first_sample last_sample (1-based, inclusive)\n"
        "activity_labels.txt           activity ids 1-6; samples not covered by labels.txt are unlabelled (0)"
        if meta["format"] == "hapt" else
        "userYY.csv                    t,ax,ay,az,label: seconds, acceleration in g, activity id (0 = transition)"
    )
    return f"""SYNTHETIC accelerometer data made by `sensegen generate` (SenseGen Privacy).
No row of this dataset was recorded from a person; every sample was sampled from a generator model.

Files
{layout}
generation.json               everything below, machine-readable, plus each user's placement

Privacy
{meta['privacy_statement']}

Made from
model:     {m['file']} ({m['dtype']}, preset {m['preset']})
sha256:    {m['sha256']} (whole file)
schedule:  {meta['schedule']} (seconds per activity, in order)
users:     {len(meta['users'])}; seed {meta['seed']} (same model + schedule + seed = same files)
rate:      {meta['rate_hz']:g} Hz, units g

How
- Each user is one continuous stream. Each activity is a SyntheticStream of the model conditioned on it, primed on
  {meta['priming']['context_seconds']:g} s of synthetic context of that activity at the user's level.
- Between two activities, a transition of {meta['transitions']['seconds'][0]:g}-{meta['transitions']['seconds'][1]:g} s (drawn per transition), labelled 0
  (unlabelled), crossfades the outgoing activity's stream into the incoming one's (raised cosine).
  It is not a model of real postural transitions (HAPT's labels 7-12).
- Placement: each user's gravity vector is the reference level of each activity rotated by a random tilt
  shared by all activities (rotation vector ~ N(0, {pm['tilt_sigma_deg']:.2f} deg per axis)), plus for an activity
  that varies more between people its own rotation ({', '.join(f"{a} {v:.1f} deg" for a, v in pm['activity_sigma_deg'].items() if v > 0) or 'none'}),
  and scaled by a log-normal factor (log-std {pm['log_gravity_scale_std']:.4f}), matching the spread of
  per-experiment mean levels of {len(pm['users'])} {pm['source']} ({pm['users']}) of the model's split.

Limits
- The generator is judged distinguishable from real data (see the project README): use this data to share
  or to augment, not as a stand-in for any real person.
- Licence: {m['licence']}
"""
