r"""The hierarchical GNN's layers: super-nodes, the weights of the edges around them, and
message passing on both levels.

R. Liu et al., "Hierarchical Graph Neural Networks for Particle Track Reconstruction",
arXiv:2303.01640 (2023), sec. 3; the authors' code is github.com/ryanliu30/HierarchicalGNN.
Hits carry embeddings $n_i$ on the unit sphere; the pooling
(`grapa.tracking.pooling`, numpy, not differentiable) decides which hits make each
super-node, which super-nodes each hit is assigned to and which super-nodes are
neighbours. These layers are the differentiable rest, on edge lists padded as in
`grapa.layers.sparse` (indices -1 for padding rows):

- `SuperNodeCenters`: a super-node's embedding $X_a$, the normalized mean of its hits';
- `DotProductWeights`: the weight of an edge from its ends' dot product,
  $w = f(\mathrm{BatchNorm}(n_i \cdot X_a))$, a softmax over each hit's assignments or a
  sigmoid for the super-edges;
- `AssignmentPooling`: the weighted sum of a super-node's assigned hits' features, the
  super-node's first features;
- `HierarchicalInteraction`: one round of messages between hits, super-nodes and
  both kinds of edge;
- `BipartiteEnds`: a hit's and a super-node's features side by side on each
  assignment, what the bipartite classifier scores;
- `AzimuthalEmbedding`: the hits' embeddings from rotation-invariant features and the
  hits' azimuths, turning with the event.
"""

from __future__ import annotations

import keras
from keras import ops

from grapa.layers.sparse import (
    _build,
    _edge_parts,
    _mlp,
    _run,
    edge_node_mask,
    gather_nodes,
    scatter,
)

NORMALIZATIONS = ("softmax", "sigmoid")


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


def _unit(vectors):
    """`vectors` divided by their length along the last axis; zero rows stay zero."""
    # the floor inside the root: sqrt's gradient at 0 (a padding row) is inf
    return vectors / ops.sqrt(ops.maximum(ops.sum(ops.square(vectors), axis=-1,
                                                  keepdims=True), 1e-24))


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
        update_edges: compute `E'` and `e'`; without (the last round, whose edges no one
            reads) the edge features pass through unchanged and those two networks are
            not built.

    Input shape:
        `[nodes (B, N, units), edges (B, E, 2), edge_features (B, E, units),
        supernodes (B, K, units), super_edges (B, S, 2), super_edge_features (B, S,
        units), super_edge_weights (B, S, 1), assignment (B, A, 2) of (hit, super-node),
        assignment_weights (B, A, 1)]`.

    Output shape:
        `[nodes (B, N, units), edge_features (B, E, units), supernodes (B, K, units),
        super_edge_features (B, S, units)]`.
    """

    def __init__(self, units, hidden_layers=2, activation="relu", layer_norm=True,
                 update_edges=True, **kwargs):
        super().__init__(**kwargs)
        self.units = int(units)
        self.hidden_layers = int(hidden_layers)
        self.activation = activation
        self.layer_norm = bool(layer_norm)
        self.update_edges = bool(update_edges)
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
        if self.update_edges:
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

        if not self.update_edges:
            return [nodes, edge_features, supernodes, super_edge_features]
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
                "layer_norm": self.layer_norm, "update_edges": self.update_edges}


@keras.saving.register_keras_serializable(package="grapa")
class SuperNodeCenters(keras.layers.Layer):
    r"""Each super-node's embedding: the normalized mean of its hits' embeddings,
    $X_a = \sum_{i \in a} n_i / \lVert \sum_{i \in a} n_i \rVert$ (Liu et al. 2023,
    sec. 3.2; the mean and the sum point the same way).

    Differentiable in the embeddings: the pooling fixes which hits form a super-node,
    the embeddings move the centre.

    Input shape:
        `[embeddings (B, N, D), labels (B, N) int (each hit's super-node in 0 .. K-1,
        -1 for none), supernode_mask (B, K) (1 for a real super-node, 0 for padding)]`.

    Output shape:
        `(B, K, D)`; padding super-nodes and super-nodes without hits are zero.
    """

    def call(self, inputs):
        embeddings, labels, supernode_mask = inputs
        batch, n_super = ops.shape(supernode_mask)[0], ops.shape(supernode_mask)[1]
        width = ops.shape(embeddings)[-1]
        labels = ops.cast(labels, "int32")
        valid = ops.logical_and(labels >= 0, labels < n_super)
        rows = ops.reshape(ops.arange(batch, dtype="int32"), (-1, 1))
        index = ops.where(valid, labels + rows * n_super, batch * n_super)
        sums = ops.segment_sum(ops.reshape(embeddings, (-1, width)), ops.reshape(index, (-1,)),
                               num_segments=batch * n_super + 1)[:-1]
        sums = ops.reshape(sums, (batch, n_super, width))
        centers = _unit(sums)
        return centers * ops.expand_dims(ops.cast(supernode_mask, centers.dtype), -1)

    def compute_output_shape(self, input_shape):
        return (input_shape[2][0], input_shape[2][1], input_shape[0][-1])


@keras.saving.register_keras_serializable(package="grapa")
class DotProductWeights(keras.layers.Layer):
    r"""Edge weights from the dot product of the edge's two ends, batch-normalized:
    $w_{ia} = f(\mathrm{BatchNorm}(n_i \cdot X_a))$ (Liu et al. 2023, sec. 3.2; the
    authors' `DynamicGraphConstruction`).

    - `"softmax"` (the assignment graph): a softmax over the edges that leave the same
      left row, so each hit's weights over its `c` super-nodes sum to one;
    - `"sigmoid"` (the super graph): a sigmoid, divided by its mean over the graph's
      real edges (as the authors normalize their weights, for stable training).

    The batch normalization (one feature: the dot product) keeps the weights from all
    saturating as the embeddings sharpen; its moments come from the real edges only.

    Args:
        normalization: `"softmax"` or `"sigmoid"`.
        momentum: the batch normalization's moving-average momentum.

    Input shape:
        `[left (B, N, D), right (B, K, D), edges (B, A, 2)]`, `edges[..., 0]` a row of
        `left`, `edges[..., 1]` a row of `right`, -1 for padding.

    Output shape:
        `(B, A, 1)`; padding edges get 0.
    """

    def __init__(self, normalization="softmax", momentum=0.99, **kwargs):
        super().__init__(**kwargs)
        if normalization not in NORMALIZATIONS:
            raise ValueError(f"normalization must be one of {NORMALIZATIONS}, got "
                             f"{normalization!r}")
        self.normalization = normalization
        self.momentum = float(momentum)
        self.epsilon = 1e-3  # keras.layers.BatchNormalization's

    def build(self, input_shape):
        self.gamma = self.add_weight(name="gamma", shape=(), initializer="ones")
        self.beta = self.add_weight(name="beta", shape=(), initializer="zeros")
        self.moving_mean = self.add_weight(name="moving_mean", shape=(),
                                           initializer="zeros", trainable=False)
        self.moving_variance = self.add_weight(name="moving_variance", shape=(),
                                               initializer="ones", trainable=False)

    def _batch_norm(self, dots, real, training):
        """Batch normalization of the one feature over the real edges (padding left out
        of the moments); the moving averages as in `keras.layers.BatchNormalization`."""
        if training:
            count = ops.maximum(ops.sum(real), 1.0)
            mean = ops.sum(dots * real) / count
            variance = ops.sum(ops.square(dots - mean) * real) / count
            self.moving_mean.assign(self.momentum * self.moving_mean
                                    + (1.0 - self.momentum) * mean)
            self.moving_variance.assign(self.momentum * self.moving_variance
                                        + (1.0 - self.momentum) * variance)
        else:
            mean, variance = self.moving_mean, self.moving_variance
        return (dots - mean) * ops.rsqrt(variance + self.epsilon) * self.gamma + self.beta

    def call(self, inputs, training=None):
        left, right, edges = inputs
        batch, n_left, n_right = ops.shape(left)[0], ops.shape(left)[1], ops.shape(right)[1]
        row, column, valid = _assignment_index(edges, batch, n_left, n_right)
        left_flat = ops.reshape(left, (-1, ops.shape(left)[-1]))
        right_flat = ops.reshape(right, (-1, ops.shape(right)[-1]))
        dots = ops.sum(gather_nodes(left_flat, row) * gather_nodes(right_flat, column),
                       axis=-1, keepdims=True)
        real = ops.cast(ops.expand_dims(valid, -1), dots.dtype)
        logits = self._batch_norm(dots, real, training)
        if self.normalization == "sigmoid":
            weights = ops.sigmoid(logits) * real
            mean = ops.sum(weights, axis=(1, 2), keepdims=True) / ops.maximum(
                ops.sum(real, axis=(1, 2), keepdims=True), 1.0)
            return weights / ops.maximum(mean, 1e-6)
        segments = batch * n_left + 1
        flat_logits = ops.reshape(logits, (-1, 1))
        flat_row = ops.reshape(row, (-1,))
        highest = ops.stop_gradient(ops.segment_max(flat_logits, flat_row, num_segments=segments))
        exp = ops.exp(flat_logits - ops.take(highest, flat_row, axis=0))
        exp = exp * ops.reshape(real, (-1, 1))
        total = ops.segment_sum(exp, flat_row, num_segments=segments)
        # a real hit's total holds its largest term, exp(0) = 1: the floor only meets
        # padding rows (total 0), and a tiny floor would square to 0 in the gradient
        weights = exp / ops.maximum(ops.take(total, flat_row, axis=0), 1.0)
        return ops.reshape(weights, ops.shape(logits))

    def compute_output_shape(self, input_shape):
        return (input_shape[2][0], input_shape[2][1], 1)

    def get_config(self):
        return {**super().get_config(), "normalization": self.normalization,
                "momentum": self.momentum}


@keras.saving.register_keras_serializable(package="grapa")
class AssignmentPooling(keras.layers.Layer):
    r"""Super-node features from their hits: $\sum_i w_{ia}\, x_i$ over the assignment
    edges `(i, a)`, each hit's features first divided by their 1-norm when
    `normalize` (as the authors initialise their super-nodes, for stable training).

    Args:
        normalize: divide each hit's features by their 1-norm first.

    Input shape:
        `[nodes (B, N, F), supernode_mask (B, K), assignment (B, A, 2) of (hit,
        super-node), weights (B, A, 1)]`.

    Output shape:
        `(B, K, F)`; padding super-nodes are zero.
    """

    def __init__(self, normalize=True, **kwargs):
        super().__init__(**kwargs)
        self.normalize = bool(normalize)

    def call(self, inputs):
        nodes, supernode_mask, assignment, weights = inputs
        batch, n_nodes = ops.shape(nodes)[0], ops.shape(nodes)[1]
        n_super = ops.shape(supernode_mask)[1]
        if self.normalize:
            nodes = nodes / ops.maximum(ops.sum(ops.abs(nodes), axis=-1, keepdims=True), 1e-12)
        hit, owner, valid = _assignment_index(assignment, batch, n_nodes, n_super)
        flat = ops.reshape(nodes, (-1, ops.shape(nodes)[-1]))
        messages = gather_nodes(flat, hit) * weights * ops.cast(ops.expand_dims(valid, -1),
                                                                nodes.dtype)
        pooled = scatter(messages, owner, batch * n_super + 1, batch, n_super, "sum")
        return pooled * ops.expand_dims(ops.cast(supernode_mask, pooled.dtype), -1)

    def compute_output_shape(self, input_shape):
        return (input_shape[1][0], input_shape[1][1], input_shape[0][-1])

    def get_config(self):
        return {**super().get_config(), "normalize": self.normalize}


@keras.saving.register_keras_serializable(package="grapa")
class BipartiteEnds(keras.layers.Layer):
    r"""Each assignment edge's hit and super-node features side by side, `[x_i, X_a]`:
    the input of the bipartite classifier's head.

    Input shape:
        `[nodes (B, N, F), supernodes (B, K, G), assignment (B, A, 2)]`.

    Output shape:
        `(B, A, F + G)`; padding edges get zeros.
    """

    def call(self, inputs):
        nodes, supernodes, assignment = inputs
        batch, n_nodes, n_super = (ops.shape(nodes)[0], ops.shape(nodes)[1],
                                   ops.shape(supernodes)[1])
        hit, owner, _ = _assignment_index(assignment, batch, n_nodes, n_super)
        return ops.concatenate([
            gather_nodes(ops.reshape(nodes, (-1, ops.shape(nodes)[-1])), hit),
            gather_nodes(ops.reshape(supernodes, (-1, ops.shape(supernodes)[-1])), owner)],
            axis=-1)

    def compute_output_shape(self, input_shape):
        nodes, supernodes, assignment = input_shape
        width = None if None in (nodes[-1], supernodes[-1]) else nodes[-1] + supernodes[-1]
        return (assignment[0], assignment[1], width)


@keras.saving.register_keras_serializable(package="grapa")
class AzimuthalEmbedding(keras.layers.Layer):
    r"""Hit embeddings on the unit sphere that turn with the event about the beam axis.

    A flat network that sees only rotation-invariant inputs (`r`, `z`, the edges'
    `dphi` and slopes: `grapa.tracking.pipeline.network_nodes`) gives two tracks of the
    same pT and direction at different azimuths the same embedding, and a pooling on
    it merges them. Here each hit's azimuth $\phi_i$ enters as an angle relative to an
    offset $\alpha_i$ the network computes from the hit's features $x_i$ (the bending
    of its track up to its radius, $\alpha \approx q\,r / 2R$ for a helix of radius
    $R$: then $\phi_i - \alpha_i$ is the track's initial azimuth, the same for all its
    hits):

    $$ n_i = \frac{[u(x_i),\ \rho_k(x_i)\cos k(\phi_i - \alpha_i),\
                    \rho_k(x_i)\sin k(\phi_i - \alpha_i)]_{k \in K}}{\lVert\cdot\rVert} $$

    with $u$ (`embedding_dim - 2|K|` invariant coordinates), $\alpha$ and
    $\rho_k = \mathrm{softplus}$ from linear maps of $x_i$. Rotating every hit by
    $\delta$ rotates each harmonic's pair by $k\delta$ and leaves the dot products
    $n_i \cdot n_j$ unchanged: the similarities are rotation-invariant, as the
    detector is, while hits at different azimuths can still be told apart. Higher
    harmonics $k$ resolve smaller differences in azimuth.

    Args:
        embedding_dim: the output dimension (> 2 |harmonics|).
        harmonics: the integer multiples $k$ of the angle that enter.

    Input shape:
        `[features (B, N, F), azimuth (B, N)]` (radians).

    Output shape:
        `(B, N, embedding_dim)`, unit vectors.
    """

    def __init__(self, embedding_dim, harmonics=(1,), **kwargs):
        super().__init__(**kwargs)
        self.embedding_dim = int(embedding_dim)
        self.harmonics = tuple(int(k) for k in harmonics)
        if not self.harmonics or min(self.harmonics) < 1:
            raise ValueError(f"harmonics must be positive integers, got {harmonics!r}")
        if self.embedding_dim <= 2 * len(self.harmonics):
            raise ValueError(
                f"embedding_dim ({embedding_dim}) must exceed twice the number of harmonics "
                f"({len(self.harmonics)}): each takes a cosine and a sine, and at least one "
                "invariant coordinate is left")

    def build(self, input_shape):
        n = len(self.harmonics)
        self.invariant = keras.layers.Dense(self.embedding_dim - 2 * n, name="invariant")
        self.offset = keras.layers.Dense(1, name="offset")
        self.radius = keras.layers.Dense(n, activation="softplus", name="radius")
        for dense in (self.invariant, self.offset, self.radius):
            dense.build(input_shape[0])

    def call(self, inputs):
        features, azimuth = inputs
        angle = ops.expand_dims(ops.cast(azimuth, features.dtype), -1) - self.offset(features)
        multiples = ops.convert_to_tensor(self.harmonics, dtype=features.dtype)
        angle = angle * multiples
        radius = self.radius(features)
        out = ops.concatenate([self.invariant(features), radius * ops.cos(angle),
                               radius * ops.sin(angle)], axis=-1)
        return _unit(out)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[0][:-1]) + (self.embedding_dim,)

    def get_config(self):
        return {**super().get_config(), "embedding_dim": self.embedding_dim,
                "harmonics": list(self.harmonics)}


@keras.saving.register_keras_serializable(package="grapa")
class PooledMembership(keras.layers.Layer):
    r"""Whether each assignment `(i, a)` joins hit `i` to the super-node the pooling put
    it in: 1 if `labels[i] == a`, else 0 (and 0 for padding and unpooled hits).

    What the pooling alone says of the assignment; a classifier that reads it starts
    from the pooling's candidates and learns only where to depart from them.

    Input shape:
        `[labels (B, N) int (each hit's super-node, -1 for none), assignment (B, A, 2)]`.

    Output shape:
        `(B, A, 1)` float.
    """

    def call(self, inputs):
        labels, assignment = inputs
        batch, n_nodes = ops.shape(labels)[0], ops.shape(labels)[1]
        # the hits' flat rows; the super-node count only offsets the other index
        hit, _, valid = _assignment_index(assignment, batch, n_nodes, 1)
        label = gather_nodes(ops.reshape(ops.cast(labels, "int32"), (-1, 1)), hit)[..., 0]
        member = ops.logical_and(valid, ops.equal(label, ops.cast(assignment, "int32")[..., 1]))
        return ops.expand_dims(ops.cast(member, self.compute_dtype), -1)

    def compute_output_shape(self, input_shape):
        return (input_shape[1][0], input_shape[1][1], 1)
