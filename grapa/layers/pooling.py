"""Graph compression (pooling) and decompression (unpooling) layers."""

from __future__ import annotations

import keras
from keras import ops

from grapa.layers._nodes import (
    gather_adjacency,
    gather_nodes,
    node_mask,
    pair_mask,
    stable_sort_order,
    static_nodes,
)

REDUCTIONS = ("mean", "max", "min")
COMBINATIONS = ("product", "sum")


def _as_pair(inputs):
    """`x` or `[x, adjacency]` -> `(x, adjacency or None)`."""
    if isinstance(inputs, (list, tuple)):
        if len(inputs) == 1:
            return inputs[0], None
        x, adjacency = inputs
        return x, adjacency
    return inputs, None


def _as_shape_pair(input_shape):
    if isinstance(input_shape, (list, tuple)) and input_shape and isinstance(
        input_shape[0], (list, tuple)
    ):
        return tuple(input_shape[0]), (tuple(input_shape[1]) if len(input_shape) > 1 else None)
    return tuple(input_shape), None


@keras.saving.register_keras_serializable(package="grapa")
class Compress(keras.layers.Layer):
    r"""Merge groups of `factor` nodes into one node, grouping nodes by a learned value.

    Klüttermann 2021, sec. 4.2 and appendix C.2.2. Nodes are sorted by their last feature
    (stable sort; padding nodes last), the sorted list is cut into `n / c` groups of
    `c = factor` consecutive nodes, and each group's concatenated `c F` features are mapped
    to `units` features by one bias-free dense map `W`:

    $$ z_g = W^\top \big[x_{\pi(gc)}, x_{\pi(gc+1)}, \dots, x_{\pi(gc+c-1)}\big] $$

    Edges are dropped: the next stage relearns its graph. The result does not depend on
    the input node order (up to ties in the sorting value), and a group of padding nodes
    compresses to a padding node (no bias).

    Args:
        factor: nodes per group `c`; must divide the number of nodes.
        units: output features per compressed node.
        kernel_initializer: initializer of `W`.

    Input shape:
        `(batch, nodes, features)`.

    Output shape:
        `(batch, nodes / factor, units)`.
    """

    def __init__(self, factor, units, kernel_initializer="glorot_uniform", **kwargs):
        super().__init__(**kwargs)
        self.factor = int(factor)
        self.units = int(units)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)

    def build(self, input_shape):
        x_shape, _ = _as_shape_pair(input_shape)
        n = static_nodes(x_shape, type(self).__name__)
        if self.factor < 1 or n % self.factor:
            raise ValueError(
                f"{type(self).__name__}(factor={self.factor}) must divide the number of nodes, "
                f"got {n} nodes. Choose a factor among "
                f"{[c for c in range(1, n + 1) if n % c == 0]}."
            )
        self.kernel = self.add_weight(
            name="kernel",
            shape=(self.factor * x_shape[-1], self.units),
            initializer=self.kernel_initializer,
        )

    def _sort_order(self, x):
        return stable_sort_order(x[..., -1], node_mask(x))

    def _compress_features(self, x_sorted):
        n, features = x_sorted.shape[1], x_sorted.shape[2]
        groups = ops.reshape(x_sorted, (-1, n // self.factor, self.factor * features))
        return ops.matmul(groups, self.kernel)

    def call(self, x):
        return self._compress_features(gather_nodes(x, self._sort_order(x)))

    def compute_output_shape(self, input_shape):
        x_shape, _ = _as_shape_pair(input_shape)
        n = None if x_shape[1] is None else x_shape[1] // self.factor
        return (x_shape[0], n, self.units)

    def get_config(self):
        return {
            **super().get_config(),
            "factor": self.factor,
            "units": self.units,
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
        }


@keras.saving.register_keras_serializable(package="grapa")
class CompressGraph(Compress):
    r"""Compress the nodes as `Compress` does, and the graph with them ("abstraction").

    Klüttermann 2021, appendix C.4.2. After sorting, the adjacency matrix is a matrix of
    `c x c` blocks, one per pair of groups; each block is reduced to one edge:

    $$ A'_{gh} = \operatorname{reduce}_{a,b < c} A_{\pi(gc+a)\,\pi(hc+b)}, \qquad
       \operatorname{reduce} \in \{\text{mean}, \text{max}, \text{min}\} $$

    optionally rounded at 0.5 (`round_graph=True`: an edge exists when the reduced value is
    at least 0.5; the rounding has no gradient). The thesis found this no better than
    relearning the graph (tables C.1, C.2); it is kept for experiments.

    Args:
        factor: nodes per group; must divide the number of nodes.
        units: output features per compressed node.
        reduction: `"mean"`, `"max"` or `"min"` over each block.
        round_graph: round the reduced edges to 0 or 1 at 0.5.
        kernel_initializer: initializer of the feature map.

    Input shape:
        `[x, adjacency]`: `(batch, nodes, features)`, `(batch, nodes, nodes)`.

    Output shape:
        `[(batch, nodes / factor, units), (batch, nodes / factor, nodes / factor)]`.
    """

    def __init__(self, factor, units, reduction="mean", round_graph=False, **kwargs):
        super().__init__(factor, units, **kwargs)
        if reduction not in REDUCTIONS:
            raise ValueError(f"CompressGraph reduction must be one of {REDUCTIONS}, got {reduction!r}.")
        self.reduction = reduction
        self.round_graph = bool(round_graph)

    def call(self, inputs):
        x, adjacency = _as_pair(inputs)
        order = self._sort_order(x)
        adjacency = gather_adjacency(ops.cast(adjacency, x.dtype), order)
        n, c = adjacency.shape[-1], self.factor
        blocks = ops.reshape(adjacency, (-1, n // c, c, n // c, c))
        reduce = {"mean": ops.mean, "max": ops.max, "min": ops.min}[self.reduction]
        compressed = reduce(blocks, axis=(2, 4))
        if self.round_graph:
            compressed = ops.cast(compressed >= 0.5, x.dtype)
        return [self._compress_features(gather_nodes(x, order)), compressed]

    def compute_output_shape(self, input_shape):
        x_out = super().compute_output_shape(input_shape)
        return [x_out, (x_out[0], x_out[1], x_out[1])]

    def get_config(self):
        return {**super().get_config(), "reduction": self.reduction, "round_graph": self.round_graph}


@keras.saving.register_keras_serializable(package="grapa")
class Decompress(keras.layers.Layer):
    r"""Expand every node into `factor` nodes; grow the graph by a Kronecker product.

    Klüttermann 2021, sec. 4.3 and 4.1.1. One bias-free dense map `W: F -> c * units`
    turns node `i` into nodes `(i, 0) ... (i, c-1)`; the graph becomes the tensor product
    of the input graph with one learnable `c x c` graph `G` shared by all jets:

    $$ x'_{(i,a)} = \big(W^\top x_i\big)_{a}, \qquad
       A'_{(i,a),(j,b)} = A_{ij}\, G_{ab}, \quad \text{i.e. } A' = A \otimes G $$

    Node `(i, a)` is output node `i c + a`. Called with node features only, the input
    graph is the fully connected one over the real nodes (a single latent node starts
    from `A = [[1]]`). Padding nodes expand to padding nodes without edges.

    Args:
        factor: nodes made from each node `c`.
        units: features per output node.
        kernel_initializer: initializer of `W`.
        graph_initializer: initializer of `G` (default ones: fully connected groups).

    Input shape:
        `x` `(batch, nodes, features)` or `[x, adjacency]` with adjacency
        `(batch, nodes, nodes)`.

    Output shape:
        `[(batch, nodes * factor, units), (batch, nodes * factor, nodes * factor)]`.
    """

    def __init__(
        self,
        factor,
        units,
        kernel_initializer="glorot_uniform",
        graph_initializer="ones",
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.factor = int(factor)
        self.units = int(units)
        if self.factor < 1:
            raise ValueError(f"{type(self).__name__} needs factor >= 1, got {factor}.")
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.graph_initializer = keras.initializers.get(graph_initializer)

    def build(self, input_shape):
        x_shape, _ = _as_shape_pair(input_shape)
        static_nodes(x_shape, type(self).__name__)
        self.kernel = self.add_weight(
            name="kernel",
            shape=(x_shape[-1], self.factor * self.units),
            initializer=self.kernel_initializer,
        )
        self._build_graph_weights(x_shape[-1])

    def _build_graph_weights(self, features):
        self.graph = self.add_weight(
            name="graph", shape=(self.factor, self.factor), initializer=self.graph_initializer
        )

    def call(self, inputs):
        x, adjacency = _as_pair(inputs)
        if adjacency is None:
            adjacency = pair_mask(node_mask(x))
        adjacency = ops.cast(adjacency, x.dtype)
        n, c = x.shape[1], self.factor
        nodes = ops.reshape(ops.matmul(x, self.kernel), (-1, n * c, self.units))
        blocks = self._edge_blocks(x, adjacency)  # (B, n, n, c, c) or broadcastable
        grown = ops.expand_dims(ops.expand_dims(adjacency, -1), -1) * blocks
        grown = ops.transpose(grown, (0, 1, 3, 2, 4))  # (B, i, a, j, b)
        return [nodes, ops.reshape(grown, (-1, n * c, n * c))]

    def _edge_blocks(self, x, adjacency):
        """The `c x c` graph multiplying edge (i, j): here the same `G` for every edge."""
        return self.graph

    def compute_output_shape(self, input_shape):
        x_shape, _ = _as_shape_pair(input_shape)
        n = x_shape[1] * self.factor
        return [(x_shape[0], n, self.units), (x_shape[0], n, n)]

    def get_config(self):
        return {
            **super().get_config(),
            "factor": self.factor,
            "units": self.units,
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
            "graph_initializer": keras.initializers.serialize(self.graph_initializer),
        }


@keras.saving.register_keras_serializable(package="grapa")
class GraphLikeDecompress(Decompress):
    r"""Decompress with a `c x c` graph learned from each node ("graph-like" decompression).

    Klüttermann 2021, appendix C.4.3. Node `i` gets its own graph `G_i = reshape(V^T x_i)`
    (bias-free `V: F -> c^2`). Diagonal blocks are `G_i`; an off-diagonal block (edge
    i -> j) combines the two nodes' graphs by elementwise product or sum:

    $$ A'_{(i,a),(j,b)} = A_{ij}\, H_{ij,ab}, \qquad
       H_{ii} = G_i, \quad H_{ij} = G_i \odot G_j \ \text{or}\ G_i + G_j \ (i \ne j) $$

    The product version improved the loss over `Decompress` in the thesis (table C.3) but
    not the AUC.

    Args:
        factor: nodes made from each node.
        units: features per output node.
        combine: `"product"` or `"sum"` for the off-diagonal blocks.
        kernel_initializer: initializer of the feature map and of `V`.

    Input shape:
        `x` or `[x, adjacency]`, as `Decompress`.

    Output shape:
        `[(batch, nodes * factor, units), (batch, nodes * factor, nodes * factor)]`.
    """

    def __init__(self, factor, units, combine="product", **kwargs):
        kwargs.pop("graph_initializer", None)
        super().__init__(factor, units, **kwargs)
        if combine not in COMBINATIONS:
            raise ValueError(
                f"GraphLikeDecompress combine must be one of {COMBINATIONS}, got {combine!r}."
            )
        self.combine = combine

    def _build_graph_weights(self, features):
        self.graph_kernel = self.add_weight(
            name="graph_kernel",
            shape=(features, self.factor * self.factor),
            initializer=self.kernel_initializer,
        )

    def _edge_blocks(self, x, adjacency):
        n, c = x.shape[1], self.factor
        own = ops.reshape(ops.matmul(x, self.graph_kernel), (-1, n, c, c))
        g_i, g_j = ops.expand_dims(own, 2), ops.expand_dims(own, 1)
        pairs = g_i * g_j if self.combine == "product" else g_i + g_j
        diagonal = ops.reshape(ops.cast(ops.eye(n), "bool"), (1, n, n, 1, 1))
        return ops.where(diagonal, g_i, pairs)

    def get_config(self):
        config = {**super().get_config(), "combine": self.combine}
        config.pop("graph_initializer")
        return config


@keras.saving.register_keras_serializable(package="grapa")
class ParamLikeDecompress(Decompress):
    r"""Decompress with a `c x c` graph learned from each pair of nodes ("param-like").

    Klüttermann 2021, appendix C.4.3. Every block is a bias-free linear function of the
    two nodes it connects:

    $$ A'_{(i,a),(j,b)} = A_{ij}\,\big(U^\top [x_i, x_j]\big)_{ab}
       = A_{ij}\,\big(U_1^\top x_i + U_2^\top x_j\big)_{ab} $$

    Args:
        factor: nodes made from each node.
        units: features per output node.
        kernel_initializer: initializer of the feature map and of `U`.

    Input shape:
        `x` or `[x, adjacency]`, as `Decompress`.

    Output shape:
        `[(batch, nodes * factor, units), (batch, nodes * factor, nodes * factor)]`.
    """

    def __init__(self, factor, units, **kwargs):
        kwargs.pop("graph_initializer", None)
        super().__init__(factor, units, **kwargs)

    def _build_graph_weights(self, features):
        self.graph_kernel = self.add_weight(
            name="graph_kernel",
            shape=(2 * features, self.factor * self.factor),
            initializer=self.kernel_initializer,
        )

    def _edge_blocks(self, x, adjacency):
        n, c, features = x.shape[1], self.factor, x.shape[2]
        from_node = ops.matmul(x, self.graph_kernel[:features])
        to_node = ops.matmul(x, self.graph_kernel[features:])
        blocks = ops.expand_dims(from_node, 2) + ops.expand_dims(to_node, 1)
        return ops.reshape(blocks, (-1, n, n, c, c))

    def get_config(self):
        config = super().get_config()
        config.pop("graph_initializer")
        return config
