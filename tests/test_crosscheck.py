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
    code = main(["crosscheck", *map(str, tiny_sets[:2]), "--model", "mixed", "--out", str(tmp_path),
                 "--epochs", "2", "--oneoffs", "2", "--oneoff-epochs", "3", "--jets", "80"])
    assert code == 0
    result = json.loads((tmp_path / "crosscheck.json").read_text())
    assert result["model"] == "mixed" and result["n_jets"] == {"qcd": 80, "top": 80}
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
    # (repeats as Ray tasks: test_crosscheck_on_ray_trains_each_repeat_as_a_task_...)
    from grapa.data import read_jets

    jets = read_jets(tiny_sets[0], n_constituents=4)[0]
    train, test = jets[:60], jets[60:]
    factory = ModelFactory(kind="autoencoder", epochs=2, seed=5, repeats=2)
    repeated = factory()
    repeated.fit(train)
    # the second repeat is the model of seed + 1, trained alone
    single = ModelFactory(kind="autoencoder", epochs=2, seed=6)()
    single.fit(train)
    np.testing.assert_allclose(repeated.models[1].score(test), single.score(test), rtol=1e-5)
    assert [model.factory.seed for model in repeated.models] == [5, 6]
    expected = sum(model.score(test) / np.mean(model.score(train)) for model in repeated.models)
    np.testing.assert_allclose(repeated.score(test), expected, rtol=1e-4)
    # scaled by their training means, each model's part averages 1 on the training jets
    np.testing.assert_allclose(np.mean(repeated.score(train)), 2.0, rtol=1e-5)


@pytest.fixture(scope="module")
def sample_files(tmp_path_factory):
    """Three 300-jet sets cut from the bundled sample, 30 constituents, as files."""
    from grapa.data import read_jets, sample_path, write_jets

    jets, labels = read_jets(sample_path(), n_constituents=30)
    qcd, top = jets[labels == 0], jets[labels == 1]
    folder = tmp_path_factory.mktemp("sample_sets")
    sets = {"qcd_a": qcd[:300], "qcd_b": qcd[300:600], "top": top[:300]}
    for name, part in sets.items():
        write_jets(folder / f"{name}.h5", part)
    return [folder / f"{name}.h5" for name in sets], sets


def test_crosscheck_on_ray_trains_each_repeat_as_a_task_and_averages_them(
        sample_files, local_ray, tmp_path):
    from grapa.evaluation import auc
    from grapa.evaluation.baselines import MassScorer, ObservablesScorer

    paths, sets = sample_files
    table = crosscheck(paths, tmp_path, ModelFactory(kind="observables", seed=1, repeats=3),
                       baselines=("mass",), ray="local")
    # by hand, in this process: three mixtures per row (seeds 1, 2, 3), likelihoods averaged
    halves = {name: (jets[:150], jets[150:]) for name, jets in sets.items()}
    expected, mass = np.full((3, 3), 0.5), np.full((3, 3), 0.5)
    for i, (row, (train, _)) in enumerate(halves.items()):
        models = [ObservablesScorer(seed=seed).fit(train) for seed in (1, 2, 3)]
        baseline = MassScorer().fit(train)
        scores = {name: np.mean([m.score(test) for m in models], axis=0)
                  for name, (_, test) in halves.items()}
        for j, name in enumerate(halves):
            if name != row:
                expected[i, j] = auc(scores[row], scores[name])
                mass[i, j] = auc(baseline.score(halves[row][1]), baseline.score(halves[name][1]))
    np.testing.assert_allclose(table.to_numpy(), expected, rtol=0, atol=1e-12)
    result = json.loads((tmp_path / "crosscheck.json").read_text())
    np.testing.assert_allclose(result["auc"], expected, rtol=0, atol=1e-12)
    np.testing.assert_allclose(result["baselines"]["mass"], mass, rtol=0, atol=1e-12)
    assert np.ptp(expected[expected != 0.5]) > 0.05  # the table is not trivially flat
    in_process = crosscheck(paths, tmp_path / "here", ModelFactory(kind="observables", seed=1,
                                                                   repeats=3), baselines=())
    np.testing.assert_allclose(in_process.to_numpy(), expected, rtol=0, atol=1e-12)

