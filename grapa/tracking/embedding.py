r"""Metric-learning graph construction: hits embedded where a track's hits lie close.

The graph builder of Exa.TrkX (Ju et al., "Performance of a geometric deep learning
pipeline for HL-LHC particle tracking", Eur. Phys. J. C 81 (2021) 876, sec. 3.1,
"embedding"): a network maps each hit to a point on the unit sphere of a learned space,
trained so that the hits of one particle lie close together and other hits far apart;
the candidate graph then joins each hit to its (at most ``k_max``) nearest neighbours
within a radius ``r`` of that space. As the reference code does (the ``MetricLearning``
stage of github.com/GNN4ITkTeam/CommonFramework, ``graph_construction/models/
metric_learning.py``; ``EmbeddingBase`` of github.com/exatrkx/exatrkx-iml2020):

- the network is an MLP with layer normalisation, its output L2-normalised;
- the loss is the hinge embedding loss on the squared distance
  :math:`d^2 = \lVert e_a - e_b \rVert^2` of a pair of hits: :math:`d^2` for a true
  pair, :math:`\max(0, m^2 - d^2)` for a false one (``hinge_embedding_loss``), with
  margin :math:`m` = 0.1, the graph's radius (CommonFramework's defaults ``margin`` and
  ``r_train``);
- each epoch's pairs are the true pairs, random pairs (for stability) and hard
  negatives: false pairs that the current embedding puts within the margin, among
  each hit's nearest neighbours (``neighbour_pairs``, Exa.TrkX's ``build_edges``); the
  two classes weigh the same in the loss (CommonFramework adds the mean over true pairs
  and the mean over false ones).

Where we depart from it, and why (measured on ``simulate_event`` events of 1,000
particles: edge efficiency for pT > 1 GeV at a given number of edges):

- GELU rather than tanh: with 64 units, the tanh network sat for several epochs (for
  all ten, at a learning rate of 1e-3) in a two-dimensional embedding, the azimuth
  circle, before it used z;
- the azimuth enters as ``cos(phi), sin(phi)``: with ``phi / pi``, 66 of the 168 true
  edges across phi = +-pi in three test events were lost, with cosine and sine none;
- the true pairs are a particle's consecutive hits (``metrics.true_edges``, Exa.TrkX's
  ``layerless_true_edges``) and the pairs that skip one hit (a lost hit then does not
  break the track);
- pairs on one detector layer stay out of the loss and of the graph: a track crosses a
  barrel layer once, so such a pair is never an edge;
- the pairs are shuffled into mini-batches across events and fed to
  ``keras.Model.fit`` (Exa.TrkX takes one event per step).

Options: ``hinge_on="distance"`` gives the contrastive loss :math:`\max(0, m - d)^2`
(Hadsell, Chopra and LeCun 2006), whose push does not vanish as two false hits meet
(Exa.TrkX's pushes with :math:`-2d`): with tanh it reached the same efficiency with
30-40% fewer edges, with GELU the two are level. The radius may differ from the margin;
``k_max`` trades efficiency for edges (at radius 0.1, 64 neighbours gave 0.9975 with
300k edges per event, 128 gave 0.9981 with 537k).

Everything scales with hits and edges: neighbours come from a k-d tree
(``scipy.spatial.cKDTree``), queried in blocks; no hits x hits matrix is formed.

Example:
    >>> from grapa.tracking.embedding import HitEmbedding
    >>> embedding = HitEmbedding().fit(train_events, epochs=20)      # doctest: +SKIP
    >>> edges = embedding.build_graph(test_event.hits)                # doctest: +SKIP
"""

from __future__ import annotations

import json
from pathlib import Path

import keras
import numpy as np
import pandas as pd
from scipy.spatial import cKDTree

from grapa.tracking.graph import N_HIT_FEATURES, cylindrical, hit_features
from grapa.tracking.metrics import true_edges

__all__ = [
    "HINGES",
    "HingeEmbeddingLoss",
    "HitEmbedding",
    "build_hit_embedding",
    "hinge_embedding_loss",
    "hit_layers",
    "neighbour_pairs",
    "radius_graph",
    "training_pairs",
    "true_pairs",
]

_QUERY_BLOCK = 2**20
"""Neighbour slots (points x (k_max + 1)) per k-d tree query: bounds its memory."""


# ---------------------------------------------------------------------------------------
# The network and its loss
# ---------------------------------------------------------------------------------------


def build_hit_embedding(embedding_dim: int = 8, units: int = 64, hidden_layers: int = 3,
                        periodic_phi: bool = True) -> keras.Model:
    """The embedding network of Exa.TrkX (Ju et al. 2021, sec. 3.1): hit -> unit vector.

    Hit features are standardised by a ``keras.layers.Normalization`` named
    ``embedding_scaling`` (adapt it on training hits; ``HitEmbedding.fit`` does); with
    ``periodic_phi`` the azimuth enters as ``cos(phi), sin(phi)`` instead of its
    standardised value, so that the two sides of phi = +-pi are neighbours. Then
    ``hidden_layers`` times Dense -> LayerNormalization (no scale or offset, as
    CommonFramework's ``make_mlp(..., layer_norm=True)``) -> GELU, and a linear Dense to
    ``embedding_dim``, L2-normalised (``keras.layers.UnitNormalization``, Exa.TrkX's
    ``F.normalize``): every hit lies on the unit sphere, distances are at most 2.

    Args:
        embedding_dim: dimension of the learned space.
        units: width of the hidden layers.
        hidden_layers: number of hidden layers (>= 1).
        periodic_phi: encode the azimuth as its cosine and sine.

    Returns:
        a Keras model ``(N, 3)`` hit features (``graph.hit_features``: r / 1 m,
        phi / pi, z / 1 m) -> ``(N, embedding_dim)`` unit vectors.
    """
    if embedding_dim < 1 or units < 1 or hidden_layers < 1:
        raise ValueError(
            f"build_hit_embedding needs embedding_dim, units, hidden_layers >= 1, got "
            f"{embedding_dim}, {units}, {hidden_layers}")
    inputs = keras.Input((N_HIT_FEATURES,), name="hit")
    x = keras.layers.Normalization(name="embedding_scaling")(inputs)
    if periodic_phi:
        phi = inputs[:, 1:2] * np.pi
        x = keras.ops.concatenate([x[:, 0:1], x[:, 2:3], keras.ops.cos(phi),
                                   keras.ops.sin(phi)], axis=-1)
    for i in range(hidden_layers):
        x = keras.layers.Dense(units, name=f"embedding_dense_{i}")(x)
        x = keras.layers.LayerNormalization(center=False, scale=False,
                                            name=f"embedding_norm_{i}")(x)
        x = keras.layers.Activation("gelu", name=f"embedding_gelu_{i}")(x)
    x = keras.layers.Dense(embedding_dim, name="embedding_output")(x)
    outputs = keras.layers.UnitNormalization(name="embedding_unit")(x)
    return keras.Model(inputs, outputs, name="hit_embedding")


HINGES = ("squared_distance", "distance")


def hinge_embedding_loss(is_true, squared_distance, margin: float,
                         hinge_on: str = "squared_distance"):
    r"""The per-pair hinge embedding loss of metric learning.

    .. math::

        \ell = \begin{cases} d^2 & \text{a true pair,} \\
                             \max(0,\ m - d)^2 & \text{a false pair } (\texttt{"distance"}), \\
                             \max(0,\ m^2 - d^2) & \text{a false pair }
                             (\texttt{"squared\_distance"}). \end{cases}

    ``"squared_distance"`` is Exa.TrkX's (``torch.nn.functional.hinge_embedding_loss``
    on :math:`d^2` with margin :math:`m^2`, as CommonFramework's
    ``MetricLearning.weighted_hinge_loss`` calls it; also exatrkx-iml2020's, there with
    margin 1); ``"distance"`` is the contrastive loss (Hadsell, Chopra and LeCun, CVPR
    2006), which keeps pushing two false hits apart when they meet.

    Args:
        is_true: ``(P,)`` 1 for a true pair, 0 for a false one.
        squared_distance: ``(P,)`` squared distances of the pairs in the embedding.
        margin: the distance beyond which a false pair costs nothing.
        hinge_on: ``"squared_distance"`` or ``"distance"``.

    Returns:
        ``(P,)`` losses, a backend tensor.
    """
    if hinge_on not in HINGES:
        raise ValueError(f"hinge_on must be one of {HINGES}, got {hinge_on!r}")
    squared_distance = keras.ops.convert_to_tensor(squared_distance)
    is_true = keras.ops.cast(is_true, squared_distance.dtype)
    if hinge_on == "distance":
        # the epsilon keeps the gradient of sqrt finite for two hits at one point
        distance = keras.ops.sqrt(squared_distance + 1e-12)
        false_loss = keras.ops.square(keras.ops.relu(margin - distance))
    else:
        false_loss = keras.ops.relu(margin**2 - squared_distance)
    return is_true * squared_distance + (1.0 - is_true) * false_loss


@keras.saving.register_keras_serializable(package="grapa")
class HingeEmbeddingLoss(keras.losses.Loss):
    """``hinge_embedding_loss`` as a Keras loss: ``y_true`` 1 (true pair) or 0, ``y_pred``
    the pair's squared distance; class weights come as sample weights.

    Args:
        margin: the distance beyond which a false pair costs nothing.
        hinge_on: ``"squared_distance"`` (Exa.TrkX's) or ``"distance"``.
    """

    def __init__(self, margin: float = 0.1, hinge_on: str = "squared_distance",
                 name: str = "hinge_embedding_loss", **kwargs):
        super().__init__(name=name, **kwargs)
        if not margin > 0:
            raise ValueError(f"margin must be > 0 (a distance in the embedding), got {margin}")
        if hinge_on not in HINGES:
            raise ValueError(f"hinge_on must be one of {HINGES}, got {hinge_on!r}")
        self.margin = float(margin)
        self.hinge_on = hinge_on

    def call(self, y_true, y_pred):
        y_pred = keras.ops.convert_to_tensor(y_pred)
        y_true = keras.ops.reshape(keras.ops.cast(y_true, y_pred.dtype), keras.ops.shape(y_pred))
        return hinge_embedding_loss(y_true, y_pred, self.margin, self.hinge_on)

    def get_config(self):
        return {**super().get_config(), "margin": self.margin, "hinge_on": self.hinge_on}


def _pair_model(embedding: keras.Model) -> keras.Model:
    """Two hits' features -> the squared distance of their embeddings (shared weights)."""
    first = keras.Input((N_HIT_FEATURES,), name="first_hit")
    second = keras.Input((N_HIT_FEATURES,), name="second_hit")
    difference = embedding(first) - embedding(second)
    return keras.Model([first, second], keras.ops.sum(difference**2, axis=-1),
                       name="hit_pair_distance")


# ---------------------------------------------------------------------------------------
# Radius graphs in the embedding
# ---------------------------------------------------------------------------------------


def hit_layers(hits: pd.DataFrame) -> np.ndarray:
    """One int64 per hit naming its detector layer, the pair ``(volume_id, layer_id)``."""
    return hits["volume_id"].to_numpy(np.int64) * 10_000 + hits["layer_id"].to_numpy(np.int64)


def _check_radius(radius: float, k_max: int, name: str = "radius") -> None:
    if not (np.isfinite(radius) and radius > 0):
        raise ValueError(f"{name} must be a finite distance > 0 in the embedding (unit "
                         f"vectors are at most 2 apart; Exa.TrkX uses 0.1), got {radius}")
    if int(k_max) != k_max or k_max < 1:
        raise ValueError(f"k_max must be an integer >= 1 (neighbours per hit), got {k_max}")


def neighbour_pairs(points: np.ndarray, radius: float, k_max: int) -> np.ndarray:
    """Each point's at most ``k_max`` nearest other points closer than ``radius``.

    As Exa.TrkX's ``build_edges`` (fixed-radius nearest neighbours capped at ``k_max``,
    self loops removed), with a ``scipy.spatial.cKDTree`` queried in blocks, so memory
    grows with points x ``k_max``.

    Args:
        points: ``(N, d)`` coordinates.
        radius: the largest distance (exclusive).
        k_max: the most neighbours per point.

    Returns:
        int64 ``(2, E)`` pairs ``(point, neighbour)``; a pair may appear in both
        directions.
    """
    _check_radius(radius, k_max)
    points = np.asarray(points, np.float64)
    n = len(points)
    k = min(int(k_max) + 1, n)  # + 1: a point is usually its own nearest neighbour
    if n < 2:
        return np.zeros((2, 0), np.int64)
    tree = cKDTree(points)
    block = max(_QUERY_BLOCK // k, 1)
    sources, targets = [], []
    for start in range(0, n, block):
        query = np.arange(start, min(start + block, n))
        _, found = tree.query(points[query], k=k, distance_upper_bound=radius)
        found = found.reshape(len(query), k)
        # missing neighbours come back as index n; the point itself is dropped by index
        # (not by distance, so that duplicated points stay neighbours of each other)
        valid = (found < n) & (found != query[:, None])
        valid &= np.cumsum(valid, axis=1) <= k_max
        sources.append(np.broadcast_to(query[:, None], found.shape)[valid])
        targets.append(found[valid])
    return np.stack([np.concatenate(sources), np.concatenate(targets)]).astype(np.int64)


def radius_graph(points: np.ndarray, radius: float, k_max: int, *,
                 transverse_radius: np.ndarray, layers: np.ndarray) -> np.ndarray:
    """The candidate graph of an embedding: pairs closer than ``radius``, inner -> outer.

    A pair is an edge when either hit is among the other's ``k_max`` nearest neighbours
    within ``radius`` (``neighbour_pairs``; the cap counts neighbours on the hit's own
    layer too, as Exa.TrkX's, which knows no layers) and the two hits sit on different
    layers. Each edge points from the hit of smaller ``transverse_radius`` to the larger
    (ties: from the smaller row), once; no self loops.

    Args:
        points: ``(N, d)`` embedded hits.
        radius: the largest distance in the embedding (exclusive).
        k_max: the most neighbours per hit.
        transverse_radius: ``(N,)`` each hit's distance from the beam line.
        layers: ``(N,)`` each hit's layer label (``hit_layers``).

    Returns:
        int64 ``(2, E)`` (inner, outer) hit rows, sorted.
    """
    n = len(points)
    transverse_radius, layers = np.asarray(transverse_radius), np.asarray(layers)
    if transverse_radius.shape != (n,) or layers.shape != (n,):
        raise ValueError(f"transverse_radius and layers need shape ({n},) (one per point), got "
                         f"{transverse_radius.shape} and {layers.shape}")
    first, second = neighbour_pairs(points, radius, k_max)
    keep = layers[first] != layers[second]
    first, second = first[keep], second[keep]
    outward = (transverse_radius[first] < transverse_radius[second]) | (
        (transverse_radius[first] == transverse_radius[second]) & (first < second))
    inner = np.where(outward, first, second)
    outer = np.where(outward, second, first)
    keys = np.unique(inner * n + outer)
    return np.stack([keys // n, keys % n]).astype(np.int64)


# ---------------------------------------------------------------------------------------
# Training pairs
# ---------------------------------------------------------------------------------------


def _check_event(event) -> None:
    if event.truth is None:
        raise ValueError(f"training event {event.event_id} has no truth: metric learning needs "
                         "which hits share a particle; read it with its -truth.csv file "
                         "(read_event(..., parts=('hits', 'truth', 'particles')))")


def true_pairs(event, min_pt: float | None = None) -> np.ndarray:
    """The pairs an embedding should keep close: each particle's consecutive hits
    (``metrics.true_edges``) and the pairs that skip one hit, inner -> outer.

    The skips let a track survive one lost hit (a graph holding them is still connected
    when the middle hit is missing); farther pairs are left to transitivity.

    Args:
        event: an ``Event`` with truth (and particles when ``min_pt`` is given).
        min_pt: None, or keep only the particles with pT above it (GeV).

    Returns:
        int64 ``(2, P)`` hit rows.
    """
    _check_event(event)
    edges = true_edges(event.truth, event.hits)
    following = np.full(event.n_hits, -1, np.int64)
    following[edges[0]] = edges[1]  # each hit's next hit along its particle
    skip = np.stack([edges[0], following[edges[1]]])
    pairs = np.concatenate([edges, skip[:, skip[1] >= 0]], axis=1)
    if min_pt is not None:
        pairs = pairs[:, _particle_pt(event)[pairs[0]] > min_pt]
    return pairs


def _particle_pt(event) -> np.ndarray:
    """Each hit's particle's transverse momentum (0 for noise)."""
    if event.particles is None:
        raise ValueError(f"event {event.event_id} has no particles table, which min_pt needs "
                         "(their px, py): read it with parts=('hits', 'truth', 'particles'), "
                         "or pass min_pt=None")
    particles = event.particles
    pt = pd.Series(np.hypot(particles["px"].to_numpy(np.float64),
                            particles["py"].to_numpy(np.float64)),
                   index=particles["particle_id"].to_numpy())
    return pt.reindex(event.truth["particle_id"].to_numpy()).fillna(0.0).to_numpy()


def training_pairs(event, rng: np.random.Generator, *, n_random: int,
                   hard_negatives: np.ndarray | None = None, max_hard: int | None = None,
                   min_pt: float | None = None) -> tuple[np.ndarray, np.ndarray, int]:
    """One event's pairs for an epoch: true pairs, random pairs and hard negatives.

    Random pairs and ``hard_negatives`` (pairs the current embedding puts within the
    margin) are kept when they are false, i.e. not two hits of one particle, and on different
    layers (a same-layer pair is never an edge); at most ``max_hard`` hard negatives,
    drawn at random.

    Args:
        event: an ``Event`` with truth.
        rng: the random generator.
        n_random: random pairs drawn (before dropping the true and same-layer ones).
        hard_negatives: None, or int ``(2, H)`` candidate pairs of hit rows.
        max_hard: the most hard negatives kept (None: all).
        min_pt: passed to ``true_pairs``.

    Returns:
        ``(pairs (2, P) int64, is_true (P,) float32, n_hard)``: the pairs, 1 for the true
        ones, and how many of the false ones are hard negatives (the last ``n_hard``).
    """
    _check_event(event)
    particle = event.truth["particle_id"].to_numpy()
    layers = hit_layers(event.hits)
    positives = true_pairs(event, min_pt)
    random = rng.integers(0, event.n_hits, size=(2, int(n_random)))
    random = random[:, _is_false(random, particle, layers)]
    hard = np.zeros((2, 0), np.int64)
    if hard_negatives is not None:
        hard = np.asarray(hard_negatives, np.int64).reshape(2, -1)
        hard = hard[:, _is_false(hard, particle, layers)]
        if max_hard is not None and hard.shape[1] > max_hard:
            hard = hard[:, rng.choice(hard.shape[1], max_hard, replace=False)]
    pairs = np.concatenate([positives, random, hard], axis=1).astype(np.int64)
    is_true = np.r_[np.ones(positives.shape[1]), np.zeros(random.shape[1] + hard.shape[1])]
    return pairs, is_true.astype("float32"), hard.shape[1]


def _is_false(pairs, particle, layers):
    """Pairs of two hits not of one particle (noise never is), on different layers."""
    same_particle = (particle[pairs[0]] == particle[pairs[1]]) & (particle[pairs[0]] != 0)
    return ~same_particle & (layers[pairs[0]] != layers[pairs[1]])


# ---------------------------------------------------------------------------------------
# The trained graph builder
# ---------------------------------------------------------------------------------------


class HitEmbedding:
    """Exa.TrkX's metric-learning graph construction (Ju et al. 2021, sec. 3.1) as one
    trained object: ``fit(events)``, ``embed(hits)``, ``build_graph(hits)``, ``save`` and
    ``load``.

    Args:
        embedding_dim, units, hidden_layers, periodic_phi: the network
            (``build_hit_embedding``).
        radius: the graph's radius in the embedding.
        margin: the hinge margin: false pairs are pushed beyond it, and hard negatives
            are mined within it.
        k_max: the most neighbours a hit joins in the graph.
        hinge_on: the false-pair term of the loss (``hinge_embedding_loss``).
    """

    def __init__(self, embedding_dim: int = 8, units: int = 64, hidden_layers: int = 3,
                 periodic_phi: bool = True, radius: float = 0.1, margin: float = 0.1,
                 k_max: int = 64, hinge_on: str = "squared_distance"):
        self.config = {"embedding_dim": int(embedding_dim), "units": int(units),
                       "hidden_layers": int(hidden_layers), "periodic_phi": bool(periodic_phi),
                       "radius": float(radius), "margin": float(margin), "k_max": int(k_max),
                       "hinge_on": hinge_on}
        self._check_config()
        self.model = build_hit_embedding(embedding_dim, units, hidden_layers, periodic_phi)
        self.history: dict[str, list[float]] = {}

    def _check_config(self):
        _check_radius(self.config["radius"], self.config["k_max"])
        _check_radius(self.config["margin"], self.config["k_max"], "margin")
        if self.config["hinge_on"] not in HINGES:
            raise ValueError(f"hinge_on must be one of {HINGES}, got {self.config['hinge_on']!r}")

    @property
    def radius(self) -> float:
        """The graph's radius in the embedding."""
        return self.config["radius"]

    @property
    def k_max(self) -> int:
        """The most neighbours a hit joins."""
        return self.config["k_max"]

    def embed(self, hits: pd.DataFrame) -> np.ndarray:
        """``(N, embedding_dim)`` float32 unit vectors, one per hit row."""
        return self._embed_features(hit_features(hits))

    def _embed_features(self, features: np.ndarray) -> np.ndarray:
        if not len(features):
            return np.zeros((0, self.config["embedding_dim"]), "float32")
        return np.asarray(self.model.predict(features, batch_size=65536, verbose=0))

    def build_graph(self, hits: pd.DataFrame, *, radius: float | None = None,
                    k_max: int | None = None) -> np.ndarray:
        """The candidate edges of an event's hits: ``radius_graph`` of their embedding.

        Args:
            hits: the event's hits (``x, y, z, volume_id, layer_id``).
            radius: None, or a radius other than the configured one (larger: more
                edges, more efficient, less pure).
            k_max: None, or another neighbour cap.

        Returns:
            int64 ``(2, E)`` (inner, outer) hit rows, no self loops, no duplicates, no
            two hits of one layer.
        """
        radius = self.radius if radius is None else radius
        k_max = self.k_max if k_max is None else k_max
        _check_radius(radius, k_max)
        transverse_radius, _, _ = cylindrical(hits)
        return radius_graph(self.embed(hits), radius, k_max,
                            transverse_radius=transverse_radius, layers=hit_layers(hits))

    def fit(self, events, *, epochs: int = 20, learning_rate: float = 1e-3,
            pairs_per_event: int = 20_000, hard_negative_neighbours: int = 128,
            min_pt: float | None = None, batch_size: int = 2048,
            radius: float | None = None, margin: float | None = None,
            k_max: int | None = None, seed: int = 0, verbose: int = 0) -> HitEmbedding:
        """Train the embedding on events with truth.

        Each epoch draws per event its true pairs (``true_pairs``), ``pairs_per_event``
        random pairs and up to ``pairs_per_event`` hard negatives: false pairs among each
        hit's ``hard_negative_neighbours`` nearest neighbours within the margin in the
        current embedding (Exa.TrkX's hard-negative mining, its ``knn``). The loss is
        ``HingeEmbeddingLoss`` with true and false pairs weighing the same in total;
        Adam's learning rate follows a cosine from ``learning_rate`` to 1% of it over
        the epochs. Training starts from a fresh network, initialised from ``seed``;
        ``epochs=0`` only adapts its input scaling (an untrained baseline).

        Args:
            events: iterable of ``Event``s with truth (and particles with ``min_pt``).
            epochs: passes over freshly drawn pairs.
            learning_rate: Adam's initial learning rate.
            pairs_per_event: random pairs, and the most hard negatives, per event and
                epoch.
            hard_negative_neighbours: neighbours per hit searched for hard negatives
                (0: no mining; CommonFramework's ``knn`` is 100). Wider than the graph's
                ``k_max`` on purpose: mined with 128, a graph capped at 64 held 0.9975
                of the true edges (pT > 1 GeV) with 300k edges per event; mined with
                64, 0.9967 with 326k.
            min_pt: None: every particle's hits are pulled together (the default: on
                our events a cut at 0.9 GeV changed the pT > 1 GeV efficiency by less
                than the spread between seeds); or only those of particles above this
                pT (GeV), the others neither pulled together nor pushed apart.
            batch_size: pairs per gradient step.
            radius, margin, k_max: None, or a new value for the configured one.
            seed: seeds the weight initialisation and the pair sampling.
            verbose: Keras's progress output.

        Returns:
            self, with ``history``: per epoch ``loss``, ``n_true_pairs``,
            ``n_false_pairs`` and ``n_hard_negatives`` (summed over the events).

        Raises:
            ValueError: no events, an event without truth (or without particles for
                ``min_pt``), or bad options.
        """
        events = list(events)
        if not events:
            raise ValueError("fit needs at least one training event (with truth)")
        for event in events:
            _check_event(event)
        if (epochs < 0 or pairs_per_event < 0 or hard_negative_neighbours < 0
                or batch_size < 1 or not learning_rate > 0):
            raise ValueError(
                f"fit needs epochs, pairs_per_event, hard_negative_neighbours >= 0, "
                f"batch_size >= 1 and learning_rate > 0, got {epochs}, {pairs_per_event}, "
                f"{hard_negative_neighbours}, {batch_size}, {learning_rate}")
        config = dict(self.config)
        for key, value in (("radius", radius), ("margin", margin), ("k_max", k_max)):
            if value is not None:
                self.config[key] = type(config[key])(value)
        try:
            self._check_config()
        except ValueError:
            self.config = config
            raise
        keras.utils.set_random_seed(seed)
        rng = np.random.default_rng(seed)
        self.model = build_hit_embedding(self.config["embedding_dim"], self.config["units"],
                                         self.config["hidden_layers"],
                                         self.config["periodic_phi"])
        features = [hit_features(event.hits) for event in events]
        self.model.get_layer("embedding_scaling").adapt(np.concatenate(features))
        pair_model = _pair_model(self.model)
        optimizer = keras.optimizers.Adam(learning_rate)
        pair_model.compile(optimizer=optimizer, loss=HingeEmbeddingLoss(
            self.config["margin"], self.config["hinge_on"]))
        self.history = {"loss": [], "n_true_pairs": [], "n_false_pairs": [],
                        "n_hard_negatives": []}
        for epoch in range(epochs):
            optimizer.learning_rate.assign(
                learning_rate * (0.01 + 0.99 * 0.5 * (1 + np.cos(np.pi * epoch / epochs))))
            first, second, is_true, n_hard = self._epoch_pairs(
                events, features, rng, pairs_per_event, hard_negative_neighbours, min_pt)
            fit = pair_model.fit([first, second], is_true, sample_weight=_class_weights(is_true),
                                 batch_size=batch_size, epochs=epoch + 1, initial_epoch=epoch,
                                 shuffle=True, verbose=verbose)
            self.history["loss"].append(float(fit.history["loss"][-1]))
            self.history["n_true_pairs"].append(int(is_true.sum()))
            self.history["n_false_pairs"].append(int(len(is_true) - is_true.sum()))
            self.history["n_hard_negatives"].append(n_hard)
        return self

    def _epoch_pairs(self, events, features, rng, pairs_per_event, neighbours, min_pt):
        """Both ends' hit features of every pair of an epoch, the labels, the hard count."""
        firsts, seconds, labels, n_hard = [], [], [], 0
        for event, event_features in zip(events, features):
            mined = None
            if neighbours:
                mined = neighbour_pairs(self._embed_features(event_features),
                                        self.config["margin"], neighbours)
            pairs, is_true, hard = training_pairs(
                event, rng, n_random=pairs_per_event, hard_negatives=mined,
                max_hard=pairs_per_event, min_pt=min_pt)
            n_hard += hard
            firsts.append(event_features[pairs[0]])
            seconds.append(event_features[pairs[1]])
            labels.append(is_true)
        return (np.concatenate(firsts), np.concatenate(seconds), np.concatenate(labels),
                n_hard)

    def save(self, directory) -> Path:
        """Write ``embedding.keras`` (the network) and ``embedding.json`` (config with
        radius and k_max, history) into ``directory``."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        self.model.save(directory / "embedding.keras")
        (directory / "embedding.json").write_text(
            json.dumps({"config": self.config, "history": self.history}, indent=2))
        return directory

    @classmethod
    def load(cls, directory) -> HitEmbedding:
        """A ``HitEmbedding`` written by ``save``."""
        directory = Path(directory)
        for name in ("embedding.json", "embedding.keras"):
            if not (directory / name).exists():
                raise FileNotFoundError(
                    f"{directory / name} is missing: a hit-embedding directory holds "
                    "embedding.json and embedding.keras, as HitEmbedding.save writes them")
        saved = json.loads((directory / "embedding.json").read_text())
        embedding = cls.__new__(cls)
        embedding.config = saved["config"]
        embedding.history = saved.get("history", {})
        embedding._check_config()
        embedding.model = keras.saving.load_model(directory / "embedding.keras")
        return embedding


def _class_weights(is_true: np.ndarray) -> np.ndarray:
    """Sample weights giving true and false pairs the same total weight (mean 1)."""
    n_true = is_true.sum()
    n_false = len(is_true) - n_true
    if n_true == 0 or n_false == 0:
        return np.ones_like(is_true)
    return np.where(is_true > 0, len(is_true) / (2 * n_true),
                    len(is_true) / (2 * n_false)).astype("float32")
