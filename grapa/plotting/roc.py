"""ROC curves: one model's ROC and rejection, and the double ROC of an invertibility test.

Klüttermann 2021, sec. 3.1, 5.2.2.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from grapa import evaluation
from grapa.plotting._common import _BACKGROUND_COLOUR, _SIGNAL_COLOUR, _figure, _finish


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
