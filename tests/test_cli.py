"""The grapa command line, end to end on the bundled sample (tiny schedules)."""

import json
import subprocess
import sys

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from grapa.cli import main

TINY = ["--min-epochs", "2", "--patience", "1", "--max-epochs", "2"]


def test_demo_writes_the_full_report(tmp_path, capsys, monkeypatch):
    from grapa.models import JetDensity

    # TINY shortens the autoencoder's training; the density scorer's fit (300 epochs at
    # most, ~70 s) gets 3 here: this test checks the report, test_density checks the fit
    fit = JetDensity.fit
    monkeypatch.setattr(JetDensity, "fit",
                        lambda self, jets, **kwargs: fit(self, jets, **{"epochs": 3, **kwargs}))
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
    # the model next to the recommended scorer and the baselines, fitted on its training jets
    assert set(report["compared"]) == {"density (recommended)", "mass", "observables"}
    assert report["n_reference"] == 8400 - 2800
    for row in report["compared"].values():
        assert row["n_background"] == 2800 and 0.5 < row["auc"] <= 1
    output = capsys.readouterr().out
    assert "AUC QCD vs top" in output and "density (recommended)" in output


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
    # baselines fitted on the run's own 400 training jets, found through config.json
    assert report["n_reference"] == 400 and set(report["compared"]) == {"mass", "observables"}


def test_train_density_then_evaluate_with_another_reference(tmp_path, capsys):
    from grapa.data import read_jets, sample_path, write_jets

    jets, labels = read_jets(sample_path(), stop=3000)
    data = tmp_path / "mixed.h5"
    write_jets(data, jets, labels)
    run = tmp_path / "density"
    assert main(["train", "--model", "density", "--data", str(data), "--out", str(run),
                 "--n-train", "600", "--max-epochs", "5", "--quiet"]) == 0
    assert "trained the density scorer" in capsys.readouterr().out
    data.unlink()  # the training file is gone: the report says how to compare anyway
    assert main(["evaluate", "--model", str(run / "model.keras"), "--background",
                 str(sample_path()), "--out", str(tmp_path / "bare"), "--max-jets", "800"]) == 0
    assert "pass --reference FILE" in capsys.readouterr().err
    assert json.loads((tmp_path / "bare" / "report.json").read_text())["compared"] == {}
    assert main(["evaluate", "--model", str(run / "model.keras"), "--background",
                 str(sample_path()), "--out", str(tmp_path / "report"), "--max-jets", "800",
                 "--reference", str(sample_path())]) == 0
    report = json.loads((tmp_path / "report" / "report.json").read_text())
    assert report["n_reference"] == int((read_jets(sample_path())[1] == 0).sum())
    assert report["figures"] == ["history.png", "losses.png", "roc.png"]
    assert "baseline observables" in capsys.readouterr().out


def test_train_on_a_signal_only_file_names_the_cli_flag(tmp_path, capsys):
    from grapa.data import read_jets, sample_path, write_jets

    jets, labels = read_jets(sample_path(), stop=500)
    write_jets(tmp_path / "top.h5", jets[labels == 1], labels[labels == 1])
    code = main(["train", "--model", "density", "--data", str(tmp_path / "top.h5"),
                 "--out", str(tmp_path / "run")])
    error = capsys.readouterr().err
    assert code == 2 and "--label -1" in error and "label=None" not in error


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


@pytest.mark.parametrize("backend", ["jax", "tensorflow"])
def test_installed_command_prints_no_tensorflow_cpp_log_line(tmp_path, backend):
    """TensorFlow's C++ logger ("Could not find cuda drivers", absl, cuInit) stays out."""
    import re

    env = {**__import__("os").environ, "KERAS_BACKEND": backend}
    env.pop("TF_CPP_MIN_LOG_LEVEL", None)
    from grapa.data import sample_path

    result = subprocess.run([sys.executable, "-c", "import grapa_cli, sys; sys.exit(grapa_cli.main())",
                             "train", "--data", str(sample_path()), "--out", str(tmp_path),
                             "--n-train", "200", "--quiet", *TINY],
                            capture_output=True, text=True, env=env, cwd=tmp_path, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    output = result.stdout + result.stderr
    cpp_lines = [line for line in output.splitlines()
                 if re.match(r"[IWEF]\d{4} ", line) or "absl" in line or "cuda" in line.lower()]
    assert cpp_lines == []
    assert "trained jets4 for 2 epochs" in result.stdout


def test_an_unexpected_error_is_one_line_and_verbose_shows_the_back_trace(monkeypatch, capsys):
    import grapa.data

    def broken(*args, **kwargs):
        raise RuntimeError("disk on fire\nsecond line")

    monkeypatch.setattr(grapa.data, "describe_jets", broken)
    assert main(["inspect", "any.h5"]) == 1
    error = capsys.readouterr().err
    assert error.strip().splitlines() == [
        "grapa inspect: error: RuntimeError: disk on fire second line (run again with "
        "--verbose for the full back trace)"]
    with pytest.raises(RuntimeError, match="disk on fire"):
        main(["inspect", "any.h5", "--verbose"])


def test_a_truncated_file_is_one_line_in_cli_terms(tmp_path, capsys):
    from grapa.data import sample_path

    cut = tmp_path / "cut.h5"
    cut.write_bytes(sample_path().read_bytes()[:50_000])
    assert main(["train", "--data", str(cut), "--out", str(tmp_path / "run")]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and "truncated file" in lines[0] and lines[0].startswith("grapa train")


def test_ray_flag_alone_means_local_and_takes_an_address():
    from grapa.cli import _build_parser

    parser = _build_parser()
    assert parser.parse_args(["scan", "scan.json"]).ray is None
    assert parser.parse_args(["scan", "scan.json", "--ray"]).ray == "local"
    assert parser.parse_args(["scan", "scan.json", "--ray", "auto"]).ray == "auto"
    args = parser.parse_args(["crosscheck", "a.h5", "b.h5", "--out", "x", "--ray=ray://head:10001"])
    assert args.ray == "ray://head:10001" and args.data == ["a.h5", "b.h5"]
    assert parser.parse_args(["crosscheck", "a.h5", "b.h5", "--out", "x"]).ray is None


def _scan_config(tmp_path, **change):
    from grapa.data import sample_path

    config = {"preset": "jets4", "background": str(sample_path()), "n_test": 300,
              "fixed": {"n_train": 200, "epochs": 1}, "grid": {"k": [3]}, **change}
    (tmp_path / "scan.json").write_text(json.dumps(config))
    return str(tmp_path / "scan.json")


def test_scan_from_the_command_line(tmp_path, capsys):
    import pandas as pd

    assert main(["scan", _scan_config(tmp_path), "--out", str(tmp_path / "out")]) == 0
    table = pd.read_csv(tmp_path / "out" / "scan.csv")
    assert table[["trial", "k", "epochs"]].values.tolist() == [[0, 3, 1]]
    assert 0 < table.loc[0, "auc"] < 1 and table.loc[0, "val_loss"] > 0
    assert "val_loss" in capsys.readouterr().out


def test_scan_errors_are_one_line_in_cli_terms(tmp_path, monkeypatch, capsys):
    assert main(["scan", _scan_config(tmp_path, grid={"lr": [1]})]) == 2
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1 and "unknown option 'lr' in 'grid'" in error[0]
    monkeypatch.setitem(sys.modules, "ray", None)  # Ray not installed
    assert main(["scan", _scan_config(tmp_path), "--ray"]) == 2
    error = capsys.readouterr().err
    assert 'pip install "grapa-keras[ray]"' in error and "run without --ray" in error
    assert main(["crosscheck", "a.h5", "b.h5", "--out", str(tmp_path), "--ray",
                 "--workers", "2"]) == 2
    assert "pass --ray or --workers, not both" in capsys.readouterr().err
    assert main(["crosscheck", "--ray", _scan_config(tmp_path), "b.h5", "--out", "x"]) == 2
    assert "put --ray after the files" in capsys.readouterr().err


@pytest.mark.parametrize("architecture", ["decompress", "epic"])
def test_train_generator_then_generate_writes_readable_jets(architecture, tmp_path, capsys):
    from grapa.data import read_jets, sample_path

    model = tmp_path / "gen.keras"
    assert main(["train-generator", str(sample_path()), "--jets", "200", "--constituents",
                 "6", "--factors", "2,3", "--epochs", "1", "--batch-size", "32",
                 "--validate-every", "1", "--architecture", architecture,
                 "--out", str(model), "--quiet"]) == 0
    assert "best validation: W1-M" in capsys.readouterr().out
    fake = tmp_path / "fake.h5"
    assert main(["generate", "--model", str(model), "--jets", "50", "--out", str(fake),
                 "--label", "0", "--seed", "1"]) == 0
    jets, labels = read_jets(fake)
    assert jets.shape == (50, 6, 4) and np.all(labels == 0) and np.all(np.isfinite(jets))
    # massless constituents
    real = np.any(jets != 0, axis=-1)
    mass2 = jets[..., 0] ** 2 - (jets[..., 1:] ** 2).sum(-1)
    assert np.all(np.abs(mass2[real]) <= 1e-3 * jets[..., 0][real] ** 2)


@pytest.mark.parametrize("flags, message", [
    (["--architecture", "decompress", "--constituents", "6", "--factors", "2,2"],
     "multiply to 4, not --constituents 6"),
    (["--factors", "5;6"], "--factors '5;6'"),
    (["--validation-fraction", "1.5"], "--validation-fraction 1.5"),
])
def test_train_generator_errors_name_the_flags(flags, message, tmp_path, capsys):
    from grapa.data import sample_path

    code = main(["train-generator", str(sample_path()), "--out", str(tmp_path / "g.keras"),
                 *flags])
    assert code == 2 and message in capsys.readouterr().err


def test_generate_refuses_a_model_that_is_no_generator(tmp_path, capsys):
    assert main(["generate", "--model", str(tmp_path / "none.keras"), "--jets", "5", "--out",
                 str(tmp_path / "x.h5")]) == 2
    assert "--model" in capsys.readouterr().err
