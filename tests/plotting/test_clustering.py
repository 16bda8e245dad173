"""The clustering figures: confusion heat map values and embedding scatter points."""

import numpy as np
import pytest
from matplotlib.figure import Figure

from grapa.plotting import plot_confusion, plot_embedding

# Hand-worked in tests/evaluation/test_clustering.py: clusters 2, 0, 1 match classes
# 0, 1, 2 and 4 of 6 jets are right.
TRUE = np.array([0, 0, 0, 1, 1, 2])
PREDICTED = np.array([2, 2, 1, 0, 0, 0])


def _assert_saved(path):
    assert path.exists() and path.stat().st_size > 1000


def _rows_sorted(points):
    """The rows of a (n, 2) array in lexicographic order, to compare point sets."""
    points = np.asarray(points)
    return points[np.lexsort(points.T[::-1])]


@pytest.fixture
def blobs():
    """Three separated 8-D blobs of 100 jets: embedding, clusters, truth."""
    rng = np.random.default_rng(0)
    truth = np.repeat([0, 1, 2], 100)
    embedding = rng.normal(0, 0.3, size=(300, 8)) + 4.0 * np.eye(8)[truth]
    clusters = np.where(truth == 2, 5, truth)
    return embedding, clusters, truth


def test_confusion_values_are_row_normalised_counts(tmp_path):
    path = tmp_path / "nested" / "confusion.png"
    figure = plot_confusion(TRUE, PREDICTED, path=path, class_names={0: "qcd", 2: "top"})
    assert isinstance(figure, Figure)
    _assert_saved(path)
    axis = figure.axes[0]
    columns = [2, 0, 1]  # each class's matched cluster on the diagonal
    counts = np.array([[np.sum((TRUE == t) & (PREDICTED == c)) for c in columns]
                       for t in (0, 1, 2)])
    np.testing.assert_allclose(axis.images[0].get_array(),
                               counts / counts.sum(axis=1)[:, None])
    assert [text.get_text() for text in axis.texts] == [str(c) for c in counts.ravel()]
    assert [tick.get_text() for tick in axis.get_xticklabels()] == ["2", "0", "1"]
    assert [tick.get_text() for tick in axis.get_yticklabels()] == ["qcd", "1", "top"]
    assert "0.667" in axis.get_title()


def test_confusion_class_names_sequence_must_match():
    figure = plot_confusion(["b", "a"], [1, 0], class_names=["alpha", "beta"])
    assert [t.get_text() for t in figure.axes[0].get_yticklabels()] == ["alpha", "beta"]
    with pytest.raises(ValueError, match="class_names must name the 2 true classes"):
        plot_confusion(["b", "a"], [1, 0], class_names=["only one"])


def test_embedding_2d_is_drawn_as_is(tmp_path):
    rng = np.random.default_rng(1)
    points = rng.normal(size=(200, 2))
    clusters = rng.integers(0, 3, size=200)
    path = tmp_path / "embedding.png"
    figure = plot_embedding(points, clusters, path=path, truth=clusters % 2)
    _assert_saved(path)
    assert len(figure.axes) == 2
    for axis in figure.axes:
        assert len(axis.collections) == 1
        np.testing.assert_array_equal(_rows_sorted(axis.collections[0].get_offsets()),
                                      _rows_sorted(points))


def test_embedding_subsample_cap(blobs):
    embedding, clusters, _ = blobs
    points = embedding[:, :2]
    figure = plot_embedding(points, clusters, max_points=50, seed=3)
    assert len(figure.axes) == 1
    offsets = np.asarray(figure.axes[0].collections[0].get_offsets())
    assert offsets.shape == (50, 2)
    assert len(np.unique(offsets, axis=0)) == 50
    assert all((points == row).all(axis=1).any() for row in offsets)  # drawn jets are real
    # the same seed draws the same jets
    again = plot_embedding(points, clusters, max_points=50, seed=3).axes[0].collections[0]
    np.testing.assert_array_equal(again.get_offsets(), offsets)


def test_embedding_tsne(tmp_path, blobs):
    embedding, clusters, truth = blobs
    path = tmp_path / "tsne.png"
    figure = plot_embedding(embedding, clusters, path=path, truth=truth,
                            class_names=["q", "w", "top"], max_points=150)
    _assert_saved(path)
    assert [axis.get_xlabel() for axis in figure.axes] == ["t-SNE 1", "t-SNE 1"]
    for axis in figure.axes:
        offsets = np.asarray(axis.collections[0].get_offsets())
        assert offsets.shape == (150, 2) and np.isfinite(offsets).all()
    # 3 clusters and 3 classes: 3 colours per panel, and the truth legend names them
    for axis in figure.axes:
        assert len(np.unique(axis.collections[0].get_facecolors(), axis=0)) == 3
    legend = [text.get_text() for text in figure.axes[1].get_legend().get_texts()]
    assert legend == ["q", "w", "top"]


def test_embedding_pca_keeps_the_blobs_apart(blobs):
    embedding, clusters, _ = blobs
    figure = plot_embedding(embedding, clusters, method="pca")
    offsets = np.asarray(figure.axes[0].collections[0].get_offsets())
    colours = figure.axes[0].collections[0].get_facecolors()
    centres = [offsets[(colours == colour).all(axis=1)].mean(axis=0)
               for colour in np.unique(colours, axis=0)]
    assert min(np.linalg.norm(a - b) for a, b in zip(centres, centres[1:] + centres[:1])) > 2


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"embedding": np.zeros((4, 1)), "clusters": np.zeros(4)}, "d >= 2"),
        ({"embedding": np.zeros((4, 2)), "clusters": np.zeros(3)},
         r"clusters must have shape \(4,\)"),
        ({"embedding": np.zeros((4, 2)), "clusters": np.zeros(4), "truth": np.zeros(5)},
         r"truth must have shape \(4,\)"),
        ({"embedding": np.zeros((4, 3)), "clusters": np.zeros(4), "method": "umap"}, "tsne"),
        ({"embedding": np.zeros((4, 2)), "clusters": np.zeros(4), "max_points": 0}, "max_points"),
    ],
)
def test_embedding_errors(arguments, message):
    with pytest.raises(ValueError, match=message):
        plot_embedding(**arguments)


def test_each_cluster_takes_the_colour_of_its_matched_class():
    rng = np.random.default_rng(3)
    points = rng.normal(size=(90, 2))
    truth = np.repeat(["QCD", "top", "W"], 30)
    clusters = np.repeat([2, 0, 1], 30)  # cluster numbers unrelated to the class order
    clusters[:3] = 0  # three QCD jets in top's cluster
    figure = plot_embedding(points, clusters, truth=truth)
    by_cluster, by_truth = (axis.collections[0].get_facecolors() for axis in figure.axes[:2])
    agree = np.all(np.isclose(by_cluster, by_truth), axis=1)
    assert agree.sum() == 87  # all but the three misclustered jets
