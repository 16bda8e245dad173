import numpy as np
import pytest
from keras import ops

from grapa.layers import GraphAttention
from tests.conftest import random_adjacency
from tests.layer_harness import check_locality, run_layer_test
from tests.layers.test_conv import path_graph


def numpy(t):
    return np.asarray(ops.convert_to_numpy(t), "float64")


def numpy_gatv2(x, a, source_w, target_w, attention, bias, heads, concat, self_loops,
                slope=0.2):
    """Brody et al. eq. 7, node by node and head by head."""
    units = attention.shape[1]
    real = np.any(x != 0, -1) | np.any(a != 0, -1)
    out = np.zeros((*x.shape[:2], heads * units if concat else units))
    for g in range(x.shape[0]):
        for i in np.flatnonzero(real[g]):
            neighbours = [j for j in range(x.shape[1])
                          if real[g, j] and (a[g, i, j] != 0 or (self_loops and i == j))]
            per_head = []
            for h in range(heads):
                ws, wt = source_w[:, h * units:(h + 1) * units], target_w[:, h * units:(h + 1) * units]
                scores = []
                for j in neighbours:
                    z = x[g, i] @ wt + x[g, j] @ ws
                    scores.append(attention[h] @ np.where(z > 0, z, slope * z))
                alpha = np.exp(np.array(scores) - max(scores))
                alpha /= alpha.sum()
                per_head.append(sum(al * (x[g, j] @ ws) for al, j in zip(alpha, neighbours)))
            out[g, i] = (np.concatenate(per_head) if concat else np.mean(per_head, 0)) + bias
    return out


@pytest.mark.parametrize("heads, concat", [(1, True), (3, True), (2, False)])
def test_attention_harness(node_features, adjacency, tmp_path, heads, concat):
    run_layer_test(GraphAttention, {"units": 4, "heads": heads, "concat": concat,
                                    "activation": "elu", "bias_initializer": "ones"},
                   [node_features, adjacency], tmp_path, input_kinds=("nodes", "adjacency"))


@pytest.mark.parametrize("heads, concat", [(1, True), (3, True), (2, False)])
@pytest.mark.parametrize("self_loops", [True, False])
def test_attention_matches_numpy(node_features, heads, concat, self_loops):
    a = random_adjacency(node_features, seed=8, weighted=True)
    a[0, 1, 1] = 0.0  # a real node that does not list itself
    layer = GraphAttention(3, heads=heads, concat=concat, self_loops=self_loops,
                           bias_initializer="random_normal")
    out = numpy(layer([node_features, a]))
    expected = numpy_gatv2(node_features, a, numpy(layer.source_kernel),
                           numpy(layer.target_kernel), numpy(layer.attention_kernel),
                           numpy(layer.bias), heads, concat, self_loops)
    np.testing.assert_allclose(out, expected, atol=1e-5, rtol=1e-5)


def test_attention_sees_only_its_neighbourhood(node_features):
    check_locality(GraphAttention(2, heads=2), node_features, path_graph(node_features), 1)


def test_attention_weights_sum_to_one_over_real_edges(node_features, adjacency):
    layer = GraphAttention(2, heads=2)
    layer([node_features, adjacency])
    from grapa.layers._conv_base import masked_adjacency

    real, a = masked_adjacency(node_features, adjacency)
    alpha, _ = layer.attention(ops.convert_to_tensor(node_features), a, real)
    alpha = numpy(alpha)
    real = numpy(real).astype(bool)
    np.testing.assert_allclose(alpha.sum(axis=2)[real], 1.0, atol=1e-6)
    assert np.all(alpha[~real] == 0) and np.all(alpha[:, :, ~real[0]][0] == 0)
