"""An evaluation report of one trained model next to the baselines, on the same test jets.

`write_report` scores held-out background and signal jets with the model and with the
baseline scorers (fitted on the background jets the model was trained on), and writes
`report.json` (`auc`, `auc_error`, `rejection_at_0.3`, `n_background`, `n_signal`,
`model`, and the same figures for every baseline under `compared`), `scores.npz` (the
raw scores the numbers come from), every figure as PNG and `report.md` embedding them.
A model is only interesting where it beats the trivial scorers (Klüttermann 2021, sec.
5.2.1), so the comparison is part of every report. Reading it is explained in the docs
("Reading a report").
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

import numpy as np
from keras import ops

from grapa import evaluation, losses, plotting
from grapa.evaluation.baselines import DEFAULT_BASELINES, baseline_scorers
from grapa.layers import TopKGraph

REPORT_EVENT = 0  # the fixed background event whose reconstruction is drawn
SIGNAL_EFFICIENCY = 0.3  # the working point of the quoted background rejection


def learned_metrics(model):
    """`{layer name: metric weights}` of every TopKGraph in the model's encoder."""
    encoder = getattr(model, "encoder", None)
    return {} if encoder is None else {
        layer.name: np.asarray(layer.metric.numpy())
        for layer in encoder.layers
        if isinstance(layer, TopKGraph)
    }


def model_constituents(model) -> int | None:
    """Constituents per jet that `model` reads: an autoencoder's input nodes, else None (all)."""
    encoder = getattr(model, "encoder", None)
    return None if encoder is None else int(encoder.input_shape[1])


def write_report(model, background, signal, out, history=None, model_name=None,
                 reference=None, compared=DEFAULT_BASELINES):
    """Score `background` and `signal` jets with `model` and the baselines; write the report.

    Args:
        model: a trained model with `score(jets)` (higher = more anomalous), e.g.
            `grapa.models.JetDensity`; a `GraphAutoencoder` (anything with `reconstruct`
            and `score_reconstruction`) also gets the feature AUC map, a reconstruction
            image and its learned metrics. It sees the first `model_constituents(model)`
            constituents of every jet.
        background: held-out background jets `(n_jets, n, 4)`, as many constituents as
            there are (the baselines' observables are sums over the whole jet).
        signal: signal jets `(n_jets, n, 4)`.
        out: the report directory (created).
        history: per-epoch logs (dict or DataFrame with `loss`, `val_loss`) for the
            training history figure, or None.
        model_name: how `report.json` names the model (default: the model's name).
        reference: the background jets the model was trained on, to fit the compared
            scorers on; None leaves them out (the report says so).
        compared: the scorers tabled beside the model: names of
            `grapa.evaluation.BASELINES`, or a mapping name -> unfitted scorer with
            `fit(jets)` and `score(jets)` (default: the mass and observables baselines).

    Returns:
        the `report.json` content as a dict.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    n = model_constituents(model)
    background_in, signal_in = background[:, :n], signal[:, :n]
    reconstructs = hasattr(model, "reconstruct")
    if reconstructs:
        # One pass of the model per set: scores, feature losses and images all come from it.
        background_pair, signal_pair = model.reconstruct(background_in), model.reconstruct(signal_in)
        background_scores = model.score_reconstruction(*background_pair)
        signal_scores = model.score_reconstruction(*signal_pair)
    else:
        background_scores, signal_scores = model.score(background_in), model.score(signal_in)
    model_scores = (np.asarray(background_scores), np.asarray(signal_scores))
    scorers = dict(compared) if isinstance(compared, Mapping) else baseline_scorers(compared)
    compared_scores = {}
    if reference is not None:
        for name, scorer in scorers.items():
            scorer.fit(reference)
            compared_scores[name] = (scorer.score(background), scorer.score(signal))
    np.savez(out / "scores.npz", background=model_scores[0], signal=model_scores[1],
             **{f"{name}_{part}": values[k] for name, values in compared_scores.items()
                for k, part in enumerate(("background", "signal"))})
    report = {"model": model_name or model.name, **_figures_of(*model_scores),
              "compared": {name: _figures_of(*pair) for name, pair in compared_scores.items()}}
    if reference is not None:
        report["n_reference"] = int(len(reference))
    elif scorers:
        report["compared_skipped"] = (
            "no reference jets (the background the model was trained on) to fit "
            f"{', '.join(scorers)} on")

    figures = {
        "roc.png": ("ROC curves", lambda p: _plot_rocs(
            {_legend_name(report["model"]): model_scores, **compared_scores}, p)),
        "losses.png": ("Score distributions", lambda p: plotting.plot_loss_distributions(
            *model_scores, path=p)),
    }
    if reconstructs:
        auc_map = evaluation.feature_auc_map(
            ops.convert_to_numpy(losses.squared_errors(*background_pair)),
            ops.convert_to_numpy(losses.squared_errors(*signal_pair)),
        )
        target, output = (part[REPORT_EVENT : REPORT_EVENT + 1] for part in background_pair)
        figures["feature_auc_map.png"] = ("AUC feature map", lambda p: plotting.plot_feature_auc_map(
            auc_map, path=p))
        figures["reconstruction.png"] = (f"Reconstruction of background event {REPORT_EVENT}",
                                         lambda p: plotting.plot_reconstruction(target, output, path=p))
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


def _figures_of(background_scores, signal_scores) -> dict:
    area = evaluation.auc(background_scores, signal_scores)
    return {
        "auc": area,
        "auc_error": evaluation.auc_standard_error(area, len(background_scores), len(signal_scores)),
        f"rejection_at_{SIGNAL_EFFICIENCY}": evaluation.rejection(
            background_scores, signal_scores, SIGNAL_EFFICIENCY),
        "n_background": int(len(background_scores)),
        "n_signal": int(len(signal_scores)),
    }


def _plot_rocs(scores, path):
    """Every scorer's ROC curve (`{legend name: (background, signal) scores}`) in one figure."""
    figure, last = None, len(scores) - 1
    for k, (name, (background_scores, signal_scores)) in enumerate(scores.items()):
        figure = plotting.plot_roc(background_scores, signal_scores,
                                   path=path if k == last else None,
                                   axes=None if figure is None else figure.axes, label=name)
    return figure


def _legend_name(name: str, width: int = 28) -> str:
    """A model's name short enough for a legend: a path's last two parts, then cut."""
    short = "/".join(Path(name).parts[-2:]) if "/" in name else name
    return short if len(short) <= width else "..." + short[-(width - 3):]


def _markdown(report, figures):
    rejection = f"rejection_at_{SIGNAL_EFFICIENCY}"
    rows = {report["model"]: report, **report["compared"]}
    lines = [
        f"# Evaluation report: {report['model']}",
        "",
        f"{report['n_background']} background and {report['n_signal']} signal test jets. "
        "Every scorer below was fitted on the same background training jets and scores the "
        "same test jets.",
        "",
        f"| scorer | AUC (signal = anomaly) | background rejection 1/eps_B at eps_S = "
        f"{SIGNAL_EFFICIENCY} |",
        "|---|---|---|",
        *(f"| {name} | {row['auc']:.4f} +- {row['auc_error']:.4f} | {row[rejection]:.2f} |"
          for name, row in rows.items()),
        "",
    ]
    if report["compared"]:
        best_name, best = max(report["compared"].items(), key=lambda item: item[1]["auc"])
        difference = report["auc"] - best["auc"]
        error = float(np.hypot(report["auc_error"], best["auc_error"]))
        verdict = "beats" if difference > 2 * error else (
            "is beaten by" if difference < -2 * error else "is within two errors of")
        lines += [f"The model {verdict} the best compared scorer ({best_name}): AUC difference "
                  f"{difference:+.4f} +- {error:.4f}.", ""]
    elif "compared_skipped" in report:
        lines += [f"Baselines left out: {report['compared_skipped']}.", ""]
    lines += ["AUC errors are one standard error (Hanley-McNeil). Scores are in `scores.npz`; "
              "see the docs page \"Reading a report\".", ""]
    for filename, (title, _) in figures.items():
        lines += [f"## {title}", "", f"![{title}]({filename})", ""]
    return "\n".join(lines)
