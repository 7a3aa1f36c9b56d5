"""Posture texture (sdk.postures): a static cover drawn from the owner's own stillness in the
cover bank: the surrogate keeps spectra and cross-spectra, the stream keeps the owner's
spread without copying the bank, and through the filter it is noninterfering and fails
closed."""
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sdk.cover_bank import CoverBank, CoverBankOptions
from sdk.filter import FilterOptions, PrivacyFilter
from sdk.errors import ModelError
from sdk.postures import PopulationStillness, PostureModel, PostureOptions, PostureStream, detrend, surrogate
from sdk.sensitivity import PrivateSpans

#: validation user 1, recording 1: sitting 27.8-43.9 s and 94.7-113.3 s (HAPT labels)
FIRST_SIT, SECOND_SIT = slice(1392, 2194), slice(4735, 5667)
SPAN = (100.0, 108.0)  # inside the second sitting bout, after the first filled the bank


@pytest.fixture(scope="module")
def recording(hapt_root):
    from converter.evaluation.streams import Stream
    from converter.hapt import load_hapt

    e = load_hapt(hapt_root, users=[1]).experiments[0]
    assert e.exp == 1
    s = Stream.from_experiment(e)
    return s.t, s.xyz


@pytest.fixture(scope="module")
def validation_postures(hapt_root):
    """(bank, real) per static run of the validation users (1 and 5): a run's first half and
    its second half, for the three postures."""
    from converter.evaluation.streams import Stream, label_mask, segments
    from converter.hapt import load_hapt

    out = []
    for e in load_hapt(hapt_root, users=[1, 5]).experiments:
        s = Stream.from_experiment(e)
        for cover in ("SITTING", "STANDING", "LAYING"):
            for a, b in segments(label_mask(s, [cover])):
                run = s.xyz[a:b]
                out.append((cover, run[: len(run) // 2], run[len(run) // 2 :]))
    return out


def draw(model, context, n, seed=1):
    s = PostureStream(model, seed)
    s.prime(context)
    return np.concatenate([s.take(7) for _ in range(n // 7 + 1)])[:n]


def window_std(x):
    """Per-axis std within each 2.56 s window (hop 0.64 s), median over windows."""
    w = np.lib.stride_tricks.sliding_window_view(x, 128, axis=0)[::32]
    return np.median(w.std(axis=2), axis=0)


def run_filter(generator, t, xyz, spans, block=25, seed=3, population_stillness=True, cover="SITTING", **bank):
    opts = FilterOptions(seed=seed, cover=cover, cover_bank=CoverBankOptions(**bank), population_stillness=population_stillness)
    f = PrivacyFilter(opts, [PrivateSpans(spans)], generator=generator)
    out = [f.push_block(t[i : i + block], xyz[i : i + block]) for i in range(0, len(t), block)] + [f.flush()]
    return f, np.concatenate([b.xyz for b in out]), np.concatenate([b.replaced for b in out])


def test_surrogate_keeps_spectra_and_cross_spectra_with_new_phases():
    rng = np.random.default_rng(0)
    x = np.cumsum(rng.standard_normal((128, 3)), axis=0) @ np.array([[1, 0.5, 0], [0, 1, 0.3], [0, 0, 1]])
    x = detrend(x)
    y = surrogate(x, np.random.default_rng(1))
    X, Y = np.fft.rfft(x, axis=0), np.fft.rfft(y, axis=0)
    np.testing.assert_allclose(np.abs(Y[1:]), np.abs(X[1:]), rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(Y[1:, 0] * Y[1:, 1].conj(), X[1:, 0] * X[1:, 1].conj(), rtol=1e-8, atol=1e-8)
    assert abs(y.mean(axis=0)).max() < 1e-12
    assert np.corrcoef(x[:, 0], y[:, 0])[0, 1] < 0.9  # a new waveform


def test_detrend_removes_the_line():
    u = np.arange(100.0)
    x = np.stack([2 + 0.01 * u, -1 - 0.02 * u, np.sin(u)], axis=1)
    d = detrend(x)
    np.testing.assert_allclose(d[:, :2], 0, atol=1e-12)


def test_too_little_stillness_gives_no_model(recording, detector):
    xyz = recording[1]
    assert PostureModel.fit([xyz[FIRST_SIT][:300]], 50.0) is None  # 6 s < min_s
    assert PostureModel.fit([xyz[FIRST_SIT]], 50.0) is not None
    walking = CoverBank("WALKING", 50.0, detector)
    assert walking.posture_model() is None  # a walking cover never uses posture texture


def test_model_draws_on_the_banks_most_recent_stillness():
    """With ``recent_s`` only the latest seconds of the bank are used: an older, louder bout
    is left out."""
    rng = np.random.default_rng(0)
    old, new = rng.normal(0, 0.05, (1500, 3)), rng.normal(0, 0.005, (1500, 3))
    recent = PostureModel.fit([old, new], 50.0, PostureOptions(recent_s=20.0))
    whole = PostureModel.fit([old, new], 50.0, PostureOptions(recent_s=None))
    assert len(recent.chunks) == 1000 // 128
    assert max(float(c.std()) for c in recent.chunks) < 0.01
    assert len(whole.chunks) > len(recent.chunks)


def test_options_are_checked():
    with pytest.raises(ValueError, match="chunk_s > 2"):
        PostureOptions(chunk_s=0.8, overlap_s=0.5)
    with pytest.raises(ValueError, match="max_rms_ratio"):
        PostureOptions(max_rms_ratio=0.5)
    with pytest.raises(ValueError, match="level_s"):
        PostureOptions(level_s=0.0)


def test_level_is_where_the_context_has_settled(recording):
    """A context that ends a transition (still tilting over its last half second, then
    settled for 0.1 s) sets the segment's level to the settled value, not to the mean of
    the tilt: the judges read a posture's level to the milli-g."""
    model = PostureModel.fit([recording[1][FIRST_SIT]], 50.0)
    settled = np.array([0.97, 0.12, 0.20])
    tilt = np.linspace([0.80, 0.40, 0.45], settled, 45)
    ctx = np.vstack([tilt, settled + np.random.default_rng(0).normal(0, 0.002, (5, 3))])
    out = draw(model, ctx, 500)
    assert np.all(np.abs(out[50:].mean(axis=0) - settled) < 0.004), out[50:].mean(axis=0)
    assert np.all(np.abs(out[0] - ctx[-1]) < 1e-9)  # still continuous with the context


def test_stream_is_deterministic_per_seed(recording):
    xyz = recording[1]
    model = PostureModel.fit([xyz[FIRST_SIT]], 50.0)
    ctx = xyz[4700:4750]
    np.testing.assert_array_equal(draw(model, ctx, 400, seed=5), draw(model, ctx, 400, seed=5))
    assert not np.allclose(draw(model, ctx, 400, seed=5), draw(model, ctx, 400, seed=6))
    first = draw(model, ctx, 1)[0]
    assert np.all(np.abs(first - ctx[-1]) < 1e-9)  # it starts where the context ends


def test_stream_keeps_the_owners_spread(validation_postures):
    """Stillness drawn from a static run's first half has the within-window spread of that
    half and of the run's real second half: per axis within 1.3x (issue 9's target), median
    over the validation users' runs of the three postures (a person's two halves differ by
    up to 4x in a run; the generator is 2-3x off on the same runs)."""
    to_bank, to_real = [], []
    for _, bank, real in validation_postures:
        model = PostureModel.fit([bank], 50.0, PostureOptions(min_s=5.0))
        if model is None or len(real) < 256:
            continue
        spread = window_std(draw(model, bank[-50:], len(real)))
        to_bank.append(spread / window_std(bank))
        to_real.append(spread / window_std(real))
    assert len(to_bank) >= 12
    for med in (np.median(to_bank, axis=0), np.median(to_real, axis=0)):
        assert np.all((med >= 1 / 1.3) & (med <= 1.3)), med


def test_stream_does_not_replay_the_bank(validation_postures):
    """Synthetic windows are no closer to their nearest bank window than 0.8x the owner's
    real continuation is; a replay of the bank scores about 0."""
    from converter.evaluation.tells import nearest_distances

    d_real, d_fake = [], []
    for _, bank, real in validation_postures:
        model = PostureModel.fit([bank], 50.0, PostureOptions(min_s=5.0))
        if model is None or len(real) < 256:
            continue
        fake = draw(model, bank[-50:], len(real))
        centred = bank - bank.mean(axis=0)  # every one about its own level: the distance reads the texture
        d_real.append(nearest_distances(real - real.mean(axis=0), centred))
        d_fake.append(nearest_distances(fake - fake.mean(axis=0), centred))
    real, fake = (float(np.median(np.concatenate(d))) for d in (d_real, d_fake))
    assert fake >= 0.8 * real, (fake, real)
    bank = validation_postures[0][1]
    assert np.median(nearest_distances(bank[:300], bank)) < 0.1 * real  # the measure sees a replay


def test_filter_draws_a_static_cover_from_the_owners_stillness(generator, recording):
    t, xyz = recording
    f, out, rep = run_filter(generator, t, xyz, [SPAN])
    assert f.status.posture_segments == f.status.segments == 1
    assert f.status.stride_segments == 0
    g, out_gen, rep_gen = run_filter(generator, t, xyz, [SPAN], postures=None, population_stillness=False)
    assert g.status.posture_segments == g.status.population_stillness_segments == 0
    np.testing.assert_array_equal(rep, rep_gen)
    inside = (t >= SPAN[0] + 0.5) & (t <= SPAN[1])
    assert rep[inside].all()
    # the owner's stillness, not louder (median over seeds: a segment draws a few chunks of
    # the bank, and the bank holds one restless stretch); the generator is too loud here
    real = window_std(xyz[SECOND_SIT])
    spread = np.median([window_std(run_filter(generator, t, xyz, [SPAN], seed=k)[1][inside]) for k in range(5)], axis=0)
    assert np.all(spread <= 1.3 * real), (spread, real)
    assert not np.all(window_std(out_gen[inside]) <= 1.3 * real)
    rows = {tuple(r) for r in xyz[inside]}
    assert not any(tuple(r) in rows for r in out[inside])  # no real sensitive sample


def test_posture_segment_is_independent_of_sensitive_samples(generator, recording):
    t, xyz = recording
    inside = (t >= SPAN[0]) & (t <= SPAN[1])
    altered = xyz.copy()
    altered[inside] = xyz[FIRST_SIT][: inside.sum()]  # the secret is the owner's own sitting
    f, a, _ = run_filter(generator, t, xyz, [SPAN])
    _, b, _ = run_filter(generator, t, altered, [SPAN])
    assert f.status.posture_segments == 1
    np.testing.assert_array_equal(a, b)


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(start=st.floats(96.0, 104.0), length=st.floats(1.0, 8.0), noise_seed=st.integers(0, 2**31), scale=st.sampled_from([0.0, 1.0, 30.0]), own=st.booleans())
def test_released_stream_with_posture_texture_is_independent_of_sensitive_samples(generator, recording, start, length, noise_seed, scale, own):
    """Whatever happens inside a private span of the second sitting bout (noise of any size, or
    the owner's own sitting), the released stream is bit-identical, bank and texture included."""
    t, xyz = recording
    spans = [(start, start + length)]
    m = (t >= start) & (t <= start + length)
    altered = xyz.copy()
    altered[m] = xyz[FIRST_SIT][: m.sum()] if own else np.random.default_rng(noise_seed).normal(size=(m.sum(), 3)) * scale
    f, a, _ = run_filter(generator, t, xyz, spans)
    g, b, _ = run_filter(generator, t, altered, spans)
    assert f.status.posture_segments == 1
    np.testing.assert_array_equal(a, b)
    assert f.bank.samples == g.bank.samples


# --- population stillness: the static covers before the bank holds the owner's --------------

EARLY = (30.0, 38.0)  # inside the first sitting bout: the bank holds less than 10 s of sitting


def test_population_stillness_draws_its_cross_spectral_density():
    """Chunks drawn from two clusters (shares 0.25, 0.75) have, on average, the mixture of the
    clusters' cross-spectral densities A A^H: per-axis power and the axes' cross terms."""
    rng = np.random.default_rng(0)
    f = 65
    factors = (rng.standard_normal((2, f, 3, 3)) + 1j * rng.standard_normal((2, f, 3, 3))) * 0.01
    factors[1] *= 3
    model = PopulationStillness(np.array([1.0, 3.0]), factors, 50.0)
    assert model.chunk == 128
    draws = np.stack([model.new_chunk(rng) for _ in range(4000)])
    assert draws.shape == (4000, 128, 3) and abs(draws.mean(axis=1)).max() < 1e-12
    spec = np.fft.rfft(draws, axis=1)
    got = np.einsum("nfa,nfb->fab", spec, spec.conj()) / len(draws)
    want = 0.25 * np.einsum("fab,fcb->fac", factors[0], factors[0].conj()) + 0.75 * np.einsum("fab,fcb->fac", factors[1], factors[1].conj())
    inner = slice(1, f - 1)
    scale = np.abs(want[inner]).mean()
    assert np.abs(got[inner] - want[inner]).mean() < 0.1 * scale  # sampling error of 4000 draws
    np.testing.assert_allclose(np.real(np.einsum("faa->f", got[inner])), np.real(np.einsum("faa->f", want[inner])), rtol=0.25)
    nyquist = np.real(np.einsum("aa->", got[-1])) / np.real(np.einsum("aa->", want[-1]))
    assert 0.8 < nyquist < 1.25 and np.abs(spec[:, -1].imag).max() < 1e-12


def test_population_stillness_refuses_what_is_not_a_model():
    ok = np.ones((2, 65, 3, 3), complex)
    with pytest.raises(ModelError, match="weights"):
        PopulationStillness(np.ones(3), ok, 50.0)
    with pytest.raises(ModelError, match="non-finite or negative"):
        PopulationStillness(np.array([1.0, -1.0]), ok, 50.0)
    bad = ok.copy()
    bad[0, 3, 1, 1] = np.nan
    with pytest.raises(ModelError, match="non-finite"):
        PopulationStillness(np.ones(2), bad, 50.0)
    with pytest.raises(ModelError, match="unreadable"):
        PopulationStillness.from_member(b"not a zip", "SITTING", 50.0)


def test_bundled_generator_carries_population_stillness_of_the_static_postures(generator):
    for cover in ("SITTING", "STANDING", "LAYING"):
        model = generator.population_stillness(cover)
        assert model is not None and model.chunk == 128 and model.factors.shape[2:] == (3, 3)
        assert generator.population_stillness(cover, PostureOptions(level_s=0.2)).options.level_s == 0.2
    assert generator.population_stillness("WALKING") is None
    users = generator.metadata["stillness"]["calibrated_on_users"]
    assert not set(users) & set(generator.metadata["training"]["split_users"]["test"])


def test_filter_draws_an_early_static_cover_from_population_stillness(generator, recording):
    """Before the bank holds 10 s of the owner's sitting, a sitting segment is the generator
    file's population stillness: about as still as the owner's sitting around it (a population
    model does not know this owner, who sits more still than most: 1.3-1.5x here), where the
    LSTM's stillness is 3-4x too loud; with the option off, the LSTM."""
    t, xyz = recording
    f, out, rep = run_filter(generator, t, xyz, [EARLY])
    assert f.status.population_stillness_segments == f.status.segments == 1 and f.status.posture_segments == 0
    g, _, _ = run_filter(generator, t, xyz, [EARLY], population_stillness=False)
    assert g.status.population_stillness_segments == 0 and g.status.segments == 1
    inside = (t >= EARLY[0] + 0.5) & (t <= EARLY[1])
    assert rep[inside].all()
    real = window_std(xyz[FIRST_SIT])
    spread = np.median([window_std(run_filter(generator, t, xyz, [EARLY], seed=k)[1][inside]) for k in range(5)], axis=0)
    assert np.all(spread <= 1.7 * real) and np.all(spread >= real / 1.7), (spread, real)
    lstm = np.median([window_std(run_filter(generator, t, xyz, [EARLY], seed=k, population_stillness=False)[1][inside]) for k in range(5)], axis=0)
    assert np.all(lstm >= 1.7 * spread), (lstm, spread)
    rows = {tuple(r) for r in xyz[inside]}
    assert not any(tuple(r) in rows for r in out[inside])  # no real sensitive sample
    # bank off (population cover): the same population stillness
    h = PrivacyFilter(FilterOptions(seed=3, cover="SITTING", cover_bank=None), [PrivateSpans([EARLY])], generator=generator)
    h.push_block(t, xyz)
    h.flush()
    assert h.status.population_stillness_segments == 1


@settings(max_examples=5, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(start=st.floats(29.0, 33.0), length=st.floats(1.0, 6.0), noise_seed=st.integers(0, 2**31), scale=st.sampled_from([0.0, 1.0, 30.0]))
def test_released_stream_with_population_stillness_is_independent_of_sensitive_samples(generator, recording, start, length, noise_seed, scale):
    t, xyz = recording
    spans = [(start, start + length)]
    m = (t >= start) & (t <= start + length)
    altered = xyz.copy()
    altered[m] = np.random.default_rng(noise_seed).normal(size=(m.sum(), 3)) * scale
    f, a, _ = run_filter(generator, t, xyz, spans)
    _, b, _ = run_filter(generator, t, altered, spans)
    assert f.status.population_stillness_segments == 1
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("source, span", [("owner", SPAN), ("population", EARLY)])
def test_failing_stillness_draw_fails_closed(generator, recording, monkeypatch, source, span):
    """The owner's stillness (second bout) or the population's (first bout) failing mid-draw:
    the segment holds the last value released before it."""
    t, xyz = recording

    def broken(self, rng):
        raise RuntimeError(f"{source} draw failed")

    monkeypatch.setattr(PostureModel if source == "owner" else PopulationStillness, "new_chunk", broken)
    f, out, rep = run_filter(generator, t, xyz, [span])
    assert (f.status.posture_segments, f.status.population_stillness_segments) == ((1, 0) if source == "owner" else (0, 1))
    inside = (t >= span[0]) & (t <= span[1])
    assert rep[inside].all()
    # the segment holds the last value released before it (still sitting repeats the
    # sensor's quantised values, so a real row may equal it by chance: not a leak)
    before = np.flatnonzero(inside)[0] - 1
    np.testing.assert_array_equal(out[inside], np.broadcast_to(out[before], out[inside].shape))
    assert any(f"{source} draw failed" in m for m in f.status.faults)
