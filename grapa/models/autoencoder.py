"""Jet autoencoders: the `GraphAutoencoder` model and builders for the thesis's presets.

Klüttermann 2021, sec. 4.4 (model setup), 7.4.2 (16 nodes), 5.1.3 (dense comparison).
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from grapa import devices
from grapa import layers as gl
from grapa import losses
from grapa.callbacks import recipe_callbacks
from grapa.data.checks import check_jets

# Per-preset architecture (SPEC §3). `compression[s]` nodes merge into one at stage s,
# `units[s]` features per node after it; the last is the latent size on one node.
PRESETS = {
    "jets4": dict(n_nodes=4, graph="topk", k=4, compression=(4,), units=(9,)),
    "jets9": dict(n_nodes=9, graph="topk", k=4, compression=(3, 3), units=(12, 20)),
    "jets16": dict(n_nodes=16, graph="fully_connected", k=None, compression=(4, 4), units=(16, 36)),
}
DEFAULTS = dict(
    updates_per_stage=3,
    activation="relu",
    aggregation="mean",
    edge_weights="gaussian",  # the metric learns only through gaussian edges
    normalization=None,  # or "mixed" / "max" (JetNorm, thesis ch. 6)
    loss="l2",
    batch_norm=True,
)
TARGET_LAYER = "target"
# The thesis's training recipe (SPEC §3, Klüttermann 2021, sec. 4.4).
RECIPE = dict(
    learning_rate=0.003, batch_size=100, min_epochs=500, patience=100, max_epochs=10_000,
    n_train=50_000, validation_split=0.2,
)
# Training steps run per call into the compiled step (Keras's `steps_per_execution`):
# the same updates as one step a call, without Keras's per-step bookkeeping in between
# (jets4 at batch 100 on a 2-core CPU: 125k -> 150k jets/s; benchmarks/bench_train.py).
STEPS_PER_EXECUTION = 20
# Under TensorFlow, XLA's compile costs more than it saves in a short training: measured
# on a 2-core CPU (4,000 training jets, 40 steps an epoch), it adds 8 s (jets4) and 17 s
# (jets16) to the fit and saves 4.5 ms and 3.5 ms a step, so it pays after ~1,800 and
# ~4,800 steps. The recipe's 500 epochs are far above.
XLA_MIN_STEPS = 2_000


def compiles_with_xla(n_jets: int, batch_size: int, validation_split: float,
                      min_epochs: int) -> bool:
    """Whether `fit_recipe` compiles its steps with XLA: always outside TensorFlow (JAX
    always compiles; Keras leaves XLA off for TensorFlow on a CPU-only machine), and under
    TensorFlow when the fit's sure steps, `min_epochs` epochs of the training part of
    `n_jets`, reach `XLA_MIN_STEPS`."""
    if keras.backend.backend() != "tensorflow":
        return True
    steps_per_epoch = -(-int(n_jets * (1 - validation_split)) // batch_size)
    return min_epochs * steps_per_epoch >= XLA_MIN_STEPS


@keras.saving.register_keras_serializable(package="grapa")
class GraphAutoencoder(keras.Model):
    """A jet autoencoder that computes its own reconstruction target.

    Input: raw constituent 4-vectors `(batch, n, 4)`. The `encoder` (raw jets -> latent)
    starts with the preprocessing (JetFeatures, SortNodes by lpt, optional JetNorm); the
    output of its layer named `"target"` is what the `decoder` (latent -> `(batch, n, 4)`
    features, sorted by lpt) must reproduce. So `model.fit(jets)` needs no labels, and a
    saved model is self-contained (sec. 3.2).

    Args:
        encoder: `keras.Model` from jets `(batch, n, 4)` to the latent space, with a layer
            named `"target"` giving the preprocessed features.
        decoder: `keras.Model` from the latent space to `(batch, n, 4)` features.
        reconstruction_loss: a name or config of `grapa.losses.get` (`"l2"`,
            `"image_like"`, `{"name": "ln", "power": 0.5}`, `"chamfer"`).

    Example:

    >>> model = build_graph_autoencoder("jets4")
    >>> model.compile(optimizer=keras.optimizers.Adam(0.003))
    >>> model.fit(qcd_jets, validation_split=0.2, epochs=10)   # no labels
    >>> scores = model.score(test_jets)                        # (n_jets,) losses
    """

    def __init__(self, encoder, decoder, reconstruction_loss="l2", **kwargs):
        super().__init__(**kwargs)
        self.encoder = encoder
        self.decoder = decoder
        self.reconstruction_loss = reconstruction_loss
        self._loss_function = losses.get(reconstruction_loss)
        try:
            target = encoder.get_layer(TARGET_LAYER).output
        except ValueError as error:
            raise ValueError(
                "GraphAutoencoder's encoder needs a layer named 'target' whose output is "
                "the preprocessed jet (what the decoder must reproduce); name the last "
                "preprocessing layer name='target'."
            ) from error
        self.preprocessing = keras.Model(encoder.inputs, target, name="preprocessing")
        self.built = True  # encoder and decoder come built; nothing is left to create

    def call(self, jets, training=False):
        return self.decoder(self.encoder(jets, training=training), training=training)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        per_jet = self._loss_function(self.preprocessing(x), y_pred)
        if sample_weight is not None:
            per_jet = per_jet * ops.cast(sample_weight, per_jet.dtype)
        loss = ops.mean(per_jet)
        if self.losses:
            loss = loss + ops.sum(self.losses)
        return loss

    def fit_recipe(self, jets, *, min_epochs=RECIPE["min_epochs"], patience=RECIPE["patience"],
                   max_epochs=RECIPE["max_epochs"], batch_size=RECIPE["batch_size"],
                   learning_rate=RECIPE["learning_rate"],
                   validation_split=RECIPE["validation_split"], out=None, resume=False,
                   callbacks=(), verbose="auto", steps_per_execution=STEPS_PER_EXECUTION):
        """Fit on background `jets` with the thesis's recipe (sec. 4.4).

        Adam with `learning_rate`, at least `min_epochs` epochs, then early stopping on
        `val_loss` with `patience`, the best weights restored, stopped on NaN and every
        weight checked after training (`grapa.callbacks.recipe_callbacks`). With `out`,
        the history is logged to `out/history.csv` and a backup kept so that an
        interrupted fit resumes (`resume=True`). `grapa.train` wraps this with reading
        the data and writing the run. `steps_per_execution` steps run per call into the
        compiled step: the same updates, less overhead (the progress bar and batch-level
        callbacks then see every `steps_per_execution`-th step).

        Under a `keras.distribution` (`grapa.devices`), a handful of jets are dropped
        so that every batch splits evenly over the devices.

        Returns:
            the Keras `History`.
        """
        jets = check_jets(jets, self.encoder.input_shape[1], training=True, what="training jets")
        parallel = devices.device_count()
        if parallel > 1:
            jets = jets[:devices.even_training_jets(len(jets), batch_size, validation_split,
                                                    parallel)]
        # every grapa layer compiles under XLA (the layer harness checks); under
        # TensorFlow the recipe then trains 1.6x (jets16) to 2x (jets4) faster
        jit = compiles_with_xla(len(jets), batch_size, validation_split, min_epochs)
        self.compile(optimizer=keras.optimizers.Adam(learning_rate),
                     steps_per_execution=steps_per_execution, jit_compile=jit)
        return self.fit(jets, epochs=max_epochs, batch_size=batch_size,
                        validation_split=validation_split, verbose=verbose,
                        callbacks=list(callbacks) + recipe_callbacks(out, min_epochs, patience,
                                                                     resume))

    # -- numpy conveniences -------------------------------------------------------------

    def reconstruct(self, jets, batch_size=1000):
        """`(target, output)`, both `(n_jets, n, 4)` numpy arrays in feature space."""
        jets = _as_jets(jets, self.encoder.input_shape)
        target = devices.predict(self.preprocessing, jets, batch_size)
        return target, devices.predict(self, jets, batch_size)

    def score(self, jets, batch_size=1000):
        """Per-jet anomaly score `(n_jets,)`: the reconstruction loss of each jet."""
        return self.score_reconstruction(*self.reconstruct(jets, batch_size))

    def feature_losses(self, jets, batch_size=1000):
        """Per (node, feature) squared errors `(n_jets, n, 4)` (for AUC feature maps)."""
        return _numpy(losses.squared_errors(*self.reconstruct(jets, batch_size)))

    def score_reconstruction(self, target, output):
        """Per-jet scores `(n_jets,)` from `reconstruct`'s output, without predicting again."""
        return _numpy(self._loss_function(target, output)).astype(np.float64)

    def encode(self, jets, batch_size=1000):
        """The latent representation of each jet, `(n_jets, *latent_shape)`."""
        return devices.predict(self.encoder, _as_jets(jets, self.encoder.input_shape),
                               batch_size)

    def get_config(self):
        return {**serialize_parts(self, ("encoder", "decoder")),
                "reconstruction_loss": self.reconstruction_loss}

    @classmethod
    def from_config(cls, config):
        return cls(**deserialize_parts(config, ("encoder", "decoder")))


def serialize_parts(model, parts):
    """Config of a model made of sub-models: its name plus each part serialized."""
    config = {"name": model.name, "trainable": model.trainable}
    config.update({part: keras.saving.serialize_keras_object(getattr(model, part))
                   for part in parts})
    return config


def deserialize_parts(config, parts):
    """`config` with each of `parts` turned back into its Keras object."""
    return {**config, **{part: keras.saving.deserialize_keras_object(config[part])
                         for part in parts}}


def _numpy(tensor):
    return np.asarray(ops.convert_to_numpy(tensor))


def _as_jets(jets, input_shape):
    return check_jets(jets, input_shape[1])


def _preprocessing(jets, normalization):
    """JetFeatures -> SortNodes(lpt) -> [JetNorm], the last layer named 'target'."""
    x = gl.JetFeatures(name="jet_features")(jets)
    x = gl.SortNodes(feature=3, name="sort_by_lpt" if normalization else TARGET_LAYER)(x)
    if normalization:
        x = gl.JetNorm(variant=normalization, name=TARGET_LAYER)(x)
    return x


def _graph(x, config, name):
    if config["graph"] == "fully_connected":
        return gl.FullyConnectedGraph(name=name)(x)
    if config["graph"] == "topk":
        return gl.TopKGraph(k=config["k"], edge_weights=config["edge_weights"], name=name)(x)
    raise ValueError(f"graph must be 'topk' or 'fully_connected', got {config['graph']!r}.")


def _updates(x, adjacency, units, config, stage, last_linear=False):
    for i in range(config["updates_per_stage"]):
        linear = last_linear and i == config["updates_per_stage"] - 1
        x = gl.GraphUpdate(
            units,
            activation=None if linear else config["activation"],
            aggregation=config["aggregation"],
            name=f"{stage}_update_{i}",
        )([x, adjacency])
    return x


def _check_config(config):
    n, factors, units = config["n_nodes"], tuple(config["compression"]), tuple(config["units"])
    if int(np.prod(factors)) != n:
        raise ValueError(
            f"compression factors {factors} must multiply to n_nodes={n} (all nodes are "
            "compressed into one latent node), e.g. (4,) for 4 nodes or (4, 4) for 16."
        )
    if len(units) != len(factors):
        raise ValueError(f"units {units} needs one entry per compression stage {factors}.")


def resolve_config(preset, **overrides):
    """The full architecture config of a preset with `overrides` applied."""
    if preset not in PRESETS:
        raise ValueError(f"Unknown preset {preset!r}: choose one of {sorted(PRESETS)}.")
    config = {**DEFAULTS, **PRESETS[preset]}
    unknown = set(overrides) - set(config)
    if unknown:
        raise ValueError(f"Unknown options {sorted(unknown)}; valid: {sorted(config)}.")
    config.update(overrides)
    _check_config(config)
    return config


def build_graph_autoencoder(preset="jets4", **overrides):
    """The thesis's graph autoencoder for 4, 9 or 16 constituents (SPEC §3, T 4.4).

    `jets (B, n, 4)` -> JetFeatures -> SortNodes(lpt) -> [JetNorm] -> batch norm ->
    graph -> 3 x GraphUpdate -> Compress(c1) -> [graph -> 3 x GraphUpdate -> Compress(c2)]
    = latent `(B, 1, L)` -> Decompress(c2) -> 3 x GraphUpdate -> [Decompress(c1) ->
    3 x GraphUpdate] -> CutFeatures(4) -> SortNodes(lpt).

    | preset | nodes | graph | compression | latent |
    |---|---|---|---|---|
    | jets4 | 4 | topK k=4 (gaussian edges: the metric learns) | 4 -> 1 | 9 |
    | jets9 | 9 | topK k=4, learnable metric | 9 -> 3 -> 1 | 20 |
    | jets16 | 16 | fixed fully connected (T 7.4.2: fewer NaNs) | 16 -> 4 -> 1 | 36 |

    The decoder works at the latent width throughout; its last update is linear so it
    can output negative angles.

    Args:
        preset: `"jets4"`, `"jets9"` or `"jets16"`.
        **overrides: any of `n_nodes`, `graph` (`"topk"`/`"fully_connected"`), `k`,
            `edge_weights`, `compression`, `units`, `updates_per_stage`, `activation`,
            `aggregation`, `normalization` (None, `"max"`, `"mixed"`), `loss`,
            `batch_norm`.

    Returns:
        an uncompiled `GraphAutoencoder`; compile it with an optimizer only.
    """
    config = resolve_config(preset, **overrides)
    n = config["n_nodes"]
    jets = keras.Input(shape=(n, 4), name="jets")
    x = _preprocessing(jets, config["normalization"])
    if config["batch_norm"]:
        x = gl.MaskedBatchNormalization(name="batch_norm")(x)
    for s, (factor, units) in enumerate(zip(config["compression"], config["units"])):
        adjacency = _graph(x, config, name=f"encoder_{s}_graph")
        x = _updates(x, adjacency, x.shape[-1], config, stage=f"encoder_{s}")
        x = gl.Compress(factor=factor, units=units, name=f"encoder_{s}_compress")(x)
    encoder = keras.Model(jets, x, name="encoder")

    width = config["units"][-1]
    latent = keras.Input(shape=tuple(x.shape[1:]), name="latent")
    y, adjacency = latent, None
    stages = list(reversed(config["compression"]))
    for s, factor in enumerate(stages):
        decompress = gl.Decompress(factor=factor, units=width, name=f"decoder_{s}_decompress")
        y, adjacency = decompress(y if adjacency is None else [y, adjacency])
        y = _updates(y, adjacency, width, config, stage=f"decoder_{s}",
                     last_linear=s == len(stages) - 1)
    y = gl.CutFeatures(4, name="cut_features")(y)
    y = gl.SortNodes(feature=3, name="sort_output_by_lpt")(y)
    decoder = keras.Model(latent, y, name="decoder")
    return GraphAutoencoder(encoder, decoder, reconstruction_loss=config["loss"], name=preset)


def build_dense_autoencoder(preset="jets4", hidden=(32, 16), **overrides):
    """A dense (non-graph) autoencoder with the same interface (T 5.1.3's comparison).

    The same preprocessing and target as `build_graph_autoencoder`; the flattened
    features go through bias-free dense layers to a latent vector of the preset's latent
    size and back, and the output is sorted by lpt.

    Args:
        preset: sets `n_nodes` and the latent size (`units[-1]`).
        hidden: widths of the encoder's hidden layers (mirrored in the decoder).
        **overrides: `n_nodes`, `units`, `activation`, `normalization`, `loss`, `batch_norm`.
    """
    config = resolve_config(preset, **overrides)
    n, latent_size = config["n_nodes"], config["units"][-1]
    jets = keras.Input(shape=(n, 4), name="jets")
    x = _preprocessing(jets, config["normalization"])
    if config["batch_norm"]:
        x = gl.MaskedBatchNormalization(name="batch_norm")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    for i, units in enumerate(hidden):
        x = keras.layers.Dense(units, config["activation"], use_bias=False, name=f"encoder_dense_{i}")(x)
    x = keras.layers.Dense(latent_size, use_bias=False, name="encoder_latent")(x)
    encoder = keras.Model(jets, x, name="encoder")

    latent = keras.Input(shape=(latent_size,), name="latent")
    y = latent
    for i, units in enumerate(reversed(hidden)):
        y = keras.layers.Dense(units, config["activation"], use_bias=False, name=f"decoder_dense_{i}")(y)
    y = keras.layers.Dense(n * 4, use_bias=False, name="decoder_output")(y)
    y = keras.layers.Reshape((n, 4), name="to_nodes")(y)
    y = gl.SortNodes(feature=3, name="sort_output_by_lpt")(y)
    decoder = keras.Model(latent, y, name="decoder")
    return GraphAutoencoder(encoder, decoder, reconstruction_loss=config["loss"],
                            name=f"dense_{preset}")
