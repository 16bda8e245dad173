"""Oneoff (one-class) networks and ensembles of them (Klüttermann 2021, ch. 7.1 and E).

A oneoff network is trained on background only, to output 1 for every event; the
distance of its output from the background's mean output is the anomaly score:

```python
model = build_oneoff(input_dim=64, hidden=(32, 16), outputs=4)
model.fit(background, epochs=200)       # targets of ones are made internally
scores = model.score(events)            # |mean_m(y) - mu|, higher = more anomalous
model.save("oneoff.keras")              # mu travels with the model

ensemble = OneOffEnsemble(n=25, seed=0)
ensemble.fit(background, epochs=200)
scores = ensemble.score(events)         # sum over members of |mean_m(y_i) - mu_i|
ensemble.save("ensemble.keras")
```

This module holds the single network (`OneOffNetwork`, `build_oneoff`); the ensemble
lives in `grapa.models.ensemble`, the losses in `grapa.models.oneoff_loss`, the random
negatives in `grapa.models.oneoff_data`. All of them can be imported from here.

Two details decide whether the score works (T E.2.5):

- **The biased mean.** Trained on `(y - 1)^2`, the network trades the distance of its
  mean output from 1 against the width of its output distribution: with outputs
  `a * i`, `i` of mean 1 and relative width `s`, the loss `(a - 1)^2 + a^2 s^2` is
  smallest at `a = 1 / (1 + s^2) < 1`. Scoring with `|y - 1|` then calls background
  events in the upper half of their peak *more* normal than the peak itself. grapa
  therefore always scores with the **readjusted mean** `|mean_m(y) - mu|`, `mu` the
  mean of `mean_m(y)` over the training background, stored in the model.
- **The mean/variance loss** (`loss="mean_var"`, `grapa.models.oneoff_loss`): a width
  term divided by the second moment, so that its optimum is `mean(y) = 1` exactly.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import keras
import numpy as np
from keras import ops

from grapa.layers.oneoff import OneOff
from grapa.models.oneoff_data import _features, _training_set, random_negatives
from grapa.models.oneoff_loss import LOSSES, MeanVarianceLoss, oneoff_loss

if TYPE_CHECKING:
    from grapa.models.ensemble import OneOffEnsemble

__all__ = [
    "LOSSES",
    "MeanVarianceLoss",
    "OneOffEnsemble",
    "OneOffNetwork",
    "build_oneoff",
    "oneoff_loss",
    "random_negatives",
]

# Re-exported from grapa.models.ensemble on first use: the ensemble is built from
# OneOffNetwork, so importing it here at load time would be circular.
_FROM_ENSEMBLE = ("MEMBER_SEED_STRIDE", "OneOffEnsemble")


def __getattr__(name):
    if name in _FROM_ENSEMBLE:
        from grapa.models import ensemble

        return getattr(ensemble, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@keras.saving.register_keras_serializable(package="grapa")
class OneOffNetwork(keras.Model):
    r"""A oneoff network with its readjusted-mean scorer (Klüttermann 2021, sec. 7.1, E.2.5).

    `call(x)` gives the raw outputs `(batch, outputs)` of a `grapa.layers.OneOff` head;
    `fit(background)` trains them towards 1 and then stores the readjusted mean

    $$ \mu = \operatorname{mean}_\text{background}\, \operatorname{mean}_m\, y, $$

    as the non-trainable weight `background_mean`, so that the score
    $|\operatorname{mean}_m y - \mu|$ survives `save` / `keras.saving.load_model`.
    Until `fit` or `readjust` sets it, $\mu = 1$ (T's plain $|y - 1|$).

    Build one with `build_oneoff`, which also compiles it.

    Args:
        input_dim: number of input features.
        hidden: widths of the hidden layers.
        outputs: number of outputs `m`, all trained towards 1 (T fn. 80).
        activation: activation between the kernels.
        seed: seed of the kernel initializers (None: from Python's global `random`).
        **kwargs: `keras.Model` arguments (`name`, ...).
    """

    def __init__(self, input_dim, hidden=(32, 16), outputs=4, activation="relu", seed=None,
                 **kwargs):
        super().__init__(**kwargs)
        self.input_dim = int(input_dim)
        self.head = OneOff(hidden=hidden, outputs=outputs, activation=activation, seed=seed,
                           name="oneoff")
        self.background_mean = self.add_weight(
            name="background_mean", shape=(), initializer="ones", trainable=False
        )
        self.build((None, self.input_dim))

    def build(self, input_shape):
        if not self.head.built:
            self.head.build(input_shape)

    def call(self, x):
        return self.head(x)

    def fit(
        self,
        x=None,
        y=None,
        *,
        random_negatives=False,
        epochs=100,
        batch_size=64,
        validation_split=0.2,
        patience=10,
        callbacks=None,
        verbose="auto",
        seed=None,
        **kwargs,
    ):
        """Train every output towards 1 on the background `x`, then readjust the mean.

        Args:
            x: `(events, input_dim)` background; no targets (they are all 1).
            y: must be None.
            random_negatives: also train towards 0 on as many Gaussian events with the
                background's per-feature mean and std (T 7.1.1).
            epochs: maximum number of epochs.
            batch_size: events per step.
            validation_split: fraction held out for early stopping (the last events).
            patience: epochs without a better validation loss before stopping and
                restoring the best weights; None trains all `epochs`.
            callbacks: further Keras callbacks.
            verbose: Keras verbosity.
            seed: seed of the random negatives and their shuffling.
            **kwargs: passed to `keras.Model.fit` (`shuffle`, `initial_epoch`, ...).

        Returns:
            The Keras `History`.
        """
        if y is not None:
            raise ValueError(
                "OneOffNetwork.fit takes background only: its targets are all 1. Pass the "
                "background as x and leave y out (anomalies are never trained on)."
            )
        background = _features(x, self.input_dim)
        if not self.compiled:
            self.compile(optimizer=keras.optimizers.Adam(1e-3), loss=oneoff_loss("ones"))
        inputs, targets = _training_set(
            background, self.head.outputs, random_negatives, seed
        )
        callbacks = [*(callbacks or []), keras.callbacks.TerminateOnNaN()]
        if patience is not None and validation_split:
            callbacks.append(keras.callbacks.EarlyStopping(
                monitor="val_loss", patience=patience, restore_best_weights=True
            ))
        history = super().fit(
            inputs, targets, epochs=epochs, batch_size=batch_size,
            validation_split=validation_split, callbacks=callbacks, verbose=verbose, **kwargs
        )
        self.readjust(background)
        return history

    def mean_output(self, x, batch_size=1024):
        """`mean_m(y)` per event, `(events,)`."""
        x = _features(x, self.input_dim)
        return self.predict(x, batch_size=batch_size, verbose=0).mean(axis=-1)

    def readjust(self, background, batch_size=1024):
        """Set `background_mean` to the mean of `mean_m(y)` over `background`; returns it."""
        mu = float(np.mean(self.mean_output(background, batch_size)))
        self.background_mean.assign(mu)
        return mu

    def score(self, x, readjusted=True, batch_size=1024):
        """Anomaly score per event, higher = more anomalous: `|mean_m(y) - mu|`, or
        `|mean_m(y) - 1|` with `readjusted=False` (biased, T E.2.5)."""
        reference = float(ops.convert_to_numpy(self.background_mean)) if readjusted else 1.0
        return np.abs(self.mean_output(x, batch_size) - reference)

    def get_config(self):
        return {
            **super().get_config(),
            "input_dim": self.input_dim,
            "hidden": list(self.head.hidden),
            "outputs": self.head.outputs,
            "activation": keras.activations.serialize(self.head.activation),
            "seed": self.head.seed,
        }


def build_oneoff(input_dim, hidden=(32, 16), outputs=4, activation="relu", loss="ones",
                 learning_rate=1e-3, seed=None, name=None):
    """A compiled `OneOffNetwork`: `(batch, input_dim) -> (batch, outputs)`, no biases.

    Klüttermann 2021, sec. 7.1. Call `fit(background)` on it (targets of ones are made
    internally), then `score(events)`.

    Args:
        input_dim: number of input features (e.g. a flattened latent space).
        hidden: widths of the bias-free hidden layers (relu).
        outputs: number of outputs `m`, all trained towards 1 (T fn. 80: several train
            better than one).
        activation: activation between the kernels.
        loss: `"ones"` (`(y - 1)^2`) or `"mean_var"` (`MeanVarianceLoss`, no biased mean),
            or any Keras loss.
        learning_rate: Adam's learning rate.
        seed: seed of the kernel initializers.
        name: the model's name.

    Returns:
        The compiled `OneOffNetwork`.
    """
    model = OneOffNetwork(input_dim, hidden=hidden, outputs=outputs, activation=activation,
                          seed=seed, name=name)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss=oneoff_loss(loss))
    return model
