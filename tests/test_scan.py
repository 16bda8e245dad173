"""grapa.scan: a 2 x 2 grid on the bundled sample, in this process and on local Ray."""

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from grapa.data import read_jets, sample_path
from grapa.scan import ScanConfig, read_scan_config, scan, trials

N_TEST, N_TRAIN = 300, 300
GRID = {"preset": "jets4", "background": str(sample_path()), "n_test": N_TEST,
        "fixed": {"n_train": N_TRAIN, "epochs": 2, "seed": 4},
        "grid": {"learning_rate": [0.001, 0.01], "k": [2, 4]}}


@pytest.fixture(scope="module")
def grid_scan(tmp_path_factory):
    out = tmp_path_factory.mktemp("scan")
    return scan(GRID, out), out


def test_grid_scan_tables_every_trial_as_training_it_alone_gives(grid_scan):
    import grapa

    table, out = grid_scan
    assert list(table.columns) == ["learning_rate", "k", "val_loss", "auc", "epochs", "seconds"]
    assert table[["learning_rate", "k"]].values.tolist() == [[0.001, 2], [0.001, 4],
                                                              [0.01, 2], [0.01, 4]]
    assert (table["epochs"] == 2).all() and (table["seconds"] > 0).all()
    # trial 3 by hand: the sample's QCD jets train and test, its top jets are the signal
    jets, labels = read_jets(sample_path(), n_constituents=4)
    qcd, top = jets[labels == 0], jets[labels == 1]
    model, history = grapa.train("jets4", qcd[:N_TRAIN], n_train=N_TRAIN, min_epochs=2,
                                 max_epochs=2, patience=5, learning_rate=0.01, k=4, seed=4,
                                 verbose=0)
    background, signal = model.score(qcd[-N_TEST:]), model.score(top[:N_TEST])
    expected_auc = roc_auc_score(np.r_[np.zeros(N_TEST), np.ones(N_TEST)], np.r_[background, signal])
    assert table.loc[3, "val_loss"] == pytest.approx(min(history["val_loss"]), rel=1e-6)
    assert table.loc[3, "auc"] == pytest.approx(expected_auc, abs=1e-9)
    # the options change the result
    assert table["val_loss"].nunique() == 4
    written = pd.read_csv(out / "scan.csv", index_col="trial")
    pd.testing.assert_frame_equal(written, table, check_exact=False, rtol=1e-12)
    pd.testing.assert_frame_equal(pd.read_parquet(out / "scan.parquet"), table)
    assert (out / "scan.png").read_bytes().startswith(b"\x89PNG")


def test_grid_scan_on_local_ray_gives_the_same_table(grid_scan, local_ray, tmp_path):
    table, _ = grid_scan
    # trial 3 of the grid (learning_rate 0.01, k = 4) as a Ray Tune trial: one trial,
    # as each costs a worker's start (~1 minute of CI)
    on_ray = scan({**GRID, "grid": {"learning_rate": [0.01], "k": [4]}}, tmp_path, ray=True)
    # Ray's workers compute on one thread: sums in another order, equal to ~1e-6 (the
    # trials differ from each other by > 1e-2)
    expected = table.loc[[3]].drop(columns="seconds").reset_index(drop=True)
    pd.testing.assert_frame_equal(on_ray.drop(columns="seconds").reset_index(drop=True),
                                  expected, check_exact=False, rtol=1e-4, atol=0)


def test_random_draws_are_seeded_in_range_and_per_grid_point():
    config = {**GRID, "random": {"samples": 3, "seed": 7, "options": {
        "batch_size": {"choice": [50, 100]}, "learning_rate": {"loguniform": [1e-4, 1e-2]},
        "updates_per_stage": {"randint": [1, 4]}}}, "grid": {"k": [2, 3]}}
    points = trials(config)
    assert len(points) == 2 * 3 and [p["k"] for p in points] == [2, 2, 2, 3, 3, 3]
    assert all(p["n_train"] == N_TRAIN and p["epochs"] == 2 for p in points)
    rng = np.random.default_rng(7)  # the documented order: option by option, trial by trial
    for p in points:
        assert p["batch_size"] == [50, 100][rng.integers(2)]
        assert p["learning_rate"] == pytest.approx(np.exp(rng.uniform(np.log(1e-4), np.log(1e-2))))
        assert p["updates_per_stage"] == rng.integers(1, 4)
    assert trials(config) == points
    reseeded = trials({**config, "random": {**config["random"], "seed": 8}})
    assert [p["learning_rate"] for p in reseeded] != [p["learning_rate"] for p in points]


@pytest.mark.parametrize("change, message", [
    ({"grd": {}}, "unknown key 'grd'; valid: preset, background"),
    ({"grid": {"lr": [1]}}, "unknown option 'lr' in 'grid'; valid options of jets4: activation"),
    ({"grid": {"k": 4}}, "grid option 'k' must be a non-empty list"),
    ({"fixed": {"k": 4}, "grid": {"k": [2]}}, "'k' is in both 'fixed' and 'grid'"),
    ({"random": {"options": {"batch_size": {"normal": [0, 1]}}}}, "random option 'batch_size' must be one of"),
    ({"random": {"options": {"batch_size": {"uniform": [1, 0]}}}}, "low < high"),
    ({"random": {"sample": 2}}, "unknown key of 'random' 'sample'; valid: samples, seed, options"),
    ({"preset": "jets5"}, "unknown preset 'jets5'; valid: jets16, jets4, jets9"),
    ({"grid": {"compression": [[4], [3]]}}, "scan trial 1 (compression=[3]): compression factors (3,) must multiply to n_nodes=4"),
    ({"fixed": {"epochs": 2, "max_epochs": 3}}, "drop max_epochs or epochs"),
])
def test_config_errors_name_the_key_and_the_valid_ones(change, message):
    with pytest.raises(ValueError) as error:
        trials({**GRID, **change})
    assert message in str(error.value)


def test_config_files_json_and_yaml_with_paths_relative_to_them(tmp_path):
    (tmp_path / "scan.json").write_text(json.dumps({**GRID, "background": "qcd.h5"}))
    config = read_scan_config(tmp_path / "scan.json")
    assert isinstance(config, ScanConfig) and config.background == str(tmp_path / "qcd.h5")
    assert config.scanned == ["learning_rate", "k"]
    yaml = pytest.importorskip("yaml")
    (tmp_path / "scan.yaml").write_text(yaml.safe_dump(GRID))
    assert read_scan_config(tmp_path / "scan.yaml") == read_scan_config(GRID)


def test_asking_for_ray_without_it_says_how_to_install(monkeypatch, tmp_path):
    import sys

    from grapa.parallel import RayNotInstalledError

    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` raises ImportError
    with pytest.raises(RayNotInstalledError, match=r'pip install "grapa-keras\[ray\]"'):
        scan(GRID, tmp_path, ray=True)
    assert not (tmp_path / "scan.csv").exists()


def test_a_trial_that_met_nan_is_a_row_that_says_so(monkeypatch):
    from grapa.scan import ScanData, run

    jets = np.ones((10, 4, 4), "float32")
    data = ScanData(train=jets, test=jets, signal=None)
    monkeypatch.setattr(run, "train", lambda *args, **kwargs: (
        None, {"loss": [2.0, 1.0, np.nan], "val_loss": [1.5, 0.5, np.nan]}))
    result = run.run_trial("jets4", data, {"n_train": 10})
    assert result["val_loss"] == 0.5 and result["epochs"] == 3  # the best finite epoch
    assert "loss stopped training after 3 epochs" in result["error"]

    def left_nan_in_weights(*args, **kwargs):
        raise FloatingPointError("training left non-finite values in 1 weights: w.")

    monkeypatch.setattr(run, "train", left_nan_in_weights)
    result = run.run_trial("jets4", ScanData(train=jets, test=jets, signal=jets), {})
    assert np.isnan(result["val_loss"]) and np.isnan(result["auc"])
    assert result["error"] == "training left non-finite values in 1 weights: w."
