"""Graph attention (GATv2) on dense padded graphs."""

from __future__ import annotations

import keras
from keras import ops

from grapa.layers._conv_base import DenseGraphConv, with_self_loops


def masked_softmax(logits, mask, axis):
    """Softmax of `logits` over `axis` among entries where `mask`; 0 where a row has none.

    Masked entries never reach `exp`, so neither the values nor the gradients overflow.
    """
    largest = ops.max(ops.where(mask, logits, ops.min(logits)), axis=axis, keepdims=True)
    weights = ops.where(mask, ops.exp(ops.where(mask, logits - largest, 0.0)), 0.0)
    total = ops.sum(weights, axis=axis, keepdims=True)
    return weights / ops.where(total > 0, total, 1.0)


@keras.saving.register_keras_serializable(package="grapa")
class GraphAttention(DenseGraphConv):
    r"""Graph attention with dynamic attention, GATv2 (Brody, Alon & Yahav, ICLR 2022,
    arXiv:2105.14491, eq. 7), masked to the edges of the given graph:

    $$ e_{ij} = a^\top \mathrm{LeakyReLU}\big(W_t x_i + W_s x_j\big), \qquad
       \alpha_{ij} = \operatorname{softmax}_{j:\,A_{ij} \neq 0}(e_{ij}), \qquad
       x'_i = \sigma\Big(\sum_j \alpha_{ij} W_s x_j + b\Big) $$

    per head; the heads' outputs are concatenated (`concat=True`, `heads * units`
    features) or averaged. As in PyTorch Geometric's `GATv2Conv`, every real node attends
    to itself too (`self_loops=True`) and only the graph's structure is used (edge
    weights are not multiplied in). Attention never reaches a node outside the adjacency
    row or a padding node; padding rows are exactly zero. Cost O(B n^2 heads units): the
    pairwise scores are a `(batch, n, n, heads, units)` tensor before the contraction.

    Args:
        units: features per head.
        heads: number of attention heads.
        concat: concatenate the heads (else average them).
        negative_slope: slope of the LeakyReLU inside the score.
        self_loops: let every real node attend to itself.
        activation, use_bias, kernel_initializer, bias_initializer, kernel_regularizer:
            as `GCNConv`.

    Input shape:
        `[x, adjacency]`: `(batch, nodes, F_in)` and `(batch, nodes, nodes)`.

    Output shape:
        `(batch, nodes, heads * units)` with `concat=True`, else `(batch, nodes, units)`.
    """

    def __init__(
        self, units, heads=1, concat=True, negative_slope=0.2, self_loops=True,
        activation=None, **kwargs,
    ):
        super().__init__(units, activation=activation, **kwargs)
        if int(heads) < 1:
            raise ValueError(f"GraphAttention needs heads >= 1, got {heads}.")
        self.heads = int(heads)
        self.concat = bool(concat)
        self.negative_slope = float(negative_slope)
        self.self_loops = bool(self_loops)

    @property
    def output_units(self):
        return self.heads * self.units if self.concat else self.units

    def build_kernels(self, features):
        width = self.heads * self.units
        self.source_kernel = self.kernel("source_kernel", (features, width))
        self.target_kernel = self.kernel("target_kernel", (features, width))
        self.attention_kernel = self.kernel("attention_kernel", (self.heads, self.units))

    def attention(self, x, adjacency, real):
        """`(alpha, source)`: weights `(batch, n, n, heads)` and `W_s x` `(batch, n, heads, units)`."""
        n = x.shape[1]
        if self.self_loops:
            adjacency = with_self_loops(adjacency, real)
        source = ops.reshape(ops.matmul(x, self.source_kernel), (-1, n, self.heads, self.units))
        target = ops.reshape(ops.matmul(x, self.target_kernel), (-1, n, self.heads, self.units))
        pairs = ops.leaky_relu(
            ops.expand_dims(target, 2) + ops.expand_dims(source, 1), self.negative_slope
        )
        scores = ops.sum(pairs * self.attention_kernel, axis=-1)  # (batch, i, j, heads)
        edges = ops.expand_dims(ops.not_equal(adjacency, 0), -1)
        return masked_softmax(scores, edges, axis=2), source

    def propagate(self, x, adjacency, real):
        alpha, source = self.attention(x, adjacency, real)
        output = ops.einsum("bijh,bjhc->bihc", alpha, source)
        if self.concat:
            return ops.reshape(output, (-1, x.shape[1], self.heads * self.units))
        return ops.mean(output, axis=2)

    def get_config(self):
        return {
            **super().get_config(),
            "heads": self.heads,
            "concat": self.concat,
            "negative_slope": self.negative_slope,
            "self_loops": self.self_loops,
        }
