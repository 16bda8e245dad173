r"""Message passing on edge lists, for graphs too large for a dense adjacency.

A detector event holds 10^3 to 10^5 hits: a `(nodes, nodes)` adjacency of 10^5 hits is
40 GB. These layers take the graph as an edge list instead, and their memory grows with
the number of edges `E`, never with `nodes^2`:

- nodes `(batch, nodes, F)`: as everywhere in grapa, a node whose features are all zero
  and that has no edge is padding;
- edges `(batch, E, 2)` integer `(source, target)` node indices within each graph; an edge
  whose indices are negative (`-1, -1`) is padding, so that graphs of different sizes pad
  to one shape and a compiled step is reused (JAX compiles once per shape);
- edge features `(batch, E, F_e)`, one row per edge.

Messages are gathered from a flattened `(batch * nodes, F)` view and summed back with
`keras.ops.segment_sum` / `segment_max`: the split into message, aggregate and update of
PyTorch Geometric's `MessagePassing` (Fey & Lenssen 2019), in `keras.ops` only.
"""

from __future__ import annotations

import keras
from keras import ops

from grapa.layers._nodes import node_mask

AGGREGATIONS = ("sum", "mean", "max")


def _edge_parts(nodes, edges):
    """Flat node view, flat source and target indices, and the real-edge mask.

    Returns `(flat (B*N, F), source (B, E), target (B, E), valid (B, E) bool, n_segments)`;
    the indices of padding edges point at segment `B*N`, one past the last node, which
    `segment_sum` keeps apart and callers drop.
    """
    batch, n_nodes = ops.shape(nodes)[0], ops.shape(nodes)[1]
    edges = ops.cast(edges, "int32")
    valid = ops.logical_and(edges[..., 0] >= 0, edges[..., 1] >= 0)
    offsets = ops.reshape(ops.arange(batch, dtype="int32") * n_nodes, (-1, 1))
    dummy = batch * n_nodes
    source = ops.where(valid, edges[..., 0] + offsets, dummy)
    target = ops.where(valid, edges[..., 1] + offsets, dummy)
    flat = ops.reshape(nodes, (-1, ops.shape(nodes)[-1]))
    return flat, source, target, valid, dummy + 1


def gather_nodes(flat, index):
    """`flat[index]` with the one-past-the-end index (padding edges) giving zeros."""
    padded = ops.concatenate([flat, ops.zeros_like(flat[:1])], axis=0)
    return ops.take(padded, index, axis=0)


def scatter(messages, index, n_segments, batch, n_nodes, aggregation):
    """Aggregate `(B, E, F)` messages into `(B, N, F)` by target index; empty nodes get 0."""
    features = ops.shape(messages)[-1]
    flat_messages = ops.reshape(messages, (-1, features))
    flat_index = ops.reshape(index, (-1,))
    if aggregation == "max":
        pooled = ops.segment_max(flat_messages, flat_index, num_segments=n_segments)
    else:
        pooled = ops.segment_sum(flat_messages, flat_index, num_segments=n_segments)
    if aggregation != "sum":
        ones = ops.ones_like(flat_messages[:, :1])
        count = ops.segment_sum(ones, flat_index, num_segments=n_segments)
        if aggregation == "mean":
            pooled = pooled / ops.maximum(count, 1.0)
        else:  # a node without messages has max -inf (or the dtype's lowest): 0 instead
            pooled = ops.where(count > 0, pooled, 0.0)
    return ops.reshape(pooled[:-1], (batch, n_nodes, features))


def edge_node_mask(nodes, source, target, valid, n_segments):
    """`(batch, nodes)` bool: features not all zero, or an end of a real edge (indices
    and mask as `_edge_parts` returns them)."""
    batch, n_nodes = ops.shape(nodes)[0], ops.shape(nodes)[1]
    ones = ops.cast(ops.expand_dims(valid, -1), nodes.dtype)
    degree = (scatter(ones, source, n_segments, batch, n_nodes, "sum")
              + scatter(ones, target, n_segments, batch, n_nodes, "sum"))
    return ops.logical_or(node_mask(nodes), degree[..., 0] > 0)


def _check_aggregation(aggregation):
    if aggregation not in AGGREGATIONS:
        raise ValueError(f"aggregation must be one of {AGGREGATIONS}, got {aggregation!r}")
    return aggregation


def _mlp(units, layers, activation, layer_norm, name):
    """`layers` Dense layers of `units`, each but the last followed by `activation`,
    the last by a LayerNorm (Exa.TrkX's MLP: Ju et al. 2021, sec. 3.2) when asked."""
    stack = [keras.layers.Dense(units, activation=activation if i < layers - 1 else None,
                                name=f"{name}_dense_{i}") for i in range(layers)]
    if layer_norm:
        stack.append(keras.layers.LayerNormalization(name=f"{name}_norm"))
    return stack


def _run(stack, x):
    for layer in stack:
        x = layer(x)
    return x


def _build(stack, width):
    for layer in stack:
        layer.build((None, None, width))
        width = layer.compute_output_shape((None, None, width))[-1]


@keras.saving.register_keras_serializable(package="grapa")
class EdgeEnds(keras.layers.Layer):
    r"""The features of each edge's two ends, side by side: `[x_source, x_target]`.

    The input of an edge network or an edge classifier on an edge list. Padding edges
    get zeros.

    Input shape:
        `[nodes (batch, nodes, F), edges (batch, E, 2)]`.

    Output shape:
        `(batch, E, 2F)`.

    Example:
        >>> x = keras.ops.ones((1, 3, 4))
        >>> EdgeEnds()([x, keras.ops.convert_to_tensor([[[0, 1], [1, 2]]])]).shape
        (1, 2, 8)
    """

    def call(self, inputs):
        nodes, edges = inputs
        flat, source, target, _, _ = _edge_parts(nodes, edges)
        return ops.concatenate([gather_nodes(flat, source), gather_nodes(flat, target)], axis=-1)

    def compute_output_shape(self, input_shape):
        nodes, edges = input_shape
        features = None if nodes[-1] is None else 2 * nodes[-1]
        return (nodes[0], edges[1], features)


@keras.saving.register_keras_serializable(package="grapa")
class InteractionNetwork(keras.layers.Layer):
    r"""One interaction-network step on an edge list: edges read their two ends, nodes
    read the messages of their incoming and outgoing edges.

    Battaglia et al., "Interaction networks for learning about objects, relations and
    physics", NeurIPS 2016, arXiv:1612.00222; in the form of the Exa.TrkX pipeline's
    InteractionGNN (Ju et al., Eur. Phys. J. C 81 (2021) 876, sec. 3.2), where messages
    flow both ways along the (inner-to-outer) edges. For an edge `(i -> j)` with features
    `e_ij`:

    $$ e'_{ij} = e_{ij} + \phi_E\big([x_i,\ x_j,\ e_{ij}]\big), \qquad
       x'_i = x_i + \phi_N\Big(\big[x_i,\ \textstyle\bigoplus_{k:\,k\to i} e'_{ki},\
              \textstyle\bigoplus_{j:\,i\to j} e'_{ij}\big]\Big) $$

    with `phi_E`, `phi_N` multilayer perceptrons ending in a LayerNorm and `⊕` the sum,
    mean or max over the edges. Without `residual`, the `e +` and `x +` are dropped.
    Stacking several steps (or calling one several times, as Exa.TrkX's recurrent
    version does) passes information along the tracks.

    Padding edges (indices -1) carry no message and come out zero; padding nodes (all
    zero, no edge) come out zero; so real outputs do not depend on the padding.

    Args:
        units: width of the new node and edge features (and of the hidden layers).
        hidden_layers: Dense layers per network (the last one is linear).
        aggregation: `"sum"` (Exa.TrkX), `"mean"` or `"max"`.
        residual: add the inputs to the outputs; needs node and edge features of width
            `units` (encode them first, e.g. with a Dense layer).
        activation: activation of the hidden Dense layers.
        layer_norm: end each network with a LayerNormalization.

    Input shape:
        `[nodes (batch, nodes, F), edges (batch, E, 2), edge_features (batch, E, F_e)]`.

    Output shape:
        `[nodes (batch, nodes, units), edge_features (batch, E, units)]`.

    Example:
        >>> x, e = keras.ops.ones((1, 3, 8)), keras.ops.ones((1, 2, 8))
        >>> edges = keras.ops.convert_to_tensor([[[0, 1], [1, 2]]])
        >>> [t.shape for t in InteractionNetwork(8)([x, edges, e])]
        [(1, 3, 8), (1, 2, 8)]
    """

    def __init__(self, units, hidden_layers=2, aggregation="sum", residual=True,
                 activation="relu", layer_norm=True, **kwargs):
        super().__init__(**kwargs)
        self.units = int(units)
        self.hidden_layers = int(hidden_layers)
        self.aggregation = _check_aggregation(aggregation)
        self.residual = bool(residual)
        self.activation = activation
        self.layer_norm = bool(layer_norm)
        if self.units < 1 or self.hidden_layers < 1:
            raise ValueError(f"units and hidden_layers must be >= 1, got {units}, {hidden_layers}")

    def build(self, input_shape):
        node_width, edge_width = int(input_shape[0][-1]), int(input_shape[2][-1])
        if self.residual and (node_width, edge_width) != (self.units, self.units):
            raise ValueError(
                f"InteractionNetwork(units={self.units}, residual=True) needs node and edge "
                f"features of width {self.units}, got {node_width} and {edge_width}: encode "
                f"them first (e.g. keras.layers.Dense({self.units})) or pass residual=False.")
        self.edge_network = _mlp(self.units, self.hidden_layers, self.activation,
                                 self.layer_norm, "edge")
        _build(self.edge_network, 2 * node_width + edge_width)
        self.node_network = _mlp(self.units, self.hidden_layers, self.activation,
                                 self.layer_norm, "node")
        _build(self.node_network, node_width + 2 * self.units)

    def call(self, inputs):
        nodes, edges, edge_features = inputs
        flat, source, target, valid, n_segments = _edge_parts(nodes, edges)
        batch, n_nodes = ops.shape(nodes)[0], ops.shape(nodes)[1]
        edge_mask = ops.cast(ops.expand_dims(valid, -1), nodes.dtype)
        real_nodes = ops.cast(ops.expand_dims(
            edge_node_mask(nodes, source, target, valid, n_segments), -1), nodes.dtype)

        ends = [gather_nodes(flat, source), gather_nodes(flat, target)]
        messages = _run(self.edge_network, ops.concatenate([*ends, edge_features], axis=-1))
        if self.residual:
            messages = messages + edge_features
        messages = messages * edge_mask

        incoming = scatter(messages, target, n_segments, batch, n_nodes, self.aggregation)
        outgoing = scatter(messages, source, n_segments, batch, n_nodes, self.aggregation)
        updated = _run(self.node_network, ops.concatenate([nodes, incoming, outgoing], axis=-1))
        if self.residual:
            updated = updated + nodes
        return [updated * real_nodes, messages]

    def compute_output_shape(self, input_shape):
        nodes, edges, _ = input_shape
        return [(nodes[0], nodes[1], self.units), (edges[0], edges[1], self.units)]

    def get_config(self):
        return {**super().get_config(), "units": self.units, "hidden_layers": self.hidden_layers,
                "aggregation": self.aggregation, "residual": self.residual,
                "activation": self.activation, "layer_norm": self.layer_norm}


@keras.saving.register_keras_serializable(package="grapa")
class EdgeDistance(keras.layers.Layer):
    r"""The squared Euclidean distance between each edge's two ends,
    $\lVert x_i - x_j \rVert^2$: what a hinge embedding loss on the graph's edges reads.

    Input shape:
        `[nodes (batch, nodes, F), edges (batch, E, 2)]`.

    Output shape:
        `(batch, E, 1)`; padding edges get 0.
    """

    def call(self, inputs):
        nodes, edges = inputs
        flat, source, target, valid, _ = _edge_parts(nodes, edges)
        difference = gather_nodes(flat, source) - gather_nodes(flat, target)
        distance = ops.sum(ops.square(difference), axis=-1, keepdims=True)
        return distance * ops.cast(ops.expand_dims(valid, -1), distance.dtype)

    def compute_output_shape(self, input_shape):
        return (input_shape[0][0], input_shape[1][1], 1)
