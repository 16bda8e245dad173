"""Quick start: a 4-node graph autoencoder from grapa's layers, trained on random jets.

Builds JetFeatures -> SortNodes -> TopKGraph -> 3 x GraphUpdate -> Compress(4 -> 1) ->
Decompress -> 3 x GraphUpdate, trains it for a few epochs on random jets, and prints the
loss and a few per-jet anomaly scores.

    python examples/quickstart.py
"""

import os

os.environ.setdefault("KERAS_BACKEND", "jax")

import keras  # noqa: E402
import numpy as np  # noqa: E402
from keras import ops  # noqa: E402

from grapa import layers  # noqa: E402

N_NODES = 4
EPOCHS = 5
N_JETS = 5000


class Autoencoder(keras.Model):
    """Loss = mean squared difference of the model's two outputs (target, output)."""

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        target, output = y_pred
        return ops.mean(ops.square(target - output))


def build():
    jets = keras.Input(shape=(N_NODES, 4))
    target = layers.SortNodes()(layers.JetFeatures()(jets))
    adjacency = layers.TopKGraph(k=4)(target)
    x = target
    for _ in range(3):
        x = layers.GraphUpdate(8, activation="relu")([x, adjacency])
    latent = layers.Compress(factor=4, units=9)(x)
    x, adjacency = layers.Decompress(factor=4, units=8)(latent)
    for units in (8, 8, 4):
        x = layers.GraphUpdate(units, activation="relu" if units > 4 else None)([x, adjacency])
    return Autoencoder(jets, [target, layers.SortNodes()(x)])


def random_jets(n, rng):
    pt = np.sort(rng.exponential(100.0, (n, N_NODES)), axis=1)[:, ::-1] + 1.0
    eta, phi = rng.normal(0, 0.2, (n, N_NODES)), rng.normal(0, 0.2, (n, N_NODES))
    px, py, pz = pt * np.cos(phi), pt * np.sin(phi), pt * np.sinh(eta)
    return np.stack([pt * np.cosh(eta), px, py, pz], axis=-1).astype("float32")


def main():
    keras.utils.set_random_seed(0)
    jets = random_jets(N_JETS, np.random.default_rng(0))
    model = build()
    model.compile(optimizer=keras.optimizers.Adam(0.003))
    history = model.fit(jets, epochs=EPOCHS, batch_size=100, verbose=2)
    target, output = model.predict(jets[:5], verbose=0)
    print("final loss:", round(history.history["loss"][-1], 5))
    print("anomaly scores of 5 jets:", np.round(np.mean((target - output) ** 2, axis=(1, 2)), 5))


if __name__ == "__main__":
    main()
