"""Score distributions of background and signal (Klüttermann 2021, sec. 3.1.1)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib.figure import Figure

from grapa.evaluation.metrics import _scores
from grapa.plotting._common import _BACKGROUND_COLOUR, _SIGNAL_COLOUR, _figure, _finish


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
