"""AUC heat maps: the (node, feature) AUC map and the cross table of many datasets.

Klüttermann 2021, sec. 3.3.2, 8.3. Colours: blue = AUC 1, white = 0.5, red = 0.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from grapa import evaluation
from grapa.evaluation.metrics import _finite_array
from grapa.plotting._common import FEATURE_NAMES, _figure, _finish

_ANNOTATE_MAX_CELLS = 256  # beyond this the numbers in an AUC map are unreadable


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
