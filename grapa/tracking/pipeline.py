r"""The edge-classifier track-finding pipeline: graph, edge scores, tracks.

The Exa.TrkX pipeline (Ju et al., "Performance of a geometric deep learning pipeline for
HL-LHC particle tracking", Eur. Phys. J. C 81 (2021) 876), stage by stage:

1. **graph construction** (`grapa.tracking.graph.layer_pair_graph`): candidate edges
   between hits on nearby layers;
2. **edge filter** (`build_edge_filter`): a small network on each edge's two hits, its
   geometry and whether a neighbouring edge continues its helix
   (`grapa.tracking.graph.continuation_features`) drops the edges that are plainly
   wrong, keeping a set fraction of the true ones, so that the message passing runs on
   about 14 times fewer edges;
3. **edge classification** (`build_edge_classifier`): an Interaction Network
   (Battaglia et al. 2016) scores every edge as the probability that both hits belong to
   one particle;
4. **track building** (`build_tracks`): the edges above a threshold, as connected
   components (`"components"`), or after a walk that keeps for each hit only its best
   outgoing and best incoming edge (`"walk"`), so two tracks that touch through one
   wrong edge come apart (optionally, weaker edges then mend tracks broken at one
   edge); last, fragments that one helix fits are joined (`grapa.tracking.fragments`).

`TrackFinder` holds the three together: `fit(events)`, `edge_scores(event)`,
`reconstruct(event)` and a directory it saves to and loads from.

Events of different sizes are padded to shared shapes (nodes with zero rows, edges with
`-1` rows; see `grapa.layers.sparse`), rounded up to coarse buckets so that a compiled
step serves many events.
"""

from __future__ import annotations

import inspect
import json
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from grapa.layers.sparse import EdgeEnds, InteractionNetwork
from grapa.tracking.fragments import join_fragments
from grapa.tracking.graph import (
    N_CONTINUATION_FEATURES,
    N_EDGE_FEATURES,
    continuation_features,
    detector_layers,
    edge_features,
    hit_features,
    layer_pair_graph,
)

__all__ = [
    "BUILDERS",
    "GRAPH_DEFAULTS",
    "N_NODE_INPUTS",
    "network_nodes",
    "EventGraph",
    "TrackFinder",
    "build_edge_classifier",
    "build_edge_filter",
    "filter_inputs",
    "layer_steps",
    "build_tracks",
    "event_graph",
    "pad_graphs",
    "sector_pieces",
    "split_sectors",
]

BUILDERS = ("walk", "components")
JOIN_DEFAULTS = {name: parameter.default for name, parameter
                 in inspect.signature(join_fragments).parameters.items()
                 if parameter.kind is parameter.KEYWORD_ONLY}
"""`join_fragments`' options and defaults: a new `TrackFinder` saves them all."""
GRAPH_DEFAULTS = {"min_pt": 0.5, "max_neighbours": 24}
"""`layer_pair_graph` options of a new `TrackFinder`: tracks down to 0.5 GeV stay
connected (their hits form their own candidates), and each hit keeps its 24 nearest
outer hits per layer (linear growth with the hits)."""
FILTER_BLOCK = 65536
"""Edges the filter scores per call."""
INVARIANT_COLUMNS = [0, 2]  # r and z of `hit_features`, without phi
N_NODE_INPUTS = len(INVARIANT_COLUMNS)


def network_nodes(nodes: np.ndarray) -> np.ndarray:
    """`(n_hits, 2)` what the filter and the classifier see of each hit: `r / 1 m` and
    `z / 1 m` of its `hit_features`, not its azimuth.

    The barrel and the solenoid field are symmetric in phi, so a hit's absolute azimuth
    says nothing about which hits it pairs with, and its wrap from pi to -pi would be a
    false boundary; azimuth enters through the edges' `dphi` and slopes instead (on ten
    1,000-particle events, six epochs: validation loss 0.29 without phi, 0.30 with it).
    """
    return np.asarray(nodes)[:, INVARIANT_COLUMNS]


@dataclass
class EventGraph:
    """One event as the classifier sees it.

    Attributes:
        nodes: `(n_hits, 3)` float32 hit features (`hit_features`: r, phi, z).
        edges: `(2, E)` int64 (inner, outer) hit rows.
        edge_features: `(E, 7)` float32 (`edge_features`).
        labels: `(E,)` bool, both hits from one particle, or None without truth.
        continuation: `(E, 6)` float32 (`continuation_features`, what the edge filter
            reads of the edges around each edge), or None.
    """

    nodes: np.ndarray
    edges: np.ndarray
    edge_features: np.ndarray
    labels: np.ndarray | None = None
    continuation: np.ndarray | None = None


def event_graph(event, continuation: bool = False, **graph_options) -> EventGraph:
    """The candidate graph of a `grapa.tracking.events.Event`, labelled when it has truth.

    Args:
        event: an `Event` (hits, and truth for labels).
        continuation: also compute each edge's `continuation_features` (the edge
            filter's inputs beyond the edge itself).
        **graph_options: passed to `layer_pair_graph`.
    """
    edges = layer_pair_graph(event.hits, **graph_options)
    labels = None
    if event.truth is not None:
        particle = event.truth["particle_id"].to_numpy()
        labels = (particle[edges[0]] == particle[edges[1]]) & (particle[edges[0]] != 0)
    return EventGraph(hit_features(event.hits), edges, edge_features(event.hits, edges), labels,
                      continuation_features(event.hits, edges) if continuation else None)


def split_sectors(graph: EventGraph, sectors: int) -> list[EventGraph]:
    """The graph cut into `sectors` slices of azimuth: each edge goes to the slice of its
    inner hit, with the hits its edges touch (renumbered).

    For training only: a step on one slice costs a `sectors`-th of a step on the event,
    so the same work makes `sectors` times more (noisier) updates. Hits near a boundary
    lose the messages of the edges on the other side.
    """
    return [piece for piece, _ in sector_pieces(graph, sectors)]


def sector_pieces(graph: EventGraph, sectors: int) -> list[tuple[EventGraph, np.ndarray]]:
    """`split_sectors`' slices, each with the event's hit rows it holds (`piece.nodes`
    is `graph.nodes[rows]`), so that per-hit truth follows the slice."""
    if sectors <= 1 or graph.edges.shape[1] == 0:
        return [(graph, np.arange(len(graph.nodes)))]
    phi = graph.nodes[:, 1]  # phi / pi in [-1, 1]
    sector_of_edge = np.minimum(((phi[graph.edges[0]] + 1) / 2 * sectors).astype(int),
                                sectors - 1)
    pieces = []
    for sector in range(sectors):
        keep = sector_of_edge == sector
        if not keep.any():
            continue
        rows, local = np.unique(graph.edges[:, keep], return_inverse=True)
        pieces.append((EventGraph(graph.nodes[rows], local.reshape(2, -1),
                                  graph.edge_features[keep], _rows(graph.labels, keep),
                                  _rows(graph.continuation, keep)), rows))
    return pieces


def _bucket(size: int) -> int:
    """`size` rounded up to 1, 1.25, 1.5 or 1.75 times a power of two (at most 25% more)."""
    size = max(int(size), 16)
    power = 2 ** int(np.floor(np.log2(size)))
    for factor in (1.0, 1.25, 1.5, 1.75, 2.0):
        if power * factor >= size:
            return int(power * factor)
    return 2 * power  # pragma: no cover


def pad_graphs(graphs: list[EventGraph], n_nodes: int | None = None,
               n_edges: int | None = None) -> dict[str, np.ndarray]:
    """Stack graphs into padded arrays: zero node rows, `-1` edge rows.

    Args:
        graphs: the events' graphs.
        n_nodes, n_edges: the padded sizes (default: the largest, bucketed).

    Returns:
        dict with `nodes (B, n_nodes, 2)` (`network_nodes`), `azimuth (B, n_nodes)` each
        hit's phi in radians (0 for padding; what a rotation-equivariant embedding reads),
        `edges (B, n_edges, 2)` int32, `edge_features (B, n_edges, 7)`, `mask (B,
        n_edges)` float32 (1 for real edges) and, when every graph has labels, `labels (B,
        n_edges)` float32.
    """
    n_nodes = n_nodes or _bucket(max(len(g.nodes) for g in graphs))
    n_edges = n_edges or _bucket(max(g.edges.shape[1] for g in graphs))
    batch = len(graphs)
    out = {
        "nodes": np.zeros((batch, n_nodes, N_NODE_INPUTS), "float32"),
        "azimuth": np.zeros((batch, n_nodes), "float32"),
        "edges": np.full((batch, n_edges, 2), -1, "int32"),
        "edge_features": np.zeros((batch, n_edges, N_EDGE_FEATURES), "float32"),
        "mask": np.zeros((batch, n_edges), "float32"),
    }
    labelled = all(g.labels is not None for g in graphs)
    if labelled:
        out["labels"] = np.zeros((batch, n_edges), "float32")
    for b, graph in enumerate(graphs):
        n, e = len(graph.nodes), graph.edges.shape[1]
        if n > n_nodes or e > n_edges:
            raise ValueError(f"graph {b} has {n} hits and {e} edges, more than the padded "
                             f"{n_nodes} and {n_edges}")
        out["nodes"][b, :n] = network_nodes(graph.nodes)
        out["azimuth"][b, :n] = np.asarray(graph.nodes)[:, 1] * np.pi
        out["edges"][b, :e] = graph.edges.T
        out["edge_features"][b, :e] = graph.edge_features
        out["mask"][b, :e] = 1.0
        if labelled:
            out["labels"][b, :e] = graph.labels
    return out


def filter_inputs(graph: EventGraph) -> np.ndarray:
    """`(E, 11)` float32: each edge's inner hit, outer hit (`network_nodes`, 2 features
    each) and its own 7; `(E, 17)` with the graph's `continuation` after them."""
    nodes = network_nodes(graph.nodes)
    extra = [] if graph.continuation is None else [graph.continuation]
    return np.concatenate([nodes[graph.edges[0]], nodes[graph.edges[1]],
                           graph.edge_features, *extra], axis=1)


def _rows(values, keep):
    return None if values is None else values[keep]


def select_edges(graph: EventGraph, keep: np.ndarray) -> EventGraph:
    """The graph with only the edges `keep` selects (a boolean mask, indices or a slice)."""
    return EventGraph(graph.nodes, graph.edges[:, keep], graph.edge_features[keep],
                      _rows(graph.labels, keep), _rows(graph.continuation, keep))


def build_edge_filter(units: int = 64, hidden_layers: int = 3,
                      continuation: bool = True) -> keras.Model:
    """Exa.TrkX's filter stage (Ju et al. 2021, sec. 3.1): a multilayer perceptron on one
    edge at a time, `(E, 11)` `filter_inputs` -> `(E, 1)` logits; no message passing.
    With `continuation`, it also reads each edge's `continuation_features`
    (`(E, 17)` inputs): whether a neighbouring edge continues its helix, the view of
    triplet seeding, which no single edge gives. Its inputs are standardised by a
    `keras.layers.Normalization` named `filter_scaling`, to be adapted on training
    edges."""
    width = 2 * N_NODE_INPUTS + N_EDGE_FEATURES + (N_CONTINUATION_FEATURES if continuation else 0)
    inputs = keras.Input((width,), name="edge")
    x = keras.layers.Normalization(name="filter_scaling")(inputs)
    for i in range(hidden_layers):
        x = keras.layers.Dense(units, activation="relu", name=f"filter_dense_{i}")(x)
    return keras.Model(inputs, keras.layers.Dense(1, name="filter_logit")(x), name="edge_filter")


def _mlp(x, units, layers, name):
    for i in range(layers):
        x = keras.layers.Dense(units, activation="relu" if i < layers - 1 else None,
                               name=f"{name}_dense_{i}")(x)
    return keras.layers.LayerNormalization(name=f"{name}_norm")(x)


def build_edge_classifier(units: int = 64, steps: int = 4, hidden_layers: int = 2,
                          aggregation: str = "sum") -> keras.Model:
    """The Interaction-Network edge classifier of Exa.TrkX (Ju et al. 2021, sec. 3.2).

    Hit and edge features are standardised (`keras.layers.Normalization` named
    `node_scaling` and `edge_scaling`: call `adapt_scaling` on training graphs), encoded
    to `units` features, `steps` InteractionNetwork layers
    pass messages along the graph, and a network on each edge's two ends and its own
    features gives one logit per edge.

    Args:
        units: width of every hidden representation.
        steps: message-passing steps (a hit sees hits `steps` edges away).
        hidden_layers: Dense layers per network.
        aggregation: how a hit pools its edges' messages (`"sum"`, `"mean"`, `"max"`).

    Returns:
        A Keras model `[nodes (B, N, 2), edges (B, E, 2), edge_features (B, E, 7)]` ->
        logits `(B, E, 1)`.
    """
    nodes = keras.Input((None, N_NODE_INPUTS), name="nodes")
    edges = keras.Input((None, 2), dtype="int32", name="edges")
    features = keras.Input((None, N_EDGE_FEATURES), name="edge_features")
    scaled_nodes = keras.layers.Normalization(name="node_scaling")(nodes)
    scaled_features = keras.layers.Normalization(name="edge_scaling")(features)
    x = _mlp(scaled_nodes, units, hidden_layers, "node_encoder")
    e = _mlp(keras.layers.Concatenate()([EdgeEnds()([x, edges]), scaled_features]), units,
             hidden_layers, "edge_encoder")
    for step in range(steps):
        x, e = InteractionNetwork(units, hidden_layers, aggregation, name=f"interaction_{step}")(
            [x, edges, e])
    ends = EdgeEnds()([x, edges])
    hidden = keras.layers.Concatenate()([ends, e])
    for i in range(hidden_layers):
        hidden = keras.layers.Dense(units, activation="relu", name=f"classifier_dense_{i}")(hidden)
    logits = keras.layers.Dense(1, name="edge_logit")(hidden)
    return keras.Model([nodes, edges, features], logits, name="edge_classifier")


def adapt_scaling(classifier: keras.Model, graphs: list[EventGraph]) -> None:
    """Set the classifier's input standardisation to the mean and variance of the real
    hits and edges of `graphs` (dphi is ~0.01 rad, dr ~0.1 m: unscaled, the small ones
    would train slowly)."""
    # (1, rows, features): the layers were built for (batch, nodes, features)
    classifier.get_layer("node_scaling").adapt(
        np.concatenate([network_nodes(g.nodes) for g in graphs])[None])
    classifier.get_layer("edge_scaling").adapt(
        np.concatenate([g.edge_features for g in graphs])[None])


def layer_steps(hits, edges: np.ndarray) -> np.ndarray:
    """`(E,)` how many layers each edge crosses (1: the next layer, 2: one skipped)."""
    layers = detector_layers(hits)
    return layers[edges[1]] - layers[edges[0]] if edges.shape[1] else np.zeros(0, np.int64)


def build_tracks(n_hits: int, edges: np.ndarray, scores: np.ndarray, threshold: float = 0.5,
                 method: str = "walk", groups: np.ndarray | None = None,
                 mend_threshold: float | None = None) -> np.ndarray:
    """Track candidates from scored edges: a label per hit, hits sharing one label form a
    candidate (a hit without a kept edge is a candidate of its own).

    `"components"`: the connected components of the edges scoring above `threshold`
    (`scipy.sparse.csgraph.connected_components`). `"walk"`: of those edges, each hit
    keeps only its best-scoring outgoing (outward) edge and its best incoming one within
    each group, and an edge stays when it is both; then the connected components. With
    `groups` the number of layers an edge crosses, a track's edges to the next layer and
    its edges over a missing hit do not compete, while a wrong edge that joins two
    tracks loses to the true edge of the same step at both of its ends. Without
    `groups`, every hit keeps one edge per side and candidates are chains.

    Mending (`mend_threshold`): a track whose one edge scored below `threshold` falls
    into two candidates, and when neither holds more than half of its hits the particle
    is lost and both count against the purity. After the kept edges are chosen, an edge
    scoring in (`mend_threshold`, `threshold`] joins two candidates when its inner hit
    has no kept outgoing edge and its outer hit no kept incoming one (both are free
    ends), and it is the best such edge at both; a confident edge is never overruled.
    The two score cuts follow the walkthrough of the Exa.TrkX successor acorn (its
    `CCandWalk` and `EdgeMending` track builders: a high cut for the confident paths, a
    lower one to continue them). On 1,000-particle validation events, a threshold of 0.9
    and a mending threshold of 0.1 took the walk from an efficiency of 0.945 and a
    purity of 0.569 to 0.964 and 0.769 (0.05 to 0.3 all did within 0.01). Joining
    fragments by a helix fit (`grapa.tracking.fragments`) does better, and mending before
    it makes joins no fit checked: `TrackFinder` joins and does not mend.

    Args:
        n_hits: number of hits in the event.
        edges: `(2, E)` (inner, outer) hit rows.
        scores: `(E,)` edge scores in [0, 1].
        threshold: the lowest score an edge may have.
        method: `"walk"` or `"components"`.
        groups: `(E,)` integer group of each edge for the walk (e.g. its layer step), or
            None for one group.
        mend_threshold: None (no mending), or the lowest score of a mending edge, below
            `threshold`.

    Returns:
        int64 `(n_hits,)` candidate labels.
    """
    if method not in BUILDERS:
        raise ValueError(f"method must be one of {BUILDERS}, got {method!r}")
    _check_mend_threshold(mend_threshold, threshold)
    edges, scores = np.asarray(edges), np.asarray(scores, dtype=np.float64)
    keep = scores > threshold
    source, target = edges[0][keep], edges[1][keep]
    if method == "walk" and keep.any():
        group = np.zeros(len(source), np.int64) if groups is None else np.asarray(groups)[keep]
        best = _best_at_both_ends(source, target, scores[keep], group)
        source, target = source[best], target[best]
    if mend_threshold is not None:
        free_out = np.ones(n_hits, bool)
        free_out[source] = False
        free_in = np.ones(n_hits, bool)
        free_in[target] = False
        mend = ((scores > mend_threshold) & ~keep & free_out[edges[0]] & free_in[edges[1]])
        if mend.any():
            mending = edges[:, mend]
            best = _best_at_both_ends(mending[0], mending[1], scores[mend],
                                      np.zeros(int(mend.sum()), np.int64))
            source, target = np.r_[source, mending[0][best]], np.r_[target, mending[1][best]]
    graph = coo_matrix((np.ones(len(source)), (source, target)), shape=(n_hits, n_hits))
    return connected_components(graph, directed=False)[1].astype(np.int64)


def _check_mend_threshold(mend_threshold, threshold) -> None:
    if mend_threshold is not None and not 0 <= mend_threshold < threshold:
        raise ValueError(f"mend_threshold must be in [0, threshold = {threshold}) or None, "
                         f"got {mend_threshold}")


def _best_at_both_ends(source, target, score, group) -> np.ndarray:
    """`(E,)` bool: the edges that score highest among their group's edges at their inner
    hit and at their outer hit (ties to the first)."""
    best = np.ones(len(score), bool)
    for end in (source, target):
        key = end.astype(np.int64) * (int(group.max()) + 1) + group
        order = np.lexsort((-score, key))
        first = np.r_[True, key[order][1:] != key[order][:-1]]
        is_best = np.zeros(len(score), bool)
        is_best[order[first]] = True
        best &= is_best
    return best


class FilteredGraphs:
    """Graph construction and the edge filter, the stages every track finder shares.

    A subclass holds `config` (with `graph_options`, `filter_efficiency` and
    `filter_threshold`), `edge_filter` (a `build_edge_filter` model, or None for no
    filter), `history`, `training_summary`, and its own network as the property
    `network`, saved as `NETWORK_FILE`.
    """

    def graph(self, event) -> EventGraph:
        """The event's candidate graph (`event_graph` with this finder's options), after
        the edge filter once it is trained."""
        graph = self._candidate_graph(event)
        if self.edge_filter is None or self.config["filter_threshold"] is None:
            return graph
        return select_edges(graph, self._filter_logits(graph) > self.config["filter_threshold"])

    def _filter_logits(self, graph):
        """The filter's logit of every edge, in blocks of `FILTER_BLOCK` edges: the inputs
        of a block at a time (not the whole graph's), and one padded shape, so JAX
        compiles the filter once and not once per event's last partial batch."""
        n_edges = graph.edges.shape[1]
        logits = np.empty(n_edges, "float32")
        for start in range(0, n_edges, FILTER_BLOCK):
            inputs = filter_inputs(select_edges(graph, slice(start, start + FILTER_BLOCK)))
            padded = np.zeros((FILTER_BLOCK, inputs.shape[1]), "float32")
            padded[: len(inputs)] = inputs
            block = keras.ops.convert_to_numpy(self.edge_filter.predict_on_batch(padded))
            logits[start: start + len(inputs)] = block[: len(inputs), 0]
        return logits

    def _fit_filter(self, graphs, val_graphs, epochs, verbose):
        """Train the filter on every edge, set its threshold, return the filtered graphs."""
        inputs = np.concatenate([filter_inputs(g) for g in graphs])
        labels = np.concatenate([g.labels for g in graphs]).astype("float32")
        self.edge_filter.get_layer("filter_scaling").adapt(inputs)
        self.edge_filter.compile(optimizer=keras.optimizers.Adam(1e-3),
                                 loss=keras.losses.BinaryCrossentropy(from_logits=True))
        fit = self.edge_filter.fit(inputs, labels, epochs=epochs, batch_size=4096,
                                   shuffle=True, verbose=verbose)
        self.history.update({f"filter_{k}": [float(v) for v in vs] for k, vs in fit.history.items()})
        logits = [self._filter_logits(g) for g in graphs]
        true_logits = np.concatenate([lg[g.labels] for lg, g in zip(logits, graphs)])
        efficiency = self.config["filter_efficiency"]
        self.config["filter_threshold"] = float(
            np.quantile(true_logits, 1 - efficiency) if len(true_logits) else 0.0)
        kept = [select_edges(g, lg > self.config["filter_threshold"]) for g, lg in zip(graphs, logits)]
        if val_graphs is not None:
            val_graphs = [select_edges(g, self._filter_logits(g) > self.config["filter_threshold"])
                          for g in val_graphs]
        return kept, val_graphs

    NETWORK_FILE: str
    """The file the finder's network is saved in."""

    def save(self, directory) -> Path:
        """Write the network (`NETWORK_FILE`), `filter.keras` and `track_finder.json`
        (configuration, history, training summary) into `directory`."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        self.network.save(directory / self.NETWORK_FILE)
        if self.edge_filter is not None:
            self.edge_filter.save(directory / "filter.keras")
        (directory / "track_finder.json").write_text(
            json.dumps({"config": self.config, "history": self.history,
                        "training_summary": self.training_summary}, indent=2))
        return directory

    @classmethod
    def load(cls, directory):
        """A finder saved by `save`."""
        directory = Path(directory)
        config_file = directory / "track_finder.json"
        if not config_file.exists():
            raise FileNotFoundError(f"{config_file} is missing: a track-finder directory holds "
                                    f"track_finder.json, {cls.NETWORK_FILE} and filter.keras, "
                                    "as save (grapa track train) writes them")
        saved = json.loads(config_file.read_text())
        finder = cls.__new__(cls)
        finder.config = saved["config"]
        finder.history = saved.get("history", {})
        finder.training_summary = saved.get("training_summary", {})
        if finder.config.get("join") is not None:  # saved before these: join only, by edges
            finder.config["join"].setdefault("helix_neighbours", 0)
            finder.config["join"].setdefault("split", False)
            finder.config["join"].setdefault("extend", False)
        names = [cls.NETWORK_FILE] + (["filter.keras"] if finder.config["filter_efficiency"]
                                      is not None else [])
        for name in names:
            if not (directory / name).exists():
                raise FileNotFoundError(f"{directory / name} is missing: the track-finder "
                                        "directory is incomplete; train it again with "
                                        "grapa track train")
        finder.network = keras.saving.load_model(directory / cls.NETWORK_FILE)
        finder.edge_filter = (keras.saving.load_model(directory / "filter.keras")
                              if "filter.keras" in names else None)
        return finder

    def _candidate_graph(self, event) -> EventGraph:
        """`event_graph` with this finder's graph options, and the continuation features
        when its filter reads them (a finder saved before they existed does not)."""
        return event_graph(event, continuation=self.config.get("filter_continuation", False)
                           and self.edge_filter is not None, **self.config["graph_options"])

    def _new_filter(self):
        """A fresh `build_edge_filter`, or None when the finder has no filter."""
        if self.config["filter_efficiency"] is None:
            return None
        return build_edge_filter(continuation=self.config.get("filter_continuation", False))

    def _labelled_graph(self, event, what):
        if event.truth is None:
            raise ValueError(f"{what} event {event.event_id} has no truth: training needs the "
                             "-truth.csv file beside the hits")
        return self._candidate_graph(event)


class TrackFinder(FilteredGraphs):
    """Graph construction, edge filter, edge classifier and track building as one trained
    object.

    Args:
        units, steps, hidden_layers, aggregation: the edge classifier
            (`build_edge_classifier`).
        threshold: edge score above which an edge is kept for the tracks.
        builder: `"walk"` or `"components"` (`build_tracks`).
        mend_threshold: the lowest score of an edge that joins two candidates' free ends
            (`build_tracks`), or None for no mending.
        join: None, or the options of `grapa.tracking.fragments.join_fragments` (the
            largest residuals of a helix through two joined candidates): after the
            tracks are built, candidates that one helix fits are joined.
        filter_efficiency: the fraction of true edges the filter keeps on the training
            events (its threshold is set to that quantile of their scores), or None for
            no filter.
        filter_continuation: whether the filter also reads each edge's
            `continuation_features` (whether a neighbouring edge continues its helix).
        graph_options: passed to `layer_pair_graph` (e.g. `min_pt`, `max_z0`), over
            `GRAPH_DEFAULTS`: tracks down to 0.5 GeV, 24 neighbours per hit and layer,
            so the edges grow linearly with the hits.

    The track-building defaults were chosen on five validation events of 1,000 particles
    (seed 3) with a classifier trained on 40 others on the uncapped graph (efficiency,
    purity): the walk at 0.9,
    0.945, 0.569; mending from 0.1, 0.964, 0.769; joining instead, 0.971, 0.928; joining
    at 0.97, 0.983, 0.950 (0.95 to 0.98: within 0.003 and 0.008). Mending before joining
    lowered the purity at every threshold (0.97 with mending from 0.5: 0.905): an edge
    mended on its score alone may be wrong, a join must fit. With the graph capped at
    24 neighbours (`GRAPH_DEFAULTS`), retrained the same way, 50 test events (seed 2)
    gave 0.981 / 0.968, against 0.983 / 0.954 uncapped. With the filter's continuation
    features (the default since), the same recipe gave 0.9978 / 0.9933: the filter
    keeps 17k edges per event instead of 118k, 94% of them true. Joins proposed by helix
    parameters too (`join_fragments`' `helix_neighbours`, the default since) took it to
    0.9981 / 0.9952, and splitting the candidates no helix fits first (`split`, the
    default since) to 0.9997 / 0.9988, and extending the candidates by the lone hits on
    their helices (`extend`, the default since) to 0.9998 / 0.9994; with 20% of the
    filtered edges removed, from 0.975 / 0.791 to 0.984 / 0.947, 0.9987 / 0.988 and
    0.9993 / 0.991.
    """

    def __init__(self, units=64, steps=4, hidden_layers=2, aggregation="sum", threshold=0.97,
                 builder="walk", mend_threshold=None, join=JOIN_DEFAULTS,
                 filter_efficiency=0.995, filter_continuation=True, graph_options=None):
        if builder not in BUILDERS:
            raise ValueError(f"builder must be one of {BUILDERS}, got {builder!r}")
        if not 0 < threshold < 1:
            raise ValueError(f"threshold must be in (0, 1), got {threshold}")
        _check_mend_threshold(mend_threshold, threshold)
        unknown = set(join or {}) - set(JOIN_DEFAULTS)
        if unknown:
            raise ValueError(f"join options {sorted(unknown)} unknown: join takes "
                             f"{', '.join(JOIN_DEFAULTS)} (join_fragments), or None")
        if filter_efficiency is not None and not 0 < filter_efficiency <= 1:
            raise ValueError(f"filter_efficiency must be in (0, 1] or None, got {filter_efficiency}")
        self.config = {"model": "in-edge", "units": int(units), "steps": int(steps),
                       "hidden_layers": int(hidden_layers), "aggregation": aggregation,
                       "threshold": float(threshold), "builder": builder,
                       "mend_threshold": None if mend_threshold is None else float(mend_threshold),
                       "join": None if join is None else {**JOIN_DEFAULTS, **dict(join)},
                       "filter_efficiency": filter_efficiency, "filter_threshold": None,
                       "filter_continuation": bool(filter_continuation),
                       "graph_options": {**GRAPH_DEFAULTS, **dict(graph_options or {})}}
        self.edge_filter = self._new_filter()
        self.classifier = build_edge_classifier(units, steps, hidden_layers, aggregation)
        self.history: dict[str, list[float]] = {}
        self.training_summary: dict[str, int] = {}

    def fit(self, events, validation_events=None, *, epochs=10, learning_rate=3e-3,
            filter_epochs=3, sectors=64, batch_size=1, verbose=1, seed=0):
        """Train the edge filter, then the edge classifier, on events with truth.

        Both losses are the binary cross-entropy of every real edge's label (both hits
        from one particle). The filter sees every candidate edge of the training events;
        the classifier sees the edges the filter keeps, one azimuthal slice of an event
        per step by default (`split_sectors`), padding edges weighted 0. The classifier
        learns slowly at first, and what it needs is gradient steps: on ten 1,000-particle
        events, six epochs, the validation loss was 0.29 with 8 slices at a learning rate
        of 1e-3, 0.27 at 1e-2, 0.15 with 32 slices at 3e-3 and 0.13 with 64 (the
        defaults; an epoch takes 1.7 times as long as with 8). Trained longer the slices
        matter less: on forty events, sixteen epochs at 3e-3, 8 slices reached a
        validation loss of 0.022 and 64 slices 0.030, yet on 50 test events the tracks
        were 0.971 / 0.965 (efficiency / purity) with 8 and 0.983 / 0.954 with 64.

        Args:
            events: iterable of `Event`s with truth.
            validation_events: events with truth scored after every epoch, or None.
            epochs: passes of the classifier over the training events.
            learning_rate: Adam's learning rate (cosine-decayed to 1% over the training).
            filter_epochs: passes of the filter over the training edges.
            sectors: azimuthal slices per training event (1: whole events).
            batch_size: slices (or events) per classifier step.
            verbose: Keras's progress output.
            seed: seeds Keras's weight initialisation and the event order.

        Returns:
            self, with `history` (Keras's per-epoch logs, the filter's prefixed
            `filter_`) and `training_summary` (events, candidate edges, edges after the
            filter, true edges among them).
        """
        keras.utils.set_random_seed(seed)  # then fresh networks: seeded initial weights
        config = self.config
        self.edge_filter = self._new_filter()
        self.classifier = build_edge_classifier(config["units"], config["steps"],
                                                config["hidden_layers"], config["aggregation"])
        graphs = [self._labelled_graph(event, "training") for event in events]
        if not graphs:
            raise ValueError("fit needs at least one training event")
        val_graphs = None if validation_events is None else [
            self._labelled_graph(event, "validation") for event in validation_events]
        self.history = {}
        candidate_edges = sum(g.edges.shape[1] for g in graphs)
        if self.edge_filter is not None:
            graphs, val_graphs = self._fit_filter(graphs, val_graphs, filter_epochs, verbose)
        self.training_summary = {
            "events": len(graphs), "candidate_edges": int(candidate_edges),
            "filtered_edges": int(sum(g.edges.shape[1] for g in graphs)),
            "true_filtered_edges": int(sum(g.labels.sum() for g in graphs))}
        adapt_scaling(self.classifier, graphs)
        train = pad_graphs([piece for g in graphs for piece in split_sectors(g, sectors)])
        validation = None
        if val_graphs:
            val = pad_graphs(val_graphs)
            validation = (self._inputs(val), val["labels"][..., None], val["mask"])
        steps = epochs * int(np.ceil(len(train["nodes"]) / batch_size))
        schedule = keras.optimizers.schedules.CosineDecay(learning_rate, steps, alpha=0.01)
        self.classifier.compile(
            optimizer=keras.optimizers.Adam(schedule),
            loss=keras.losses.BinaryCrossentropy(from_logits=True),
            weighted_metrics=[keras.metrics.BinaryAccuracy(threshold=0.0)],
        )
        fit = self.classifier.fit(self._inputs(train), train["labels"][..., None],
                                  sample_weight=train["mask"], validation_data=validation,
                                  epochs=epochs, batch_size=batch_size, shuffle=True,
                                  verbose=verbose)
        self.history.update({k: [float(v) for v in vs] for k, vs in fit.history.items()})
        return self

    @staticmethod
    def _inputs(padded):
        return [padded["nodes"], padded["edges"], padded["edge_features"]]

    def edge_scores(self, event, graph: EventGraph | None = None) -> tuple[np.ndarray, np.ndarray]:
        """`(edges (2, E), scores (E,))`: the event's edges after the filter and their
        probability of joining two hits of one particle."""
        graph = self.graph(event) if graph is None else graph
        if graph.edges.shape[1] == 0:
            return graph.edges, np.zeros(0)
        padded = pad_graphs([graph])
        logits = self.classifier.predict_on_batch(self._inputs(padded))
        logits = np.asarray(keras.ops.convert_to_numpy(logits))[0, : graph.edges.shape[1], 0]
        return graph.edges, 1.0 / (1.0 + np.exp(-logits.astype(np.float64)))

    def reconstruct(self, event) -> np.ndarray:
        """A track label for every hit of `event` (its rows' order), from the scored graph
        (`edge_scores`, then `build`)."""
        edges, scores = self.edge_scores(event)
        return self.build(event, edges, scores)

    def build(self, event, edges: np.ndarray, scores: np.ndarray) -> np.ndarray:
        """Track labels from the event's scored edges, with this finder's track building:
        the walk (edges compete only with edges crossing as many layers), mending when
        `mend_threshold` is set, then joining the candidates one helix fits (a finder
        saved before mending and joining existed does neither)."""
        labels = build_tracks(event.n_hits, edges, scores, self.config["threshold"],
                              self.config["builder"], groups=layer_steps(event.hits, edges),
                              mend_threshold=self.config.get("mend_threshold"))
        if self.config.get("join") is not None:
            labels = join_fragments(event.hits, labels, edges, **self.config["join"])
        return labels

    # saved as `NETWORK_FILE`, beside `filter.keras` and `track_finder.json`
    NETWORK_FILE = "classifier.keras"

    @property
    def network(self) -> keras.Model:
        """The trained network (the edge classifier)."""
        return self.classifier

    @network.setter
    def network(self, model: keras.Model) -> None:
        self.classifier = model
