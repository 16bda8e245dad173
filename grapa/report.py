"""An evaluation report of one trained autoencoder: numbers, figures and a markdown page.

`write_report` scores held-out background and signal jets, writes `report.json`
(`auc`, `rejection_at_0.3`, `n_background`, `n_signal`, `model`), `scores.npz` (the raw
scores the numbers come from), every figure as PNG and `report.md` embedding them.
Reading it is explained in the docs ("Reading a report").
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from keras import ops

from grapa import evaluation, losses, plotting
from grapa.layers import TopKGraph

REPORT_EVENT = 0  # the fixed background event whose reconstruction is drawn


def learned_metrics(model):
    """`{layer name: metric weights}` of every TopKGraph in the model's encoder."""
    return {
        layer.name: np.asarray(layer.metric.numpy())
        for layer in model.encoder.layers
        if isinstance(layer, TopKGraph)
    }


def write_report(model, background, signal, out, history=None, model_name=None):
    """Score `background` and `signal` jets with `model` and write the report into `out`.

    Args:
        model: a trained `GraphAutoencoder` (anything with `reconstruct` and
            `score_reconstruction`).
        background: held-out background jets `(n_jets, n, 4)`.
        signal: signal jets `(n_jets, n, 4)`.
        out: the report directory (created).
        history: per-epoch logs (dict or DataFrame with `loss`, `val_loss`) for the
            training history figure, or None.
        model_name: how `report.json` names the model (default: the model's name).

    Returns:
        the `report.json` content as a dict.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    # One pass of the model per set: scores, feature losses and images all come from it.
    background_pair, signal_pair = model.reconstruct(background), model.reconstruct(signal)
    background_scores = model.score_reconstruction(*background_pair)
    signal_scores = model.score_reconstruction(*signal_pair)
    np.savez(out / "scores.npz", background=background_scores, signal=signal_scores)
    report = {
        "model": model_name or model.name,
        "auc": evaluation.auc(background_scores, signal_scores),
        "rejection_at_0.3": evaluation.rejection(background_scores, signal_scores, 0.3),
        "n_background": int(len(background_scores)),
        "n_signal": int(len(signal_scores)),
    }
    auc_map = evaluation.feature_auc_map(
        ops.convert_to_numpy(losses.squared_errors(*background_pair)),
        ops.convert_to_numpy(losses.squared_errors(*signal_pair)),
    )
    target, output = (part[REPORT_EVENT : REPORT_EVENT + 1] for part in background_pair)
    figures = {
        "roc.png": ("ROC curve", lambda p: plotting.plot_roc(background_scores, signal_scores, path=p)),
        "losses.png": ("Loss distributions", lambda p: plotting.plot_loss_distributions(
            background_scores, signal_scores, path=p)),
        "feature_auc_map.png": ("AUC feature map", lambda p: plotting.plot_feature_auc_map(auc_map, path=p)),
        "reconstruction.png": (f"Reconstruction of background event {REPORT_EVENT}",
                               lambda p: plotting.plot_reconstruction(target, output, path=p)),
    }
    if history is not None:
        figures["history.png"] = ("Training history", lambda p: plotting.plot_history(history, path=p))
    for name, weights in learned_metrics(model).items():
        figures[f"metric_{name}.png"] = (f"Learned metric of {name}",
                                         lambda p, w=weights: plotting.plot_metric(w, path=p))
    for filename, (_, draw) in figures.items():
        draw(out / filename)
    report["figures"] = sorted(figures)
    (out / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    (out / "report.md").write_text(_markdown(report, figures))
    return report


def _markdown(report, figures):
    lines = [
        f"# Evaluation report: {report['model']}",
        "",
        "| quantity | value |",
        "|---|---|",
        f"| AUC (signal = anomaly) | {report['auc']:.4f} |",
        f"| background rejection 1/eps_B at eps_S = 0.3 | {report['rejection_at_0.3']:.2f} |",
        f"| background test jets | {report['n_background']} |",
        f"| signal test jets | {report['n_signal']} |",
        "",
        "Scores are in `scores.npz`; see the docs page \"Reading a report\".",
        "",
    ]
    for filename, (title, _) in figures.items():
        lines += [f"## {title}", "", f"![{title}]({filename})", ""]
    return "\n".join(lines)
