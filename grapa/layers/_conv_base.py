"""What every dense-adjacency graph convolution shares: arguments, config, input checks,
the masked adjacency and the padding rule on the way out."""

from __future__ import annotations

import keras
from keras import ops

from grapa.layers._nodes import graph_node_mask, pair_mask, split_graph_input_shape


def masked_adjacency(x, adjacency):
    """`(real, adjacency)`: the real-node mask and the adjacency restricted to real pairs.

    A padding node (all-zero features, no edges) is never a neighbour, even where the
    given adjacency has a stray entry in its column.
    """
    adjacency = ops.cast(adjacency, x.dtype)
    real = graph_node_mask(x, adjacency)
    return real, ops.where(pair_mask(real), adjacency, 0.0)


def inverse_sqrt_degree(adjacency):
    """`d_i^-1/2` of the row sums `d_i = sum_j A_ij`, 0 where `d_i <= 0` (isolated, padding)."""
    degree = ops.sum(adjacency, axis=-1)
    positive = degree > 0
    return ops.where(positive, ops.rsqrt(ops.where(positive, degree, 1.0)), 0.0)


def symmetric_normalize(adjacency):
    """`D^-1/2 A D^-1/2` with `D` the row sums of `A`."""
    scale = inverse_sqrt_degree(adjacency)
    return adjacency * ops.expand_dims(scale, 2) * ops.expand_dims(scale, 1)


def with_self_loops(adjacency, real):
    """`A` plus a unit self-loop on every real node that has none (PyG's
    `add_remaining_self_loops`): a self-loop already in `A` keeps its weight."""
    n = adjacency.shape[-1]
    diagonal = ops.diagonal(adjacency, axis1=1, axis2=2)
    missing = ops.logical_and(real, ops.equal(diagonal, 0))
    return adjacency + ops.eye(n, dtype=adjacency.dtype) * ops.expand_dims(
        ops.cast(missing, adjacency.dtype), -1
    )


# Graphs of at most SMALL_GRAPH_NODES nodes with at most SMALL_GRAPH_FEATURES features
# are aggregated from elementwise products instead of a batched dot. XLA's CPU dot is slow
# on such tiny matrices: forward and gradient of `A x` for 100 graphs take 140 us as a dot
# and 31 us as fused products at 4 nodes and 4 features (86 against 66 us at 16
# features), while at 36 features, or from 8 nodes on, the dot wins (129 against 168 us
# at 4 nodes and 36 features; 568 against 1134 us at 16 nodes).
SMALL_GRAPH_NODES = 4
SMALL_GRAPH_FEATURES = 16


def is_small_graph(nodes, features):
    """Whether a product over `nodes` nodes of `features` features is cheaper elementwise."""
    return (nodes is not None and features is not None and nodes <= SMALL_GRAPH_NODES
            and features <= SMALL_GRAPH_FEATURES)


def aggregate(adjacency, x):
    """`A x` per graph: `(batch, n, n) @ (batch, n, F) -> (batch, n, F)`."""
    if is_small_graph(adjacency.shape[-1], x.shape[-1]):
        return ops.sum(ops.expand_dims(adjacency, -1) * ops.expand_dims(x, 1), axis=2)
    return ops.matmul(adjacency, x)


def matmul_narrow_side(adjacency, x, kernel):
    """`A x W`, with the n^2 product taken on the narrower of `x` and `x W`."""
    if x.shape[-1] is not None and x.shape[-1] <= kernel.shape[-1]:
        return ops.matmul(aggregate(adjacency, x), kernel)
    return aggregate(adjacency, ops.matmul(x, kernel))


class DenseGraphConv(keras.layers.Layer):
    """Base of the `[x, adjacency] -> (batch, nodes, units)` convolutions.

    Holds the arguments every such layer takes, their config, the input-shape check and
    the output rule: activation, then padding rows set to exactly zero whatever the bias.
    Subclasses implement `build_kernels(features)` and `propagate(x, adjacency, real)`.
    """

    def __init__(
        self,
        units,
        activation=None,
        use_bias=True,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        kernel_regularizer=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if int(units) < 1:
            raise ValueError(f"{type(self).__name__} needs units >= 1, got {units}.")
        self.units = int(units)
        self.activation = keras.activations.get(activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)

    @property
    def output_units(self):
        return self.units

    def kernel(self, name, shape):
        return self.add_weight(
            name=name, shape=shape, initializer=self.kernel_initializer,
            regularizer=self.kernel_regularizer,
        )

    def build(self, input_shape):
        x_shape, _ = split_graph_input_shape(input_shape, type(self).__name__)
        self.build_kernels(int(x_shape[-1]))
        if self.use_bias:
            self.bias = self.add_weight(
                name="bias", shape=(self.output_units,), initializer=self.bias_initializer
            )

    def call(self, inputs):
        x, adjacency = inputs
        real, adjacency = masked_adjacency(x, adjacency)
        output = self.propagate(x, adjacency, real)
        if self.use_bias:
            output = output + self.bias
        output = self.activation(output)
        return ops.where(ops.expand_dims(real, -1), output, 0.0)

    def compute_output_shape(self, input_shape):
        x_shape, _ = split_graph_input_shape(input_shape, type(self).__name__)
        return (*x_shape[:-1], self.output_units)

    def get_config(self):
        return {
            **super().get_config(),
            "units": self.units,
            "activation": keras.activations.serialize(self.activation),
            "use_bias": self.use_bias,
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
            "bias_initializer": keras.initializers.serialize(self.bias_initializer),
            "kernel_regularizer": keras.regularizers.serialize(self.kernel_regularizer),
        }
