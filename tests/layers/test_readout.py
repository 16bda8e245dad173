import numpy as np
import pytest
from keras import ops

from grapa.layers import GlobalPooling, SoftPooling
from tests.conftest import random_adjacency
from tests.layer_harness import run_layer_test
from tests.layers.test_conv import numpy_gcn


def numpy(t):
    return np.asarray(ops.convert_to_numpy(t), "float64")


@pytest.mark.parametrize("mode", ["sum", "mean", "max"])
def test_global_pooling_harness(node_features, tmp_path, mode):
    run_layer_test(GlobalPooling, {"mode": mode}, node_features, tmp_path,
                   permutation="invariant", output_kinds=("pooled",))


@pytest.mark.parametrize("mode, reduce", [("sum", np.sum), ("mean", np.mean), ("max", np.max)])
def test_global_pooling_matches_numpy(node_features, mode, reduce):
    out = numpy(GlobalPooling(mode)(node_features))
    for g, x in enumerate(node_features):
        np.testing.assert_allclose(out[g], reduce(x[np.any(x != 0, -1)], axis=0), atol=1e-6)


def test_global_pooling_counts_zero_real_nodes_given_a_mask(node_features):
    """After a ReLU a real node may be all zero: the second input still counts it."""
    h = np.maximum(node_features, 0.0)
    h[0, 5] = 0.0
    out = numpy(GlobalPooling("mean")([h, node_features]))
    np.testing.assert_allclose(out[0], h[0].mean(axis=0), atol=1e-6)
    np.testing.assert_allclose(numpy(GlobalPooling("max")(np.zeros((1, 3, 2))))[0], 0.0)


def test_soft_pooling_harness(node_features, adjacency, tmp_path):
    run_layer_test(SoftPooling, {"nodes": 3, "bias_initializer": "ones"},
                   [node_features, adjacency], tmp_path, input_kinds=("nodes", "adjacency"),
                   output_kinds=("pooled", "pooled"), permutation="invariant")


def test_soft_pooling_matches_numpy(node_features):
    a = random_adjacency(node_features, seed=9, weighted=True)
    layer = SoftPooling(4, bias_initializer="random_normal")
    pooled, pooled_adjacency = (numpy(t) for t in layer([node_features, a]))
    logits = numpy_gcn(node_features, a, numpy(layer.kernel), numpy(layer.bias))
    for g in range(node_features.shape[0]):
        real = np.any(node_features[g] != 0, -1) | np.any(a[g] != 0, -1)
        s = np.exp(logits[g] - logits[g].max(-1, keepdims=True))
        s = s / s.sum(-1, keepdims=True) * real[:, None]
        np.testing.assert_allclose(pooled[g], s.T @ node_features[g], atol=1e-5, rtol=1e-5)
        np.testing.assert_allclose(pooled_adjacency[g], s.T @ a[g] @ s, atol=1e-5, rtol=1e-5)
        # each real node's weight is shared out over the super-nodes
        np.testing.assert_allclose(s.sum(), real.sum(), atol=1e-5)
