"""The grapa command line, end to end on the bundled sample (tiny schedules)."""

import json
import subprocess
import sys

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from grapa.cli import main

TINY = ["--min-epochs", "2", "--patience", "1", "--max-epochs", "2"]


def test_demo_writes_the_full_report(tmp_path, capsys):
    assert main(["demo", "--out", str(tmp_path), *TINY]) == 0
    report_dir = tmp_path / "report"
    report = json.loads((report_dir / "report.json").read_text())
    assert {"auc", "rejection_at_0.3", "n_background", "n_signal", "model"} <= set(report)
    for figure in ("roc.png", "losses.png", "feature_auc_map.png", "reconstruction.png",
                   "history.png", "metric_encoder_0_graph.png"):
        png = (report_dir / figure).read_bytes()
        assert png.startswith(b"\x89PNG") and len(png) > 1000, figure
        assert f"]({figure})" in (report_dir / "report.md").read_text()
    scores = np.load(report_dir / "scores.npz")
    labels = np.r_[np.zeros(len(scores["background"])), np.ones(len(scores["signal"]))]
    expected = roc_auc_score(labels, np.r_[scores["background"], scores["signal"]])
    assert report["auc"] == pytest.approx(expected, abs=1e-12)
    assert report["n_background"] == len(scores["background"]) == 2800
    assert "AUC QCD vs top" in capsys.readouterr().out


def test_train_then_evaluate(tmp_path, capsys):
    from grapa.data import sample_path

    run = tmp_path / "run"
    assert main(["train", "--preset", "jets4", "--data", str(sample_path()), "--out", str(run),
                 "--n-train", "400", "--quiet", *TINY]) == 0
    assert (run / "model.keras").exists() and (run / "history.csv").exists()
    config = json.loads((run / "config.json").read_text())
    assert config["n_jets"] == 400 and config["label"] == 0
    assert main(["evaluate", "--model", str(run / "model.keras"), "--background",
                 str(sample_path()), "--out", str(tmp_path / "report"),
                 "--max-jets", "1000"]) == 0
    report = json.loads((tmp_path / "report" / "report.json").read_text())
    assert report["n_background"] + report["n_signal"] == 1000
    assert "history.png" in report["figures"]


def test_train_reports_data_errors_without_traceback(tmp_path, capsys):
    code = main(["train", "--data", str(tmp_path / "missing.h5"), "--out", str(tmp_path)])
    assert code == 2
    assert "missing.h5" in capsys.readouterr().err


def test_installed_command_defaults_to_jax(tmp_path):
    script = ("import os, grapa_cli, sys; os.environ.pop('KERAS_BACKEND', None); "
              "sys.argv = ['grapa', '--version']; grapa_cli.main(['--version']); "
              "import keras; print(keras.backend.backend())")
    env = {k: v for k, v in __import__("os").environ.items() if k != "KERAS_BACKEND"}
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         env=env, cwd=tmp_path, check=True).stdout
    assert out.split()[-1] == "jax"
