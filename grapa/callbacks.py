"""Training callbacks for the thesis's recipe (Klüttermann 2021, sec. 4.4, appendix B.3.2).

Keras's own callbacks do most of the work: `CSVLogger` writes the history,
`BackupAndRestore` makes training resumable without losing an epoch, `TerminateOnNaN`
stops on a NaN loss. grapa adds early stopping that never stops before a minimum number
of epochs (but remembers the best epoch from the start) and a check of every weight
for NaN after training.
"""

from __future__ import annotations

import os
import shutil

import keras
import numpy as np


class MinimumEpochsEarlyStopping(keras.callbacks.EarlyStopping):
    """Early stopping that trains at least `min_epochs` epochs, then stops after `patience`
    epochs without improvement, and restores the best weights seen since epoch 1.

    The thesis trains "at least 500 epochs, then until the validation loss has not
    improved for 100 epochs" (sec. 4.4). Keras's `start_from_epoch` differs: it ignores
    the epochs before it, so a best epoch among them would never be restored.

    Args:
        min_epochs: never stop before this many epochs have run.
        patience: epochs without improvement before stopping.
        monitor: the quantity to watch (default `"val_loss"`).
        **kwargs: other `keras.callbacks.EarlyStopping` arguments.
    """

    def __init__(self, min_epochs=500, patience=100, monitor="val_loss",
                 restore_best_weights=True, **kwargs):
        super().__init__(monitor=monitor, patience=patience,
                         restore_best_weights=restore_best_weights, **kwargs)
        self.min_epochs = int(min_epochs)

    def on_epoch_end(self, epoch, logs=None):
        stopping_before = bool(self.model.stop_training)
        super().on_epoch_end(epoch, logs)
        # Veto only this callback's own stop, and only before the minimum.
        if self.model.stop_training and not stopping_before and epoch + 1 < self.min_epochs:
            self.model.stop_training = False
            self.stopped_epoch = 0


class NaNGuard(keras.callbacks.TerminateOnNaN):
    """Stop on a NaN or inf loss, and after training check every weight for NaN.

    Appendix B.3.2: a NaN can hide in a weight while the loss stays finite (e.g. the
    TopKGraph metric, which only orders neighbours). After training the names of all
    non-finite weights are in `nan_weights`, and a `FloatingPointError` naming them is
    raised when `raise_on_nan=True` (the default).
    """

    def __init__(self, raise_on_nan=True):
        super().__init__()
        self.raise_on_nan = raise_on_nan
        self.nan_weights = []
        self.nan_loss_epoch = None

    def on_epoch_end(self, epoch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not np.isfinite(loss):
            self.nan_loss_epoch = epoch
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        self.nan_weights = non_finite_weights(self.model)
        if self.nan_weights and self.raise_on_nan:
            raise FloatingPointError(
                f"training left non-finite values in {len(self.nan_weights)} weights: "
                f"{', '.join(self.nan_weights)}. Retrain with another seed or a smaller "
                "learning rate (thesis appendix B.3.2)."
            )


class ResumedCSVLogger(keras.callbacks.CSVLogger):
    """`CSVLogger` that appends, and drops rows of epochs that are about to run again.

    A run killed after writing epoch k's row but before its backup was saved resumes at
    epoch k (or, with a corrupt backup, at k - 1): without the trim, history.csv would
    hold those epochs twice. The first epoch a fit begins tells which rows to keep.
    """

    def __init__(self, filename, separator=","):
        super().__init__(filename, separator=separator, append=True)
        self._trimmed = False

    def on_epoch_begin(self, epoch, logs=None):
        if self._trimmed:
            return
        self._trimmed = True
        self.csv_file.close()
        with open(self.filename, encoding="utf-8") as file:
            lines = file.readlines()
        if lines:
            kept = lines[:1] + [line for line in lines[1:]
                                if line.strip() and int(line.split(self.sep, 1)[0]) < epoch]
            with open(self.filename, "w", encoding="utf-8") as file:
                file.writelines(kept)
        self.csv_file = open(self.filename, "a", encoding="utf-8")  # noqa: SIM115


def non_finite_weights(model):
    """Paths of the model's weights that hold NaN or inf."""
    return [w.path for w in model.weights if not np.all(np.isfinite(np.asarray(w.numpy())))]


def recipe_callbacks(out_dir=None, min_epochs=500, patience=100, resume=True):
    """The thesis's recipe as callbacks.

    Always `MinimumEpochsEarlyStopping` on `val_loss` and `NaNGuard` (last, so it checks
    the restored best weights). With `out_dir`, also `keras.callbacks.CSVLogger` to
    `history.csv` (`ResumedCSVLogger`) and `keras.callbacks.BackupAndRestore` in
    `backup/`, which keeps the previous backup too, so that a kill while it saves cannot
    leave it unreadable: with
    `resume=True` an interrupted run continues from its last finished epoch (the backup
    is deleted when training ends normally); with `resume=False` a stale backup and
    history are removed first.
    """
    callbacks = [MinimumEpochsEarlyStopping(min_epochs=min_epochs, patience=patience)]
    if out_dir is not None:
        os.makedirs(out_dir, exist_ok=True)
        backup_dir = os.path.join(out_dir, "backup")
        history = os.path.join(out_dir, "history.csv")
        if not (resume and os.path.isdir(backup_dir) and os.listdir(backup_dir)):
            shutil.rmtree(backup_dir, ignore_errors=True)
            if os.path.exists(history):
                os.remove(history)
        # double_checkpoint: a kill while the backup is written leaves the previous one
        callbacks += [
            ResumedCSVLogger(history),
            keras.callbacks.BackupAndRestore(backup_dir, delete_checkpoint=True,
                                             double_checkpoint=True),
        ]
    return callbacks + [NaNGuard()]
