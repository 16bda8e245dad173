"""Node-level helpers shared by grapa's layers: the padding mask, stable sorting, gathers.

A node whose feature vector is all zero is padding (SPEC §2). Every layer finds the real
nodes with :func:`node_mask`, so the rule lives in one place.
"""

from __future__ import annotations

from keras import ops


def node_mask(x):
    """Real-node mask: True where a node's feature vector is not all zero.

    Args:
        x: tensor `(batch, nodes, features)`.

    Returns:
        bool tensor `(batch, nodes)`.
    """
    return ops.any(ops.not_equal(x, 0), axis=-1)


def graph_node_mask(x, adjacency):
    """Real-node mask of a graph: features not all zero, or an edge in the node's row.

    A real node may have all-zero features (after a ReLU, or a zero-intensity pixel); its
    edges still mark it real. Padding has neither.

    Args:
        x: tensor `(batch, nodes, features)`.
        adjacency: tensor `(batch, nodes, nodes)`.

    Returns:
        bool tensor `(batch, nodes)`.
    """
    return ops.logical_or(node_mask(x), ops.any(ops.not_equal(adjacency, 0), axis=-1))


def pair_mask(real):
    """`(batch, n, n)` bool: both nodes real."""
    return ops.logical_and(ops.expand_dims(real, 2), ops.expand_dims(real, 1))


def stable_sort_order(key, real):
    """Indices that sort nodes by `key` ascending, stably, with padding nodes last.

    The order is computed from exact pairwise comparisons (O(n^2) per jet), which is
    stable on every backend (TensorFlow's argsort is not) and cheap at jet sizes.

    Args:
        key: float tensor `(batch, nodes)`.
        real: bool tensor `(batch, nodes)`.

    Returns:
        int32 tensor `(batch, nodes)`: `order[b, r]` is the node placed at rank `r`.
    """
    n = key.shape[-1]
    key_j, key_i = ops.expand_dims(key, 1), ops.expand_dims(key, 2)
    real_j, real_i = ops.expand_dims(real, 1), ops.expand_dims(real, 2)
    index = ops.arange(n)
    j_first = ops.expand_dims(index, 0) < ops.expand_dims(index, 1)  # [i, j]: j < i
    both_real = ops.logical_and(real_i, real_j)
    smaller = ops.logical_or(
        ops.logical_and(real_j, ops.logical_not(real_i)),
        ops.logical_and(both_real, key_j < key_i),
    )
    same = ops.logical_or(
        ops.logical_and(both_real, ops.equal(key_j, key_i)),
        ops.logical_and(ops.logical_not(real_i), ops.logical_not(real_j)),
    )
    before = ops.logical_or(smaller, ops.logical_and(same, j_first))
    rank = ops.sum(ops.cast(before, "int32"), axis=-1)  # [b, i]: nodes placed before i
    # Ranks are distinct, so any argsort inverts them exactly.
    return ops.cast(ops.argsort(rank, axis=-1), "int32")


def gather_nodes(x, order):
    """Reorder the nodes of `x` `(batch, nodes, ...)` by `order` `(batch, nodes)`."""
    index = order
    for _ in range(len(x.shape) - 2):
        index = ops.expand_dims(index, -1)
    return ops.take_along_axis(x, index, axis=1)


def gather_adjacency(adjacency, order):
    """Reorder rows and columns of `adjacency` `(batch, n, n)` by `order`."""
    rows = gather_nodes(adjacency, order)
    return ops.take_along_axis(rows, ops.expand_dims(order, 1), axis=2)


def static_nodes(shape, layer_name):
    """The static node count of an input shape, or a clear error."""
    n = shape[1]
    if n is None:
        raise ValueError(
            f"{layer_name} needs a fixed number of nodes, got input shape {tuple(shape)}. "
            "Give the node axis a size, e.g. keras.Input(shape=(16, 4))."
        )
    return int(n)


def split_graph_input_shape(input_shape, layer_name):
    """`[x_shape, adjacency_shape]` checked for a layer called as `layer([x, adjacency])`."""
    if not (isinstance(input_shape, (list, tuple)) and len(input_shape) == 2
            and isinstance(input_shape[0], (list, tuple))):
        raise ValueError(
            f"{layer_name} takes [x, adjacency], shapes (batch, nodes, features) and "
            f"(batch, nodes, nodes); got input shape {input_shape}. Call it as "
            f"{layer_name}(units)([x, adjacency])."
        )
    x_shape, adjacency_shape = (tuple(s) for s in input_shape)
    if len(x_shape) != 3 or len(adjacency_shape) != 3:
        raise ValueError(
            f"{layer_name} expects x (batch, nodes, features) and adjacency (batch, nodes, nodes), "
            f"got {x_shape} and {adjacency_shape}."
        )
    if None not in (x_shape[1], adjacency_shape[1], adjacency_shape[2]) and not (
        x_shape[1] == adjacency_shape[1] == adjacency_shape[2]
    ):
        raise ValueError(
            f"{layer_name}: x has {x_shape[1]} nodes but the adjacency is "
            f"{adjacency_shape[1]} x {adjacency_shape[2]}; build the graph from the same nodes."
        )
    return x_shape, adjacency_shape
