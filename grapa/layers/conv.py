"""Spectral graph convolutions on dense padded graphs: GCN and Chebyshev filters."""

from __future__ import annotations

import keras
from keras import ops

from grapa.layers._conv_base import (
    DenseGraphConv,
    aggregate,
    matmul_narrow_side,
    symmetric_normalize,
    with_self_loops,
)


def gcn_adjacency(adjacency, real, self_loops=True):
    r"""Kipf & Welling's propagation matrix `D^-1/2 (A + I) D^-1/2`, `D` the row sums of
    `A + I`; padding rows and columns stay zero."""
    if self_loops:
        adjacency = with_self_loops(adjacency, real)
    return symmetric_normalize(adjacency)


def scaled_laplacian(adjacency, real, lambda_max=2.0):
    r"""`L~ = 2 L / lambda_max - I` with `L = I - D^-1/2 A D^-1/2`, self-loops ignored.

    `I` is the identity on the real nodes only, so padding rows and columns stay zero.
    """
    n = adjacency.shape[-1]
    identity = ops.eye(n, dtype=adjacency.dtype)
    adjacency = adjacency * (1.0 - identity)
    real_identity = identity * ops.expand_dims(ops.cast(real, adjacency.dtype), -1)
    laplacian = real_identity - symmetric_normalize(adjacency)
    return (2.0 / lambda_max) * laplacian - real_identity


@keras.saving.register_keras_serializable(package="grapa")
class GCNConv(DenseGraphConv):
    r"""Graph convolution of Kipf & Welling (ICLR 2017, arXiv:1609.02907), eq. 2:

    $$ X' = \sigma\big(\tilde D^{-1/2} \tilde A \tilde D^{-1/2} X W + b\big), \qquad
       \tilde A = A + I, \quad \tilde D_{ii} = \textstyle\sum_j \tilde A_{ij} $$

    A self-loop already in `A` keeps its weight instead of gaining one (PyTorch
    Geometric's `add_remaining_self_loops`), so a graph from `FullyConnectedGraph()` or
    `TopKGraph` is not counted twice. Edge weights are used as given; a directed graph is
    normalized with its row sums (the edges a node receives). Padding nodes (all-zero
    features and no edges) are never neighbours and their output rows are exactly zero,
    whatever the bias. Cost O(B n^2 min(F_in, units) + B n F_in units).

    Args:
        units: output features per node.
        activation: Keras activation (default: none).
        use_bias: add a learnable bias `b` (real nodes only).
        self_loops: add `I` (on real nodes that have no self-loop).
        kernel_initializer, bias_initializer, kernel_regularizer: for `W` and `b`.

    Input shape:
        `[x, adjacency]`: `(batch, nodes, F_in)` and `(batch, nodes, nodes)`, where
        `adjacency[b, i, j]` is the weight of the edge by which node i receives from j.

    Output shape:
        `(batch, nodes, units)`.

    Example:

    >>> x, a = keras.random.normal((2, 8, 3)), keras.ops.ones((2, 8, 8))
    >>> GCNConv(16, activation="relu")([x, a]).shape
    (2, 8, 16)
    """

    def __init__(self, units, activation=None, self_loops=True, **kwargs):
        super().__init__(units, activation=activation, **kwargs)
        self.self_loops = bool(self_loops)

    def build_kernels(self, features):
        self.kernel_weights = self.kernel("kernel", (features, self.units))

    def propagate(self, x, adjacency, real):
        propagation = gcn_adjacency(adjacency, real, self.self_loops)
        return matmul_narrow_side(propagation, x, self.kernel_weights)

    def get_config(self):
        return {**super().get_config(), "self_loops": self.self_loops}


@keras.saving.register_keras_serializable(package="grapa")
class ChebConv(DenseGraphConv):
    r"""Chebyshev spectral graph convolution of Defferrard, Bresson & Vandergheynst
    (NeurIPS 2016, arXiv:1606.09375), eq. 4-5:

    $$ X' = \sigma\Big(\sum_{k=0}^{K-1} T_k(\tilde L)\, X W_k + b\Big), \qquad
       \tilde L = \frac{2}{\lambda_\max} L - I, \quad L = I - D^{-1/2} A D^{-1/2} $$

    with the Chebyshev recursion `T_0 = I`, `T_1 = L~`, `T_k = 2 L~ T_{k-1} - T_{k-2}`
    applied to `X` (never forming a matrix power). `K = order` is the number of terms, as
    PyTorch Geometric's and Spektral's `K`: the filter reaches `K - 1` hops (`order=1` is a
    per-node dense layer). Self-loops in `A` are ignored, as in the Laplacian's
    definition; `lambda_max = 2` (the default, PyG's for this normalization) bounds the
    spectrum of `L` without an eigen-decomposition. Padding nodes are neither neighbours
    nor outputs (their rows are exactly zero). Cost O(K B n^2 F_in + K B n F_in units).

    Args:
        units: output features per node.
        order: number of Chebyshev terms `K >= 1`.
        activation: Keras activation (default: none).
        lambda_max: the largest eigenvalue assumed for `L` (scales the spectrum to [-1, 1]).
        use_bias, kernel_initializer, bias_initializer, kernel_regularizer: as `GCNConv`.

    Input shape:
        `[x, adjacency]`: `(batch, nodes, F_in)` and `(batch, nodes, nodes)`.

    Output shape:
        `(batch, nodes, units)`.
    """

    def __init__(self, units, order=3, activation=None, lambda_max=2.0, **kwargs):
        super().__init__(units, activation=activation, **kwargs)
        if int(order) < 1:
            raise ValueError(f"ChebConv needs order >= 1 Chebyshev terms, got order={order}.")
        if not float(lambda_max) > 0:
            raise ValueError(f"ChebConv needs lambda_max > 0, got {lambda_max}.")
        self.order = int(order)
        self.lambda_max = float(lambda_max)

    def build_kernels(self, features):
        self.kernel_weights = self.kernel("kernel", (self.order, features, self.units))

    def propagate(self, x, adjacency, real):
        laplacian = scaled_laplacian(adjacency, real, self.lambda_max)
        previous, current = None, x
        output = ops.matmul(x, self.kernel_weights[0])
        for k in range(1, self.order):
            following = aggregate(laplacian, current)
            if previous is not None:
                following = 2.0 * following - previous
            previous, current = current, following
            output = output + ops.matmul(current, self.kernel_weights[k])
        return output

    def get_config(self):
        return {**super().get_config(), "order": self.order, "lambda_max": self.lambda_max}
