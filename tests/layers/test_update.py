import numpy as np
import pytest
from keras import ops

from grapa.layers import GraphUpdate
from tests.conftest import random_adjacency
from tests.layer_harness import run_layer_test


def numpy_graph_update(x, a, s, n, aggregation="sum", activation=lambda v: v, bias=None):
    """x_i' = act(x_i S + sum_j Ahat_ij x_j N), node by node."""
    batch, nodes, _ = x.shape
    out = np.zeros((batch, nodes, s.shape[1]), "float64")
    for b in range(batch):
        for i in range(nodes):
            weights = a[b, i]
            if aggregation == "mean" and weights.sum() > 0:
                weights = weights / weights.sum()
            neighbours = sum(weights[j] * x[b, j] for j in range(nodes))
            value = x[b, i] @ s + neighbours @ n
            if bias is not None:
                value = value + bias
            real = np.any(x[b, i] != 0) or np.any(a[b, i] != 0)
            out[b, i] = activation(value) if real else 0.0
    return out


@pytest.mark.parametrize("aggregation", ["sum", "mean"])
@pytest.mark.parametrize("units", [3, 9])
def test_graph_update_harness(node_features, adjacency, tmp_path, aggregation, units):
    run_layer_test(
        GraphUpdate, {"units": units, "activation": "relu", "aggregation": aggregation},
        [node_features, adjacency], tmp_path,
        input_kinds=("nodes", "adjacency"),
    )


@pytest.mark.parametrize("aggregation", ["sum", "mean"])
@pytest.mark.parametrize("units", [2, 7])
@pytest.mark.parametrize("use_bias", [False, True])
def test_graph_update_matches_node_loop(node_features, aggregation, units, use_bias):
    a = random_adjacency(node_features, seed=4, weighted=True)
    layer = GraphUpdate(units, activation="tanh", aggregation=aggregation, use_bias=use_bias,
                        bias_initializer="random_normal")
    out = np.asarray(ops.convert_to_numpy(layer([node_features, a])))
    s, n = np.asarray(layer.self_kernel.value), np.asarray(layer.neighbour_kernel.value)
    bias = np.asarray(layer.bias.value) if use_bias else None
    expected = numpy_graph_update(node_features, a, s, n, aggregation, np.tanh, bias)
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5)


def test_padding_stays_zero_with_sigmoid_and_bias(node_features, adjacency):
    out = np.asarray(ops.convert_to_numpy(
        GraphUpdate(4, activation="sigmoid", use_bias=True)([node_features, adjacency])))
    np.testing.assert_array_equal(out[2, 3:], 0)
    assert np.all(out[2, :3] > 0)


def test_no_bias_by_default(node_features, adjacency):
    layer = GraphUpdate(4)
    layer([node_features, adjacency])
    assert [w.path.split("/")[-1] for w in layer.weights] == ["self_kernel", "neighbour_kernel"]


def test_rejects_mismatched_inputs(node_features):
    with pytest.raises(ValueError, match="adjacency"):
        GraphUpdate(3)([node_features, np.ones((3, 5, 5), "float32")])
    with pytest.raises(ValueError, match=r"\[x, adjacency\]"):
        GraphUpdate(3)(node_features)
    with pytest.raises(ValueError, match="aggregation"):
        GraphUpdate(3, aggregation="max")


@pytest.mark.parametrize("nodes, features", [(4, 4), (3, 16), (4, 17), (5, 4)])
@pytest.mark.parametrize("aggregation", ["sum", "mean"])
def test_small_and_large_graph_products_match_node_loop(nodes, features, aggregation):
    """Up to 4 nodes and 16 features `A x` is summed elementwise, above by a dot:
    both paths (and their edges: 4 x 16, 4 x 17, 5 x 4) give the node loop's values."""
    x = np.random.default_rng(nodes).normal(size=(3, nodes, features)).astype("float32")
    x[1, -1] = 0  # a padding node
    a = random_adjacency(x, seed=nodes, weighted=True)
    layer = GraphUpdate(features, activation="relu", aggregation=aggregation)
    out = np.asarray(ops.convert_to_numpy(layer([x, a])))
    s, n = np.asarray(layer.self_kernel.value), np.asarray(layer.neighbour_kernel.value)
    expected = numpy_graph_update(x, a, s, n, aggregation, lambda v: np.maximum(v, 0))
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5)
