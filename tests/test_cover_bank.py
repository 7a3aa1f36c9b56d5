"""The cover bank (personal cover): what enters it, noninterference with it, cold start,
no copying, bounded memory, persistence, and the filter's cover activity."""
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sdk.cover_bank import CoverBank, CoverBankError, CoverBankOptions
from sdk.decoys import DecoyOptions
from sdk.detector import DetectorSource
from sdk.filter import FilterOptions, PrivacyFilter, ReleasedBlock, filter_recording
from sdk.gait import Cadence, cadence
from sdk.generator import SyntheticStream
from sdk.policy import Policy
from sdk.sensitivity import PrivateSpans

from .conftest import count_predictions, stream_of

START = 8600  # exp05_user03 from here: walking 0-23 s and 33-54 s, then stairs from 108 s
SPANS = [(40.0, 47.0), (95.0, 101.0)]


@pytest.fixture(scope="module")
def walking(hapt_root):
    """128 s of a held-out user's stream with two walking bouts and stairs."""
    t, xyz = stream_of(hapt_root / "RawData" / "acc_exp05_user03.txt")
    t, xyz = t[START : START + 6400], xyz[START : START + 6400]
    return t - t[0], xyz


def inside(t, spans):
    m = np.zeros(len(t), bool)
    for a, b in spans:
        m |= (t >= a) & (t <= b)
    return m


def run_filter(generator, t, xyz, spans, block=25, **opts):
    f = PrivacyFilter(FilterOptions(seed=3, **opts), [PrivateSpans(spans)], generator=generator)
    blocks = [f.push_block(t[i : i + block], xyz[i : i + block]) for i in range(0, len(t), block)]
    blocks.append(f.flush())
    return f, blocks


def test_only_released_real_samples_enter_the_bank(generator, walking):
    t, xyz = walking
    f, blocks = run_filter(generator, t, xyz, SPANS)
    out_x = np.concatenate([b.xyz for b in blocks])
    out_r = np.concatenate([b.replaced for b in blocks])
    assert f.bank.samples > 1000, "the walking bouts should fill the bank"
    real_rows = {tuple(r) for r in out_x[~out_r & ~inside(t, SPANS)]}
    secret_rows = {tuple(r) for r in xyz[inside(t, SPANS)]}
    stored = np.concatenate(f.bank._runs)
    assert all(tuple(r) in real_rows for r in stored)
    assert not any(tuple(r) in secret_rows for r in stored)


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(noise_seed=st.integers(0, 2**31), scale=st.sampled_from([0.0, 1.0, 30.0]), walk=st.booleans())
def test_released_stream_with_bank_is_independent_of_sensitive_samples(generator, walking, noise_seed, scale, walk):
    t, xyz = walking
    m = inside(t, SPANS)
    altered = xyz.copy()
    if walk:  # the secret is real walking of the same person: tempting for a bank
        altered[m] = xyz[np.flatnonzero(~m)[: m.sum()]]
    else:
        altered[m] = np.random.default_rng(noise_seed).normal(size=(m.sum(), 3)) * scale
    f1, base = run_filter(generator, t, xyz, SPANS)
    f2, other = run_filter(generator, t, altered, SPANS)
    for a, b in zip(base, other):
        np.testing.assert_array_equal(a.xyz, b.xyz)
        np.testing.assert_array_equal(a.replaced, b.replaced)
    assert f1.bank.samples == f2.bank.samples > 0


def test_cold_start_matches_filter_without_bank(generator, walking):
    """A segment before any cover sample was released is generated as without a bank."""
    t, xyz = walking
    spans = [(3.0, 8.0)]  # inside the first walking bout: nothing is in the bank yet
    _, with_bank = run_filter(generator, t[:600], xyz[:600], spans)
    _, without = run_filter(generator, t[:600], xyz[:600], spans, cover_bank=None)
    np.testing.assert_array_equal(np.concatenate([b.xyz for b in with_bank]), np.concatenate([b.xyz for b in without]))


def test_bank_sets_the_owners_cadence(generator, walking):
    t, xyz = walking
    f, _ = run_filter(generator, t, xyz, SPANS)
    own = cadence(xyz[:1150])  # the first walking bout
    got = f.bank.cadence()
    assert got is not None and abs(got.step_hz - own.step_hz) < 0.1


def test_segments_do_not_replay_the_bank(generator, walking):
    """Generated windows are no closer to their nearest bank window than the same person's
    real walking windows are (a generator that replays the bank fails this)."""
    from converter.evaluation.tells import nearest_distances

    t, xyz = walking
    f, _ = run_filter(generator, t, xyz, SPANS)
    bank = np.concatenate(f.bank._runs)
    s = SyntheticStream(generator, "WALKING", seed=1, cadence=f.bank.cadence())
    s.prime(xyz[1590:1640], reference=f.bank.clip())
    fake = np.array([s.next() for _ in range(640)])
    real = xyz[1700:2340]  # second walking bout, not in the bank when it was generated... nor now
    d_fake, d_real = nearest_distances(fake, bank), nearest_distances(real, bank)
    assert np.median(d_fake) >= 0.8 * np.median(d_real)
    replay = bank[200:840]
    assert np.median(nearest_distances(replay, bank)) < 0.1 * np.median(d_real)


def test_bank_memory_is_bounded(detector, walking):
    t, xyz = walking
    bank = CoverBank("WALKING", 50.0, detector, CoverBankOptions(capacity_s=10.0))
    for i in range(0, len(t), 50):
        bank.add_released(t[i : i + 50], xyz[i : i + 50], np.ones(len(t[i : i + 50]), bool))
    assert 0 < bank.samples <= 500
    assert bank.nbytes <= 500 * 3 * 8


@pytest.mark.parametrize("block", [1, 50])
def test_continuous_walking_is_kept_as_one_clip_that_gives_the_level(detector, walking, block):
    """Side-by-side windows of one walk join into one run, so a clip of it exists (the bank
    once kept every 2.56 s window as its own run, too short for ``clip`` and ``level``)."""
    t, xyz = walking
    t, xyz = t[:1150], xyz[:1150]  # 23 s of walking
    bank = CoverBank("WALKING", 50.0, detector)
    for i in range(0, len(t), block):
        bank.add_released(t[i : i + block], xyz[i : i + block], np.ones(len(t[i : i + block]), bool))
    clip = bank.clip()
    assert bank.samples >= 384 and clip is not None and len(clip) == 250
    starts = np.flatnonzero((xyz == clip[0]).all(axis=1))
    assert any(np.array_equal(clip, xyz[a : a + 250]) for a in starts)  # one contiguous stretch of the walk
    context = xyz[1100:1150]
    np.testing.assert_allclose(bank.level(context), clip.mean(axis=0))
    assert bank.level(context + 0.5) is None  # the phone moved
    lean = np.array([0.0, 0.12, 0.12])  # 0.17 g: a stair's lean, the phone where it was
    np.testing.assert_allclose(bank.level(context + lean), clip.mean(axis=0))
    bank.options = CoverBankOptions(placement_tolerance_g=0.1)
    assert bank.level(context + lean) is None


def test_bank_ignores_synthetic_and_crossfaded_samples(detector, walking):
    t, xyz = walking
    bank = CoverBank("WALKING", 50.0, detector)
    bank.add_released(t[:1100], xyz[:1100], np.zeros(1100, bool))
    assert bank.samples == 0
    real = np.ones(1100, bool)
    real[::100] = False  # a non-real sample every 2 s: no window of 128 real samples
    bank.add_released(t[:1100], xyz[:1100], real)
    assert bank.samples == 0


def test_bank_save_load_round_trip_and_clear(detector, walking, tmp_path):
    t, xyz = walking
    bank = CoverBank("WALKING", 50.0, detector)
    bank.add_released(t[:1100], xyz[:1100], np.ones(1100, bool))
    assert bank.samples > 0
    bank.save(tmp_path / "bank.npz")
    other = CoverBank("WALKING", 50.0, detector)
    other.load(tmp_path / "bank.npz")
    np.testing.assert_array_equal(np.concatenate(other._runs), np.concatenate(bank._runs))
    other.clear()
    assert other.samples == 0 and other.clip() is None and other.cadence() is None


@pytest.mark.parametrize(
    "content, match",
    [(b"not a bank", "not a readable cover-bank file"), (None, "bank of SITTING")],
)
def test_corrupt_or_foreign_bank_file_is_refused_empty(detector, walking, tmp_path, content, match):
    t, xyz = walking
    path = tmp_path / "bank.npz"
    if content is None:
        foreign = CoverBank("SITTING", 50.0, detector)
        foreign.save(path)
    else:
        path.write_bytes(content)
    bank = CoverBank("WALKING", 50.0, detector)
    bank.add_released(t[:1100], xyz[:1100], np.ones(1100, bool))
    with pytest.raises(CoverBankError, match=match):
        bank.load(path)
    assert bank.samples == 0


def test_filter_with_corrupt_bank_file_starts_empty_and_saves_on_close(generator, walking, tmp_path):
    t, xyz = walking
    path = tmp_path / "bank.npz"
    path.write_bytes(b"garbage")
    f = PrivacyFilter(FilterOptions(cover_bank=CoverBankOptions(path=path)), [PrivateSpans(SPANS)], generator=generator)
    assert f.status.bank_samples == 0 and any("cover bank file refused" in m for m in f.status.faults)
    f.push_block(t, xyz)
    f.flush()
    f.close()
    g = PrivacyFilter(FilterOptions(cover_bank=CoverBankOptions(path=path)), generator=generator)
    assert g.status.bank_samples == f.bank.samples > 0
    g.clear_bank()
    assert g.status.bank_samples == 0 and not path.exists()


def test_filter_never_overwrites_another_covers_bank_file(generator, detector, walking, tmp_path):
    """A WALKING filter given a SITTING bank's file refuses it (a fault, an empty bank) and
    keeps its own bank in memory: the file is still the SITTING bank after close and clear."""
    t, xyz = walking
    path = tmp_path / "bank.npz"
    CoverBank("SITTING", 50.0, detector).save(path)
    before = path.read_bytes()
    f = PrivacyFilter(FilterOptions(cover_bank=CoverBankOptions(path=path)), [PrivateSpans(SPANS)], generator=generator)
    assert f.status.bank_samples == 0 and any("the file is left as it is" in m for m in f.status.faults)
    f.push_block(t, xyz)
    assert f.status.bank_samples > 0  # the walking is banked, in memory
    f.save_bank()
    f.clear_bank()
    f.close()
    assert path.read_bytes() == before
    CoverBank("SITTING", 50.0, detector).load(path)


def test_save_bank_writes_the_file_while_the_filter_runs_and_a_failed_write_is_a_fault(generator, walking, tmp_path):
    import shutil

    t, xyz = walking
    (tmp_path / "app").mkdir()
    path = tmp_path / "app" / "bank.npz"
    f = PrivacyFilter(FilterOptions(cover_bank=CoverBankOptions(path=path)), [PrivateSpans(SPANS)], generator=generator)
    f.push_block(t, xyz)
    f.save_bank()  # a paused phone app: the file is written, the filter keeps running
    g = PrivacyFilter(FilterOptions(cover_bank=CoverBankOptions(path=path)), generator=generator)
    assert g.status.bank_samples == f.status.bank_samples > 0
    f.push_block(t + t[-1] + 0.02, xyz)
    shutil.rmtree(tmp_path / "app")  # the app's folder is gone
    f.save_bank()
    assert any("could not save the cover bank" in m for m in f.status.faults)
    PrivacyFilter(FilterOptions(cover_bank=None), generator=generator).save_bank()  # no bank: nothing to do


def test_policy_cover_is_used_and_a_conflict_is_an_error(generator):
    src = DetectorSource(Policy(("WALKING_UPSTAIRS",), "SITTING"))
    assert PrivacyFilter(FilterOptions(), [src], generator=generator).cover == "SITTING"
    assert PrivacyFilter(FilterOptions(cover="sitting"), [src], generator=generator).cover == "SITTING"
    with pytest.raises(ValueError, match="conflicting cover activities"):
        PrivacyFilter(FilterOptions(cover="WALKING"), [src], generator=generator)


def test_policy_cover_reaches_the_generated_data(generator, walking):
    """A policy whose cover is SITTING gets still, sitting-like data, not walking."""
    t, xyz = walking
    pol = Policy(("WALKING",), "SITTING")
    out = filter_recording(t[:1200], xyz[:1200], FilterOptions(seed=1), [DetectorSource(pol)], generator=generator)
    replaced = out.xyz[out.replaced]
    assert len(replaced) > 250
    assert replaced[50:].std(axis=0).max() < 0.5 * xyz[:1150].std(axis=0).max()


def test_phase_clock_follows_the_cadence():
    from sdk.gait import PhaseClock, step_phase

    rows = PhaseClock(Cadence(1.7, 0.0), 50.0, seed=0).rows(500)
    psi = np.unwrap(np.arctan2(rows[:, 0], rows[:, 1]))
    assert abs((psi[-1] - psi[0]) / (2 * np.pi) / (499 / 50) - 1.7) < 1e-6
    sig = np.stack([1 + 0.3 * rows[:, 1], np.zeros(500), np.zeros(500)], axis=1)
    est = step_phase(sig)[0][100:400]
    assert np.abs(np.angle(np.exp(1j * (est - np.arctan2(rows[100:400, 0], rows[100:400, 1]))))).max() < 0.05


def test_bank_reads_the_detector_sources_results_instead_of_classifying_again(generator, detector, walking, monkeypatch):
    t, xyz = walking
    src = DetectorSource(Policy(("WALKING_UPSTAIRS",), "WALKING"), detector)
    calls = count_predictions(monkeypatch, detector)
    f = PrivacyFilter(FilterOptions(seed=1, decoys=DecoyOptions(rate=0)), [src], generator=generator)
    for i in range(0, len(t), 50):
        f.push_block(t[i : i + 50], xyz[i : i + 50])
    f.flush()
    assert f.bank.samples > 1000
    assert sum(calls) == src.windows_classified


@pytest.mark.parametrize("block", [1, 7, 50, 333])
def test_one_sample_pushes_equal_block_pushes_with_the_bank(generator, walking, block):
    """push() one sample at a time (its fast path) and push_block of any size release the
    same stream, across private spans, with the bank filling from the walking bouts (its
    windows tile each run of real samples from its start, whatever the blocks)."""
    t, xyz = walking
    t, xyz = t[:4000], xyz[:4000]
    spans = [(30.0, 34.0), (40.0, 47.0), (60.0, 60.5)]
    f = PrivacyFilter(FilterOptions(seed=3), [PrivateSpans(spans)], generator=generator)
    one = [f.push(ti, xi) for ti, xi in zip(t.tolist(), xyz.tolist())] + [f.flush()]
    g, blocks = run_filter(generator, t, xyz, spans, block=block)
    a, b = ReleasedBlock.concat(one), ReleasedBlock.concat(blocks)
    np.testing.assert_array_equal(a.t, t)
    np.testing.assert_array_equal(a.t, b.t)
    np.testing.assert_array_equal(a.xyz, b.xyz)
    np.testing.assert_array_equal(a.replaced, b.replaced)
    np.testing.assert_array_equal(a.replaced, inside(t, spans))
    assert f.bank.samples == g.bank.samples > 500
    for r1, r2 in zip(f.bank._runs, g.bank._runs, strict=True):
        np.testing.assert_array_equal(r1, r2)


def test_bank_content_does_not_depend_on_how_releases_are_cut(detector, walking):
    t, xyz = walking
    t, xyz = t[:3000], xyz[:3000]
    real = np.ones(len(t), bool)
    real[1300:1320] = False  # a crossfade or segment between two runs
    stored = []
    for sizes in ([1], [50], [7, 1, 130, 13], [3000]):
        bank = CoverBank("WALKING", 50.0, detector)
        i, k = 0, 0
        while i < len(t):
            n = sizes[k % len(sizes)]
            bank.add_released(t[i : i + n], xyz[i : i + n], real[i : i + n])
            i, k = i + n, k + 1
        assert bank.samples == sum(len(r) for r in bank._runs)  # reading the bank catches up first
        stored.append(np.concatenate(bank._runs) if bank._runs else np.empty((0, 3)))
    assert len(stored[0]) > 500
    for other in stored[1:]:
        np.testing.assert_array_equal(stored[0], other)


def test_a_gap_inside_a_released_block_ends_the_banks_run(detector, walking):
    """A window never spans a gap, whether the gap comes between blocks or inside one."""
    t, xyz = walking
    t, xyz = t[:1100].copy(), xyz[:1100]
    t[600:] += 5.0  # five seconds missing at sample 600
    one = CoverBank("WALKING", 50.0, detector)
    for i in range(len(t)):
        one.add_released(t[i : i + 1], xyz[i : i + 1], [True])
    block = CoverBank("WALKING", 50.0, detector)
    block.add_released(t, xyz, np.ones(len(t), bool))
    assert one.samples == block.samples > 0
    for r1, r2 in zip(one._runs, block._runs, strict=True):
        np.testing.assert_array_equal(r1, r2)
    assert not any(len(r) > 600 for r in block._runs)


def test_bank_content_does_not_depend_on_its_batch_size_or_one_sample_offers(detector, walking):
    """How many released samples the bank looks at per classification (``_batch``), and whether
    samples come one at a time as plain floats (``add_released_one``, the filter's one-sample
    release) or in arrays, changes nothing the bank holds."""
    t, xyz = walking
    t, xyz = t[:3000], xyz[:3000]
    real = np.ones(len(t), bool)
    real[1300:1320] = False
    stored = []
    for batch, one_at_a_time in ((None, False), (None, True), (25, True), (128, False), (512, True), (10**6, True)):
        bank = CoverBank("WALKING", 50.0, detector)
        if batch is not None:
            bank._batch = batch
        for i in range(len(t)):
            if one_at_a_time and real[i]:
                bank.add_released_one(float(t[i]), tuple(xyz[i].tolist()))
            else:
                bank.add_released(t[i : i + 1], xyz[i : i + 1], real[i : i + 1])
        assert bank.samples == sum(len(r) for r in bank._runs)
        stored.append(np.concatenate(bank._runs) if bank._runs else np.empty((0, 3)))
    assert len(stored[0]) > 500
    for other in stored[1:]:
        np.testing.assert_array_equal(stored[0], other)
