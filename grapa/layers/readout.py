"""Learned and global pooling: DiffPool-style soft assignment to super-nodes, and masked
sum / mean / max over a graph's real nodes."""

from __future__ import annotations

import keras
from keras import ops

from grapa.layers._conv_base import masked_adjacency, split_graph_input_shape
from grapa.layers._nodes import node_mask
from grapa.layers.conv import gcn_adjacency

GLOBAL_MODES = ("sum", "mean", "max")


@keras.saving.register_keras_serializable(package="grapa")
class GlobalPooling(keras.layers.Layer):
    r"""Sum, mean or max of the node features over a graph's real nodes:

    $$ g = \mathop{\square}_{i\ \text{real}} x_i, \qquad \square \in \{\textstyle\sum,\
       \text{mean},\ \max\} $$

    Permutation invariant; padding nodes are excluded, so appending or inserting them
    changes nothing. By default a node is real if its features are not all zero. After a
    ReLU a real node can be all zero; to count it, pass a second tensor that marks the
    real nodes, `GlobalPooling("mean")([h, x])` with `x` e.g. the input features or the
    adjacency (a node is real where its row of that tensor is not all zero). A graph with
    no real node pools to zeros.

    Args:
        mode: `"sum"`, `"mean"` or `"max"`.

    Input shape:
        `(batch, nodes, F)`, or `[(batch, nodes, F), (batch, nodes, ...)]`.

    Output shape:
        `(batch, F)`.
    """

    def __init__(self, mode="mean", **kwargs):
        super().__init__(**kwargs)
        if mode not in GLOBAL_MODES:
            raise ValueError(f"GlobalPooling mode must be one of {GLOBAL_MODES}, got {mode!r}.")
        self.mode = mode

    def call(self, inputs):
        if isinstance(inputs, (list, tuple)):
            x, reference = inputs if len(inputs) == 2 else (inputs[0], inputs[0])
        else:
            x, reference = inputs, inputs
        real = ops.expand_dims(node_mask(reference), -1)
        if self.mode == "max":
            largest = ops.max(ops.where(real, x, float("-inf")), axis=1)
            return ops.where(ops.any(real, axis=1), largest, 0.0)
        total = ops.sum(ops.where(real, x, 0.0), axis=1)
        if self.mode == "sum":
            return total
        count = ops.sum(ops.cast(real, x.dtype), axis=1)
        return total / ops.maximum(count, 1.0)

    def compute_output_shape(self, input_shape):
        if isinstance(input_shape, (list, tuple)) and isinstance(input_shape[0], (list, tuple)):
            input_shape = input_shape[0]
        return (input_shape[0], input_shape[-1])

    def get_config(self):
        return {**super().get_config(), "mode": self.mode}


@keras.saving.register_keras_serializable(package="grapa")
class SoftPooling(keras.layers.Layer):
    r"""Learned soft pooling into `nodes` super-nodes, after DiffPool (Ying et al.,
    NeurIPS 2018, arXiv:1806.08804, eq. 3-5):

    $$ S = \operatorname{softmax}\big(\tilde D^{-1/2}\tilde A\tilde D^{-1/2} X W + b\big),
       \qquad X' = S^\top X, \qquad A' = S^\top A S $$

    The assignment `S` `(batch, n, nodes)` is one `GCNConv` step (the GNN of DiffPool's
    pooling branch) with a softmax over the super-nodes; padding rows of `S` are zero, so
    padding nodes are assigned nowhere. `X'` and `A'` do not depend on the input node
    order. This is the hierarchical pooling of the tracking HGNN (Liu et al. 2023) in its
    dense form, next to the thesis's sort-and-merge `Compress`. DiffPool's auxiliary
    link-prediction and entropy losses are not added.

    Args:
        nodes: number of super-nodes.
        kernel_initializer, bias_initializer: for the assignment's `W` and `b`.

    Input shape:
        `[x, adjacency]`: `(batch, n, F)` and `(batch, n, n)`.

    Output shape:
        `[(batch, nodes, F), (batch, nodes, nodes)]`.
    """

    def __init__(self, nodes, kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 **kwargs):
        super().__init__(**kwargs)
        if int(nodes) < 1:
            raise ValueError(f"SoftPooling needs nodes >= 1 super-nodes, got {nodes}.")
        self.nodes = int(nodes)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)

    def build(self, input_shape):
        x_shape, _ = split_graph_input_shape(input_shape, "SoftPooling")
        self.kernel = self.add_weight(
            name="kernel", shape=(x_shape[-1], self.nodes), initializer=self.kernel_initializer
        )
        self.bias = self.add_weight(
            name="bias", shape=(self.nodes,), initializer=self.bias_initializer
        )

    def assignment(self, inputs):
        """`S` `(batch, n, nodes)`: each real node's weights over the super-nodes."""
        return self._assign(inputs)[0]

    def _assign(self, inputs):
        x, adjacency = inputs
        real, adjacency = masked_adjacency(x, adjacency)
        logits = ops.matmul(gcn_adjacency(adjacency, real), ops.matmul(x, self.kernel)) + self.bias
        return ops.where(ops.expand_dims(real, -1), ops.softmax(logits, axis=-1), 0.0), adjacency

    def call(self, inputs):
        x = inputs[0]
        assignment, adjacency = self._assign(inputs)
        transposed = ops.transpose(assignment, (0, 2, 1))
        pooled = ops.matmul(transposed, x)
        return [pooled, ops.matmul(ops.matmul(transposed, adjacency), assignment)]

    def compute_output_shape(self, input_shape):
        x_shape, _ = split_graph_input_shape(input_shape, "SoftPooling")
        return [(x_shape[0], self.nodes, x_shape[-1]), (x_shape[0], self.nodes, self.nodes)]

    def get_config(self):
        return {
            **super().get_config(),
            "nodes": self.nodes,
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
            "bias_initializer": keras.initializers.serialize(self.bias_initializer),
        }
