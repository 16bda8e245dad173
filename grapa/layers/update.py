"""The graph update (message passing) layer."""

from __future__ import annotations

import keras
from keras import ops

from grapa.layers._conv_base import DenseGraphConv, matmul_narrow_side

AGGREGATIONS = ("sum", "mean")


def row_normalize(adjacency):
    """A_ij / sum_j A_ij, with empty rows left at 0."""
    degree = ops.sum(adjacency, axis=-1, keepdims=True)
    return adjacency / ops.where(ops.equal(degree, 0), 1.0, degree)


@keras.saving.register_keras_serializable(package="grapa")
class GraphUpdate(DenseGraphConv):
    r"""One graph update step: a self term plus the aggregated neighbour term.

    Klüttermann 2021, sec. 4.1 (eq. 4.1) and 4.4.1:

    $$ x'_i = \sigma\Big( x_i S + \sum_j \hat A_{ij}\, x_j N \Big) $$

    with learnable `S, N` of shape `(F_in, F_out)` and `Â = A` (`aggregation="sum"`) or
    `Â = A / rowsum(A)` (`"mean"`). No bias by default: a bias turns padding into signal
    and cost AUC in the thesis (0.811 -> 0.796). Cost is O(B n^2 F + B n F^2); the
    Kronecker operator `S (x) 1 + N (x) A` of sec. 4.1.1 is never built.

    Padding nodes (all-zero features and no edges) stay exactly zero, whatever the
    activation or bias, so they never change the real nodes of later layers.

    Args:
        units: output features per node `F_out`.
        activation: Keras activation (default: none, linear).
        aggregation: `"sum"` or `"mean"` over neighbours.
        use_bias: add a learnable bias (off by default, see above).
        kernel_initializer: initializer of `S` and `N`.
        bias_initializer: initializer of the bias.
        kernel_regularizer: regularizer of `S` and `N`.

    Input shape:
        `[x, adjacency]`: `(batch, nodes, F_in)` and `(batch, nodes, nodes)`, where
        `adjacency[b, i, j]` is the weight of the edge from node i to its neighbour j.

    Output shape:
        `(batch, nodes, units)`.
    """

    def __init__(self, units, activation=None, aggregation="sum", use_bias=False, **kwargs):
        if aggregation not in AGGREGATIONS:
            raise ValueError(
                f"GraphUpdate aggregation must be one of {AGGREGATIONS}, got {aggregation!r}."
            )
        super().__init__(units, activation=activation, use_bias=use_bias, **kwargs)
        self.aggregation = aggregation

    def build_kernels(self, features):
        self.self_kernel = self.kernel("self_kernel", (features, self.units))
        self.neighbour_kernel = self.kernel("neighbour_kernel", (features, self.units))

    def propagate(self, x, adjacency, real):
        if self.aggregation == "mean":
            adjacency = row_normalize(adjacency)
        neighbours = matmul_narrow_side(adjacency, x, self.neighbour_kernel)
        return ops.matmul(x, self.self_kernel) + neighbours

    def get_config(self):
        return {**super().get_config(), "aggregation": self.aggregation}
