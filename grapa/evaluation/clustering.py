"""Unsupervised clustering accuracy, confusion matrix and signal enrichment of clusters.

UCluster (V. Mikuni and F. Canelli, "Unsupervised clustering for collider physics",
Phys. Rev. D 103, 092007 (2021), doi:10.1103/PhysRevD.103.092007) groups jets into
clusters without labels. A cluster's number means nothing by itself, so the accuracy is
taken under the best one-to-one assignment of clusters to true classes, found with
the Hungarian algorithm (`scipy.optimize.linear_sum_assignment`) on the contingency
matrix:

```text
accuracy = max over one-to-one maps m of  #{i : m(predicted_i) = true_i} / n
```

A cluster left without a class (more clusters than classes) maps to nothing and its
jets count as wrong; a class left without a cluster (fewer clusters than classes) has
all its jets wrong. Labels may be any sortable values: integers, strings, not 0..k-1.

Plain numpy, scipy, pandas and `sklearn.metrics`; no Keras.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.optimize import linear_sum_assignment
from sklearn.metrics.cluster import contingency_matrix

from grapa.data.observables import jet_observables

__all__ = [
    "MassKMeans",
    "cluster_assignment",
    "cluster_fractions",
    "clustering_accuracy",
    "confusion_matrix",
]


# ---------------------------------------------------------------------------------------
# Input validation
# ---------------------------------------------------------------------------------------


def _labels(values, name: str) -> np.ndarray:
    """`values` as a non-empty 1-D array, one label per jet."""
    array = np.asarray(values)
    if array.ndim != 1:
        raise ValueError(
            f"{name} must have shape (n_jets,) (one label per jet), got {array.shape}. "
            "Turn per-cluster probabilities into labels first, e.g. "
            "probabilities.argmax(axis=-1)."
        )
    if array.size == 0:
        raise ValueError(f"{name} is empty: pass at least one jet.")
    return array


def _paired(first, second, names: tuple[str, str]) -> tuple[np.ndarray, np.ndarray]:
    """Two label arrays of the same jets, validated and of equal length."""
    first, second = _labels(first, names[0]), _labels(second, names[1])
    if len(first) != len(second):
        raise ValueError(
            f"{names[0]} and {names[1]} must label the same jets: got {len(first)} and "
            f"{len(second)} labels. Pass both for the same jets, in the same order."
        )
    return first, second


# ---------------------------------------------------------------------------------------
# The best assignment of clusters to classes
# ---------------------------------------------------------------------------------------


def _contingency(true, predicted) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sorted classes, sorted clusters and the `(classes, clusters)` count matrix."""
    true, predicted = _paired(true, predicted, ("true", "predicted"))
    counts = contingency_matrix(true, predicted)
    return np.unique(true), np.unique(predicted), counts


def _matches(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Row (class) and column (cluster) indices of the count-maximising one-to-one map."""
    return linear_sum_assignment(counts, maximize=True)


def clustering_accuracy(true, predicted) -> float:
    """Fraction of jets whose cluster maps to their class under the best assignment.

    Mikuni & Canelli, Phys. Rev. D 103, 092007 (2021): each cluster is matched to at
    most one class and each class to at most one cluster so that as many jets as
    possible are matched (Hungarian algorithm on the contingency matrix). Relabelling
    the clusters leaves it unchanged; a perfect clustering scores 1.

    Args:
        true: `(n_jets,)` true classes, any sortable labels (integers, strings).
        predicted: `(n_jets,)` cluster of each jet, any sortable labels.

    Returns:
        The accuracy in [0, 1] as a float.

    Raises:
        ValueError: if an input is empty or not 1-D, or their lengths differ.

    Example:
        >>> clustering_accuracy([0, 0, 1, 1], ["b", "b", "a", "a"])
        1.0
    """
    _, _, counts = _contingency(true, predicted)
    rows, columns = _matches(counts)
    return float(counts[rows, columns].sum() / counts.sum())


def cluster_assignment(true, predicted) -> dict:
    """The class each cluster is matched to by `clustering_accuracy`.

    Args:
        true: `(n_jets,)` true classes.
        predicted: `(n_jets,)` cluster of each jet.

    Returns:
        `{cluster: class}` for every cluster, in sorted cluster order, with `None` for a
        cluster left without a class (when there are more clusters than classes).
        Labels are returned as Python scalars (`int`, `str`).

    Raises:
        ValueError: as `clustering_accuracy`.
    """
    classes, clusters, counts = _contingency(true, predicted)
    assignment = dict.fromkeys(clusters.tolist())
    for row, column in zip(*_matches(counts)):
        assignment[clusters[column].item()] = classes[row].item()
    return assignment


def confusion_matrix(true, predicted) -> pd.DataFrame:
    """Jet counts per (true class, cluster), matched clusters on the diagonal.

    Rows are the true classes in sorted order. Columns are first the matched clusters,
    in the order of their classes, then the unmatched clusters in sorted order; so when
    every class has a cluster, cell `(k, k)` holds the jets of class k in its matched
    cluster and the diagonal sums to `clustering_accuracy * n_jets`.

    Args:
        true: `(n_jets,)` true classes.
        predicted: `(n_jets,)` cluster of each jet.

    Returns:
        A `pandas.DataFrame` of integer counts, index named "class" and columns named
        "cluster".

    Raises:
        ValueError: as `clustering_accuracy`.
    """
    classes, clusters, counts = _contingency(true, predicted)
    _, matched = _matches(counts)  # rows come back sorted, so in class order
    unmatched = np.setdiff1d(np.arange(len(clusters)), matched)
    order = np.concatenate([matched, unmatched])
    return pd.DataFrame(
        counts[:, order],
        index=pd.Index(classes, name="class"),
        columns=pd.Index(clusters[order], name="cluster"),
    )


# ---------------------------------------------------------------------------------------
# Rare signal enrichment
# ---------------------------------------------------------------------------------------


def _signal_flags(is_signal) -> np.ndarray:
    """`is_signal` as booleans, or a ValueError if it holds anything but 0/1."""
    flags = _labels(is_signal, "is_signal")
    if not np.isin(flags, (0, 1)).all():
        raise ValueError(
            "is_signal must hold booleans or 0/1 (1 = signal jet), got values "
            f"{np.unique(flags)[:5].tolist()}. Pass a truth label, e.g. labels == 1, not "
            "a score."
        )
    return flags.astype(bool)


def cluster_fractions(predicted, is_signal) -> pd.DataFrame:
    """Size and signal fraction of each cluster: rare-signal enrichment (Mikuni & Canelli 2021).

    The rare-signal study injects a small signal (e.g. top jets at 1 %) into a QCD
    background: a clustering that isolates the signal has one cluster whose signal
    fraction is far above the injected one, `table.signal_fraction.max()`.

    Args:
        predicted: `(n_jets,)` cluster of each jet.
        is_signal: `(n_jets,)` booleans (or 0/1), True for a signal jet.

    Returns:
        A `pandas.DataFrame` with one row per cluster in sorted order and columns
        `cluster`, `jets` (its size) and `signal_fraction` (its share of signal jets).

    Raises:
        ValueError: if an input is empty or not 1-D, the lengths differ, or `is_signal`
            holds values other than 0/1.
    """
    predicted, is_signal = _paired(predicted, is_signal, ("predicted", "is_signal"))
    jets = pd.DataFrame({"cluster": predicted, "signal": _signal_flags(is_signal)})
    table = jets.groupby("cluster")["signal"].agg(jets="size", signal_fraction="mean")
    return table.reset_index()


# ---------------------------------------------------------------------------------------
# The baseline: k-means on the jet mass
# ---------------------------------------------------------------------------------------


class MassKMeans:
    """k-means on the jet mass alone: the clustering a physicist tries first.

    The mass of each jet, from its summed constituents, is clustered into `clusters`
    groups by `sklearn.cluster.KMeans` (10 starts); UCluster earns its place only where it
    beats this on the same jets.

    Args:
        clusters: number of clusters.
        seed: `random_state` of k-means's initialisation.
    """

    name = "mass k-means"

    def __init__(self, clusters: int, seed: int | None = 0):
        self.clusters = int(clusters)
        self.seed = seed
        self.kmeans = None

    def fit(self, jets):
        from sklearn.cluster import KMeans

        self.kmeans = KMeans(self.clusters, n_init=10, random_state=self.seed)
        self.kmeans.fit(_masses(jets))
        return self

    def predict(self, jets) -> np.ndarray:
        """Each jet's cluster, ints in `0 .. clusters - 1`."""
        if self.kmeans is None:
            raise ValueError("MassKMeans is not fitted yet: call fit(training_jets) first")
        return self.kmeans.predict(_masses(jets))


def _masses(jets) -> np.ndarray:
    return jet_observables(np.asarray(jets))["mass"][:, None]
