"""A hyperparameter scan: each metric against each scanned option."""

from __future__ import annotations

from numbers import Real

import numpy as np
from matplotlib.figure import Figure

from grapa.plotting._common import _SIGNAL_COLOUR, _finish

_METRIC_LABELS = {"val_loss": "best validation loss", "auc": "AUC (signal vs background)"}


def plot_scan(table, options, metrics=("val_loss", "auc"), path=None) -> Figure:
    """Every trial of a scan: one panel per (metric, scanned option).

    Each trial is a dot at its option value; where values repeat (a grid), a line joins
    the mean over the trials with each value (the other options averaged over). Numeric options get a numeric
    axis, logarithmic when their values span more than a factor 10; other values
    (`"relu"`, `"[4, 4]"`) are categories in the order they first appear. Trials with
    a NaN metric (diverged) are left out of its panels and counted in the title.

    Args:
        table: `pandas.DataFrame` with a column per option and per metric, one row per
            trial (the table of `grapa.scan.scan`).
        options: the scanned option columns, one panel column each.
        metrics: the metric columns, one panel row each.
        path: where to write the PNG, or None.

    Returns:
        The `Figure` (`len(metrics) x len(options)` axes; one empty axes without options).
    """
    missing = [name for name in (*options, *metrics) if name not in table.columns]
    if missing:
        raise ValueError(f"table has no column {missing[0]!r}; its columns: "
                         f"{', '.join(map(str, table.columns))}.")
    options, metrics = list(options), list(metrics)
    figure = Figure(figsize=(3.6 * max(1, len(options)), 3.0 * max(1, len(metrics))),
                    layout="constrained")
    axes = figure.subplots(max(1, len(metrics)), max(1, len(options)), squeeze=False)
    for row, metric in enumerate(metrics):
        values = table[metric].to_numpy(dtype=float)
        finite = np.isfinite(values)
        for column, option in enumerate(options):
            axis = axes[row][column]
            x, labels = _positions(table[option].tolist())
            axis.scatter(x[finite], values[finite], color=_SIGNAL_COLOUR, alpha=0.6, s=18)
            means = [(p, values[finite & (x == p)].mean()) for p in np.unique(x[finite])]
            if 0 < len(means) < finite.sum():  # values repeat (a grid): join their means
                axis.plot(*zip(*means), color="black", linewidth=1)
            if labels is not None:
                axis.set_xticks(range(len(labels)), labels)
            elif len(np.unique(x)) > 1 and x.min() > 0 and x.max() / x.min() > 10:
                axis.set_xscale("log")
            elif len(np.unique(x)) <= 8:
                axis.set_xticks(np.unique(x))
            axis.set(xlabel=option, ylabel=_METRIC_LABELS.get(metric, metric) if column == 0 else None)
            if not finite.all():
                axis.set_title(f"{int((~finite).sum())} trial(s) NaN", fontsize="small")
    return _finish(figure, path)


def _positions(values):
    """x positions of an option's values, and category labels when they are not numbers."""
    if all(isinstance(v, Real) and not isinstance(v, bool) for v in values):
        return np.asarray(values, dtype=float), None
    labels = list(dict.fromkeys(str(v) for v in values))
    return np.array([labels.index(str(v)) for v in values], dtype=float), labels
