import numpy as np
import pytest
from keras import ops

from grapa.layers import (
    Compress,
    CompressGraph,
    Decompress,
    FullyConnectedGraph,
    GraphLikeDecompress,
    ParamLikeDecompress,
)
from tests.conftest import random_adjacency
from tests.layer_harness import run_layer_test


def to_numpy(t):
    if isinstance(t, (list, tuple)):
        return [np.asarray(ops.convert_to_numpy(v)) for v in t]
    return np.asarray(ops.convert_to_numpy(t))


def test_compress_harness(node_features, tmp_path):
    run_layer_test(Compress, {"factor": 4, "units": 6}, node_features, tmp_path,
                   permutation="invariant", padding_nodes=4)


def test_compress_groups_a_hand_built_order():
    # Last feature orders nodes as 2, 0, 3, 1: groups {2, 0} and {3, 1}.
    x = np.array([[[1, 1, 0.5], [2, 2, 0.9], [3, 3, 0.1], [4, 4, 0.7]]], "float32")
    layer = Compress(factor=2, units=5)
    out = to_numpy(layer(x))[0]
    w = np.asarray(layer.kernel.value)
    np.testing.assert_allclose(out[0], np.concatenate([x[0, 2], x[0, 0]]) @ w, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(out[1], np.concatenate([x[0, 3], x[0, 1]]) @ w, rtol=1e-5, atol=1e-6)


def test_compress_puts_padding_in_the_last_groups():
    x = np.array([[[1, -0.5], [0, 0], [2, 0.5], [0, 0]]], "float32")  # padding key 0 is mid
    layer = Compress(factor=2, units=3)
    out = to_numpy(layer(x))[0]
    w = np.asarray(layer.kernel.value)
    np.testing.assert_allclose(out[0], np.concatenate([x[0, 0], x[0, 2]]) @ w, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(out[1], 0)


def test_compress_rejects_factor_not_dividing_nodes(node_features):
    with pytest.raises(ValueError, match="divide"):
        Compress(3, 4)(node_features)


@pytest.mark.parametrize("reduction", ["mean", "max", "min"])
@pytest.mark.parametrize("round_graph", [False, True])
def test_compress_graph_harness_and_blocks(node_features, tmp_path, reduction, round_graph):
    a = random_adjacency(node_features, seed=2, weighted=True)
    kwargs = {"factor": 2, "units": 3, "reduction": reduction, "round_graph": round_graph}
    run_layer_test(CompressGraph, kwargs, [node_features, a], tmp_path,
                   input_kinds=("nodes", "adjacency"), output_kinds=("nodes", "adjacency"),
                   permutation="invariant", padding_nodes=2)
    _, compressed = to_numpy(CompressGraph(**kwargs)([node_features, a]))
    reduce = {"mean": np.mean, "max": np.max, "min": np.min}[reduction]
    for b in range(3):
        real = np.any(node_features[b] != 0, axis=-1)
        keys = np.where(real, node_features[b, :, -1], np.inf)
        order = np.argsort(keys, kind="stable")
        sorted_a = a[b][order][:, order]
        expected = np.array([[reduce(sorted_a[2 * g:2 * g + 2, 2 * h:2 * h + 2])
                              for h in range(4)] for g in range(4)])
        if round_graph:
            expected = (expected >= 0.5).astype("float32")
        np.testing.assert_allclose(compressed[b], expected, rtol=1e-6)


def test_decompress_harness(node_features, adjacency, tmp_path):
    run_layer_test(Decompress, {"factor": 3, "units": 4}, [node_features, adjacency], tmp_path,
                   input_kinds=("nodes", "adjacency"), output_kinds=("nodes", "adjacency"),
                   expansion=3, padding_nodes=2)


def test_decompress_graph_is_kron_and_features_are_the_dense_map(node_features, adjacency):
    layer = Decompress(factor=3, units=4, graph_initializer="random_normal")
    x, a = to_numpy(layer([node_features, adjacency]))
    g, w = np.asarray(layer.graph.value), np.asarray(layer.kernel.value)
    for b in range(3):
        np.testing.assert_allclose(a[b], np.kron(adjacency[b], g), rtol=1e-6)
        np.testing.assert_allclose(x[b], (node_features[b] @ w).reshape(24, 4), rtol=1e-5,
                                   atol=1e-6)


def test_decompress_single_latent_node_starts_from_one_node_graph():
    z = np.random.default_rng(0).normal(size=(2, 1, 9)).astype("float32")
    layer = Decompress(factor=4, units=8, graph_initializer="random_normal")
    x, a = to_numpy(layer(z))
    assert x.shape == (2, 4, 8) and a.shape == (2, 4, 4)
    np.testing.assert_allclose(a[0], np.asarray(layer.graph.value), rtol=1e-6)
    # The SPEC's call convention, with the fully connected graph given explicitly:
    x2, a2 = to_numpy(layer([z, FullyConnectedGraph()(z)]))
    np.testing.assert_array_equal(a2, a)


@pytest.mark.parametrize("combine", ["product", "sum"])
def test_graph_like_decompress(node_features, adjacency, tmp_path, combine):
    run_layer_test(GraphLikeDecompress, {"factor": 2, "units": 3, "combine": combine},
                   [node_features, adjacency], tmp_path,
                   input_kinds=("nodes", "adjacency"), output_kinds=("nodes", "adjacency"),
                   expansion=2, padding_nodes=2)
    layer = GraphLikeDecompress(factor=2, units=3, combine=combine)
    _, a = to_numpy(layer([node_features, adjacency]))
    v = np.asarray(layer.graph_kernel.value)
    for b in range(3):
        graphs = [(node_features[b, i] @ v).reshape(2, 2) for i in range(8)]
        for i in range(8):
            for j in range(8):
                if i == j:
                    block = graphs[i]
                elif combine == "product":
                    block = graphs[i] * graphs[j]
                else:
                    block = graphs[i] + graphs[j]
                np.testing.assert_allclose(a[b, 2 * i:2 * i + 2, 2 * j:2 * j + 2],
                                           adjacency[b, i, j] * block, rtol=1e-5, atol=1e-6)


def test_param_like_decompress(node_features, adjacency, tmp_path):
    run_layer_test(ParamLikeDecompress, {"factor": 2, "units": 3}, [node_features, adjacency],
                   tmp_path, input_kinds=("nodes", "adjacency"),
                   output_kinds=("nodes", "adjacency"), expansion=2, padding_nodes=2)
    layer = ParamLikeDecompress(factor=2, units=3)
    _, a = to_numpy(layer([node_features, adjacency]))
    u = np.asarray(layer.graph_kernel.value)
    for b in range(3):
        for i in range(8):
            for j in range(8):
                pair = np.concatenate([node_features[b, i], node_features[b, j]])
                np.testing.assert_allclose(a[b, 2 * i:2 * i + 2, 2 * j:2 * j + 2],
                                           adjacency[b, i, j] * (pair @ u).reshape(2, 2),
                                           rtol=1e-5, atol=1e-6)
