"""grapa crosscheck on three tiny simulated datasets."""

import json

import numpy as np
import pytest

from grapa.cli import main
from grapa.crosscheck import ModelFactory, crosscheck, dataset_names

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def tiny_sets(tmp_path_factory):
    from grapa.data import simulate

    folder = tmp_path_factory.mktemp("sets")
    return [simulate(process, 120, folder / f"{process}.h5", seed=seed, n_constituents=8,
                     progress=False)
            for seed, process in enumerate(("qcd", "top", "gluon"), start=21)]


def test_angular_crosscheck_writes_table_json_md_and_png(tiny_sets, tmp_path):
    table = crosscheck(tiny_sets, tmp_path, ModelFactory(kind="angular"))
    result = json.loads((tmp_path / "crosscheck.json").read_text())
    assert result["datasets"] == ["qcd", "top", "gluon"]
    auc = np.array(result["auc"])
    assert auc.shape == (3, 3) and np.all(np.diag(auc) == 0.5)
    np.testing.assert_allclose(auc, table.to_numpy())
    # Top jets are wider than QCD jets: a width scorer trained on QCD finds top ...
    assert auc[0, 1] > 0.7
    # ... and, trained on top, finds QCD *less* anomalous than top: not invertible.
    assert auc[1, 0] < 0.5
    assert ["qcd", "top"] in result["non_invertible_pairs"]
    assert (tmp_path / "crosscheck.png").read_bytes().startswith(b"\x89PNG")
    assert "qcd <-> top" in (tmp_path / "crosscheck.md").read_text()


def test_mixed_crosscheck_from_the_command_line(tiny_sets, tmp_path, capsys):
    code = main(["crosscheck", *map(str, tiny_sets), "--model", "mixed", "--out", str(tmp_path),
                 "--epochs", "2", "--oneoffs", "2", "--oneoff-epochs", "3", "--jets", "80"])
    assert code == 0
    result = json.loads((tmp_path / "crosscheck.json").read_text())
    assert result["model"] == "mixed" and result["n_jets"] == {"qcd": 80, "top": 80, "gluon": 80}
    auc = np.array(result["auc"])
    assert np.all((auc >= 0) & (auc <= 1))
    assert "trained on" in capsys.readouterr().out


def test_dataset_names_are_unique():
    assert dataset_names(["a/qcd.h5", "b/qcd.h5", "top.h5"]) == ["qcd", "qcd_2", "top"]


def test_crosscheck_needs_two_datasets(tiny_sets, tmp_path):
    with pytest.raises(ValueError, match="at least two"):
        crosscheck(tiny_sets[:1], tmp_path)
    with pytest.raises(ValueError, match="model must be"):
        ModelFactory(kind="svm")
    with pytest.raises(ValueError, match="repeats must be"):
        ModelFactory(repeats=0)


def test_repeats_add_each_models_scores_scaled_by_its_training_mean(tiny_sets):
    from grapa.data import read_jets

    jets = read_jets(tiny_sets[0], n_constituents=4)[0]
    train, test = jets[:60], jets[60:]
    factory = ModelFactory(kind="autoencoder", epochs=2, seed=5, repeats=2)
    repeated = factory()
    repeated.fit(train)
    expected = 0.0
    for seed in (5, 6):  # seed, seed + 1
        single = ModelFactory(kind="autoencoder", epochs=2, seed=seed)()
        single.fit(train)
        expected = expected + single.score(test) / np.mean(single.score(train))
    np.testing.assert_allclose(repeated.score(test), expected, rtol=1e-4)
    # scaled by their training means, each model's part averages 1 on the training jets
    np.testing.assert_allclose(np.mean(repeated.score(train)), 2.0, rtol=1e-5)
