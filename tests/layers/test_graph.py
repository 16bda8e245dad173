import numpy as np
import pytest
from keras import ops

from grapa.layers import FullyConnectedGraph, JetFeatures, TopKGraph
from tests.layer_harness import run_layer_test, weight_gradients


def brute_force_topk(x, k, metric, self_loops=True):
    """Explicit loops: row i connects to every real j with fewer than k strictly closer."""
    batch, n, _ = x.shape
    adjacency = np.zeros((batch, n, n), "float32")
    for b in range(batch):
        real = [i for i in range(n) if np.any(x[b, i] != 0)]
        for i in real:
            candidates = [j for j in real if self_loops or j != i]
            d = {j: float(np.sum(metric * (x[b, i] - x[b, j]) ** 2)) for j in candidates}
            for j in candidates:
                closer = sum(1 for other in candidates if d[other] < d[j])
                if closer < k:
                    adjacency[b, i, j] = 1.0
    return adjacency


def to_numpy(t):
    return [np.asarray(ops.convert_to_numpy(v)) for v in t] if isinstance(t, list) else np.asarray(ops.convert_to_numpy(t))


@pytest.mark.parametrize("edge_weights", ["binary", "gaussian"])
def test_topk_harness(node_features, tmp_path, edge_weights):
    run_layer_test(
        TopKGraph, {"k": 3, "edge_weights": edge_weights}, node_features, tmp_path,
        output_kinds=("adjacency",),
        zero_gradient_weights=("metric",) if edge_weights == "binary" else (),
        expect_training_changes_weights=edge_weights == "gaussian",
    )


def test_topk_extra_features_harness(node_features, tmp_path):
    run_layer_test(
        TopKGraph, {"k": 2, "extra_features": 2, "self_loops": False}, node_features, tmp_path,
        output_kinds=("nodes", "adjacency"), zero_gradient_weights=("metric",),
        expect_training_changes_weights=False,
    )


@pytest.mark.parametrize("k", [1, 2, 3, 5, 8, 20])
@pytest.mark.parametrize("self_loops", [True, False])
def test_topk_matches_brute_force(node_features, k, self_loops):
    metric = np.array([1.0, 0.5, 2.0, -0.3, 1.0], "float32")  # a negative weight included
    layer = TopKGraph(k, self_loops=self_loops)
    layer.build(node_features.shape)
    layer.metric.assign(metric)
    expected = brute_force_topk(node_features, k, metric, self_loops)
    np.testing.assert_array_equal(to_numpy(layer(node_features)), expected)


@pytest.mark.parametrize("k", [3, 8, 9, 12])
def test_topk_both_selection_paths_match_brute_force(k):
    # 24 nodes, 4 padding, two duplicated nodes (an exact tie): k <= 8 selects by rounds
    # of argmin, k > 8 by top_k.
    x = np.random.default_rng(5).normal(size=(4, 24, 3)).astype("float32")
    x[:, 20:] = 0
    x[:, 7] = x[:, 3]
    expected = brute_force_topk(x, k, np.ones(3))
    np.testing.assert_array_equal(to_numpy(TopKGraph(k)(x)), expected)
    assert np.all(expected[:, 3, 7] == 1) and np.all(expected[:, 7, 3] == 1)


def test_topk_ties_connect_every_tied_node():
    # Node 0 at the origin-ish; nodes 1, 2, 3 all at distance 1 from it: k=2 (self + one)
    # must connect all three tied neighbours.
    x = np.array([[[1, 0, 0], [1, 1, 0], [1, -1, 0], [1, 0, 1], [1, 5, 5], [0, 0, 0]]], "float32")
    a = to_numpy(TopKGraph(2)(x))[0]
    np.testing.assert_array_equal(a[0], [1, 1, 1, 1, 0, 0])
    np.testing.assert_array_equal(a, brute_force_topk(x, 2, np.ones(3))[0])
    assert not np.array_equal(a, a.T)  # directed: node 4's nearest don't choose it back
    np.testing.assert_array_equal(a[5], 0)
    np.testing.assert_array_equal(a[:, 5], 0)


def test_topk_gaussian_weights_and_metric_gradient(node_features):
    metric = np.array([0.5, 1.0, 0.1, 0.2, 0.3], "float32")
    layer = TopKGraph(3, edge_weights="gaussian")
    layer.build(node_features.shape)
    layer.metric.assign(metric)
    a = to_numpy(layer(node_features))
    mask = brute_force_topk(node_features, 3, metric)
    d = np.sum(metric * (node_features[:, :, None] - node_features[:, None]) ** 2, axis=-1)
    np.testing.assert_allclose(a, mask * np.exp(-d), rtol=1e-5, atol=1e-7)
    grad = weight_gradients(layer, [node_features])["metric"]
    assert np.all(np.isfinite(grad)) and np.all(grad != 0)


def test_k_at_least_real_nodes_is_fully_connected(node_features):
    a = to_numpy(TopKGraph(8)(node_features))
    np.testing.assert_array_equal(a, to_numpy(FullyConnectedGraph()(node_features)))


def test_topk_rejects_bad_arguments():
    with pytest.raises(ValueError, match="k >= 1"):
        TopKGraph(0)
    with pytest.raises(ValueError, match="edge_weights"):
        TopKGraph(2, edge_weights="soft")


def test_topk_on_jet_features_leaves_padding_out(jets):
    a = to_numpy(TopKGraph(4)(JetFeatures()(jets)))
    real = np.any(jets != 0, axis=-1)
    assert np.all(a[~real[:, :, None].repeat(8, 2)] == 0)
    assert np.all(a.transpose(0, 2, 1)[~real[:, :, None].repeat(8, 2)] == 0)
    np.testing.assert_array_equal(a.sum(-1)[real] >= np.minimum(4, real.sum(1, keepdims=True).repeat(8, 1)[real]), True)


@pytest.mark.parametrize("self_loops", [True, False])
def test_fully_connected(node_features, tmp_path, self_loops):
    run_layer_test(FullyConnectedGraph, {"self_loops": self_loops}, node_features, tmp_path,
                   output_kinds=("adjacency",))
    real = np.any(node_features != 0, axis=-1).astype("float32")
    expected = real[:, :, None] * real[:, None, :]
    if not self_loops:
        expected = expected * (1 - np.eye(8))
    np.testing.assert_array_equal(to_numpy(FullyConnectedGraph(self_loops)(node_features)), expected)


@pytest.mark.parametrize("nodes", [3, 4, 5])
def test_topk_distances_small_and_large_graphs(nodes):
    """Up to 4 nodes the distances are summed from differences, above through a matmul;
    both give the brute-force graph and the gaussian weights exp(-d)."""
    x = np.random.default_rng(nodes).normal(size=(2, nodes, 3)).astype("float32")
    x[1, -1] = 0
    metric = np.array([0.5, 1.5, 0.2], "float32")
    layer = TopKGraph(2, edge_weights="gaussian")
    layer.build(x.shape)
    layer.metric.assign(metric)
    d = np.sum(metric * (x[:, :, None] - x[:, None]) ** 2, axis=-1)
    np.testing.assert_allclose(to_numpy(layer(x)), brute_force_topk(x, 2, metric) * np.exp(-d),
                               rtol=1e-5, atol=1e-6)
