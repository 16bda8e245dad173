"""`grapa cluster` / `grapa.cluster_report`: every jet's cluster, the report, the errors."""

import json

import keras
import numpy as np
import pandas as pd
import pytest

from grapa.cli import main
from grapa.cluster_report import read_classes
from grapa.data import read_jets, sample_path, write_jets
from grapa.evaluation import clustering_accuracy


@pytest.fixture(scope="module")
def two_files(tmp_path_factory):
    """300 QCD and 200 top jets of the bundled sample, one file each."""
    directory = tmp_path_factory.mktemp("classes")
    jets, labels = read_jets(sample_path(), stop=2000)
    qcd, top = directory / "qcd.h5", directory / "top.h5"
    write_jets(qcd, jets[labels == 0][:300], np.zeros(300))
    write_jets(top, jets[labels == 1][:200], np.ones(200))
    return qcd, top


def test_truth_is_the_file_or_the_label(two_files):
    qcd, top = two_files
    _, truth, names, frame = read_classes([qcd, top], jets_per_file=150)
    np.testing.assert_array_equal(truth, np.repeat([0, 1], 150))
    assert names == ["qcd", "top"] and frame["row"].iloc[150] == 0
    _, truth, names, _ = read_classes([sample_path()], jets_per_file=400)
    np.testing.assert_array_equal(truth, read_jets(sample_path(), stop=400)[1])
    assert names == ["is_signal_new=0", "is_signal_new=1"]
    _, truth, names, _ = read_classes([qcd])  # one label: nothing to score against
    assert truth is None and names is None


def test_cli_clusters_every_jet_and_scores_the_held_out_ones(two_files, tmp_path, capsys):
    qcd, top = two_files
    out = tmp_path / "clusters"
    assert main(["cluster", str(qcd), str(top), "--clusters", "2", "--out", str(out),
                 "--epochs", "2", "--pretrain-epochs", "1", "--constituents", "20",
                 "--start", "kmeans", "--quiet"]) == 0
    assert "clustered 500 jets into 2 clusters" in capsys.readouterr().out
    report = json.loads((out / "report.json").read_text())
    frame = pd.read_csv(out / "clusters.csv")
    assert len(frame) == 500 and (frame["split"] == "test").sum() == report["test_jets"] == 125
    assert report["cluster_sizes"] == np.bincount(frame["cluster"], minlength=2).tolist()
    assert report["centroid_start"] == "kmeans" and report["n_constituents"] == 20
    test = frame[frame["split"] == "test"]
    truth = (test["file"] == str(top)).to_numpy().astype(int)
    assert report["accuracy"]["ucluster"] == pytest.approx(
        clustering_accuracy(truth, test["cluster"]))
    assert 0.5 <= report["accuracy"]["mass_kmeans"] <= 1.0
    # the saved model gives the written clusters
    model = keras.saving.load_model(out / "model.keras")
    jets = read_jets(qcd)[0][test["row"][test["file"] == str(qcd)]]
    np.testing.assert_array_equal(model.predict_clusters(jets),
                                  test["cluster"][test["file"] == str(qcd)])
    for figure in ("confusion.png", "embedding.png", "history.png"):
        assert (out / figure).stat().st_size > 0
    assert "k-means on the jet mass" in (out / "report.md").read_text()


@pytest.mark.parametrize("flags, message", [
    (["--clusters", "1"], "--clusters 1: give at least 2"),
    (["--clusters", "2", "--test-fraction", "1.5"], "--test-fraction 1.5"),
    (["--clusters", "2", "--epochs", "5", "--pretrain-epochs", "5"],
     "give --pretrain-epochs below --epochs"),
    (["--clusters", "2", "--constituents", "0"], "--constituents 0: give at least 1"),
])
def test_cli_errors_name_the_flags(flags, message, two_files, tmp_path, capsys):
    assert main(["cluster", str(two_files[0]), "--out", str(tmp_path / "x"), *flags]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "x").exists()
