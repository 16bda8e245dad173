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


def _assignment_index(assignment, batch, n_nodes, n_super):
    """Flat indices of `(hit, super-node)` edges `(B, A, 2)` into the flattened hits and
    super-nodes, and the real-edge mask; padding edges (negative indices) point one past
    the last row of each set, as in `_edge_parts`."""
    assignment = ops.cast(assignment, "int32")
    valid = ops.logical_and(assignment[..., 0] >= 0, assignment[..., 1] >= 0)
    rows = ops.reshape(ops.arange(batch, dtype="int32"), (-1, 1))
    hit = ops.where(valid, assignment[..., 0] + rows * n_nodes, batch * n_nodes)
    owner = ops.where(valid, assignment[..., 1] + rows * n_super, batch * n_super)
    return hit, owner, valid


@keras.saving.register_keras_serializable(package="grapa")
class HierarchicalInteraction(keras.layers.Layer):
    r"""One step of the hierarchical GNN: super-nodes read their hits and super-edges,
    hits read their super-nodes and graph edges, then both kinds of edge read their ends.

    R. Liu et al., "Hierarchical Graph Neural Networks for Particle Track
    Reconstruction", arXiv:2303.01640 (2023), sec. 3, in the form of the authors'
    `HierarchicalGNNCell` (github.com/ryanliu30/HierarchicalGNN). Hits `x_i` with graph
    edges `e_ij`; super-nodes `X_a` with super-edges `E_ab` of weight `v_ab`; the
    assignment edges `(i, a)` with weights `w_ia` (`grapa.tracking.pooling` builds those
    graphs). In this order:

    $$ X'_a = X_a + \phi_S\Big(\big[X_a,\ \textstyle\sum_{b \to a} v_{ba} E_{ba},\
            \textstyle\sum_{i} w_{ia} x_i\big]\Big) $$
    $$ x'_i = x_i + \phi_N\Big(\big[x_i,\ \textstyle\sum_{k \to i} e_{ki}
            + \textstyle\sum_{i \to j} e_{ij},\ \textstyle\sum_a w_{ia} X'_a\big]\Big) $$
    $$ E'_{ab} = E_{ab} + \phi_{SE}([X'_a, X'_b, E_{ab}]), \qquad
       e'_{ij} = e_{ij} + \phi_E([x'_i, x'_j, e_{ij}]) $$

    with multilayer perceptrons ending in a LayerNorm, as in `InteractionNetwork`. The
    hit-level messages flow both ways along the (inner-to-outer) edges: the authors
    pass the graph with both directions. Padding (indices -1 in any edge list, all-zero
    rows without edges) carries nothing and comes out zero.

    Args:
        units: width of every feature (inputs and outputs: the updates are residual).
        hidden_layers: Dense layers per network (the last one is linear).
        activation: activation of the hidden Dense layers.
        layer_norm: end each network with a LayerNormalization.

    Input shape:
        `[nodes (B, N, units), edges (B, E, 2), edge_features (B, E, units),
        supernodes (B, K, units), super_edges (B, S, 2), super_edge_features (B, S,
        units), super_edge_weights (B, S, 1), assignment (B, A, 2) of (hit, super-node),
        assignment_weights (B, A, 1)]`.

    Output shape:
        `[nodes (B, N, units), edge_features (B, E, units), supernodes (B, K, units),
        super_edge_features (B, S, units)]`.
    """

    def __init__(self, units, hidden_layers=2, activation="relu", layer_norm=True, **kwargs):
        super().__init__(**kwargs)
        self.units = int(units)
        self.hidden_layers = int(hidden_layers)
        self.activation = activation
        self.layer_norm = bool(layer_norm)
        if self.units < 1 or self.hidden_layers < 1:
            raise ValueError(f"units and hidden_layers must be >= 1, got {units}, {hidden_layers}")

    def build(self, input_shape):
        widths = [int(input_shape[i][-1]) for i in (0, 2, 3, 5)]
        if any(width != self.units for width in widths):
            raise ValueError(
                f"HierarchicalInteraction(units={self.units}) needs nodes, edge features, "
                f"super-nodes and super-edge features of width {self.units}, got {widths}: "
                f"encode them first (e.g. keras.layers.Dense({self.units})).")
        def network(name):
            stack = _mlp(self.units, self.hidden_layers, self.activation, self.layer_norm, name)
            _build(stack, 3 * self.units)
            return stack

        self.supernode_network = network("supernode")
        self.node_network = network("node")
        self.superedge_network = network("superedge")
        self.edge_network = network("edge")

    def call(self, inputs):
        (nodes, edges, edge_features, supernodes, super_edges, super_edge_features,
         super_weights, assignment, assignment_weights) = inputs
        batch, n_nodes, n_super = (ops.shape(nodes)[0], ops.shape(nodes)[1],
                                   ops.shape(supernodes)[1])
        flat, source, target, valid, n_segments = _edge_parts(nodes, edges)
        _, super_source, super_target, super_valid, super_segments = _edge_parts(
            supernodes, super_edges)
        hit, owner, assigned = _assignment_index(assignment, batch, n_nodes, n_super)
        real_nodes = ops.cast(ops.expand_dims(
            edge_node_mask(nodes, source, target, valid, n_segments), -1), nodes.dtype)
        real_super = ops.cast(ops.expand_dims(ops.logical_or(
            edge_node_mask(supernodes, super_source, super_target, super_valid, super_segments),
            scatter(ops.cast(ops.expand_dims(assigned, -1), nodes.dtype), owner,
                    super_segments, batch, n_super, "sum")[..., 0] > 0), -1), nodes.dtype)
        edge_mask = ops.cast(ops.expand_dims(valid, -1), nodes.dtype)
        super_mask = ops.cast(ops.expand_dims(super_valid, -1), nodes.dtype)
        weights = assignment_weights * ops.cast(ops.expand_dims(assigned, -1), nodes.dtype)

        # super-nodes read their super-edges and their hits
        super_messages = scatter(super_edge_features * super_weights * super_mask, super_target,
                                 super_segments, batch, n_super, "sum")
        from_hits = scatter(gather_nodes(flat, hit) * weights, owner, super_segments, batch,
                            n_super, "sum")
        supernodes = (supernodes + _run(self.supernode_network, ops.concatenate(
            [supernodes, super_messages, from_hits], axis=-1))) * real_super

        # hits read their graph edges and their (updated) super-nodes
        messages = edge_features * edge_mask
        edge_messages = (scatter(messages, target, n_segments, batch, n_nodes, "sum")
                         + scatter(messages, source, n_segments, batch, n_nodes, "sum"))
        super_flat = ops.reshape(supernodes, (-1, self.units))
        from_super = scatter(gather_nodes(super_flat, owner) * weights, hit, n_segments, batch,
                             n_nodes, "sum")
        nodes = (nodes + _run(self.node_network, ops.concatenate(
            [nodes, edge_messages, from_super], axis=-1))) * real_nodes

        # both kinds of edge read their (updated) ends
        super_ends = [gather_nodes(super_flat, super_source), gather_nodes(super_flat, super_target)]
        super_edge_features = (super_edge_features + _run(self.superedge_network, ops.concatenate(
            [*super_ends, super_edge_features], axis=-1))) * super_mask
        flat = ops.reshape(nodes, (-1, self.units))
        ends = [gather_nodes(flat, source), gather_nodes(flat, target)]
        edge_features = (edge_features + _run(self.edge_network, ops.concatenate(
            [*ends, edge_features], axis=-1))) * edge_mask
        return [nodes, edge_features, supernodes, super_edge_features]

    def compute_output_shape(self, input_shape):
        return [tuple(input_shape[i][:-1]) + (self.units,) for i in (0, 2, 3, 5)]

    def get_config(self):
        return {**super().get_config(), "units": self.units,
                "hidden_layers": self.hidden_layers, "activation": self.activation,
                "layer_norm": self.layer_norm}
