import numpy as np
import pytest
from keras import ops

from grapa.layers import EdgeConv
from tests.layer_harness import run_layer_test


def numpy(t):
    return np.asarray(ops.convert_to_numpy(t), "float64")


def numpy_knn(coordinates, real, k):
    """Each real node's k nearest other real nodes, by sorting distances."""
    neighbours = []
    for g in range(coordinates.shape[0]):
        rows = []
        for i in range(coordinates.shape[1]):
            if not real[g, i]:
                rows.append([])
                continue
            others = [j for j in np.flatnonzero(real[g]) if j != i]
            d = [np.sum((coordinates[g, j] - coordinates[g, i]) ** 2) for j in others]
            rows.append([others[m] for m in np.argsort(d, kind="stable")[:k]])
        neighbours.append(rows)
    return neighbours


def numpy_edgeconv(coordinates, x, kernels, biases, k, aggregation, activation):
    """DGCNN eq. 7-8: the MLP on the concatenated [x_i, x_j - x_i], node by node."""
    real = np.any(coordinates != 0, -1) | np.any(x != 0, -1)
    out = np.zeros((*x.shape[:2], kernels[-1].shape[1]))
    for g, rows in enumerate(numpy_knn(coordinates, real, k)):
        for i, neighbours in enumerate(rows):
            if not neighbours:
                continue
            messages = []
            for j in neighbours:
                h = np.concatenate([x[g, i], x[g, j] - x[g, i]])
                for w, b in zip(kernels, biases):
                    h = activation(h @ w + b)
                messages.append(h)
            out[g, i] = np.mean(messages, 0) if aggregation == "mean" else np.max(messages, 0)
    return out


@pytest.mark.parametrize("aggregation", ["mean", "max"])
def test_edgeconv_harness_fixed_graph(node_features, tmp_path, aggregation):
    coordinates = node_features[..., :2]
    run_layer_test(EdgeConv, {"units": [6, 4], "k": 3, "aggregation": aggregation,
                              "bias_initializer": "ones"},
                   [coordinates, node_features], tmp_path, input_kinds=("nodes", "nodes"))


def test_edgeconv_harness_dynamic_graph(node_features, tmp_path):
    run_layer_test(EdgeConv, {"units": 5, "k": 4, "activation": "tanh"}, node_features, tmp_path)


@pytest.mark.parametrize("aggregation", ["mean", "max"])
@pytest.mark.parametrize("k", [2, 5, 20])
def test_edgeconv_matches_numpy(node_features, aggregation, k):
    coordinates = node_features[..., 1:3]
    layer = EdgeConv((7, 3), k=k, aggregation=aggregation, activation="tanh",
                     bias_initializer="random_normal")
    out = numpy(layer([coordinates, node_features]))
    kernels = [numpy(w) for w in layer.kernels]
    biases = [numpy(b) for b in layer.biases]
    expected = numpy_edgeconv(coordinates, node_features, kernels, biases, k, aggregation,
                              np.tanh)
    np.testing.assert_allclose(out, expected, atol=1e-5, rtol=1e-5)


def test_neighbours_match_numpy_and_skip_padding(node_features):
    x = node_features.copy()
    x[0, 4] = 0.0  # padding inside the node axis
    layer = EdgeConv(3, k=4)
    indices, valid = (np.asarray(ops.convert_to_numpy(t)) for t in layer.neighbour_indices(x))
    real = np.any(x != 0, -1)
    expected = numpy_knn(x, real, 4)
    for g in range(x.shape[0]):
        for i in range(x.shape[1]):
            assert list(indices[g, i][valid[g, i]]) == expected[g][i]
    assert valid[2, :3].sum(-1).tolist() == [2, 2, 2]  # 3 real nodes: 2 neighbours each
    assert 4 not in indices[0][valid[0]]


def test_isolated_node_and_padding_output_zero():
    """One real node alone: no neighbour, so its aggregate is 0 even with biases."""
    x = np.zeros((1, 4, 2), "float32")
    x[0, 1] = [1.0, 2.0]
    out = numpy(EdgeConv(3, k=2, bias_initializer="ones")(x))
    np.testing.assert_array_equal(out, 0.0)


def test_rejects_bad_arguments(node_features):
    with pytest.raises(ValueError, match="aggregation"):
        EdgeConv(3, aggregation="sum")
    with pytest.raises(ValueError, match="k >= 1"):
        EdgeConv(3, k=0)
    with pytest.raises(ValueError, match="nodes"):
        EdgeConv(3)([node_features[:, :5], node_features])


def test_edgeconv_harness_batch_norm(node_features, tmp_path):
    run_layer_test(EdgeConv, {"units": [6, 4], "k": 3, "batch_norm": True, "momentum": 0.5},
                   [node_features[..., :2], node_features], tmp_path,
                   input_kinds=("nodes", "nodes"))


def test_edgeconv_batch_norm_matches_numpy_over_the_real_edges(node_features):
    """Training mode: each dense layer of h normalized with the mean and variance of its
    outputs over the batch's real edges only (padding and empty neighbour slots left out),
    then ReLU; inference mode uses the moving averages that one step moved."""
    x = node_features.copy()
    x[0, 4] = 0.0  # padding inside the node axis
    coordinates = x[..., :2]
    layer = EdgeConv((5, 3), k=3, batch_norm=True, momentum=0.5)
    out = numpy(layer([coordinates, x], training=True))
    assert layer.biases == []
    kernels = [numpy(w) for w in layer.kernels]
    real = np.any(x != 0, -1)
    edges = [(g, i, j) for g, rows in enumerate(numpy_knn(coordinates, real, 3))
             for i, neighbours in enumerate(rows) for j in neighbours]
    h = np.array([np.concatenate([x[g, i], x[g, j] - x[g, i]]) for g, i, j in edges])
    means, variances = [], []
    for w in kernels:
        h = h @ w
        means.append(h.mean(0))
        variances.append(h.var(0))
        h = np.maximum((h - means[-1]) / np.sqrt(variances[-1] + 1e-3), 0.0)
    expected = np.zeros(out.shape)
    for g in range(x.shape[0]):
        for i in range(x.shape[1]):
            rows = [m for m, (gg, ii, _) in enumerate(edges) if (gg, ii) == (g, i)]
            if rows:
                expected[g, i] = h[rows].mean(0)
    np.testing.assert_allclose(out, expected, atol=1e-5, rtol=1e-4)
    for norm, mean, variance in zip(layer.batch_norms, means, variances):
        np.testing.assert_allclose(numpy(norm.moving_mean), 0.5 * mean, atol=1e-5)
        np.testing.assert_allclose(numpy(norm.moving_variance), 0.5 + 0.5 * variance,
                                   atol=1e-5, rtol=1e-4)
