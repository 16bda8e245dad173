"""Graph builders: dense adjacency matrices `(batch, nodes, nodes)` from node features."""

from __future__ import annotations

import keras
from keras import ops

from grapa.layers._conv_base import is_small_graph
from grapa.layers._nodes import node_mask, pair_mask, static_nodes
from grapa.layers.shape import pad_features

EDGE_WEIGHTS = ("binary", "gaussian")

# Up to this k the k-th smallest distance is found by k rounds of masked argmin, O(k n^2);
# above it by top_k, a sort (XLA's CPU top_k is several times slower for small k).
_MAX_K_BY_ROUNDS = 8


def _without_self_loops(pairs):
    n = pairs.shape[-1]
    return ops.logical_and(pairs, ops.logical_not(ops.cast(ops.eye(n), "bool")))


@keras.saving.register_keras_serializable(package="grapa")
class TopKGraph(keras.layers.Layer):
    r"""Connect each real node to its `k` nearest real nodes under a learnable diagonal metric.

    Klüttermann 2021, appendix B.4 and C.2.1. With one metric weight `w_f` per feature:

    $$
    d_{ij} = \sum_f w_f\,(x_{if} - x_{jf})^2, \qquad
    A_{ij} = \begin{cases} 1 \text{ (binary) or } e^{-d_{ij}} \text{ (gaussian)}
        & j \text{ among the } k \text{ smallest } d_{i\cdot} \\ 0 & \text{else} \end{cases}
    $$

    Rows are selected independently, so the graph is directed (appendix B.4.1). Ties at
    the k-th distance connect every tied node. The node itself is a candidate (d_ii = 0)
    unless `self_loops=False`. `k` at least the number of real nodes gives the fully
    connected graph. Padding nodes (all-zero features) are never neighbours and get no
    edges. The metric's sign is unconstrained (negative weights are a finding of B.4).

    In `"binary"` mode the metric only reorders neighbours and gets no gradient, as in the
    thesis; in `"gaussian"` mode the edge weights `exp(-d_ij)` carry its gradient.

    Args:
        k: number of neighbours per node.
        edge_weights: `"binary"` or `"gaussian"`.
        self_loops: whether a node may be its own neighbour.
        extra_features: if > 0, also return the node features with this many zero
            features appended (room for the next stage's learned values, appendix C.2.1);
            the layer then returns `[features, adjacency]`.
        metric_initializer: initializer of the metric weights (default ones: Euclidean).

    Input shape:
        `(batch, nodes, features)`.

    Output shape:
        `(batch, nodes, nodes)`; with `extra_features=m`, `[(batch, nodes, features + m),
        (batch, nodes, nodes)]`.
    """

    def __init__(
        self,
        k,
        edge_weights="binary",
        self_loops=True,
        extra_features=0,
        metric_initializer="ones",
        **kwargs,
    ):
        super().__init__(**kwargs)
        if int(k) < 1:
            raise ValueError(f"TopKGraph needs k >= 1 neighbours, got k={k}.")
        if edge_weights not in EDGE_WEIGHTS:
            raise ValueError(
                f"TopKGraph edge_weights must be one of {EDGE_WEIGHTS}, got {edge_weights!r}."
            )
        self.k = int(k)
        self.edge_weights = edge_weights
        self.self_loops = bool(self_loops)
        self.extra_features = int(extra_features)
        self.metric_initializer = keras.initializers.get(metric_initializer)

    def build(self, input_shape):
        static_nodes(input_shape, "TopKGraph")
        self.metric = self.add_weight(
            name="metric", shape=(input_shape[-1],), initializer=self.metric_initializer
        )

    def call(self, x):
        x = ops.cast(x, self.compute_dtype)  # numpy * a traced metric would fail under jax.grad
        real = node_mask(x)
        candidates = pair_mask(real)
        if not self.self_loops:
            candidates = _without_self_loops(candidates)
        distance = self.distances(x)
        selected = self._nearest(ops.stop_gradient(distance), candidates)
        if self.edge_weights == "binary":
            adjacency = ops.cast(selected, self.compute_dtype)
        else:
            adjacency = ops.where(selected, ops.exp(-ops.where(selected, distance, 0.0)), 0.0)
        if self.extra_features:
            return [pad_features(x, self.extra_features), adjacency]
        return adjacency

    def distances(self, x):
        """d_ij = q_i + q_j - 2 (x_i * w) . x_j with q_i = sum_f w_f x_if^2.

        A matmul instead of the `(batch, n, n, F)` difference tensor (twice as fast at 64
        nodes). Identical nodes go through identical arithmetic, so exact ties stay ties.
        On small graphs (`is_small_graph`) the differences are cheaper than XLA's CPU dot
        (jets4's graph: 160 -> 44 us a step with its gradient), and give the same ties.
        """
        if is_small_graph(x.shape[1], x.shape[2]):
            difference = ops.expand_dims(x, 2) - ops.expand_dims(x, 1)
            return ops.sum(ops.square(difference) * self.metric, axis=-1)
        weighted = x * self.metric
        q = ops.sum(weighted * x, axis=-1)
        cross = ops.matmul(weighted, ops.transpose(x, (0, 2, 1)))
        return ops.expand_dims(q, 2) + ops.expand_dims(q, 1) - 2.0 * cross

    def _nearest(self, distance, candidates):
        """Rows keep every candidate with fewer than k strictly closer candidates."""
        n = distance.shape[-1]
        k = min(self.k, n)
        if k == n:
            return candidates
        masked = ops.where(candidates, distance, float("inf"))
        if k <= _MAX_K_BY_ROUNDS:
            remaining = masked
            for _ in range(k - 1):  # remove the k-1 nearest, one occurrence at a time
                nearest = ops.one_hot(ops.argmin(remaining, axis=-1), n, dtype="bool")
                remaining = ops.where(nearest, float("inf"), remaining)
            kth_smallest = ops.min(remaining, axis=-1, keepdims=True)
        else:
            kth_smallest = -ops.top_k(-masked, k, sorted=True)[0][..., k - 1 :]
        return ops.logical_and(candidates, masked <= kth_smallest)

    def compute_output_shape(self, input_shape):
        n = input_shape[1]
        adjacency = (input_shape[0], n, n)
        if self.extra_features:
            return [(*input_shape[:-1], input_shape[-1] + self.extra_features), adjacency]
        return adjacency

    def get_config(self):
        return {
            **super().get_config(),
            "k": self.k,
            "edge_weights": self.edge_weights,
            "self_loops": self.self_loops,
            "extra_features": self.extra_features,
            "metric_initializer": keras.initializers.serialize(self.metric_initializer),
        }


@keras.saving.register_keras_serializable(package="grapa")
class FullyConnectedGraph(keras.layers.Layer):
    r"""Connect every pair of real nodes: $A_{ij} = 1$ if nodes i and j are real.

    Klüttermann 2021, sec. 7.4.2 (the 16-node networks use a fixed fully connected graph,
    which gave fewer NaNs than a learned one). Padding nodes get no edges.

    Args:
        self_loops: whether `A_ii = 1` for real nodes.

    Input shape:
        `(batch, nodes, features)`.

    Output shape:
        `(batch, nodes, nodes)`.
    """

    def __init__(self, self_loops=True, **kwargs):
        super().__init__(**kwargs)
        self.self_loops = bool(self_loops)

    def call(self, x):
        pairs = pair_mask(node_mask(x))
        if not self.self_loops:
            pairs = _without_self_loops(pairs)
        return ops.cast(pairs, self.compute_dtype)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[1], input_shape[1])

    def get_config(self):
        return {**super().get_config(), "self_loops": self.self_loops}
