"""Every grapa figure, one function per figure (Klüttermann 2021, sec. 3.1, 3.3, 5.2).

Headless by construction: figures are `matplotlib.figure.Figure` objects created
directly, never through `pyplot`, so nothing here selects or changes the user's backend
and no window ever opens. Every function returns its `Figure` (Jupyter displays it) and
writes a PNG when given `path` (parent folders are created).

Colour conventions: background / input = red-ish, signal / output = blue-ish, as in the
thesis's reconstruction images; AUC maps use blue = 1, white = 0.5, red = 0.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from grapa import evaluation
from grapa.evaluation.metrics import _finite_array, _scores

__all__ = [
    "FEATURE_NAMES",
    "plot_double_roc",
    "plot_feature_auc_map",
    "plot_history",
    "plot_loss_distributions",
    "plot_metric",
    "plot_reconstruction",
    "plot_roc",
]

FEATURE_NAMES = ("flag", "d_eta", "d_phi", "lpt")
"""The node features of `grapa.layers.JetFeatures`, in order."""

_INPUT_COLOUR, _OUTPUT_COLOUR = "tab:red", "tab:blue"
_BACKGROUND_COLOUR, _SIGNAL_COLOUR = "tab:red", "tab:blue"
_MARKER_SCALE = 2.5  # points per unit of 1 + 9 / (lpt + 1): 2.5 to 25 pt markers
_ANNOTATE_MAX_CELLS = 256  # beyond this the numbers in an AUC map are unreadable


def _figure(ncols: int = 1, width: float = 5.0, height: float = 4.0) -> tuple[Figure, list[Axes]]:
    """A new headless figure with `ncols` side-by-side axes."""
    figure = Figure(figsize=(width * ncols, height), layout="constrained")
    axes = figure.subplots(1, ncols, squeeze=False)[0]
    return figure, list(axes)


def _finish(figure: Figure, path) -> Figure:
    """Save `figure` as PNG at `path` (creating parent folders) when given."""
    if path is not None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        figure.savefig(path, format="png")
    return figure


# ---------------------------------------------------------------------------------------
# ROC curves (sec. 3.1, 5.2.2)
# ---------------------------------------------------------------------------------------


def plot_roc(
    background_scores,
    signal_scores,
    path=None,
    axes: Sequence[Axes] | None = None,
    label: str | None = None,
    signal_efficiency: float = 0.3,
) -> Figure:
    """ROC curve in both of its usual forms (Klüttermann 2021, figs. 3.2 and 3.3).

    Left: true positive rate vs false positive rate, the AUC in the legend, the diagonal
    of a random guess. Right: background rejection 1/fpr vs true positive rate on a log
    axis, the rejection at `signal_efficiency` in the legend (see
    `grapa.evaluation.rejection`). Signal = the anomaly; scores higher = more anomalous.

    Args:
        background_scores: `(n_background,)` scores.
        signal_scores: `(n_signal,)` scores.
        path: where to write the PNG, or None.
        axes: two existing axes (ROC, rejection) to draw into, e.g. `fig.axes` of an
            earlier call, to overlay several models; None makes a new figure.
        label: the curve's name in the legends (e.g. the model).
        signal_efficiency: working point quoted in the rejection legend.

    Returns:
        The `Figure` (2 axes).
    """
    fpr, tpr, _ = evaluation.roc(background_scores, signal_scores)
    area = evaluation.auc(background_scores, signal_scores)
    rejection = evaluation.rejection(background_scores, signal_scores, signal_efficiency)
    prefix = f"{label}: " if label else ""
    if axes is None:
        figure, axes = _figure(2)
        roc_axis, rejection_axis = axes
        roc_axis.plot([0, 1], [0, 1], ls="--", c="grey", lw=1, label="random (AUC = 0.5)")
        guess = np.linspace(0.01, 1, 100)
        rejection_axis.plot(guess, 1 / guess, ls="--", c="grey", lw=1, label="random")
    else:
        if len(axes) != 2:
            raise ValueError(f"axes must be two Axes (ROC, rejection), got {len(axes)}.")
        roc_axis, rejection_axis = axes
        figure = roc_axis.get_figure()

    roc_axis.plot(fpr, tpr, label=f"{prefix}AUC = {area:.3f}")
    roc_axis.set(xlabel="false positive rate (background)", ylabel="true positive rate (signal)",
                 xlim=(0, 1), ylim=(0, 1.01))
    roc_axis.legend(loc="lower right")

    passing = fpr > 0  # 1/fpr is infinite before the first background jet passes
    rejection_axis.plot(tpr[passing], 1 / fpr[passing],
                        label=f"{prefix}1/fpr({signal_efficiency:g}) = {rejection:.3g}")
    rejection_axis.set_yscale("log")
    rejection_axis.set(xlabel="true positive rate (signal)",
                       ylabel="background rejection 1 / false positive rate", xlim=(0, 1))
    rejection_axis.legend(loc="upper right")
    return _finish(figure, path)


def _score_pair(pair, name: str) -> tuple:
    if len(pair) != 2:
        raise ValueError(f"{name} must be a pair (background_scores, signal_scores).")
    return pair


def plot_double_roc(scores_ab, scores_ba, names: Sequence[str] = ("A", "B"), path=None) -> Figure:
    """Both ROC curves of an invertibility test on one axes (Klüttermann 2021, fig. 5.11).

    Each direction is drawn in its own frame (background = the training set): the pair
    is invertible when both curves lie above the diagonal (both AUCs > 0.5); a model
    that only learned a trivial property puts one curve above and one below.

    Args:
        scores_ab: `(background, signal)` scores of the model trained on A: A's test
            jets and B's test jets.
        scores_ba: `(background, signal)` scores of the model trained on B: B's test
            jets and A's test jets.
        names: display names of A and B.
        path: where to write the PNG, or None.

    Returns:
        The `Figure` (1 axes), titled "invertible" or "not invertible".
    """
    name_a, name_b = names
    figure, (axis,) = _figure(1, width=5.0, height=4.5)
    axis.plot([0, 1], [0, 1], ls="--", c="grey", lw=1, label="random (AUC = 0.5)")
    aucs = []
    directions = ((scores_ab, name_a, name_b, _BACKGROUND_COLOUR),
                  (scores_ba, name_b, name_a, _SIGNAL_COLOUR))
    for pair, trained, anomaly, colour in directions:
        background, signal = _score_pair(pair, f"scores_{trained}{anomaly}")
        fpr, tpr, _ = evaluation.roc(background, signal)
        aucs.append(evaluation.auc(background, signal))
        axis.plot(fpr, tpr, c=colour,
                  label=f"trained on {trained}, {anomaly} = signal: AUC = {aucs[-1]:.3f}")
    result = evaluation.Invertibility(*aucs)
    axis.set(xlabel="false positive rate (training set)", ylabel="true positive rate (other set)",
             xlim=(0, 1), ylim=(0, 1.01),
             title=f"{name_a} vs {name_b}: {'' if result.invertible else 'not '}invertible")
    axis.legend(loc="lower right", fontsize="small")
    return _finish(figure, path)


# ---------------------------------------------------------------------------------------
# Score distributions (sec. 3.1.1)
# ---------------------------------------------------------------------------------------


def plot_loss_distributions(
    background_scores,
    signal_scores,
    bins: int = 50,
    log: bool = True,
    path=None,
    labels: Sequence[str] = ("background", "signal"),
) -> Figure:
    """Normalised histograms of the background and signal scores (Klüttermann 2021, fig. 3.1).

    Both use the same bins over the combined range; each is normalised to unit area so
    samples of different size compare. The ROC curve sweeps a cut through this plot.

    Args:
        background_scores: `(n_background,)` scores (losses).
        signal_scores: `(n_signal,)` scores.
        bins: number of bins.
        log: log-scale the y axis (tails matter for the rejection).
        path: where to write the PNG, or None.
        labels: legend names of the two classes.

    Returns:
        The `Figure` (1 axes).
    """
    background = _scores(background_scores, "background_scores")
    signal = _scores(signal_scores, "signal_scores")
    edges = np.histogram_bin_edges(np.concatenate([background, signal]), bins=bins)
    figure, (axis,) = _figure(1, width=5.5)
    for scores, label, colour in ((background, labels[0], _BACKGROUND_COLOUR),
                                  (signal, labels[1], _SIGNAL_COLOUR)):
        axis.hist(scores, bins=edges, density=True, histtype="step", lw=1.5, color=colour,
                  label=f"{label} ({len(scores)} jets)")
    if log:
        axis.set_yscale("log")
    axis.set(xlabel="anomaly score (loss)", ylabel="density")
    axis.legend()
    return _finish(figure, path)


# ---------------------------------------------------------------------------------------
# AUC feature map (sec. 3.3.2)
# ---------------------------------------------------------------------------------------


def _auc_heatmap(values, annotate=None):
    """A `(rows, columns)` AUC heat map, blue 1 / white 0.5 / red 0, optionally annotated."""
    n_rows, n_columns = values.shape
    figure, (axis,) = _figure(1, width=1.0 + 1.1 * n_columns, height=1.2 + 0.45 * min(n_rows, 40))
    image = axis.imshow(values, cmap="bwr_r", vmin=0, vmax=1, aspect="auto",
                        interpolation="nearest")
    figure.colorbar(image, ax=axis, label="AUC")
    if annotate if annotate is not None else values.size <= _ANNOTATE_MAX_CELLS:
        for (row, column), value in np.ndenumerate(values):
            # Dark cells (|AUC - 0.5| large) get white text.
            colour = "white" if abs(value - 0.5) > 0.35 else "black"
            axis.text(column, row, f"{value:.2f}", ha="center", va="center",
                      color=colour, fontsize="small")
    return figure, axis


def plot_feature_auc_map(
    auc_map,
    feature_names: Sequence[str] = FEATURE_NAMES,
    path=None,
    annotate: bool | None = None,
) -> Figure:
    """AUC of every (node, feature) loss as a heat map (Klüttermann 2021, sec. 3.3.2).

    Diverging colours centred on 0.5: blue = AUC 1 (that loss alone finds the signal),
    white = 0.5 (no information), red = 0 (an anti-classifier). A QCD-trained
    autoencoder should look blue; strong colour in a few cells and white elsewhere
    shows a network that focuses on a few features.

    Args:
        auc_map: `(n, F)` AUCs from `grapa.evaluation.feature_auc_map`.
        feature_names: F column names.
        path: where to write the PNG, or None.
        annotate: write each AUC in its cell; default: when there are at most 256 cells.

    Returns:
        The `Figure` (2 axes: the map and its colour bar).
    """
    auc_map = _finite_array(auc_map, "auc_map")
    if auc_map.ndim != 2:
        raise ValueError(f"auc_map must have shape (n, F), got {auc_map.shape}.")
    n_nodes, n_features = auc_map.shape
    if len(feature_names) != n_features:
        raise ValueError(
            f"feature_names must have {n_features} entries (one per column of auc_map "
            f"{auc_map.shape}), got {len(feature_names)}."
        )
    figure, axis = _auc_heatmap(auc_map, annotate)
    axis.set_xticks(range(n_features), feature_names)
    axis.set(xlabel="feature", ylabel="node")
    if n_nodes <= 40:
        axis.set_yticks(range(n_nodes))
    return _finish(figure, path)


def plot_cross_table(table, path=None) -> Figure:
    """The AUC cross table of many datasets as a heat map (Klüttermann 2021, sec. 8.3).

    Row i = the model trained on dataset i, column j = dataset j scored as the signal
    against i's own test jets; > 0.5 (blue) means j looks more anomalous to i's model.
    Both cells of a non-invertible pair (not both AUCs > 0.5) are framed in black.

    Args:
        table: `pandas.DataFrame` from `grapa.evaluation.cross_table`.
        path: where to write the PNG, or None.

    Returns:
        The `Figure` (2 axes: the map and its colour bar).
    """
    values = _finite_array(table.to_numpy(), "table")
    names = [str(name) for name in table.index]
    if values.ndim != 2 or values.shape[0] != values.shape[1] or list(table.columns) != list(table.index):
        raise ValueError("table must be square with the same datasets as rows and columns "
                         "(the output of grapa.evaluation.cross_table).")
    figure, axis = _auc_heatmap(values, annotate=True)
    axis.set_xticks(range(len(names)), names, rotation=45, ha="right")
    axis.set_yticks(range(len(names)), names)
    axis.set(xlabel="scored as signal", ylabel="trained on")
    index = {name: k for k, name in enumerate(table.index)}
    for a, b in evaluation.non_invertible_pairs(table):
        for row, column in ((index[a], index[b]), (index[b], index[a])):
            axis.add_patch(Rectangle((column - 0.5, row - 0.5), 1, 1, fill=False,
                                     edgecolor="black", linewidth=2.5))
    axis.set_title(f"{len(evaluation.non_invertible_pairs(table))} non-invertible pairs (framed)")
    return _finish(figure, path)


# ---------------------------------------------------------------------------------------
# Reconstruction images (sec. 3.3.1)
# ---------------------------------------------------------------------------------------


def _one_jet(features, event: int, name: str) -> np.ndarray:
    """`(n, 4)` features of one jet from `(n_jets, n, 4)` or `(n, 4)`."""
    array = _finite_array(features, name)
    if array.ndim == 3:
        if not -len(array) <= event < len(array):
            raise IndexError(f"event {event} is out of range for {len(array)} jets in {name}.")
        array = array[event]
    if array.ndim != 2 or array.shape[-1] != 4:
        raise ValueError(
            f"{name} must have shape (n_jets, n, 4) or (n, 4) with features "
            f"{FEATURE_NAMES}, got {np.shape(features)}."
        )
    return array


def _marker_area(lpt: np.ndarray) -> np.ndarray:
    """Scatter area (pt^2) for a marker whose size is proportional to 1 + 9 / (lpt + 1).

    lpt is clipped at 0 (its smallest physical value), so a reconstructed negative lpt
    cannot blow the marker up.
    """
    size = _MARKER_SCALE * (1 + 9 / (np.maximum(lpt, 0) + 1))
    return size**2


def plot_reconstruction(target, output, event: int = 0, path=None) -> Figure:
    """Input vs reconstructed jet (Klüttermann 2021, sec. 3.3.1, figs. 3.4 and 3.5).

    Left: d_phi vs d_eta of every real constituent, input red and output blue (a perfect
    reconstruction overlaps in violet); the marker size is proportional to
    1 + 9 / (lpt + 1), so the hardest constituents are the largest. Right: lpt by node
    index, input and output. Nodes are those the target marks real (flag = 1); the
    output is compared node by node, as the loss does. Show the same event every time.

    Args:
        target: `(n_jets, n, 4)` (or `(n, 4)`) preprocessed input features in the order
            (flag, d_eta, d_phi, lpt).
        output: the model's reconstruction, same shape.
        event: which jet to draw (ignored for `(n, 4)` inputs).
        path: where to write the PNG, or None.

    Returns:
        The `Figure` (2 axes).
    """
    if np.shape(target) != np.shape(output):
        raise ValueError(
            f"output must have the shape of target {np.shape(target)}, got {np.shape(output)}."
        )
    target_jet = _one_jet(target, event, "target")
    output_jet = _one_jet(output, event, "output")
    real = target_jet[:, 0] > 0.5
    nodes = np.flatnonzero(real)

    figure, (angles, momenta) = _figure(2, width=4.8)
    for jet, name, colour in ((target_jet, "input", _INPUT_COLOUR),
                              (output_jet, "output", _OUTPUT_COLOUR)):
        jet = jet[real]
        angles.scatter(jet[:, 1], jet[:, 2], s=_marker_area(jet[:, 3]), c=colour, alpha=0.5,
                       edgecolors="none", label=name)
        momenta.plot(nodes, jet[:, 3], "o-", c=colour, ms=4, label=name)
    angles.set(xlabel="d_eta", ylabel="d_phi", title=f"event {event}: angles")
    angles.set_aspect("equal", adjustable="datalim")
    for handle in angles.legend().legend_handles:
        handle.set_sizes([40.0])  # a fixed legend marker, whatever the jet's sizes
    momenta.set(xlabel="node index", ylabel="lpt = -log(pT / pT_jet)",
                title=f"event {event}: momenta")
    momenta.legend()
    return _finish(figure, path)


# ---------------------------------------------------------------------------------------
# Training history and the learned metric
# ---------------------------------------------------------------------------------------


def _history_columns(history) -> dict[str, np.ndarray]:
    """`{"loss": ..., "val_loss": ...}` from a dict, a DataFrame or a Keras History."""
    if isinstance(history, pd.DataFrame):
        history = {column: history[column] for column in history.columns}
    elif not isinstance(history, Mapping) and isinstance(getattr(history, "history", None), Mapping):
        history = history.history  # keras.callbacks.History
    if not isinstance(history, Mapping) or "loss" not in history:
        found = list(history) if isinstance(history, Mapping) else type(history).__name__
        raise ValueError(
            "history must be a dict of lists, a pandas DataFrame or a keras History with "
            f"a 'loss' entry (and optionally 'val_loss'); got {found}."
        )
    return {key: np.asarray(history[key], dtype=np.float64)
            for key in ("loss", "val_loss") if key in history}


def plot_history(history, path=None) -> Figure:
    """Training and validation loss per epoch on a log axis.

    The best validation epoch (the one `restore_best_weights` keeps) is marked.
    Non-finite losses (a diverged run) are left out and the first such epoch is named
    in the title; a log axis is used when every shown loss is positive.

    Args:
        history: `{"loss": [...], "val_loss": [...]}`, a DataFrame with those columns
            (e.g. from `keras.callbacks.CSVLogger`), or a `keras.callbacks.History`.
        path: where to write the PNG, or None.

    Returns:
        The `Figure` (1 axes).
    """
    columns = _history_columns(history)
    figure, (axis,) = _figure(1, width=5.5)
    positive, first_bad = True, None
    for key, colour in (("loss", _BACKGROUND_COLOUR), ("val_loss", _SIGNAL_COLOUR)):
        if key not in columns:
            continue
        values = columns[key]
        epochs = np.arange(1, len(values) + 1)
        finite = np.isfinite(values)
        if not finite.all():
            bad = int(epochs[~finite][0])
            first_bad = bad if first_bad is None else min(first_bad, bad)
        positive &= bool(np.all(values[finite] > 0))
        axis.plot(epochs[finite], values[finite], c=colour, label=key)
        if key == "val_loss" and finite.any():
            best = np.flatnonzero(finite)[np.argmin(values[finite])]
            axis.plot(epochs[best], values[best], "o", c=colour, ms=6,
                      label=f"best val_loss (epoch {epochs[best]})")
    if positive:
        axis.set_yscale("log")
    title = "training history" if first_bad is None else f"non-finite loss from epoch {first_bad}"
    axis.set(xlabel="epoch", ylabel="loss", title=title)
    axis.legend()
    return _finish(figure, path)


def plot_metric(weights, feature_names: Sequence[str] | None = None, path=None) -> Figure:
    """Bar chart of the learned diagonal metric of a `TopKGraph` (Klüttermann 2021, sec. B.4).

    d_ij = sum_f w_f (x_if - x_jf)^2: a large |w_f| makes feature f decide the graph's
    neighbours; a negative w_f (red bar) pushes nodes that differ in f *together*, a
    finding of the thesis, not a bug.

    Args:
        weights: `(F,)` metric weights of a trained TopKGraph (one per feature).
        feature_names: F names; default (flag, d_eta, d_phi, lpt) when F = 4, else
            "feature i".
        path: where to write the PNG, or None.

    Returns:
        The `Figure` (1 axes).
    """
    weights = _finite_array(weights, "weights")
    if weights.ndim != 1:
        raise ValueError(f"weights must have shape (F,), got {weights.shape}.")
    if feature_names is None:
        feature_names = (FEATURE_NAMES if len(weights) == len(FEATURE_NAMES)
                         else [f"feature {i}" for i in range(len(weights))])
    if len(feature_names) != len(weights):
        raise ValueError(
            f"feature_names must have {len(weights)} entries (one per weight), got "
            f"{len(feature_names)}."
        )
    figure, (axis,) = _figure(1, width=max(4.0, 0.8 * len(weights) + 1.5))
    colours = np.where(weights >= 0, _SIGNAL_COLOUR, _BACKGROUND_COLOUR)
    axis.bar(range(len(weights)), weights, color=colours)
    axis.axhline(0, c="black", lw=0.8)
    axis.set_xticks(range(len(weights)), feature_names)
    axis.set(xlabel="feature", ylabel="metric weight w_f", title="learned TopKGraph metric")
    return _finish(figure, path)
