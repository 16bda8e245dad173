import keras
import numpy as np
import pytest

from grapa.callbacks import MinimumEpochsEarlyStopping, NaNGuard, non_finite_weights


class ScriptedLoss(keras.callbacks.Callback):
    """Overwrite val_loss with a scripted sequence (before the early stopping sees it)."""

    def __init__(self, values):
        super().__init__()
        self.values = values

    def on_epoch_end(self, epoch, logs=None):
        logs["val_loss"] = self.values[epoch]


def tiny_model():
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    return model


def fit(values, **kwargs):
    model = tiny_model()
    stopper = MinimumEpochsEarlyStopping(**kwargs)
    history = model.fit(np.ones((4, 2)), np.ones((4, 1)), epochs=len(values), verbose=0,
                        callbacks=[ScriptedLoss(values), stopper])
    return len(history.history["loss"]), stopper


def test_never_stops_before_min_epochs():
    # Best at epoch 1, then worse: patience 2 would stop at epoch 4, min_epochs says 8.
    values = [1.0, 0.5] + [0.9] * 18
    epochs, stopper = fit(values, min_epochs=8, patience=2)
    assert epochs == 8
    assert stopper.best_epoch == 1  # the best epoch before the minimum is remembered


def test_stops_after_patience_once_past_min_epochs():
    values = [1.0, 0.9, 0.8, 0.7, 0.6, 0.65, 0.66, 0.67, 0.68, 0.69]
    epochs, stopper = fit(values, min_epochs=3, patience=3)
    assert epochs == 8 and stopper.best_epoch == 4


def test_restores_the_best_weights():
    model = tiny_model()
    snapshots = []

    class Snapshot(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            snapshots.append(model.get_weights())

    values = [1.0, 0.2, 0.5, 0.6, 0.7]
    model.fit(np.ones((4, 2)), np.ones((4, 1)), epochs=5, verbose=0,
              callbacks=[ScriptedLoss(values), Snapshot(),
                         MinimumEpochsEarlyStopping(min_epochs=1, patience=10)])
    for restored, best in zip(model.get_weights(), snapshots[1]):
        np.testing.assert_array_equal(restored, best)


def test_nan_guard_names_nan_weights():
    model = tiny_model()
    model.fit(np.ones((4, 2)), np.ones((4, 1)), epochs=1, verbose=0)
    kernel = model.layers[0].kernel
    kernel.assign(np.array([[np.nan], [1.0]], "float32"))
    assert non_finite_weights(model) == [kernel.path]
    guard = NaNGuard()
    guard.set_model(model)
    with pytest.raises(FloatingPointError, match=kernel.path):
        guard.on_train_end()


def test_nan_guard_stops_on_nan_loss():
    model = tiny_model()
    x = np.ones((4, 2), "float32")
    y = np.array([[np.nan]] * 4, "float32")
    guard = NaNGuard(raise_on_nan=False)
    history = model.fit(x, y, epochs=5, verbose=0, callbacks=[guard])
    assert len(history.history["loss"]) == 1


def test_resumed_csv_logger_drops_the_rows_of_epochs_that_run_again(tmp_path):
    import keras
    import numpy as np
    import pandas as pd

    from grapa.callbacks import ResumedCSVLogger

    path = tmp_path / "history.csv"
    path.write_text("epoch,loss,val_loss\n0,4.0,\n1,3.0,\n2,2.0,\n3,1.0,\n")  # epochs 2, 3 were lost
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile("sgd", "mse")
    model.fit(np.zeros((4, 2)), np.zeros((4, 1)), epochs=4, initial_epoch=2, verbose=0,
              callbacks=[ResumedCSVLogger(str(path))])
    history = pd.read_csv(path)
    assert list(history["epoch"]) == [0, 1, 2, 3]
    assert list(history["loss"][:2]) == [4.0, 3.0] and history["loss"][2] != 2.0
