r"""UCluster: unsupervised clustering of jets in a learned embedding.

Mikuni & Canelli, "Unsupervised clustering for collider physics", Phys. Rev. D 103
(2021) 092007, arXiv:2010.07106; their code is github.com/ViniciusMikuni/UCluster.

A graph network maps each jet to a low-dimensional embedding $z$ (8 numbers by default;
the paper used 3, see `UCluster`). It learns that embedding from a proxy task that needs
no truth label:
classify the jet's mass, computed from its own constituents, into 20 equal bins from
10 to 200 GeV (focal loss, Lin et al. 2017). After `pretrain_epochs` epochs of that
alone, `k` centroids $\mu_c$ (trainable from then on) are placed on the training jets'
embeddings: the paper used k-means; grapa starts from a Gaussian mixture's means, which
do not force equal round cells on the embedding (see `UCluster.init_centroids`). Then
the loss becomes

$$ L = L_\text{focal} + \beta\, \frac{1}{N} \sum_j \sum_c \pi_{jc}\, \lVert z_j - \mu_c \rVert^2,
   \qquad \pi_{jc} = \operatorname{softmax}_c\!\big(-\alpha \lVert z_j - \mu_c \rVert^2\big), $$

a soft k-means whose inverse temperature $\alpha$ rises each clustering epoch
($\alpha = 2, 4, 6, \dots$ as in the authors' code), so the assignment hardens as the
clusters form; $\beta = 10$. Meanwhile the learning rate falls along a cosine
(`ClusteringSchedule`; the authors' code decays it too). A jet's cluster is its nearest
centroid.

The network is grapa's ParticleNet-style EdgeConv stack (`grapa.models.tagger`) where the
paper used attention (GAPNet) blocks: every block's per-particle output, concatenated,
goes through one dense layer to the embedding's dimension (batch-normalized, ReLU) and
is averaged over the real constituents, as in the paper's network; a dense classifier on
the embedding gives the 20 mass-bin logits.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from grapa.data.observables import jet_observables
from grapa.layers import GlobalPooling, MaskedBatchNormalization, ParticleFeatures
from grapa.models.tagger import BATCH_NORM_MOMENTUM, edge_conv_blocks

MASS_BINS = 20
MASS_RANGE = (10.0, 200.0)  # GeV: the paper's proxy task
CLUSTERING_WEIGHT = 10.0  # beta
INVERSE_TEMPERATURE_STEP = 2.0  # alpha in the c-th clustering epoch: 2 c
# leading constituents the network sees: W and Z jets at 1 TeV hold a median of 42 and 45,
# and their 30 leading miss 4-5 GeV of the mass that tells them apart (see `UCluster`)
N_CONSTITUENTS = 50
# where the clustering starts: a Gaussian mixture's means (default) or k-means centres
CENTROID_STARTS = ("mixture", "kmeans")
CENTROID_START = "mixture"


def _check_start(start) -> None:
    if start not in CENTROID_STARTS:
        raise ValueError(f"unknown centroid start {start!r}: choose one of "
                         f"{', '.join(CENTROID_STARTS)}")


def mass_bin_labels(jets, bins: int = MASS_BINS, mass_range=MASS_RANGE) -> np.ndarray:
    """The proxy task's targets: each jet's mass, from its constituents, binned.

    Args:
        jets: `(n_jets, n_constituents, 4)` raw (E, px, py, pz); all constituents count.
        bins: number of equal-width bins.
        mass_range: (low, high) in GeV; masses outside fall into the first / last bin.

    Returns:
        int array `(n_jets,)` of bin indices in `0 .. bins - 1`.
    """
    low, high = mass_range
    if not (bins >= 2 and high > low):
        raise ValueError(f"mass bins need bins >= 2 and a range low < high, got {bins} "
                         f"bins over {mass_range}")
    mass = jet_observables(np.asarray(jets))["mass"]
    index = np.floor((mass - low) / (high - low) * bins)
    return np.clip(index, 0, bins - 1).astype(np.int64)


@keras.saving.register_keras_serializable(package="grapa")
class SoftKMeans(keras.layers.Layer):
    r"""UCluster's clustering loss per jet (Mikuni & Canelli 2021, eq. 2):

    $$ \ell_j = \sum_c \pi_{jc}\, d_{jc}, \qquad d_{jc} = \lVert z_j - \mu_c \rVert^2, \qquad
       \pi_{jc} = \frac{e^{-\alpha d_{jc}}}{\sum_{c'} e^{-\alpha d_{jc'}}} $$

    with trainable centroids `centroids` `(clusters, dim)` and a non-trainable inverse
    temperature `inverse_temperature` ($\alpha$), which the training schedule raises.

    Args:
        clusters: number of centroids.

    Input shape:
        `(batch, dim)` embeddings.

    Output shape:
        `(batch,)` the soft-assigned squared distance.
    """

    def __init__(self, clusters, **kwargs):
        super().__init__(**kwargs)
        self.clusters = int(clusters)

    def build(self, input_shape):
        self.centroids = self.add_weight(name="centroids", shape=(self.clusters, input_shape[-1]),
                                         initializer="zeros")
        self.inverse_temperature = self.add_weight(name="inverse_temperature", shape=(),
                                                   initializer="ones", trainable=False)

    def squared_distances(self, embedding):
        """`(batch, clusters)` squared Euclidean distances to the centroids."""
        difference = ops.expand_dims(embedding, 1) - ops.expand_dims(self.centroids, 0)
        return ops.sum(ops.square(difference), axis=-1)

    def call(self, embedding):
        distances = self.squared_distances(embedding)
        assignment = ops.softmax(-self.inverse_temperature * distances, axis=-1)
        return ops.sum(assignment * distances, axis=-1)

    def compute_output_shape(self, input_shape):
        return (input_shape[0],)

    def get_config(self):
        return {**super().get_config(), "clusters": self.clusters}


class ClusteringSchedule(keras.callbacks.Callback):
    r"""UCluster's clustering-phase schedule, set at the start of each epoch `e`
    (0-based) of `epochs`: the inverse temperature $\alpha = 2 (e + 1)$ (the authors'
    code), and the learning rate $\eta_0 \cdot \tfrac12 (1 + \cos(\pi e / \text{epochs}))$
    from the optimizer's own $\eta_0$, which is restored when training ends.

    The falling learning rate lets the clusters settle: the boundary between two clusters
    of nearby masses (W and Z) moves with every update, and at a constant rate the
    accuracy swung between 0.62 and 0.75 from one epoch to the next (W / Z / top jets, 30
    constituents; 0.67 after the 20th epoch, 0.70 with the cosine). The authors' code
    decays its rate too (halved every 500k jets, down to 1e-5). An optimizer whose
    learning rate is already a `LearningRateSchedule` keeps it.

    Args:
        inverse_temperature: the `SoftKMeans` layer's `inverse_temperature` variable.
        epochs: the clustering epochs the cosine spans.
    """

    def __init__(self, inverse_temperature, epochs):
        super().__init__()
        self.inverse_temperature = inverse_temperature
        self.epochs = max(int(epochs), 1)
        self.initial_rate = None

    def _rate(self):
        rate = self.model.optimizer.learning_rate
        return rate if isinstance(rate, keras.Variable) else None

    def on_train_begin(self, logs=None):
        rate = self._rate()
        self.initial_rate = None if rate is None else float(ops.convert_to_numpy(rate))

    def on_epoch_begin(self, epoch, logs=None):
        self.inverse_temperature.assign(INVERSE_TEMPERATURE_STEP * (epoch + 1))
        if self.initial_rate is not None:
            self._rate().assign(
                self.initial_rate * 0.5 * (1 + np.cos(np.pi * epoch / self.epochs)))

    def on_train_end(self, logs=None):
        if self.initial_rate is not None:
            self._rate().assign(self.initial_rate)


def build_cluster_encoder(n_constituents=N_CONSTITUENTS, embedding_dim=8, k=10,
                          blocks=((32, 32), (64, 64)), name="ucluster_encoder"):
    """UCluster's embedding network: raw jets `(batch, n, 4)` -> `(batch, embedding_dim)`.

    `ParticleFeatures` -> ParticleNet's EdgeConv blocks (`edge_conv_blocks`) -> every
    block's output concatenated per particle -> dense to `embedding_dim`, batch-normalized
    over the real constituents, ReLU -> mean over the real constituents.

    Args:
        n_constituents: constituents per jet (leading in pT, zero padded).
        embedding_dim: dimension of the embedding (the paper used 3; see `UCluster`).
        k: neighbours per EdgeConv (the paper's 10).
        blocks: one tuple of MLP widths per EdgeConv block.
        name: the model's name.

    Returns:
        A `keras.Model`.
    """
    jets = keras.Input(shape=(n_constituents, 4), name="jets")
    particles = ParticleFeatures()(jets)
    per_particle = edge_conv_blocks(particles, blocks, k)
    if len(per_particle) > 1:
        per_particle = [keras.layers.Concatenate()(per_particle)]
    x = keras.layers.Dense(embedding_dim, use_bias=False)(per_particle[0])
    x = keras.layers.ReLU()(MaskedBatchNormalization(momentum=BATCH_NORM_MOMENTUM)(x))
    embedding = GlobalPooling("mean", name="embedding")([x, particles])
    return keras.Model(jets, embedding, name=name)


def build_cluster_head(embedding_dim, outputs, dense=(256, 128), name="head"):
    """The dense classifier on the embedding: `(batch, embedding_dim)` -> logits."""
    layers = [keras.Input(shape=(embedding_dim,))]
    layers += [keras.layers.Dense(width, activation="relu") for width in dense]
    layers.append(keras.layers.Dense(outputs, name="logits"))
    return keras.Sequential(layers, name=name)


@keras.saving.register_keras_serializable(package="grapa")
class UCluster(keras.Model):
    r"""Unsupervised clustering of jets, UCluster (Mikuni & Canelli 2021; see the module).

    `fit(jets)` needs no labels: it pretrains the embedding on the jets' mass bins, places
    the centroids (a Gaussian mixture's means; `init_centroids`) and then trains both
    losses. `predict_clusters(jets)` gives
    each jet's cluster, `embed(jets)` its embedding; `call(jets)` the mass-bin logits.
    Saved with `model.save("ucluster.keras")`, it comes back with
    `keras.saving.load_model` with its centroids. `fit` compiles an uncompiled model
    with Adam (learning rate 1e-3) and the focal loss; compile it first to choose others.

    Args:
        clusters: number of clusters `k`.
        n_constituents: leading constituents the network sees (the mass targets use all
            the constituents given to `fit`); the paper used 100. Measured on W / Z / top
            jets at 1 TeV (median 42, 45 and 77 constituents; 10k of each, one seed):
            with 30 the mass of W and Z jets comes out 4-5 GeV low and spread wider
            (median 78 and 87 GeV, against 83 and 93 from all constituents), UCluster
            reaches 0.70 clustering accuracy; with 50 (the default) 0.78, at 1.7 times
            the time per epoch (k-means on the jet mass: 0.59). With the Gaussian-
            mixture start (`init_centroids`), three seeds gave 0.776, 0.783 and 0.787.
        embedding_dim: dimension of the embedding: 8 by default, where the paper used 3.
            Measured on W / Z / top jets (see the clustering tutorial): with 3 the 20
            mass bins lie along a curve on which W and Z are neighbours, k-means merges
            them and the clustering loss never separates them (58% accuracy, 30
            constituents); with 8 it does (30 constituents: pretrained k-means 62%,
            UCluster 65-66% at a constant learning rate; the defaults: 64% and 78%).
        k: neighbours per EdgeConv.
        blocks: EdgeConv blocks' MLP widths.
        dense: widths of the mass classifier's hidden layers.
        mass_bins, mass_range: the proxy task's bins (GeV).
        clustering_weight: beta, the clustering loss's weight after pretraining.
        focal_gamma: the focal loss's focusing parameter.
        **kwargs: `keras.Model` arguments (`name`, ...).

    Example:
        >>> model = UCluster(clusters=3)                     # doctest: +SKIP
        >>> model.fit(jets)                                  # doctest: +SKIP
        >>> clusters = model.predict_clusters(test_jets)     # doctest: +SKIP
    """

    def __init__(self, clusters=3, n_constituents=N_CONSTITUENTS, embedding_dim=8, k=10,
                 blocks=((32, 32), (64, 64)), dense=(256, 128), mass_bins=MASS_BINS,
                 mass_range=MASS_RANGE, clustering_weight=CLUSTERING_WEIGHT, focal_gamma=2.0,
                 **kwargs):
        super().__init__(**kwargs)
        if int(clusters) < 2:
            raise ValueError(f"UCluster needs clusters >= 2, got {clusters}")
        if int(n_constituents) < 1 or int(embedding_dim) < 1:
            raise ValueError(f"UCluster needs n_constituents >= 1 and embedding_dim >= 1, got "
                             f"n_constituents={n_constituents}, embedding_dim={embedding_dim}")
        self.clusters = int(clusters)
        self.n_constituents = int(n_constituents)
        self.embedding_dim = int(embedding_dim)
        self.k = int(k)
        self.blocks = tuple(tuple(int(w) for w in block) for block in blocks)
        self.dense = tuple(int(w) for w in dense)
        self.mass_bins = int(mass_bins)
        self.mass_range = tuple(float(m) for m in mass_range)
        self.clustering_weight = float(clustering_weight)
        self.focal_gamma = float(focal_gamma)
        self.encoder = build_cluster_encoder(self.n_constituents, self.embedding_dim, self.k,
                                             self.blocks)
        self.head = build_cluster_head(self.embedding_dim, self.mass_bins, self.dense)
        self.kmeans = SoftKMeans(self.clusters, name="kmeans")
        self.kmeans.build((None, self.embedding_dim))
        # beta while clustering, 0 while pretraining: a variable, so one compiled step
        # serves both phases
        self.beta = self.add_weight(name="beta", shape=(), initializer="zeros",
                                    trainable=False)

    def call(self, jets, training=False):
        embedding = self.encoder(jets, training=training)
        self.add_loss(self.beta * ops.mean(self.kmeans(embedding)))
        return self.head(embedding, training=training)

    # ---- training --------------------------------------------------------------------

    def fit(self, x=None, y=None, *, epochs=30, pretrain_epochs=10, batch_size=256,
            callbacks=None, verbose="auto", seed=None, start=CENTROID_START, **kwargs):
        """Pretrain on the mass bins, place the centroids (`init_centroids`), then
        cluster.

        Args:
            x: `(n_jets, n, 4)` raw jets; no labels.
            y: must be None (the targets are the jets' own mass bins).
            epochs: all epochs, pretraining included (the paper: 10 of pretraining).
            pretrain_epochs: epochs of the mass-bin task alone.
            batch_size: jets per step.
            callbacks: Keras callbacks for both phases.
            verbose: Keras verbosity.
            seed: seed of the centroids' start.
            start: "mixture" (a Gaussian mixture's means, the default) or "kmeans" (the
                paper's): see `init_centroids`.
            **kwargs: passed to `keras.Model.fit` (`validation_split`, `shuffle`, ...).

        Returns:
            A `keras.callbacks.History` of both phases, epoch after epoch.
        """
        if y is not None:
            raise ValueError("UCluster.fit takes jets only: its targets are the jets' own "
                             "mass bins. Leave y out (truth labels are never trained on).")
        if not 0 <= pretrain_epochs < epochs:
            raise ValueError(f"need 0 <= pretrain_epochs < epochs, got pretrain_epochs="
                             f"{pretrain_epochs}, epochs={epochs}: clustering needs epochs")
        _check_start(start)
        jets = self._jets(x)
        history = keras.callbacks.History()
        history.set_model(self)
        first = self.pretrain(jets, epochs=pretrain_epochs, batch_size=batch_size,
                              callbacks=callbacks, verbose=verbose, **kwargs)
        self.init_centroids(jets, seed=seed, start=start)
        second = self.train_clusters(jets, epochs=epochs - pretrain_epochs,
                                     batch_size=batch_size, callbacks=callbacks,
                                     verbose=verbose, **kwargs)
        for phase in (first, second):
            for key, values in phase.history.items():
                history.history.setdefault(key, []).extend(values)
        history.epoch = list(range(epochs))
        return history

    def pretrain(self, jets, epochs=10, batch_size=256, callbacks=None, **kwargs):
        """The proxy task alone (clustering weight 0): mass-bin classification."""
        self.beta.assign(0.0)
        return self._fit_phase(jets, epochs, batch_size, list(callbacks or []), **kwargs)

    def init_centroids(self, jets, seed=None, start=CENTROID_START):
        """Place the centroids on `embed(jets)`: at the means of a Gaussian mixture (the
        default) or at k-means centres (the paper's choice).

        The mixture (scikit-learn, full covariances, 5 starts) lets each cluster have
        its own shape and size in the embedding; k-means cuts it into equal round cells.
        Measured on W / Z / top jets (clustering tutorial, 50 constituents): on one
        seed's pretrained embedding k-means (10 or 50 starts) put 94% of W and 94% of Z
        in one cluster and split top in two (59.8% accuracy), and the clustering loss
        kept that partition (58.3% after 20 epochs); from the mixture's means UCluster
        reached 78.3% on that seed, 77.6% and 78.7% on two others (k-means start on
        the first of those: 77.8%).

        Args:
            jets: raw jets, as for `fit`.
            seed: seed of the mixture's or k-means's initialisation.
            start: "mixture" or "kmeans".

        Returns:
            The fitted scikit-learn estimator (`GaussianMixture` or `KMeans`); its
            `predict(model.embed(jets))` is the start's partition.
        """
        from sklearn.cluster import KMeans
        from sklearn.mixture import GaussianMixture

        _check_start(start)
        embedding = self.embed(jets)
        if start == "mixture":
            estimator = GaussianMixture(self.clusters, covariance_type="full", n_init=5,
                                        random_state=seed).fit(embedding)
            centres = estimator.means_
        else:
            estimator = KMeans(self.clusters, n_init=10, random_state=seed).fit(embedding)
            centres = estimator.cluster_centers_
        self.kmeans.centroids.assign(np.asarray(centres, dtype="float32"))
        return estimator

    def train_clusters(self, jets, epochs=20, batch_size=256, callbacks=None, **kwargs):
        """Both losses, the inverse temperature rising by 2 each epoch and the learning
        rate falling along a cosine (`ClusteringSchedule`)."""
        self.beta.assign(self.clustering_weight)
        self._compile_default()
        schedule = ClusteringSchedule(self.kmeans.inverse_temperature, epochs)
        return self._fit_phase(jets, epochs, batch_size, [schedule, *(callbacks or [])],
                               **kwargs)

    def _fit_phase(self, jets, epochs, batch_size, callbacks, **kwargs):
        if epochs == 0:
            return keras.callbacks.History()
        jets = self._jets(jets)
        self._compile_default()
        targets = np.eye(self.mass_bins, dtype="float32")[
            mass_bin_labels(jets, self.mass_bins, self.mass_range)]
        callbacks = [*callbacks, keras.callbacks.TerminateOnNaN()]
        return super().fit(self.network_input(jets), targets, epochs=epochs,
                           batch_size=batch_size, callbacks=callbacks, **kwargs)

    def _compile_default(self):
        if not self.compiled:
            self.compile(optimizer=keras.optimizers.Adam(1e-3),
                         loss=keras.losses.CategoricalFocalCrossentropy(
                             alpha=1.0, gamma=self.focal_gamma, from_logits=True),
                         metrics=["categorical_accuracy"])

    # ---- inference -------------------------------------------------------------------

    def network_input(self, jets) -> np.ndarray:
        """The jets as the network sees them: float32 `(n_jets, n_constituents, 4)`, the
        leading `n_constituents`, zero padded where a jet file holds fewer (for a network
        of its own on the same input, e.g. a supervised comparison)."""
        return self._jets(jets)[:, : self.n_constituents]

    def embed(self, jets, batch_size=1024):
        """The embedding of each jet, `(n_jets, embedding_dim)`."""
        return self.encoder.predict(self.network_input(jets), batch_size=batch_size,
                                    verbose=0)

    def distances(self, jets, batch_size=1024):
        """Squared distances of each jet's embedding to the centroids, `(n_jets, k)`."""
        return self._squared_distances(self.embed(jets, batch_size))

    def predict_clusters(self, jets, batch_size=1024):
        """Each jet's cluster (its nearest centroid), ints in `0 .. clusters - 1`."""
        return self.nearest_centroid(self.embed(jets, batch_size))

    def nearest_centroid(self, embedding):
        """The cluster of each row of an `embed` output: for jets already embedded."""
        return np.argmin(self._squared_distances(embedding), axis=-1)

    def _squared_distances(self, embedding):
        distances = self.kmeans.squared_distances(ops.convert_to_tensor(embedding))
        return ops.convert_to_numpy(distances)

    def _jets(self, jets):
        jets = np.asarray(jets, dtype="float32")
        if jets.ndim != 3 or jets.shape[-1] != 4:
            raise ValueError(f"UCluster takes raw jets of shape (n_jets, n_constituents, 4) "
                             f"of (E, px, py, pz), got shape {jets.shape}")
        if jets.shape[1] < self.n_constituents:
            pad = self.n_constituents - jets.shape[1]
            jets = np.pad(jets, ((0, 0), (0, pad), (0, 0)))
        return jets

    def get_config(self):
        return {
            **super().get_config(),
            "clusters": self.clusters,
            "n_constituents": self.n_constituents,
            "embedding_dim": self.embedding_dim,
            "k": self.k,
            "blocks": [list(block) for block in self.blocks],
            "dense": list(self.dense),
            "mass_bins": self.mass_bins,
            "mass_range": list(self.mass_range),
            "clustering_weight": self.clustering_weight,
            "focal_gamma": self.focal_gamma,
        }
