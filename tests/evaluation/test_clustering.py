"""Clustering accuracy, assignment, confusion matrix and cluster fractions, by hand."""

import itertools

import numpy as np
import pandas as pd
import pytest

from grapa.evaluation import (
    MassKMeans,
    cluster_assignment,
    cluster_fractions,
    clustering_accuracy,
    confusion_matrix,
)

# Contingency (rows = classes 0, 1, 2; columns = clusters 0, 1, 2):
#   class 0: [0, 1, 2]   class 1: [2, 0, 0]   class 2: [1, 0, 0]
# Cluster 0 can serve class 1 (2 jets) or class 2 (1 jet); cluster 2 serves class 0 (2).
# Best: 2 -> 0 (2 jets), 0 -> 1 (2 jets), 1 -> 2 (0 jets) = 4 of 6.
# The next best, 0 -> 2 instead, gives 2 + 1 + 0 = 3.
TRUE = [0, 0, 0, 1, 1, 2]
PREDICTED = [2, 2, 1, 0, 0, 0]


def test_hand_worked_three_classes():
    assert clustering_accuracy(TRUE, PREDICTED) == pytest.approx(4 / 6)
    assert cluster_assignment(TRUE, PREDICTED) == {0: 1, 1: 2, 2: 0}


def test_permutation_of_labels_is_perfect():
    true = np.array([0, 1, 2, 2, 1, 0, 3, 3])
    relabel = {0: 7, 1: -3, 2: 12, 3: 0}
    predicted = [relabel[label] for label in true]
    assert clustering_accuracy(true, predicted) == 1.0
    assert cluster_assignment(true, predicted) == {7: 0, -3: 1, 12: 2, 0: 3}


def test_string_labels():
    true = ["qcd", "qcd", "top", "top", "w"]
    predicted = ["b", "b", "a", "c", "c"]
    # b -> qcd (2), then a -> top and c -> w, or c -> top and a -> w: 1 each = 4 of 5.
    assert clustering_accuracy(true, predicted) == pytest.approx(4 / 5)
    assignment = cluster_assignment(true, predicted)
    assert assignment["b"] == "qcd"
    assert {assignment["a"], assignment["c"]} == {"top", "w"}
    assert all(type(label) is str for pair in assignment.items() for label in pair)


def test_more_clusters_than_classes():
    # Class 0 split over clusters 10 and 11, class 1 in cluster 12: cluster 11 (1 jet)
    # is left without a class, so its jet counts as wrong.
    true = [0, 0, 0, 1, 1]
    predicted = [10, 10, 11, 12, 12]
    assert clustering_accuracy(true, predicted) == pytest.approx(4 / 5)
    assert cluster_assignment(true, predicted) == {10: 0, 11: None, 12: 1}


def test_fewer_clusters_than_classes():
    # One cluster holds everything: only its best class (1, 3 jets) is right.
    true = [0, 1, 1, 1, 2]
    assert clustering_accuracy(true, [5] * 5) == pytest.approx(3 / 5)
    assert cluster_assignment(true, [5] * 5) == {5: 1}


def _brute_force_accuracy(true, predicted):
    """Best accuracy over every injective map of clusters to classes (or to nothing)."""
    classes, clusters = sorted(set(true)), sorted(set(predicted))
    # Padding the classes with "nothing" entries lets clusters outnumber classes.
    targets = classes + [None] * len(clusters)
    best = 0
    for image in itertools.permutations(targets, len(clusters)):
        mapping = dict(zip(clusters, image))
        best = max(best, sum(mapping[p] == t for t, p in zip(true, predicted)))
    return best / len(true)


@pytest.mark.parametrize("seed", range(12))
def test_hungarian_agrees_with_brute_force(seed):
    rng = np.random.default_rng(seed)
    n_classes, n_clusters = rng.integers(1, 5, size=2)
    true = rng.integers(0, n_classes, size=rng.integers(1, 25)).tolist()
    predicted = rng.integers(0, n_clusters, size=len(true)).tolist()
    expected = _brute_force_accuracy(true, predicted)
    assert clustering_accuracy(true, predicted) == pytest.approx(expected)


def test_confusion_matrix_puts_matches_on_the_diagonal():
    table = confusion_matrix(TRUE, PREDICTED)
    expected = pd.DataFrame(
        [[2, 0, 1], [0, 2, 0], [0, 1, 0]],
        index=pd.Index([0, 1, 2], name="class"),
        columns=pd.Index([2, 0, 1], name="cluster"),
    )
    pd.testing.assert_frame_equal(table, expected, check_dtype=False)
    assert np.trace(table.to_numpy()) == 4  # = accuracy * n_jets


def test_confusion_matrix_unmatched_clusters_come_last():
    table = confusion_matrix([0, 0, 0, 1, 1], [11, 10, 10, 12, 12])
    assert list(table.columns) == [10, 12, 11]
    assert table.to_numpy().tolist() == [[2, 0, 1], [0, 2, 0]]


def test_cluster_fractions():
    predicted = ["x", "y", "x", "z", "x", "y"]
    is_signal = [1, 0, 0, 1, 1, 0]
    table = cluster_fractions(predicted, is_signal)
    assert list(table.columns) == ["cluster", "jets", "signal_fraction"]
    assert table["cluster"].tolist() == ["x", "y", "z"]
    assert table["jets"].tolist() == [3, 2, 1]
    np.testing.assert_allclose(table["signal_fraction"], [2 / 3, 0.0, 1.0])


def test_cluster_fractions_rare_signal_enrichment():
    # 1 % signal overall, all of it in a cluster of 20 jets: that cluster is 50 % signal.
    is_signal = np.zeros(1000, dtype=bool)
    is_signal[:10] = True
    predicted = np.where(np.arange(1000) < 20, 1, 0)
    table = cluster_fractions(predicted, is_signal)
    assert table["signal_fraction"].max() == pytest.approx(0.5)
    assert table["jets"].sum() == 1000


@pytest.mark.parametrize(
    ("true", "predicted", "message"),
    [
        ([0, 1, 1], [0, 1], "same jets"),
        ([], [], "true is empty"),
        ([0, 1], [], "predicted is empty"),
        ([[0, 1], [1, 0]], [0, 1], r"true must have shape \(n_jets,\)"),
        ([0, 1], [[0.9, 0.1], [0.2, 0.8]], r"predicted must have shape \(n_jets,\).*argmax"),
    ],
)
def test_errors(true, predicted, message):
    for function in (clustering_accuracy, cluster_assignment, confusion_matrix):
        with pytest.raises(ValueError, match=message):
            function(true, predicted)


def test_cluster_fractions_errors():
    with pytest.raises(ValueError, match="is_signal must hold booleans or 0/1"):
        cluster_fractions([0, 1], [0.3, 0.9])
    with pytest.raises(ValueError, match="same jets"):
        cluster_fractions([0, 1, 1], [True, False])


def _jets_of_mass(masses, energy=400.0):
    """Two massless particles of energy `energy` each, opened so the pair has each mass:
    m^2 = 2 E^2 (1 - cos theta)."""
    jets = []
    for mass in masses:
        half = np.arccos(1.0 - mass**2 / (2.0 * energy**2)) / 2.0
        jets.append([[energy, energy * np.cos(half), energy * np.sin(half), 0.0],
                     [energy, energy * np.cos(half), -energy * np.sin(half), 0.0]])
    return np.array(jets)


def test_mass_kmeans_groups_jets_by_their_mass():
    train = _jets_of_mass([10, 12, 14, 80, 82, 84, 170, 175, 180])
    model = MassKMeans(3, seed=0).fit(train)
    clusters = model.predict(train)
    assert clustering_accuracy(np.repeat([0, 1, 2], 3), clusters) == 1.0
    # centroids are the groups' mean masses: 12, 82 and 175 GeV
    np.testing.assert_allclose(np.sort(model.kmeans.cluster_centers_.ravel()), [12, 82, 175],
                               rtol=1e-6)
    new = model.predict(_jets_of_mass([40, 50, 130]))
    # 40 GeV is nearer 12 than 82, 50 nearer 82 (47 = midpoint), 130 nearer 175 (128.5)
    np.testing.assert_array_equal(new, clusters[[0, 3, 6]])


def test_mass_kmeans_must_be_fitted():
    with pytest.raises(ValueError, match="not fitted yet"):
        MassKMeans(2).predict(_jets_of_mass([10]))
