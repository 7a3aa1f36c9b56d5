"""The decoy trade-off measurement (converter.evaluation.decoys)."""
import numpy as np
import pytest

from converter.evaluation.decoys import BIN_NAMES, length_bin, posterior_table, replaced_runs


@pytest.mark.parametrize("length, name", [(0.1, "0-5 s"), (4.99, "0-5 s"), (5.0, "5-10 s"), (19.9, "10-20 s"), (20.0, "20+ s"), (300, "20+ s")])
def test_length_bins_follow_the_design_note(length, name):
    assert length_bin(length) == name


def test_replaced_runs_tell_policy_segments_from_decoys_and_true_activity():
    replaced = np.zeros(1000, bool)
    policy = np.zeros(1000, bool)
    sensitive = np.zeros(1000, bool)
    replaced[100:400] = True  # a policy segment of 6 s over a real stair flight
    policy[100:400] = True
    sensitive[150:500] = True
    replaced[600:700] = True  # a decoy of 2 s
    replaced[800:850] = True  # a policy false positive of 1 s
    policy[800:850] = True
    runs = replaced_runs(replaced, policy, sensitive, 50.0)
    assert [(r["start"], r["end"], r["length_s"], r["policy"], r["true"]) for r in runs] == [
        (100, 400, 6.0, True, True), (600, 700, 2.0, False, False), (800, 850, 1.0, True, False)]
    table = posterior_table(runs)
    assert table["pooled"]["posterior_policy"] == pytest.approx(2 / 3)
    assert table["pooled"]["posterior_true"] == pytest.approx(1 / 3)
    assert table["bins"]["0-5 s"] == {"segments": 2, "policy": 1, "decoys": 1, "true": 0, "posterior_policy": 0.5, "posterior_true": 0.0,
                                      "policy_s": 1.0, "decoy_s": 2.0}
    assert table["bins"]["5-10 s"]["posterior_policy"] == 1.0
    assert table["bins"]["20+ s"]["segments"] == 0 and np.isnan(table["bins"]["20+ s"]["posterior_policy"])
    assert table["worst_bin_policy"] == 1.0 and table["worst_bin_true"] == 1.0
    spotted = posterior_table(runs, spotted=[False, True, True])
    assert spotted["pooled"]["segments"] == 2 and spotted["worst_bin_policy"] == 0.5
    assert set(table["bins"]) == set(BIN_NAMES)


@pytest.mark.slow
def test_decoy_tradeoff_on_a_held_out_user(hapt_root):
    from converter.evaluate import EvaluationConfig, reference_classifiers
    from converter.evaluation.decoys import decoy_tradeoff
    from converter.evaluation.streams import Stream
    from converter.hapt import load_hapt
    from sdk.detector import ActivityDetector
    from sdk.generator import Generator
    from sdk.policy import Policy

    ds = load_hapt(hapt_root, users=[1, 2, 3])
    streams = [Stream.from_experiment(e) for e in ds.for_users([3]).experiments]
    reference = [Stream.from_experiment(e) for e in ds.for_users([1, 2]).experiments]
    policy = Policy(("WALKING_UPSTAIRS",), "WALKING")
    classifiers = reference_classifiers(reference, policy, EvaluationConfig(users=(3,)))
    res = decoy_tradeoff(streams, Generator(), ActivityDetector(), classifiers, policy, rates=(0.0, 0.5), progress=False)
    off, on = res["rates"]["0"], res["rates"]["0.5"]
    assert off["decoys"] == 0 and off["perfect"]["segment"]["pooled"]["posterior_policy"] == 1.0
    assert off["perfect"]["sample"]["posterior_policy"] == 1.0
    assert on["decoys"] >= 2 and on["cover_replaced_by_decoys"] > 0.1
    assert on["perfect"]["segment"]["pooled"]["posterior_policy"] < 1.0
    assert on["targets"]["utility_ratio"]["target"] == ">= 0.95" and "extra_cpu" in on


def test_structural_limit_counts_what_a_posterior_of_one_half_needs():
    """Per bin, <= 0.5 needs as many decoys as policy segments (as much decoy time, lengths
    matched); the best any length rule reaches with a budget is 1 / (1 + budget / policy
    time); the projection scales the measured decoys per bin by k."""
    from converter.evaluation.decoys import structural_limit

    def runs(policy_lengths, decoy_lengths):
        return [{"start": 0, "end": 1, "length_s": v, "policy": True, "true": v >= 10} for v in policy_lengths] + [
            {"start": 0, "end": 1, "length_s": v, "policy": False, "true": False} for v in decoy_lengths]

    p = [4.0, 4.0, 6.0, 15.0]
    res = {"cover_s": 100.0, "rates": {
        "0": {"decoy_s": 0.0, "decoys": 0, "perfect": {"segment": posterior_table(runs(p, [])), "per_seed": [{}]}},
        "0.1": {"decoy_s": 8.0, "decoys": 2, "perfect": {"segment": posterior_table(runs(p, [4.0, 4.0])), "per_seed": [{}]}},
    }}
    lim = structural_limit(res, walking=(1.0, 3.0))
    assert lim["needed"]["0-5 s"] == {"policy_segments": 2, "policy_s": 8.0, "decoys_needed": 2, "decoy_s_needed": 8.0,
                                      "share_of_cover_time": 0.08, "rate_needed": pytest.approx(0.1)}
    assert lim["needed"]["all bins"]["decoy_s_needed"] == 29.0 and lim["decoy_s_per_unit_rate"] == pytest.approx(80.0)
    assert lim["best_worst_bin"]["0.1"] == pytest.approx(1 / (1 + 8 / 29)) and lim["best_worst_bin"]["0"] == 1.0
    proj = lim["projection"]["0.1"]
    assert proj["1"]["0-5 s"] == 0.5 and proj["3"]["0-5 s"] == pytest.approx(2 / 8) and proj["3"]["10-20 s"] == 1.0
    assert proj["3"]["worst"] == 1.0 and proj["3"]["pooled"] == pytest.approx(4 / 10)
    assert proj["3"]["matched_lengths"] == pytest.approx(1 / (1 + 3 * 8 / 29))
