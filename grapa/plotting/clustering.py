"""Unsupervised clustering: the confusion heat map and a 2-D view of the learned embedding.

UCluster: V. Mikuni and F. Canelli, "Unsupervised clustering for collider physics",
Phys. Rev. D 103, 092007 (2021). The accuracy and the cluster-to-class matching come
from `grapa.evaluation.clustering`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib import colormaps
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from grapa import evaluation
from grapa.evaluation.metrics import _finite_array
from grapa.plotting._common import _figure, _finish

_LEGEND_MAX_ENTRIES = 20  # beyond this a legend hides the points it explains


def _class_names(classes: Sequence, class_names) -> list[str]:
    """Display names of the sorted `classes`: from a mapping, a sequence, or the labels."""
    if class_names is None:
        return [str(label) for label in classes]
    if isinstance(class_names, Mapping):
        return [str(class_names.get(label, label)) for label in classes]
    if len(class_names) != len(classes):
        raise ValueError(
            f"class_names must name the {len(classes)} true classes {list(classes)} in "
            f"sorted order, got {len(class_names)} names; or pass a dict {{label: name}}."
        )
    return [str(name) for name in class_names]


def plot_confusion(true, predicted, path=None, class_names=None) -> Figure:
    """The confusion matrix as a heat map, titled with the clustering accuracy.

    Each row (true class) is normalised to 1: a cell's colour is the fraction of that
    class's jets in that cluster, its number the jet count. Columns are ordered as in
    `grapa.evaluation.confusion_matrix`, so matched clusters sit on the diagonal and a
    good clustering shows a dark diagonal (Mikuni & Canelli 2021).

    Args:
        true: `(n_jets,)` true classes.
        predicted: `(n_jets,)` cluster of each jet.
        path: where to write the PNG, or None.
        class_names: display names of the true classes: a dict `{label: name}` or a
            sequence in sorted label order; None shows the labels.

    Returns:
        The `Figure` (2 axes: the map and its colour bar).
    """
    table = evaluation.confusion_matrix(true, predicted)
    counts = table.to_numpy()
    fractions = counts / counts.sum(axis=1, keepdims=True)
    n_classes, n_clusters = counts.shape
    figure, (axis,) = _figure(1, width=2.0 + 0.8 * n_clusters, height=1.5 + 0.6 * n_classes)
    image = axis.imshow(fractions, cmap="Blues", vmin=0, vmax=1, aspect="auto",
                        interpolation="nearest")
    figure.colorbar(image, ax=axis, label="fraction of the true class")
    for (row, column), count in np.ndenumerate(counts):
        colour = "white" if fractions[row, column] > 0.5 else "black"
        axis.text(column, row, str(count), ha="center", va="center", color=colour,
                  fontsize="small")
    axis.set_xticks(range(n_clusters), [str(cluster) for cluster in table.columns])
    axis.set_yticks(range(n_classes), _class_names(table.index, class_names))
    accuracy = evaluation.clustering_accuracy(true, predicted)
    axis.set(xlabel="cluster", ylabel="true class",
             title=f"clustering accuracy = {accuracy:.3f}")
    return _finish(figure, path)


def _subsample(n_jets: int, max_points: int, seed: int) -> np.ndarray:
    """At most `max_points` jet indices, in random order so no group hides another."""
    if max_points < 1:
        raise ValueError(f"max_points must be at least 1, got {max_points}.")
    return np.random.default_rng(seed).permutation(n_jets)[:max_points]


def _project(points: np.ndarray, method: str, seed: int) -> tuple[np.ndarray, str]:
    """`points` in 2-D (as they are when already 2-D) and the name of the axes."""
    if points.shape[1] == 2:
        return points, "embedding"
    if method == "tsne":
        from sklearn.manifold import TSNE

        # sklearn requires perplexity < n_points; 30 is its default for large samples.
        perplexity = min(30.0, max(1.0, (len(points) - 1) / 3))
        tsne = TSNE(n_components=2, init="pca", perplexity=perplexity, random_state=seed)
        return tsne.fit_transform(points), "t-SNE"
    from sklearn.decomposition import PCA

    return PCA(n_components=2, random_state=seed).fit_transform(points), "PCA"


def _scatter_groups(axis: Axes, points: np.ndarray, groups: np.ndarray, categories: np.ndarray,
                    names: list[str], title: str) -> None:
    """One scatter of `points` coloured by group, with a legend naming each category; the
    k-th of `categories` (in the order given) gets the palette's k-th colour."""
    palette = colormaps["tab10" if len(categories) <= 10 else "tab20"]
    order = np.argsort(categories)
    codes = order[np.searchsorted(categories[order], groups)] % palette.N
    axis.scatter(points[:, 0], points[:, 1], c=palette(codes), s=6, alpha=0.7, linewidths=0)
    if len(categories) <= _LEGEND_MAX_ENTRIES:
        handles = [Line2D([], [], ls="", marker="o", color=palette(k % palette.N), label=name)
                   for k, name in enumerate(names)]
        axis.legend(handles=handles, fontsize="small", markerscale=0.8)
    axis.set_title(title)


def _clusters_by_class(truth, clusters) -> np.ndarray:
    """The clusters, each matched one in the order of its class, then the unmatched (the
    confusion matrix's column order): a cluster matched to a class gets that class's
    colour in the truth panel."""
    return evaluation.confusion_matrix(truth, clusters).columns.to_numpy()


def _jet_labels(values, name: str, n_jets: int) -> np.ndarray:
    """`values` as one label per embedded jet, shape `(n_jets,)`."""
    labels = np.asarray(values)
    if labels.shape != (n_jets,):
        raise ValueError(
            f"{name} must have shape ({n_jets},) (one label per row of embedding), got "
            f"{labels.shape}."
        )
    return labels


def _embedding(values) -> np.ndarray:
    """`values` as a finite `(n_jets, d)` array with d >= 2."""
    embedding = _finite_array(values, "embedding")
    if embedding.ndim != 2 or embedding.shape[1] < 2:
        raise ValueError(
            f"embedding must have shape (n_jets, d) with d >= 2, got {embedding.shape}."
        )
    return embedding


def plot_embedding(
    embedding,
    clusters,
    path=None,
    truth=None,
    class_names=None,
    max_points: int = 3000,
    seed: int = 0,
    method: str = "tsne",
) -> Figure:
    """A 2-D view of a learned embedding, coloured by cluster (and by truth).

    A 2-D embedding is drawn as it is; a wider one is projected to 2-D by t-SNE
    (`sklearn.manifold.TSNE`, `init="pca"`, `random_state=seed`) or PCA. Only a random
    subsample of at most `max_points` jets is drawn (t-SNE costs O(n^2) memory), in
    random order so that no cluster hides another. With `truth`, each cluster is drawn in
    the colour of the class it is matched to (`grapa.evaluation.cluster_assignment`). Well-separated clusters that each
    hold one truth class are what UCluster aims for (Mikuni & Canelli 2021).

    Args:
        embedding: `(n_jets, d)` embedding, d >= 2 (e.g. UCluster's latent space).
        clusters: `(n_jets,)` cluster of each jet.
        path: where to write the PNG, or None.
        truth: `(n_jets,)` true classes for a second panel, or None.
        class_names: display names of the true classes: a dict `{label: name}` or a
            sequence in sorted label order; None shows the labels.
        max_points: the most jets drawn.
        seed: seed of the subsample and of t-SNE / PCA.
        method: "tsne" or "pca", the projection of an embedding wider than 2.

    Returns:
        The `Figure`: 1 axes (by cluster), or 2 (by cluster, by truth) when `truth` is
        given; each holds one scatter collection of the drawn jets.
    """
    if method not in ("tsne", "pca"):
        raise ValueError(f'method must be "tsne" or "pca", got {method!r}.')
    embedding = _embedding(embedding)
    clusters = _jet_labels(clusters, "clusters", len(embedding))
    if truth is not None:
        truth = _jet_labels(truth, "truth", len(embedding))
    index = _subsample(len(embedding), max_points, seed)
    points, axis_name = _project(embedding[index], method, seed)
    figure, axes = _figure(1 if truth is None else 2)
    categories = np.unique(clusters) if truth is None else _clusters_by_class(truth, clusters)
    _scatter_groups(axes[0], points, clusters[index], categories,
                    [f"cluster {label}" for label in categories], "coloured by cluster")
    if truth is not None:
        categories = np.unique(truth)
        _scatter_groups(axes[1], points, truth[index], categories,
                        _class_names(categories, class_names), "coloured by true class")
    for axis in axes:
        axis.set(xlabel=f"{axis_name} 1", ylabel=f"{axis_name} 2")
    figure.suptitle(f"{len(index)} of {len(embedding)} jets")
    return _finish(figure, path)
