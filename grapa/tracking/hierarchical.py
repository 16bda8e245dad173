r"""The hierarchical GNN's bipartite classifier: hits pooled into super-nodes, each
hit-super-node assignment scored, track candidates by a score cut.

R. Liu, P. Calafiura, S. Farrell, X. Ju, D. T. Murnane and T. M. Pham, "Hierarchical
Graph Neural Networks for Particle Track Reconstruction", arXiv:2303.01640 (2023); the
authors' code is github.com/ryanliu30/HierarchicalGNN (`BC_HierarchicalGNN_GMM`). One
network, trained end to end on the event's graph (the edge-classifier pipeline's graph,
after its filter: `grapa.tracking.pipeline`):

1. a flat Interaction Network (`flat_steps` steps) gives every hit a feature vector
   $x_i$ and an embedding $n_i$ on the unit sphere. The network's inputs are
   rotation-invariant (`grapa.tracking.pipeline.network_nodes`), so the hit's azimuth
   enters the embedding at the end (`grapa.layers.hierarchical.AzimuthalEmbedding`):
   without it, two tracks alike but for their azimuth embed alike, and a hit's
   nearest super-nodes may lie anywhere in the detector (the authors feed r, phi, z);
2. the pooling (`grapa.tracking.pooling`, numpy) groups the hits into super-nodes from
   the embeddings alone: a Gaussian-mixture score cut on the edges' similarities,
   connected components, each hit assigned to its `c` nearest super-nodes, a kNN graph
   of the super-nodes;
3. the differentiable rest (`grapa.layers.hierarchical`): the super-nodes' centres,
   the assignment weights (softmax) and super-edge weights (sigmoid), the super-nodes'
   first features from their hits, then `hierarchical_steps` rounds of
   `HierarchicalInteraction`;
4. a network on each assignment's `[x_i, X_a, w_ia, m_ia]` scores whether hit `i`
   belongs to the particle super-node `a` stands for. The authors' head reads `[x_i,
   X_a]`; here it also reads the assignment's weight and whether the pooling put `i` in
   `a` (`m_ia`, `PooledMembership`), so that it starts from the pooling's candidates
   instead of learning to compare two vectors.

Training needs a label per assignment: as in the authors' `get_bipartite_loss`, each
particle is matched to one super-node by a maximum-weight bipartite matching of the
network's current scores (`match_supernodes`); an assignment is true when its hit's
particle is matched to its super-node. The loss is the binary cross-entropy of the
assignments plus the hinge loss of the embeddings on the graph's edges, both weighted
by the particles' pT as in the authors' code and balanced between true and false. The
hinge loss keeps a fixed share (`embedding_weight`, the authors' `loss_schedule`
option) rather than the authors' default fade to zero, which here let the assignment
loss pull the embedding apart. The embedding is first trained alone, as the authors'
first epochs do, by a `keras.Model.fit` of the flat part
(`HierarchicalTrackFinder.fit`'s `pretrain_epochs`).

A track candidate is a super-node's hits whose assignment scores pass `score_cut` (a
hit may pass for two super-nodes: it keeps its best, so each hit has one label).
"""

from __future__ import annotations

import time
import warnings

import keras
import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import min_weight_full_bipartite_matching

from grapa.layers.hierarchical import (
    AssignmentPooling,
    AzimuthalEmbedding,
    BipartiteEnds,
    DotProductWeights,
    HierarchicalInteraction,
    PooledMembership,
    SuperNodeCenters,
)
from grapa.layers.sparse import EdgeDistance, EdgeEnds, InteractionNetwork
from grapa.tracking.embedding import HingeEmbeddingLoss, _particle_pt
from grapa.tracking.events import singleton_tracks
from grapa.tracking.fragments import join_fragments
from grapa.tracking.graph import N_EDGE_FEATURES
from grapa.tracking.pipeline import (
    GRAPH_DEFAULTS,
    JOIN_DEFAULTS,
    N_NODE_INPUTS,
    EventGraph,
    FilteredGraphs,
    _bucket,
    _mlp,
    adapt_scaling,
    pad_graphs,
    sector_pieces,
)
from grapa.tracking.pooling import (
    ASSIGNMENTS,
    GRANULARITY,
    MIN_HITS,
    SUPER_NEIGHBOURS,
    Pooling,
    edge_similarity,
    gmm_score_cut,
    pool_hits,
)

__all__ = [
    "HierarchicalTrackFinder",
    "MovingScoreCut",
    "warn_if_never_cut",
    "build_bipartite_hgnn",
    "embedding_loss_weight",
    "embedding_model",
    "pad_hierarchy",
    "match_supernodes",
    "pt_weights",
    "edge_weights",
    "bipartite_tracks",
]

# the authors' HGNN_GMM.yaml: score_cut 0.7; pT weighting (weight_min, pt_interval,
# weight_leak; ptcut 1 GeV); the hinge loss's train_r 1
SCORE_CUT = 0.7
PT_CUT, PT_INTERVAL, WEIGHT_MIN, WEIGHT_LEAK = 1.0, 0.5, 0.5, 1.0
HINGE_MARGIN = 1.0
HARMONICS = (1,)
# the hinge loss's fixed share in the end-to-end epochs (the authors' `loss_schedule`
# option): with the authors' fade to 0 over two epochs the assignment loss's gradient
# pulled the embedding apart (super-nodes pooled 0.88 / 0.94 of the particles before,
# 0.39 / 0.55 after; 1 GeV events, `fit`'s docstring)
EMBEDDING_WEIGHT = 0.5
CUT_MOMENTUM = 0.95  # the authors' moving average of the pooling's score cut


class MovingScoreCut:
    """The pooling's score cut as the authors keep it while training: each event's
    Gaussian-mixture cut (`grapa.tracking.pooling.gmm_score_cut`) moves a running value
    by 5%; the running value is the cut used, in training and after it.

    An event whose two components overlap too much for a cut (an untrained embedding)
    leaves the value as it is; the first value, before any event gave a cut, is the
    median similarity (the authors: the midpoint of the two means). `events` counts the
    updates and `cuts` those whose event gave a cut.

    Args:
        granularity: r of `gmm_score_cut`.
        momentum: the weight of the running value in each update.
        value: a cut to start from (a trained model's), or None.
    """

    def __init__(self, granularity: float = GRANULARITY, momentum: float = CUT_MOMENTUM,
                 value: float | None = None):
        self.granularity = float(granularity)
        self.momentum = float(momentum)
        self.value = None if value is None else float(value)
        self.events = self.cuts = 0

    def update(self, similarities) -> float:
        """Move the cut towards this event's and return the cut to use."""
        try:
            cut = gmm_score_cut(similarities, self.granularity)
        except ValueError:
            cut = None
        self.events += 1
        self.cuts += cut is not None
        if self.value is None:
            self.value = float(np.median(similarities)) if cut is None else cut
        elif cut is not None:
            self.value = self.momentum * self.value + (1 - self.momentum) * cut
        return self.value


def warn_if_never_cut(cut: MovingScoreCut) -> None:
    """Warn when no training slice's similarities gave a Gaussian-mixture cut: the
    embedding never told the graph's true edges from its false ones, the pooling cut is
    still its start (the median similarity), and the super-nodes merge tracks (on the
    1,000-particle events with their soft tracks: 8 super-nodes for 10,800 hits)."""
    if cut.events and not cut.cuts:
        warnings.warn(
            f"none of the {cut.events} training slices gave a pooling cut: the embedding's "
            "similarities of true and false edges did not separate into two Gaussian "
            f"components, so the cut stayed at the median similarity ({cut.value:.3g}) and "
            "the super-nodes will merge tracks. Pretrain the embedding longer "
            "(fit's pretrain_epochs) or train on more events.", RuntimeWarning, stacklevel=3)


def build_bipartite_hgnn(units: int = 64, embedding_dim: int = 8, flat_steps: int = 4,
                         hierarchical_steps: int = 4, hidden_layers: int = 2,
                         harmonics=HARMONICS) -> keras.Model:
    """The bipartite-classifier HGNN as one Keras model (see the module).

    Inputs are the event's padded graph (`grapa.tracking.pipeline.pad_graphs`) and its
    padded pooling (`pad_hierarchy`); hits and edges are standardised by
    `keras.layers.Normalization` layers named `node_scaling` and `edge_scaling`
    (`grapa.tracking.pipeline.adapt_scaling`).

    Args:
        units: width of every hit, edge, super-node and super-edge representation (the
            authors: 128).
        embedding_dim: dimension of the pooling embedding (the authors: 8).
        flat_steps: Interaction-Network steps before the pooling (the authors: 6).
        hierarchical_steps: `HierarchicalInteraction` rounds (the authors: 8).
        hidden_layers: Dense layers per network.
        harmonics: the multiples of each hit's azimuth in its embedding
            (`grapa.layers.hierarchical.AzimuthalEmbedding`); empty: an embedding of the
            rotation-invariant features alone, blind to where a track is in phi.

    Returns:
        A model `[nodes (B, N, 2), azimuth (B, N), edges (B, E, 2), edge_features (B, E,
        7), pooled (B, N), supernode_mask (B, K), super_edges (B, S, 2), assignment (B,
        A, 2)]`
        -> `{"edge_distance": (B, E, 1), "assignment_logit": (B, A, 1)}`: the squared
        distance of each edge's two embeddings and each assignment's logit. Its layer
        `hit_embedding` gives the embeddings the pooling reads (`embedding_model`).
    """
    if units <= embedding_dim:
        raise ValueError(f"units ({units}) must exceed embedding_dim ({embedding_dim}): a "
                         "super-node's features are its centre plus units - embedding_dim more")
    nodes = keras.Input((None, N_NODE_INPUTS), name="nodes")
    azimuth = keras.Input((None,), name="azimuth")
    edges = keras.Input((None, 2), dtype="int32", name="edges")
    features = keras.Input((None, N_EDGE_FEATURES), name="edge_features")
    pooled = keras.Input((None,), dtype="int32", name="pooled")
    supernode_mask = keras.Input((None,), name="supernode_mask")
    super_edges = keras.Input((None, 2), dtype="int32", name="super_edges")
    assignment = keras.Input((None, 2), dtype="int32", name="assignment")

    x = _mlp(keras.layers.Normalization(name="node_scaling")(nodes), units, hidden_layers,
             "node_encoder")
    e = _mlp(keras.layers.Concatenate()([
        EdgeEnds()([x, edges]), keras.layers.Normalization(name="edge_scaling")(features)]),
        units, hidden_layers, "edge_encoder")
    for step in range(flat_steps):
        x, e = InteractionNetwork(units, hidden_layers, name=f"interaction_{step}")([x, edges, e])
    h = x
    for i in range(hidden_layers):
        h = keras.layers.Dense(units, activation="tanh", name=f"embedding_dense_{i}")(h)
    if harmonics:
        embedding = AzimuthalEmbedding(embedding_dim, harmonics, name="hit_embedding")(
            [h, azimuth])
    else:
        h = keras.layers.Dense(embedding_dim, name="embedding_out")(h)
        embedding = keras.layers.UnitNormalization(name="hit_embedding")(h)
    distance = EdgeDistance(name="edge_distance")([embedding, edges])

    centers = SuperNodeCenters(name="centers")([embedding, pooled, supernode_mask])
    weights = DotProductWeights("softmax", name="assignment_weights")(
        [embedding, centers, assignment])
    super_weights = DotProductWeights("sigmoid", name="super_edge_weights")(
        [centers, centers, super_edges])
    from_hits = AssignmentPooling(name="supernode_pooling")(
        [x, supernode_mask, assignment, weights])
    supernodes = keras.layers.Concatenate(name="supernode_features")([
        centers, _mlp(from_hits, units - embedding_dim, hidden_layers, "supernode_encoder")])
    super_e = _mlp(EdgeEnds()([supernodes, super_edges]), units, hidden_layers,
                   "superedge_encoder")
    for step in range(hierarchical_steps):
        x, e, supernodes, super_e = HierarchicalInteraction(
            units, hidden_layers, update_edges=step < hierarchical_steps - 1,
            name=f"hierarchical_{step}")(
            [x, edges, e, supernodes, super_edges, super_e, super_weights, assignment, weights])
    # the pooling's own evidence beside the two ends: an MLP on [x_i, X_a] alone has to
    # learn a dot product to compare them
    head = keras.layers.Concatenate(name="bipartite_inputs")([
        BipartiteEnds()([x, supernodes, assignment]), weights,
        PooledMembership()([pooled, assignment])])
    for i in range(hidden_layers):
        head = keras.layers.Dense(units, activation="tanh", name=f"bipartite_dense_{i}")(head)
    logit = keras.layers.Dense(1, name="assignment_logit")(head)
    return keras.Model(
        [nodes, azimuth, edges, features, pooled, supernode_mask, super_edges, assignment],
        {"edge_distance": distance, "assignment_logit": logit}, name="bipartite_hgnn")


def embedding_model(model: keras.Model) -> keras.Model:
    """The flat part of a `build_bipartite_hgnn` model: `[nodes, azimuth, edges,
    edge_features]` -> the hits' unit embeddings `(B, N, embedding_dim)`, the pooling's
    input."""
    return keras.Model(model.inputs[:4], model.get_layer("hit_embedding").output)


def _power_of_two(size: int) -> int:
    return int(2 ** np.ceil(np.log2(max(int(size), 16))))


def pad_hierarchy(poolings: list[Pooling], n_nodes: int,
                  assignments: int = ASSIGNMENTS) -> dict[str, np.ndarray]:
    """Stack events' poolings into the padded arrays `build_bipartite_hgnn` takes.

    The sizes are coarse, so that JAX compiles few shapes while the number of
    super-nodes changes from step to step: K and S are powers of two, and A is
    `n_nodes` times `assignments`, the most super-nodes a hit is assigned to (a pooling
    with fewer super-nodes than that gives each hit fewer, and the same A).

    Args:
        poolings: one `Pooling` per event (`grapa.tracking.pooling.pool_hits`).
        n_nodes: the padded number of hits (the graph's, `pad_graphs`).
        assignments: the pooling's super-nodes per hit (`pool_hits`' `assignments`).

    Returns:
        dict with `pooled (B, n_nodes)` int32 (-1: no super-node, and padding),
        `supernode_mask (B, K)` float32, `super_edges (B, S, 2)` and `assignment (B, A,
        2)` int32 (-1 rows: padding).
    """
    batch = len(poolings)
    n_super = _power_of_two(max(len(p.centers) for p in poolings))
    n_super_edges = _power_of_two(max(p.super_edges.shape[1] for p in poolings))
    n_assign = max(n_nodes * int(assignments), 1)
    out = {"pooled": np.full((batch, n_nodes), -1, "int32"),
           "supernode_mask": np.zeros((batch, n_super), "float32"),
           "super_edges": np.full((batch, n_super_edges, 2), -1, "int32"),
           "assignment": np.full((batch, n_assign, 2), -1, "int32")}
    for b, pooling in enumerate(poolings):
        if len(pooling.labels) > n_nodes:
            raise ValueError(f"event {b} has {len(pooling.labels)} hits, more than the padded "
                             f"{n_nodes}")
        if pooling.assignment.shape[1] > n_assign:
            raise ValueError(f"event {b} has {pooling.assignment.shape[1]} assignments, more "
                             f"than {n_nodes} hits x assignments={assignments}: pass the "
                             "pooling's own assignments per hit")
        out["pooled"][b, : len(pooling.labels)] = pooling.labels
        out["supernode_mask"][b, : len(pooling.centers)] = 1.0
        out["super_edges"][b, : pooling.super_edges.shape[1]] = pooling.super_edges.T
        out["assignment"][b, : pooling.assignment.shape[1]] = pooling.assignment.T
    return out


def match_supernodes(particle_ids, assignment, scores, n_super: int):
    """Which assignments are true: each particle matched to one super-node.

    The authors' matching (`get_bipartite_loss`): the weight of a (particle, super-node)
    pair is the sum of the scores of the particle's hits assigned to that super-node; a
    maximum-weight full matching of particles to super-nodes
    (`scipy.sparse.csgraph.min_weight_full_bipartite_matching`), with one virtual
    super-node per particle at weight 1e-12 so that every particle can be matched, and
    a particle matched to a virtual one is matched to none. Noise hits (particle 0)
    take no part (the authors match them, then drop them) and are never true.

    Args:
        particle_ids: `(N,)` each hit's particle (0: noise).
        assignment: `(2, A)` hit, super-node.
        scores: `(A,)` the assignments' scores (probabilities), > 0.
        n_super: number of super-nodes.

    Returns:
        `(truth (A,) bool, owner)`: whether each assignment is true, and a dict particle
        id -> its super-node.
    """
    particle_ids = np.asarray(particle_ids)
    hit, supernode = np.asarray(assignment)
    scores = np.asarray(scores, dtype=np.float64)
    real = particle_ids[hit] != 0
    ids, particle = np.unique(particle_ids[hit][real], return_inverse=True)
    n_particles = len(ids)
    truth = np.zeros(len(hit), bool)
    if n_particles == 0:
        return truth, {}
    rows = np.r_[particle, np.arange(n_particles)]
    columns = np.r_[supernode[real], n_super + np.arange(n_particles)]
    values = np.r_[np.maximum(scores[real], 1e-12), np.full(n_particles, 1e-12)]
    weights = csr_matrix((values, (rows, columns)), shape=(n_particles, n_super + n_particles))
    row, column = min_weight_full_bipartite_matching(weights, maximize=True)
    matched = column < n_super
    owner_of = np.full(n_particles, -1)
    owner_of[row[matched]] = column[matched]
    truth[np.flatnonzero(real)] = owner_of[particle] == supernode[real]
    return truth, dict(zip(ids[row[matched]].tolist(), column[matched].tolist()))


def pt_weights(pt) -> np.ndarray:
    """The authors' per-hit training weight from its particle's pT (GeV):
    $w = w_\\min + (1 - w_\\min) \\min(\\max(p_T - p_\\text{cut} + \\Delta, 0) / \\Delta, 1)
    + \\epsilon \\max(p_T - p_\\text{cut}, 0)$ with $w_\\min = 0.5$, $p_\\text{cut} = 1$,
    $\\Delta = 0.5$, $\\epsilon = 1$: soft particles count half, hard ones more."""
    pt = np.nan_to_num(np.asarray(pt, dtype=np.float64))
    ramp = np.clip((pt - PT_CUT + PT_INTERVAL) / PT_INTERVAL, 0.0, 1.0)
    return WEIGHT_MIN + (1 - WEIGHT_MIN) * ramp + WEIGHT_LEAK * np.maximum(pt - PT_CUT, 0.0)


def balanced(weights, is_true) -> np.ndarray:
    """`weights` rescaled so true and false rows each hold half the total, mean 1 (the
    authors' `log_weight_ratio` 0)."""
    weights = np.asarray(weights, dtype=np.float64).copy()
    is_true = np.asarray(is_true, bool)
    for part in (is_true, ~is_true):
        total = weights[part].sum()
        if total > 0:
            weights[part] *= len(weights) / (2 * total)
    return weights.astype("float32")


def edge_weights(graph, pt) -> np.ndarray:
    """Each edge's weight in the hinge loss, as in the authors' `get_emb_weight`: the
    `pt_weights` of its two hits' particles, summed, then `balanced` between true and
    false edges. `pt`: `(N,)` each hit's particle pT (GeV)."""
    return balanced(pt_weights(pt[graph.edges[0]]) + pt_weights(pt[graph.edges[1]]),
                    graph.labels)


def _hinge_loss():
    """The authors' hinge loss on the embeddings: distance, margin `HINGE_MARGIN`."""
    return HingeEmbeddingLoss(HINGE_MARGIN, "distance")


def bipartite_tracks(n_hits: int, assignment, scores, score_cut: float = SCORE_CUT) -> np.ndarray:
    """Track labels from scored assignments: each hit joins its best-scoring super-node
    among those above `score_cut`; a hit above none gets -1 (in no candidate).

    Args:
        n_hits: hits in the event.
        assignment: `(2, A)` hit, super-node.
        scores: `(A,)` probabilities.
        score_cut: the lowest score of a kept assignment (the authors: 0.7).

    Returns:
        int64 `(n_hits,)`: the super-node of each hit's candidate, or -1.
    """
    hit, supernode = np.asarray(assignment)
    scores = np.asarray(scores, dtype=np.float64)
    keep = scores > score_cut
    labels = np.full(int(n_hits), -1, np.int64)
    order = np.lexsort((-scores[keep], hit[keep]))
    first = np.r_[True, hit[keep][order][1:] != hit[keep][order][:-1]] if keep.any() else []
    labels[hit[keep][order][first]] = supernode[keep][order][first]
    return labels


def embedding_loss_weight(epoch: int, embedding_epochs: int) -> float:
    """The weight of the hinge embedding loss in `epoch` (the authors' schedule):
    $1 - \\sin(\\pi e / 2E)$ for the first $E$ = `embedding_epochs`, then 0; the
    assignment loss gets one minus it. Epoch 0 trains the embedding alone, so that the
    first poolings are not of an untrained embedding."""
    if epoch >= embedding_epochs:
        return 0.0
    return float(1.0 - np.sin(epoch / (2.0 * embedding_epochs) * np.pi))


class HierarchicalTrackFinder(FilteredGraphs):
    """The bipartite-classifier HGNN as a trained track finder: the pipeline's graph and
    edge filter (`grapa.tracking.pipeline`), then `build_bipartite_hgnn` on the filtered
    graph, then `bipartite_tracks`.

    Args:
        units, embedding_dim, flat_steps, hierarchical_steps, hidden_layers: the network
            (`build_bipartite_hgnn`).
        score_cut: an assignment's lowest score in a candidate (the authors: 0.7).
        granularity, min_hits, assignments, super_neighbours: the pooling
            (`grapa.tracking.pooling.pool_hits`; the authors' 5, 3, 5, 10).
        join: None, or `join_fragments` options: after the bipartite candidates, join
            those one helix fits (`grapa.tracking.pipeline.TrackFinder`'s `join`). The
            pooling leaves a soft track's pieces apart: on three 1,000-particle events
            the candidates went from 0.989 / 0.704 (efficiency / purity) to 0.996 /
            0.950 (a finder saved before this option does not join).
        local_assignments: each hit's candidate super-nodes are those of its graph
            neighbourhood (`grapa.tracking.pooling.assignment_graph`), not its nearest
            in embedding space as the authors' (a finder saved before this option
            keeps the authors').
        embedding_epochs: end-to-end epochs over which the hinge embedding loss fades out
            after the pretraining (`embedding_loss_weight`; the authors fade it over
            100 of their 500).
        embedding_weight: a fixed weight of the hinge loss in the end-to-end epochs
            (the authors' `loss_schedule` option; the assignment loss gets one minus
            it), or None for the authors' default, a fade to 0 over `embedding_epochs`.
        harmonics: the azimuth's multiples in the embedding (`build_bipartite_hgnn`).
        filter_efficiency, filter_continuation, graph_options: as
            `grapa.tracking.pipeline.TrackFinder`.
    """

    def __init__(self, units=64, embedding_dim=8, flat_steps=4, hierarchical_steps=4,
                 hidden_layers=2, score_cut=SCORE_CUT, granularity=GRANULARITY,
                 min_hits=MIN_HITS, assignments=ASSIGNMENTS, super_neighbours=SUPER_NEIGHBOURS,
                 embedding_epochs=2, embedding_weight=EMBEDDING_WEIGHT, harmonics=HARMONICS,
                 local_assignments=True, join=JOIN_DEFAULTS,
                 filter_efficiency=0.995, filter_continuation=True, graph_options=None):
        if embedding_weight is not None and not 0 <= embedding_weight <= 1:
            raise ValueError(f"embedding_weight must be in [0, 1] or None, got {embedding_weight}")
        if not 0 < score_cut < 1:
            raise ValueError(f"score_cut must be in (0, 1), got {score_cut}")
        if filter_efficiency is not None and not 0 < filter_efficiency <= 1:
            raise ValueError(f"filter_efficiency must be in (0, 1] or None, got {filter_efficiency}")
        self.config = {
            "model": "hgnn-bipartite", "units": int(units), "embedding_dim": int(embedding_dim),
            "flat_steps": int(flat_steps), "hierarchical_steps": int(hierarchical_steps),
            "hidden_layers": int(hidden_layers), "score_cut": float(score_cut),
            "granularity": float(granularity), "min_hits": int(min_hits),
            "assignments": int(assignments), "super_neighbours": int(super_neighbours),
            "local_assignments": bool(local_assignments),
            "join": None if join is None else {**JOIN_DEFAULTS, **dict(join)},
            "embedding_epochs": int(embedding_epochs),
            "embedding_weight": None if embedding_weight is None else float(embedding_weight),
            "harmonics": [int(k) for k in harmonics], "pooling_cut": None,
            "filter_efficiency": filter_efficiency, "filter_threshold": None,
            "filter_continuation": bool(filter_continuation),
            "graph_options": {**GRAPH_DEFAULTS, **dict(graph_options or {})}}
        self.edge_filter = self._new_filter()
        self.model = self._network()
        self.history: dict[str, list[float]] = {}
        self.training_summary: dict[str, int] = {}

    def _network(self):
        c = self.config
        return build_bipartite_hgnn(c["units"], c["embedding_dim"], c["flat_steps"],
                                    c["hierarchical_steps"], c["hidden_layers"],
                                    c["harmonics"])

    # ---- the pooling and the scores of one event ------------------------------------

    def pool(self, graph: EventGraph, padded=None, cut: MovingScoreCut | None = None):
        """The event graph's pooling from the network's current embeddings; with `cut`
        (training) the running cut moves with this event, else the trained one is used."""
        if graph.edges.shape[1] == 0:
            raise ValueError("the event's graph has no edges to pool its hits along")
        padded = pad_graphs([graph]) if padded is None else padded
        embeddings = np.asarray(keras.ops.convert_to_numpy(self._embedding.predict_on_batch(
            _graph_inputs(padded))))[0, : len(graph.nodes)].astype(np.float64)
        embeddings /= np.maximum(np.linalg.norm(embeddings, axis=1, keepdims=True), 1e-12)
        c = self.config
        similarities = edge_similarity(embeddings, graph.edges)
        value = cut.update(similarities) if cut is not None else c["pooling_cut"]
        if value is None:
            raise ValueError("this finder has no pooling cut yet: train it with fit first")
        return pool_hits(embeddings, graph.edges, min_hits=c["min_hits"],
                         assignments=c["assignments"], neighbours=c["super_neighbours"],
                         cut=value, local_assignments=c.get("local_assignments", False))

    def _hierarchy_inputs(self, graph, padded, pooling):
        hierarchy = pad_hierarchy([pooling], padded["nodes"].shape[1],
                                  self.config["assignments"])
        return _graph_inputs(padded) + [hierarchy[k] for k in (
            "pooled", "supernode_mask", "super_edges", "assignment")], hierarchy

    def assignment_scores(self, event, graph: EventGraph | None = None):
        """`(pooling, scores (A,))`: the event's pooling and the probability of each of its
        assignments (hit, super-node)."""
        graph = self.graph(event) if graph is None else graph
        padded = pad_graphs([graph])
        pooling = self.pool(graph, padded)
        inputs, _ = self._hierarchy_inputs(graph, padded, pooling)
        return pooling, self._probabilities(inputs, pooling)

    def _probabilities(self, inputs, pooling) -> np.ndarray:
        """The network's probability for each of the pooling's assignments."""
        logits = self.model.predict_on_batch(inputs)["assignment_logit"]
        logits = np.asarray(keras.ops.convert_to_numpy(logits))[0, : pooling.assignment.shape[1], 0]
        return 1.0 / (1.0 + np.exp(-logits.astype(np.float64)))

    def reconstruct(self, event) -> np.ndarray:
        """A track label for every hit of `event`: the bipartite candidates
        (`bipartite_tracks`), then, with `join` set, the candidates one helix fits joined
        (`grapa.tracking.fragments.join_fragments`, as `TrackFinder` does), each hit in
        no candidate on its own. Without `join`, -1 marks a hit in no candidate."""
        graph = self.graph(event)
        pooling, scores = self.assignment_scores(event, graph)
        labels = bipartite_tracks(event.n_hits, pooling.assignment, scores,
                                  self.config["score_cut"])
        if self.config.get("join") is None:
            return labels
        return join_fragments(event.hits, singleton_tracks(labels), graph.edges,
                              **self.config["join"])

    # ---- training -------------------------------------------------------------------

    def fit(self, events, *, epochs=10, learning_rate=3e-3, filter_epochs=3,
            pretrain_epochs=30, sectors=16, verbose=1, seed=0):
        """Train the edge filter, then the flat embedding alone, then the HGNN end to end,
        one azimuthal slice of an event per step.

        The embedding's pretraining (`pretrain_epochs` of `keras.Model.fit` on the
        weighted hinge loss) stands for the authors' first epochs, whose sine schedule
        trains the embedding alone while its pooling is noise. Each end-to-end step
        then pools the slice with the network's current embeddings (moving the running
        pooling cut, `MovingScoreCut`), scores the assignments, matches the particles
        to super-nodes on those scores (`match_supernodes`), and takes one gradient
        step on the weighted hinge loss of the graph's edges (weight `embedding_weight`,
        or the authors' fade, `embedding_loss_weight` of `epoch + 1` over
        `embedding_epochs + 1`) and the binary cross-entropy of the assignments (one
        minus that).

        Measured on ten events of 250 particles above 1 GeV (the paper's regime), three
        test events of another seed, ten end-to-end epochs: pretrained 30 epochs at
        3e-3, the pooling's own candidates found 0.80-0.88 of the particles at purity
        0.89-0.94 (10 epochs at 1e-3: 0.27 / 0.41). The authors' fade to 0 over two
        epochs then let the assignment loss pull the embedding apart (0.39 / 0.55 after);
        a fixed weight of 0.5 kept it, and the bipartite candidates reached 0.80 / 0.90
        with the head's pooling inputs (`build_bipartite_hgnn`), 0.35 / 0.45 without.

        Args:
            events: `Event`s with truth and particles.
            epochs: passes over the training events.
            learning_rate: Adam's rate, cosine-decayed to 1% over the training.
            filter_epochs: passes of the filter over the training edges.
            pretrain_epochs: passes of the embedding's pretraining over the slices.
            sectors: azimuthal slices per training event
                (`grapa.tracking.pipeline.sector_pieces`; 1: whole events). What the
                network needs is gradient steps: on ten 1,000-particle events, six epochs
                of whole events (60 steps) left the embedding's true and false edges
                overlapping (median similarity 1.68 against 1.42) and the pooling made 9
                super-nodes of 11,000 hits.
            verbose: 1 prints a line per epoch.
            seed: seeds the weights and the order of the slices.

        Returns:
            self, with `history` (per-epoch mean losses, the filter's prefixed
            `filter_`; `mixture_cuts`, the share of the epoch's slices whose
            similarities gave a pooling cut) and the trained pooling cut in
            `config["pooling_cut"]`. Warns (`warn_if_never_cut`) when no slice gave one.
        """
        keras.utils.set_random_seed(seed)
        self.edge_filter = self._new_filter()
        self.model = self._network()
        events = list(events)
        graphs = [self._labelled_graph(event, "training") for event in events]
        if not graphs:
            raise ValueError("fit needs at least one training event")
        hit_truth = [(event.truth["particle_id"].to_numpy(), _particle_pt(event))
                     for event in events]
        self.history = {}
        candidate_edges = sum(g.edges.shape[1] for g in graphs)
        if self.edge_filter is not None:
            graphs, _ = self._fit_filter(graphs, None, filter_epochs, verbose=0)
        self.training_summary = {
            "events": len(graphs), "candidate_edges": int(candidate_edges),
            "filtered_edges": int(sum(g.edges.shape[1] for g in graphs))}
        adapt_scaling(self.model, graphs)
        pieces = [(piece, particle_ids[rows], pt[rows])
                  for graph, (particle_ids, pt) in zip(graphs, hit_truth)
                  for piece, rows in sector_pieces(graph, sectors)]
        # one padded size for every slice: JAX compiles the step once per shape
        self._sizes = (_bucket(max(len(p.nodes) for p, _, _ in pieces)),
                       _bucket(max(p.edges.shape[1] for p, _, _ in pieces)))
        if pretrain_epochs > 0:
            self.history["pretrain_loss"] = self._pretrain_embedding(
                pieces, pretrain_epochs, learning_rate, verbose=2 if verbose else 0)
        cut = self._fit_end_to_end(pieces, epochs, learning_rate, verbose, seed)
        warn_if_never_cut(cut)
        self.config["pooling_cut"] = cut.value
        return self

    def _fit_end_to_end(self, pieces, epochs, learning_rate, verbose, seed):
        schedule = keras.optimizers.schedules.CosineDecay(learning_rate,
                                                          epochs * len(pieces), alpha=0.01)
        self.model.compile(
            optimizer=keras.optimizers.Adam(schedule),
            loss={"edge_distance": _hinge_loss(),
                  "assignment_logit": keras.losses.BinaryCrossentropy(from_logits=True)})
        cut = MovingScoreCut(self.config["granularity"])
        rng = np.random.default_rng(seed)
        for epoch in range(epochs):
            start = time.perf_counter()
            weight = self._hinge_weight(epoch)
            cuts_before = cut.cuts
            logs = [self._train_step(*pieces[i], weight, cut)
                    for i in rng.permutation(len(pieces))]
            self.history.setdefault("mixture_cuts", []).append(
                (cut.cuts - cuts_before) / len(pieces))
            for key in logs[0]:
                self.history.setdefault(key, []).append(float(np.mean([lg[key] for lg in logs])))
            self.history.setdefault("pooling_cut", []).append(cut.value)
            self.history.setdefault("seconds", []).append(time.perf_counter() - start)
            if verbose:
                print(f"epoch {epoch + 1}/{epochs}: " + ", ".join(
                    f"{k} {v[-1]:.4g}" for k, v in self.history.items()
                    if not k.startswith(("filter_", "pretrain_"))), flush=True)
        return cut

    def _hinge_weight(self, epoch: int) -> float:
        """The hinge loss's weight in end-to-end epoch `epoch` (0-based)."""
        weight = self.config["embedding_weight"]
        if weight is None:
            return embedding_loss_weight(epoch + 1, self.config["embedding_epochs"] + 1)
        return weight

    def _pretrain_embedding(self, pieces, epochs, learning_rate, verbose):
        """The flat part alone (`embedding_model`), trained with `keras.Model.fit` on the
        weighted hinge loss of every slice's edges, before any pooling: the pooling of
        an untrained embedding is noise, and one slice per step with a pooling in
        between is slow. Returns Keras's per-epoch losses.

        How far it gets (the AUC of the edges' similarities, true against false, on
        held-out events of another seed): on events of 250 particles above 1 GeV (the
        paper's regime), ten events x 16 slices x 10 epochs (49 s) gave 0.95-0.96 and a
        Gaussian-mixture cut; on ten 1,000-particle events with the soft tracks, 384
        steps gave 0.74 and 7,680 steps (64 slices x 12 epochs, 18 minutes) 0.86-0.87,
        still rising, with the two components too close for a cut."""
        padded = pad_graphs([piece for piece, _, _ in pieces], *self._sizes)
        weights = np.zeros_like(padded["mask"])
        for b, (piece, _, pt) in enumerate(pieces):
            weights[b, : piece.edges.shape[1]] = edge_weights(piece, pt)
        embedding = self._embedding
        distance = EdgeDistance(name="edge_distance")([embedding.output, embedding.inputs[2]])
        model = keras.Model(embedding.inputs, distance)
        schedule = keras.optimizers.schedules.CosineDecay(
            learning_rate, epochs * len(pieces), alpha=0.1)
        model.compile(optimizer=keras.optimizers.Adam(schedule),
                      loss=_hinge_loss())
        fit = model.fit(_graph_inputs(padded), padded["labels"][..., None],
                        sample_weight=weights, epochs=epochs, batch_size=1, shuffle=True,
                        verbose=verbose)
        return [float(v) for v in fit.history["loss"]]

    def _train_step(self, graph, particle_ids, pt, embedding_weight, cut):
        padded = pad_graphs([graph], *self._sizes)
        pooling = self.pool(graph, padded, cut)
        inputs, hierarchy = self._hierarchy_inputs(graph, padded, pooling)
        n_assign = pooling.assignment.shape[1]
        truth, _ = match_supernodes(particle_ids, pooling.assignment,
                                    self._probabilities(inputs, pooling), len(pooling.centers))
        assign_target = np.zeros(hierarchy["assignment"].shape[:2] + (1,), "float32")
        assign_target[0, :n_assign, 0] = truth
        assign_weight = np.zeros(hierarchy["assignment"].shape[:2], "float32")
        assign_weight[0, :n_assign] = (1.0 - embedding_weight) * balanced(
            pt_weights(pt[pooling.assignment[0]]), truth)
        n_edges = graph.edges.shape[1]
        edge_weight = np.zeros(padded["mask"].shape, "float32")
        edge_weight[0, :n_edges] = embedding_weight * edge_weights(graph, pt)
        logs = self.model.train_on_batch(
            inputs, {"edge_distance": padded["labels"][..., None],
                     "assignment_logit": assign_target},
            sample_weight={"edge_distance": edge_weight, "assignment_logit": assign_weight},
            return_dict=True)
        logs = {k: float(v) for k, v in logs.items()}
        logs.update({"supernodes": float(len(pooling.centers)),
                     "true_assignments": float(truth.sum())})
        return logs

    NETWORK_FILE = "hgnn.keras"

    @property
    def network(self) -> keras.Model:
        """The trained network (`build_bipartite_hgnn`)."""
        return self.model

    @network.setter
    def network(self, model: keras.Model) -> None:
        self.model = model

    @property
    def _embedding(self):
        # one embedding model per network: a new one would compile its predict again
        cached = getattr(self, "_embedding_cache", None)
        if cached is None or cached[0] is not self.model:
            self._embedding_cache = (self.model, embedding_model(self.model))
        return self._embedding_cache[1]


def _graph_inputs(padded):
    return [padded["nodes"], padded["azimuth"], padded["edges"], padded["edge_features"]]
