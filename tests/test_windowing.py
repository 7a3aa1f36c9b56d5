"""The one implementation of windows and runs (converter training/evaluation, demo app)."""
import numpy as np

from sdk.windowing import labelled_windows, runs


def test_runs_are_half_open_index_pairs_of_true():
    assert runs(np.array([0, 1, 1, 0, 1], bool)) == [(1, 3), (4, 5)]
    assert runs(np.ones(3, bool)) == [(0, 3)]
    assert runs(np.zeros(3, bool)) == [] and runs(np.empty(0, bool)) == []


def test_labelled_windows_have_majority_label_and_purity():
    xyz = np.arange(30, dtype=float).reshape(10, 3)
    labels = np.array([1, 1, 1, 2, 2, 2, 2, 0, 0, 0])
    w = labelled_windows(xyz, labels, length=4, hop=3, n_classes=3)
    assert w.start.tolist() == [0, 3, 6]
    assert w.label.tolist() == [1, 2, 0] and w.purity.tolist() == [0.75, 1.0, 0.75]
    np.testing.assert_array_equal(w.xyz[1], xyz[3:7])
    assert len(labelled_windows(xyz, labels, length=11, hop=1, n_classes=3).start) == 0
