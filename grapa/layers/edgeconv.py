"""EdgeConv: the k-nearest-neighbour edge convolution of DGCNN and ParticleNet."""

from __future__ import annotations

import keras
from keras import ops

from grapa.layers._nodes import node_mask, pair_mask

EDGE_AGGREGATIONS = ("mean", "max")


def _as_coordinates_and_features(inputs):
    if isinstance(inputs, (list, tuple)):
        if len(inputs) == 1:
            return inputs[0], inputs[0]
        if len(inputs) != 2:
            raise ValueError(
                "EdgeConv takes [coordinates, features] or one tensor (then the graph is "
                f"built on the features themselves); got {len(inputs)} inputs."
            )
        return inputs[0], inputs[1]
    return inputs, inputs


def gather_neighbours(values, indices):
    """`values[b, indices[b, i, m]]`: `(batch, n, F)` by `(batch, n, k)` -> `(batch, n, k, F)`.

    A broadcast `take_along_axis`: on XLA's CPU its gradient is several times cheaper
    than that of a gather from the flattened batch, and it never forms an n x n one-hot.
    """
    return ops.take_along_axis(ops.expand_dims(values, 1), ops.expand_dims(indices, -1), axis=2)


@keras.saving.register_keras_serializable(package="grapa")
class EdgeConv(keras.layers.Layer):
    r"""Edge convolution over the `k` nearest neighbours (Wang et al., "Dynamic Graph CNN
    for Learning on Point Clouds", ACM TOG 38 (2019) 146, eq. 7-8; the block of
    ParticleNet, Qu & Gouskos, Phys. Rev. D 101 (2020) 056019):

    $$ x'_i = \mathop{\square}_{j \in \mathrm{kNN}(i)}
       h_\Theta\big([\,x_i,\; x_j - x_i\,]\big), \qquad \square \in \{\text{mean}, \max\} $$

    `kNN(i)` are the `k` real nodes nearest to node i in Euclidean distance on the
    *coordinates* (i itself excluded, as in ParticleNet); `h` is an MLP with one dense
    layer per entry of `units`, `activation` after each. Called as
    `EdgeConv(units, k)([coordinates, features])` it uses a fixed graph (e.g. on
    `(d_eta, d_phi)`); called on one tensor, `EdgeConv(units, k)(h)`, the graph is
    rebuilt from the current features: DGCNN's *dynamic* graph.

    The first dense layer is applied to `x_i` and `x_j` separately before the gather
    (`[x_i, x_j - x_i] W = x_i (W_a - W_b) + x_j W_b`), so messages cost O(n k units)
    rather than O(n k F). Distances cost O(n^2 C) per graph.

    With `batch_norm=True`, every dense layer of `h` is followed by batch normalization
    over the batch's real edges (a padding node's edges and the empty slots of a node
    with fewer than `k` neighbours are left out of the moments), before the activation:
    ParticleNet's Conv-BN-ReLU layers. Its `beta` then replaces `h`'s biases.

    A node whose coordinates and features are all zero is padding: never a neighbour,
    output row exactly zero. A real node with fewer than `k` real neighbours aggregates
    over those it has (an isolated one outputs 0). The neighbour choice gets no gradient.

    Args:
        units: int or tuple of ints, the widths of the MLP `h`.
        k: neighbours per node.
        aggregation: `"mean"` (ParticleNet) or `"max"` (DGCNN).
        activation: activation after every dense layer of `h` (default ReLU).
        use_bias: biases in `h` (none with `batch_norm`).
        batch_norm: batch-normalize each dense layer of `h` over the real edges.
        momentum: the batch norms' moving-average momentum (Keras convention).
        kernel_initializer, bias_initializer, kernel_regularizer: for `h`'s weights.

    Input shape:
        `[coordinates, features]`: `(batch, nodes, C)` and `(batch, nodes, F)`, or one
        tensor `(batch, nodes, F)` serving as both.

    Output shape:
        `(batch, nodes, units[-1])`.

    Example:

    >>> points = keras.random.normal((2, 30, 2))
    >>> EdgeConv((32, 32), k=7)([points, points]).shape
    (2, 30, 32)
    """

    def __init__(
        self,
        units,
        k=16,
        aggregation="mean",
        activation="relu",
        use_bias=True,
        batch_norm=False,
        momentum=0.99,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        kernel_regularizer=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        units = (units,) if isinstance(units, int) else tuple(int(u) for u in units)
        if not units or min(units) < 1:
            raise ValueError(f"EdgeConv units must be positive widths, got {units}.")
        if int(k) < 1:
            raise ValueError(f"EdgeConv needs k >= 1 neighbours, got k={k}.")
        if aggregation not in EDGE_AGGREGATIONS:
            raise ValueError(
                f"EdgeConv aggregation must be one of {EDGE_AGGREGATIONS}, got {aggregation!r}."
            )
        self.units = units
        self.k = int(k)
        self.aggregation = aggregation
        self.activation = keras.activations.get(activation)
        self.batch_norm = bool(batch_norm)
        self.use_bias = bool(use_bias) and not self.batch_norm
        self.momentum = float(momentum)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)
        self.batch_norms = [
            keras.layers.BatchNormalization(momentum=self.momentum, dtype=self.dtype_policy,
                                            name=f"batch_norm_{layer}")
            for layer in range(len(units) if self.batch_norm else 0)
        ]

    def build(self, input_shape):
        coordinate_shape, feature_shape = _input_shapes(input_shape)
        if coordinate_shape[1] != feature_shape[1]:
            raise ValueError(
                f"EdgeConv: coordinates have {coordinate_shape[1]} nodes but features "
                f"{feature_shape[1]}; pass the same nodes' coordinates and features."
            )
        widths = (2 * int(feature_shape[-1]), *self.units)
        self.kernels, self.biases = [], []
        for layer, (fan_in, fan_out) in enumerate(zip(widths[:-1], widths[1:])):
            self.kernels.append(self.add_weight(
                name=f"kernel_{layer}", shape=(fan_in, fan_out),
                initializer=self.kernel_initializer, regularizer=self.kernel_regularizer,
            ))
            if self.use_bias:
                self.biases.append(self.add_weight(
                    name=f"bias_{layer}", shape=(fan_out,), initializer=self.bias_initializer
                ))
        for norm, fan_out in zip(self.batch_norms, widths[1:]):
            norm.build((None, fan_out))

    def neighbour_indices(self, coordinates, features=None):
        """The graph this layer builds: `(indices, valid)`, both `(batch, nodes, k)`.

        `indices[b, i]` are node i's `k` nearest nodes, nearest first; `valid` is False
        where a node has fewer than `k` real neighbours (those slots point anywhere).
        """
        coordinates = ops.cast(coordinates, self.compute_dtype)
        features = coordinates if features is None else ops.cast(features, self.compute_dtype)
        real = ops.logical_or(node_mask(coordinates), node_mask(features))
        return self._nearest(coordinates, real)

    def _nearest(self, coordinates, real):
        n = coordinates.shape[1]
        squared = ops.sum(coordinates * coordinates, axis=-1)
        cross = ops.matmul(coordinates, ops.transpose(coordinates, (0, 2, 1)))
        distance = ops.expand_dims(squared, 2) + ops.expand_dims(squared, 1) - 2.0 * cross
        others = ops.logical_not(ops.cast(ops.eye(n), "bool"))
        candidates = ops.logical_and(pair_mask(real), others)
        masked = ops.where(candidates, ops.stop_gradient(distance), float("inf"))
        closeness, indices = ops.top_k(-masked, min(self.k, n), sorted=True)
        return ops.cast(indices, "int32"), ops.isfinite(closeness)

    def call(self, inputs, training=None):
        coordinates, features = _as_coordinates_and_features(inputs)
        coordinates = ops.cast(coordinates, self.compute_dtype)
        features = ops.cast(features, self.compute_dtype)
        real = ops.logical_or(node_mask(coordinates), node_mask(features))
        indices, valid = self._nearest(coordinates, real)

        first = self.kernels[0]
        f = features.shape[-1]
        own = ops.matmul(features, first[:f] - first[f:])
        messages = ops.expand_dims(own, 2) + gather_neighbours(ops.matmul(features, first[f:]), indices)
        n, k = messages.shape[1], messages.shape[2]
        # The MLP on a 2-d (edges, width) matrix: XLA's CPU gradient of 4-d matmuls is slow.
        messages = ops.reshape(messages, (-1, messages.shape[-1]))
        edges = ops.reshape(valid, (-1,))  # real node, real neighbour
        for layer in range(len(self.kernels)):
            if layer:
                messages = ops.matmul(messages, self.kernels[layer])
            if self.use_bias:
                messages = messages + self.biases[layer]
            if self.batch_norm:
                messages = self.batch_norms[layer](messages, training=training, mask=edges)
            messages = self.activation(messages)
        messages = ops.reshape(messages, (-1, n, k, self.units[-1]))

        valid = ops.expand_dims(valid, -1)
        if self.aggregation == "mean":
            count = ops.sum(ops.cast(valid, messages.dtype), axis=2)
            output = ops.sum(ops.where(valid, messages, 0.0), axis=2) / ops.maximum(count, 1.0)
        else:
            largest = ops.max(ops.where(valid, messages, float("-inf")), axis=2)
            output = ops.where(ops.any(valid, axis=2), largest, 0.0)
        return ops.where(ops.expand_dims(real, -1), output, 0.0)

    def compute_output_shape(self, input_shape):
        coordinate_shape, _ = _input_shapes(input_shape)
        return (*coordinate_shape[:2], self.units[-1])

    def get_config(self):
        return {
            **super().get_config(),
            "units": list(self.units),
            "k": self.k,
            "aggregation": self.aggregation,
            "activation": keras.activations.serialize(self.activation),
            "use_bias": self.use_bias,
            "batch_norm": self.batch_norm,
            "momentum": self.momentum,
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
            "bias_initializer": keras.initializers.serialize(self.bias_initializer),
            "kernel_regularizer": keras.regularizers.serialize(self.kernel_regularizer),
        }


def _input_shapes(input_shape):
    if isinstance(input_shape, (list, tuple)) and input_shape and isinstance(
        input_shape[0], (list, tuple)
    ):
        shapes = [tuple(s) for s in input_shape]
        if len(shapes) == 1:
            shapes = shapes * 2
    else:
        shapes = [tuple(input_shape)] * 2
    if len(shapes) != 2 or any(len(s) != 3 for s in shapes):
        raise ValueError(
            "EdgeConv expects [coordinates (batch, nodes, C), features (batch, nodes, F)] "
            f"or one (batch, nodes, F) tensor; got input shape {input_shape}."
        )
    if shapes[0][1] is None:
        raise ValueError(
            f"EdgeConv needs a fixed number of nodes, got input shape {input_shape}. "
            "Give the node axis a size, e.g. keras.Input(shape=(30, 2))."
        )
    return shapes
