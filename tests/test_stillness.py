"""Population stillness fitted on the desktop (converter.stillness): the chunks it reads, the
model it packs, and that a phone drawing from it holds still like the people it was fitted on
and like people it never saw, where the generator's LSTM is 2-4x too loud."""
import io

import numpy as np
import pytest

from converter.stillness import fit_stillness, npz_bytes, stillness_chunks, stillness_member
from sdk.postures import PopulationStillness, detrend

FIT_USERS, HELD_OUT = [1, 2, 5, 10, 11], [12, 13]


@pytest.fixture(scope="module")
def data(hapt_root):
    from converter.hapt import load_hapt

    return load_hapt(hapt_root, users=FIT_USERS + HELD_OUT)


def median_chunk_std(chunks: np.ndarray) -> np.ndarray:
    return np.median(chunks.std(axis=1), axis=0)


def test_chunks_are_detrended_stillness_without_the_restless_ones(data):
    chunks = stillness_chunks(data.for_users(FIT_USERS), "SITTING", 128)
    assert chunks.ndim == 3 and chunks.shape[1:] == (128, 3) and len(chunks) > 50
    np.testing.assert_allclose(chunks, np.stack([detrend(c) for c in chunks]), atol=1e-12)
    rms = np.sqrt((chunks**2).mean(axis=(1, 2)))
    assert rms.max() <= 3 * np.median(rms) * 1.5  # the restless ones are out (3x the median of all)
    assert 0.001 < np.median(chunks.std(axis=1)) < 0.02  # g: stillness, not movement


@pytest.mark.parametrize("posture", ["SITTING", "STANDING", "LAYING"])
def test_drawn_stillness_is_as_still_as_people_holding_the_posture(data, posture):
    """Chunks drawn from the model fitted on five people: per-axis within-chunk spread and
    sample-to-sample roughness within 1.3x of theirs (the LSTM's stillness is 2-4x rougher), and
    within 1.7x of two people it never saw (people differ: one of them lies 1.5x as restless as
    the five)."""
    fitted = stillness_chunks(data.for_users(FIT_USERS), posture, 128)
    unseen = stillness_chunks(data.for_users(HELD_OUT), posture, 128)
    weights, factors = fit_stillness(fitted)
    assert factors.shape == (8, 65, 3, 3) and np.isclose(weights.sum(), 1.0)
    model = PopulationStillness(weights, factors, 50.0)
    rng = np.random.default_rng(0)
    drawn = np.stack([model.new_chunk(rng) for _ in range(400)])
    for real, within in ((fitted, 1.3), (unseen, 1.7)):
        ratio = median_chunk_std(drawn) / median_chunk_std(real)
        assert np.all((ratio > 1 / within) & (ratio < within)), (posture, ratio)
        rough = np.median(np.abs(np.diff(drawn, axis=1)).mean(axis=1), axis=0) / np.median(np.abs(np.diff(real, axis=1)).mean(axis=1), axis=0)
        assert np.all((rough > 1 / within) & (rough < within)), (posture, rough)


def test_member_is_the_same_bytes_for_the_same_data_and_reads_back(data):
    a, held = stillness_member(data.for_users(FIT_USERS), activities=("SITTING", "LAYING"))
    b, _ = stillness_member(data.for_users(FIT_USERS), activities=("SITTING", "LAYING"))
    assert a == b and held == ["SITTING", "LAYING"]
    with np.load(io.BytesIO(a), allow_pickle=False) as z:
        assert sorted(z.files) == sorted(f"{p}/{k}" for p in held for k in ("weights", "factors_re", "factors_im"))
    model = PopulationStillness.from_member(a, "sitting", 50.0)
    assert model is not None and model.chunk == 128
    assert PopulationStillness.from_member(a, "STANDING", 50.0) is None  # not fitted: none
    assert npz_bytes({"x": np.arange(3)}) == npz_bytes({"x": np.arange(3)})


def test_too_few_chunks_fit_nothing(data):
    with pytest.raises(ValueError, match="at least 16 chunks"):
        fit_stillness(np.zeros((10, 128, 3)))
    one_user = data.for_users([1])
    member, held = stillness_member(one_user, activities=("SITTING",), clusters=40)
    assert held == [] and PopulationStillness.from_member(member, "SITTING", 50.0) is None
