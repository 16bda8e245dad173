"""The mixed model: a normalized graph autoencoder, then oneoffs on its latent space.

Klüttermann 2021, sec. 7.2 and 7.3. A plain autoencoder's AUC mostly comes from a
trivial feature, the jets' width (sec. 5.2), so it "finds" QCD as well when trained on
top. JetNorm removes position and scale from every jet (ch. 6); a oneoff ensemble trained
on the autoencoder's latent space (ch. 7) then scores how untypical a jet's compressed
description is. The thesis reached AUC 0.635 (find top) and 0.823 (find QCD): invertible.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from grapa.models.autoencoder import (
    build_graph_autoencoder,
    deserialize_parts,
    serialize_parts,
)
from grapa.models.ensemble import OneOffEnsemble

_PARTS = ("autoencoder", "ensemble")


@keras.saving.register_keras_serializable(package="grapa")
class MixedModel(keras.Model):
    """A graph autoencoder and a oneoff ensemble on its flattened latent space, one model.

    `fit(jets)` trains the autoencoder on the background jets (the thesis's recipe,
    shortened with `min_epochs`, `patience`, ...), then the ensemble on the latent
    vectors of the same jets; `score(jets)` is the ensemble's score of the jets' latent
    vectors (higher = more anomalous). `save("m.keras")` / `keras.saving.load_model`
    round-trip both parts.

    Args:
        autoencoder: a `GraphAutoencoder` (normalized with JetNorm "mixed" in the thesis).
        ensemble: a `OneOffEnsemble` whose `input_dim` is the flattened latent size.
        **kwargs: `keras.Model` arguments.

    Example:

    >>> model = build_mixed_model("jets4", n=25)
    >>> model.fit(qcd_jets, min_epochs=100, patience=20)
    >>> scores = model.score(test_jets)
    """

    def __init__(self, autoencoder, ensemble, **kwargs):
        super().__init__(**kwargs)
        latent_size = int(np.prod(autoencoder.encoder.output_shape[1:]))
        if ensemble.input_dim not in (None, latent_size):
            raise ValueError(
                f"the ensemble takes {ensemble.input_dim} inputs but the autoencoder's latent "
                f"space has {latent_size} values; build it with input_dim={latent_size}."
            )
        if not ensemble.built:
            ensemble.build((None, latent_size))
        self.autoencoder = autoencoder
        self.ensemble = ensemble
        self.built = True

    def call(self, jets, training=False):
        latent = self.autoencoder.encoder(jets, training=training)
        return self.ensemble(ops.reshape(latent, (ops.shape(latent)[0], -1)))

    def latent(self, jets, batch_size=1000):
        """Flattened latent vectors `(n_jets, latent_size)`."""
        latent = self.autoencoder.encode(jets, batch_size=batch_size)
        return latent.reshape(len(latent), -1)

    def fit(self, jets, *, oneoff_epochs=200, oneoff_batch_size=64, oneoff_patience=20,
            random_negatives=False, seed=0, verbose=0, **schedule):
        """Train the autoencoder on `jets`, then the ensemble on their latent vectors.

        Args:
            jets: background jets `(n_jets, n, 4)`.
            oneoff_epochs, oneoff_batch_size, oneoff_patience, random_negatives: the
                ensemble's training (see `OneOffEnsemble.fit`).
            seed: seed of the autoencoder's training.
            verbose: Keras verbosity of both trainings.
            **schedule: the autoencoder's schedule, `GraphAutoencoder.fit_recipe`
                arguments (`min_epochs`, `patience`, `max_epochs`, `batch_size`,
                `learning_rate`, `validation_split`); defaults are the thesis's recipe.

        Returns:
            self.
        """
        keras.utils.set_random_seed(seed)
        self.autoencoder.fit_recipe(jets, verbose=verbose, **schedule)
        self.ensemble.fit(self.latent(jets), epochs=oneoff_epochs, batch_size=oneoff_batch_size,
                          patience=oneoff_patience, random_negatives=random_negatives,
                          verbose=verbose)
        return self

    def score(self, jets, batch_size=1000):
        """Per-jet anomaly score `(n_jets,)`: the ensemble's score of the latent vectors."""
        return self.ensemble.score(self.latent(jets, batch_size), batch_size=batch_size)

    def get_config(self):
        return serialize_parts(self, _PARTS)

    @classmethod
    def from_config(cls, config):
        return cls(**deserialize_parts(config, _PARTS))


def build_mixed_model(preset="jets4", normalization="mixed", n=25, hidden=(32, 16),
                      outputs=4, seed=0, **overrides):
    """A normalized graph autoencoder preset with a oneoff ensemble on its latent space.

    Args:
        preset: the autoencoder preset (`"jets4"`, `"jets9"`, `"jets16"`).
        normalization: JetNorm variant of the autoencoder (`"mixed"`, the thesis's best).
        n: oneoffs in the ensemble (T: 25).
        hidden: hidden widths of every oneoff.
        outputs: outputs per oneoff.
        seed: the ensemble's base seed.
        **overrides: more `build_graph_autoencoder` options.

    Returns:
        an untrained `MixedModel`.
    """
    autoencoder = build_graph_autoencoder(preset, normalization=normalization, **overrides)
    latent_size = int(np.prod(autoencoder.encoder.output_shape[1:]))
    ensemble = OneOffEnsemble(n=n, input_dim=latent_size, hidden=hidden, outputs=outputs,
                              seed=seed, name="oneoff_ensemble")
    return MixedModel(autoencoder, ensemble, name=f"mixed_{preset}")
