"""Tests for grapa.plotting: every figure writes a real PNG and has the expected panels."""

import numpy as np
import pandas as pd
import pytest
from matplotlib.colors import to_rgb
from matplotlib.figure import Figure

from grapa import plotting

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _assert_png(path):
    data = path.read_bytes()
    assert len(data) > 1000
    assert data[:8] == PNG_MAGIC


@pytest.fixture
def scores():
    rng = np.random.default_rng(0)
    return rng.gamma(2.0, 1.0, 400), rng.gamma(3.0, 1.0, 300)


@pytest.fixture
def jets():
    """Preprocessed (flag, d_eta, d_phi, lpt) target and output: 2 jets, 6 nodes, 1 padding."""
    rng = np.random.default_rng(1)
    target = np.zeros((2, 6, 4))
    target[:, :5, 0] = 1
    target[:, :5, 1:3] = rng.normal(0, 0.1, size=(2, 5, 2))
    target[:, :5, 3] = np.sort(rng.exponential(1.5, size=(2, 5)), axis=1)
    output = target + rng.normal(0, 0.03, size=target.shape)
    return target, output


def test_roc(tmp_path, scores):
    path = tmp_path / "nested" / "dir" / "roc.png"  # parent folders are created
    figure = plotting.plot_roc(*scores, path=path, label="toy")
    assert isinstance(figure, Figure)
    assert len(figure.axes) == 2
    assert figure.axes[1].get_yscale() == "log"
    _assert_png(path)


def test_roc_overlays_on_given_axes(scores):
    figure = plotting.plot_roc(*scores, label="first")
    again = plotting.plot_roc(scores[1], scores[0], axes=figure.axes, label="second")
    assert again is figure
    assert len(figure.axes) == 2
    legend = [text.get_text() for text in figure.axes[0].get_legend().get_texts()]
    assert any(entry.startswith("first") for entry in legend)
    assert any(entry.startswith("second") for entry in legend)


def test_double_roc(tmp_path, scores):
    background, signal = scores
    path = tmp_path / "double_roc.png"
    figure = plotting.plot_double_roc((background, signal), (signal, background),
                                      names=("QCD", "top"), path=path)
    assert len(figure.axes) == 1
    assert figure.axes[0].get_title() == "QCD vs top: not invertible"  # one AUC < 0.5
    _assert_png(path)


def test_loss_distributions(tmp_path, scores):
    path = tmp_path / "losses.png"
    figure = plotting.plot_loss_distributions(*scores, bins=30, path=path)
    assert len(figure.axes) == 1
    assert figure.axes[0].get_yscale() == "log"
    _assert_png(path)


def test_feature_auc_map(tmp_path):
    auc_map = np.array([[0.5, 1.0, 0.0, 0.7], [0.45, 0.9, 0.8, 0.2]])
    path = tmp_path / "feature_map.png"
    figure = plotting.plot_feature_auc_map(auc_map, path=path)
    assert len(figure.axes) == 2  # map and colour bar
    image = figure.axes[0].images[0]
    np.testing.assert_allclose(image.cmap(image.norm(1.0))[:3], to_rgb("blue"), atol=0.01)
    np.testing.assert_allclose(image.cmap(image.norm(0.5))[:3], to_rgb("white"), atol=0.01)
    np.testing.assert_allclose(image.cmap(image.norm(0.0))[:3], to_rgb("red"), atol=0.01)
    assert "1.00" in [text.get_text() for text in figure.axes[0].texts]
    _assert_png(path)


def test_feature_auc_map_checks_names():
    with pytest.raises(ValueError, match="feature_names must have 3 entries"):
        plotting.plot_feature_auc_map(np.full((2, 3), 0.5))


def test_reconstruction(tmp_path, jets):
    path = tmp_path / "reconstruction.png"
    figure = plotting.plot_reconstruction(*jets, event=1, path=path)
    assert len(figure.axes) == 2
    input_points = figure.axes[0].collections[0]
    assert len(input_points.get_offsets()) == 5  # the padding node is not drawn
    # Marker size: the hardest constituent (smallest lpt) gets the largest marker.
    lpt = jets[0][1, :5, 3]
    sizes = np.sqrt(input_points.get_sizes())
    np.testing.assert_allclose(sizes / sizes[0], (1 + 9 / (lpt + 1)) / (1 + 9 / (lpt[0] + 1)))
    _assert_png(path)


def test_reconstruction_names_the_expected_shape(jets):
    target, output = jets
    with pytest.raises(ValueError, match="shape of target"):
        plotting.plot_reconstruction(target, output[:, :5])
    with pytest.raises(ValueError, match=r"\(n_jets, n, 4\)"):
        plotting.plot_reconstruction(target[..., :3], output[..., :3])


@pytest.mark.parametrize("as_frame", [False, True])
def test_history(tmp_path, as_frame):
    history = {"loss": [1.0, 0.5, 0.3, 0.25], "val_loss": [1.1, 0.6, 0.4, 0.45]}
    if as_frame:
        history = pd.DataFrame(history)
    path = tmp_path / "history.png"
    figure = plotting.plot_history(history, path=path)
    assert len(figure.axes) == 1
    assert figure.axes[0].get_yscale() == "log"
    _assert_png(path)


def test_history_flags_nan_and_missing_loss():
    figure = plotting.plot_history({"loss": [1.0, 0.5, float("nan")]})
    assert figure.axes[0].get_title() == "non-finite loss from epoch 3"
    with pytest.raises(ValueError, match="'loss' entry"):
        plotting.plot_history({"val_loss": [1.0]})


def test_metric(tmp_path):
    path = tmp_path / "metric.png"
    figure = plotting.plot_metric(np.array([0.2, 1.3, 1.1, -0.4]), path=path)
    assert len(figure.axes) == 1
    labels = [label.get_text() for label in figure.axes[0].get_xticklabels()]
    assert labels == list(plotting.FEATURE_NAMES)
    assert len(figure.axes[0].patches) == 4
    _assert_png(path)
    with pytest.raises(ValueError, match=r"shape \(F,\)"):
        plotting.plot_metric(np.ones((2, 2)))


def test_plotting_leaves_pyplot_and_the_backend_alone(scores):
    import matplotlib
    from matplotlib import pyplot

    backend, open_figures = matplotlib.get_backend(), pyplot.get_fignums()
    plotting.plot_roc(*scores)
    plotting.plot_metric(np.ones(3))
    assert matplotlib.get_backend() == backend
    assert pyplot.get_fignums() == open_figures  # no pyplot-managed figure, no window


def test_plot_cross_table_frames_non_invertible_pairs(tmp_path):
    import pandas as pd

    from grapa.plotting import plot_cross_table

    names = ["qcd", "top", "gluon"]
    table = pd.DataFrame([[0.5, 0.8, 0.6], [0.3, 0.5, 0.7], [0.55, 0.52, 0.5]],
                         index=pd.Index(names, name="trained on"),
                         columns=pd.Index(names, name="scored"))
    figure = plot_cross_table(table, path=tmp_path / "cross.png")
    assert (tmp_path / "cross.png").read_bytes().startswith(b"\x89PNG")
    frames = [p for p in figure.axes[0].patches if not p.get_fill()]
    assert len(frames) == 2  # qcd <-> top (0.3 < 0.5) is the only non-invertible pair
    assert "1 non-invertible" in figure.axes[0].get_title()


def test_scan_panels_per_metric_and_option_with_means_and_nan_counted(tmp_path):
    table = pd.DataFrame({"learning_rate": [1e-4, 1e-4, 1e-2, 1e-2],
                          "units": ["[9]", "[12]", "[9]", "[12]"],
                          "val_loss": [1.0, 3.0, 2.0, np.nan], "auc": [0.6, 0.7, 0.8, 0.9]})
    figure = plotting.plot_scan(table, ["learning_rate", "units"], path=tmp_path / "scan.png")
    _assert_png(tmp_path / "scan.png")
    (loss_rate, loss_units), (auc_rate, auc_units) = np.reshape(figure.axes, (2, 2))
    assert loss_rate.get_xscale() == "log" and loss_rate.get_ylabel() == "best validation loss"
    assert [t.get_text() for t in loss_units.get_xticklabels()] == ["[9]", "[12]"]
    # the line joins the means of the finite trials at each value: (1 + 3) / 2 and 2
    np.testing.assert_allclose(loss_rate.lines[0].get_ydata(), [2.0, 2.0])
    np.testing.assert_allclose(auc_units.lines[0].get_ydata(), [0.7, 0.8])
    assert len(loss_units.collections[0].get_offsets()) == 3 and "1 trial(s) NaN" in loss_units.get_title()
    with pytest.raises(ValueError, match="no column 'batch_size'"):
        plotting.plot_scan(table, ["batch_size"])
