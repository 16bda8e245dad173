import json

import keras
import numpy as np
import pandas as pd
import pytest

import grapa


def test_train_writes_run_and_respects_min_epochs(sample_jets, tmp_path):
    qcd = sample_jets[0][:500, :4]
    model, history = grapa.train("jets4", qcd, out=tmp_path, n_train=500, max_epochs=6,
                                 min_epochs=4, patience=1, verbose=0)
    assert 4 <= len(history["loss"]) <= 6
    csv = pd.read_csv(tmp_path / "history.csv")
    assert list(csv["epoch"]) == list(range(len(history["loss"])))
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["preset"] == "jets4" and config["n_jets"] == 500
    assert config["epochs_run"] == len(history["loss"])
    loaded = keras.saving.load_model(tmp_path / "model.keras")
    np.testing.assert_array_equal(loaded.score(qcd[:20]), model.score(qcd[:20]))
    assert not (tmp_path / "backup").exists()


class Interrupt(keras.callbacks.Callback):
    def __init__(self, at_epoch):
        super().__init__()
        self.at_epoch = at_epoch

    def on_epoch_end(self, epoch, logs=None):
        if epoch == self.at_epoch:
            raise KeyboardInterrupt


def test_resume_continues_from_the_saved_epoch(sample_jets, tmp_path, monkeypatch):
    qcd = sample_jets[0][:300, :4]
    from grapa import callbacks as grapa_callbacks

    original = grapa_callbacks.recipe_callbacks
    monkeypatch.setattr("grapa.models.autoencoder.recipe_callbacks",
                        lambda *a, **k: original(*a, **k)[:-1] + [Interrupt(2)])
    with pytest.raises(KeyboardInterrupt):
        grapa.train("jets4", qcd, out=tmp_path, n_train=300, max_epochs=6, min_epochs=6,
                    verbose=0)
    assert len(pd.read_csv(tmp_path / "history.csv")) == 3  # epochs 0, 1, 2 finished
    monkeypatch.setattr("grapa.models.autoencoder.recipe_callbacks", original)
    _, history = grapa.train("jets4", qcd, out=tmp_path, n_train=300, max_epochs=6,
                             min_epochs=6, verbose=0)
    assert len(history["loss"]) == 3  # only epochs 3, 4, 5 ran again
    assert list(pd.read_csv(tmp_path / "history.csv")["epoch"]) == [0, 1, 2, 3, 4, 5]


def test_train_from_file_uses_background_label_only(tmp_path):
    from grapa.data import read_jets, sample_path

    model, _ = grapa.train("jets4", sample_path(), n_train=200, max_epochs=1, min_epochs=1,
                           verbose=0)
    _, labels = read_jets(sample_path(), n_constituents=4)
    assert np.any(labels == 1)  # the file has top jets, which train() left out
    with pytest.raises(ValueError, match="shape"):
        grapa.train("jets4", np.zeros((10, 9, 4)), max_epochs=1, verbose=0)


def test_train_density_writes_a_run_whose_reference_jets_are_its_training_jets(tmp_path):
    from grapa.data import read_jets, sample_path
    from grapa.training import reference_jets

    model, history = grapa.train_density(sample_path(), out=tmp_path, n_train=400, epochs=3,
                                         patience=1)
    assert 1 <= len(history["loss"]) <= 3
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["model"] == "density" and config["n_jets"] == 400 and config["label"] == 0
    assert len(pd.read_csv(tmp_path / "history.csv")) == len(history["loss"])
    jets, labels = read_jets(sample_path())
    expected = jets[labels == 0][:400]
    np.testing.assert_array_equal(reference_jets(tmp_path / "model.keras"), expected)
    loaded = keras.saving.load_model(tmp_path / "model.keras")
    np.testing.assert_allclose(loaded.score(expected[:20]), model.score(expected[:20]), rtol=1e-6)


def test_reference_jets_of_a_run_on_an_array_is_none(sample_jets, tmp_path):
    from grapa.training import reference_jets

    grapa.train_density(sample_jets[0][:100], out=tmp_path, n_train=100, epochs=1)
    assert reference_jets(tmp_path) is None
    assert reference_jets(tmp_path / "elsewhere") is None


def test_a_run_killed_mid_epoch_resumes_to_the_same_epochs(tmp_path):
    """SIGKILL a real `grapa train` after its first epochs; the rerun finishes the rest."""
    import signal
    import subprocess
    import sys
    import time

    from grapa.data import sample_path

    run = tmp_path / "run"
    command = [sys.executable, "-c", "import grapa_cli, sys; sys.exit(grapa_cli.main())",
               "train", "--preset", "jets4", "--data", str(sample_path()), "--out", str(run),
               "--n-train", "3000", "--batch-size", "10", "--min-epochs", "8",
               "--max-epochs", "8", "--patience", "8", "--quiet"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    history = run / "history.csv"

    def epochs_done():
        try:
            return len(pd.read_csv(history))
        except (OSError, pd.errors.EmptyDataError):
            return 0

    deadline = time.monotonic() + 300
    while epochs_done() < 2 and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait()
    killed_at = epochs_done()
    assert 2 <= killed_at < 8, "the run was not killed midway"
    assert (run / "backup").exists() and not (run / "model.keras").exists()

    result = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    assert list(pd.read_csv(history)["epoch"]) == list(range(8))  # each epoch once
    assert "trained jets4 for" in result.stdout
    assert not (run / "backup").exists()  # the backup goes once the run is complete
    assert keras.saving.load_model(run / "model.keras").score(
        sample_jets_of(sample_path())).shape == (10,)


def sample_jets_of(path):
    from grapa.data import read_jets

    return read_jets(path, n_constituents=4, stop=10)[0]
