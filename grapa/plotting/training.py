"""What training leaves behind: the loss history and the learned TopKGraph metric."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from grapa.evaluation.metrics import _finite_array
from grapa.plotting._common import (
    _BACKGROUND_COLOUR,
    _SIGNAL_COLOUR,
    FEATURE_NAMES,
    _figure,
    _finish,
)


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
