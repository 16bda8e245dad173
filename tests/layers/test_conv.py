import numpy as np
import pytest
from keras import ops

from grapa.layers import ChebConv, GCNConv
from tests.conftest import random_adjacency
from tests.layer_harness import check_locality, run_layer_test


def numpy(t):
    return np.asarray(ops.convert_to_numpy(t), "float64")


def real_nodes(x, a):
    return np.any(x != 0, axis=-1) | np.any(a != 0, axis=-1)


def numpy_gcn(x, a, w, b, self_loops=True):
    """Kipf & Welling eq. 2 graph by graph, on the real nodes only."""
    out = np.zeros((*x.shape[:2], w.shape[1]))
    for g in range(x.shape[0]):
        real = np.flatnonzero(real_nodes(x[g], a[g]))
        sub = a[g][np.ix_(real, real)].astype("float64")
        if self_loops:
            diagonal = np.diag(sub).copy()
            sub = sub + np.diag(np.where(diagonal == 0, 1.0, 0.0))
        degree = sub.sum(axis=1)
        d = np.where(degree > 0, 1 / np.sqrt(np.where(degree > 0, degree, 1)), 0)
        out[g, real] = (d[:, None] * sub * d[None, :]) @ x[g, real] @ w + b
    return out


def numpy_cheb(x, a, kernels, b, lambda_max=2.0):
    """Defferrard et al. eq. 4 with explicit Chebyshev matrices T_k(L~) on the real nodes."""
    out = np.zeros((*x.shape[:2], kernels.shape[-1]))
    for g in range(x.shape[0]):
        real = np.flatnonzero(real_nodes(x[g], a[g]))
        sub = a[g][np.ix_(real, real)].astype("float64")
        np.fill_diagonal(sub, 0)
        degree = sub.sum(axis=1)
        d = np.where(degree > 0, 1 / np.sqrt(np.where(degree > 0, degree, 1)), 0)
        eye = np.eye(len(real))
        laplacian = eye - d[:, None] * sub * d[None, :]
        scaled = 2 * laplacian / lambda_max - eye
        chebyshev = [eye, scaled]
        while len(chebyshev) < len(kernels):
            chebyshev.append(2 * scaled @ chebyshev[-1] - chebyshev[-2])
        out[g, real] = sum(t @ x[g, real] @ k for t, k in zip(chebyshev, kernels)) + b
    return out


def path_graph(x):
    """Each real node linked to the next real one (both ways): few nodes within reach."""
    a = np.zeros(x.shape[:2] + (x.shape[1],), "float32")
    for g in range(x.shape[0]):
        real = np.flatnonzero(np.any(x[g] != 0, axis=-1))
        a[g, real[:-1], real[1:]] = a[g, real[1:], real[:-1]] = 1.0
    return a


@pytest.mark.parametrize("self_loops", [True, False])
def test_gcn_harness(node_features, adjacency, tmp_path, self_loops):
    run_layer_test(GCNConv, {"units": 4, "activation": "relu", "self_loops": self_loops,
                             "bias_initializer": "ones"},
                   [node_features, adjacency], tmp_path, input_kinds=("nodes", "adjacency"))


@pytest.mark.parametrize("order", [1, 3])
def test_cheb_harness(node_features, adjacency, tmp_path, order):
    run_layer_test(ChebConv, {"units": 3, "order": order, "activation": "tanh",
                              "bias_initializer": "ones"},
                   [node_features, adjacency], tmp_path, input_kinds=("nodes", "adjacency"))


@pytest.mark.parametrize("self_loops", [True, False])
def test_gcn_matches_numpy(node_features, self_loops):
    a = random_adjacency(node_features, seed=2, weighted=True)
    a[0, 2, 2] = 0.0  # one real node without a self-loop in A, one with weight != 1
    a[0, 3, 3] = 2.5
    layer = GCNConv(5, self_loops=self_loops, bias_initializer="random_normal")
    out = numpy(layer([node_features, a]))
    expected = numpy_gcn(node_features, a, numpy(layer.kernel_weights), numpy(layer.bias),
                         self_loops)
    np.testing.assert_allclose(out, expected, atol=1e-5, rtol=1e-5)


def test_gcn_by_hand():
    """Two real nodes joined by one edge, plus padding: D~ = diag(2, 2), A~/2 averages."""
    x = np.array([[[1.0, 0.0], [0.0, 2.0], [0.0, 0.0]]], "float32")
    a = np.array([[[0, 1, 0], [1, 0, 0], [0, 0, 0]]], "float32")
    layer = GCNConv(2, use_bias=False, kernel_initializer="identity")
    np.testing.assert_allclose(numpy(layer([x, a]))[0], [[0.5, 1.0], [0.5, 1.0], [0, 0]])


@pytest.mark.parametrize("order", [1, 2, 4])
@pytest.mark.parametrize("lambda_max", [2.0, 1.5])
def test_cheb_matches_numpy(node_features, order, lambda_max):
    a = random_adjacency(node_features, seed=3, weighted=True)
    layer = ChebConv(4, order=order, lambda_max=lambda_max, bias_initializer="random_normal")
    out = numpy(layer([node_features, a]))
    expected = numpy_cheb(node_features, a, numpy(layer.kernel_weights), numpy(layer.bias),
                          lambda_max)
    np.testing.assert_allclose(out, expected, atol=1e-5, rtol=1e-5)


def test_cheb_order_two_by_hand():
    """Path 0-1 (degree 1 each): L~ = -[[0, 1], [1, 0]], so T_1 x swaps and negates."""
    x = np.array([[[1.0], [3.0]]], "float32")
    a = np.array([[[0, 1], [1, 0]]], "float32")
    layer = ChebConv(1, order=2, use_bias=False, kernel_initializer="ones")
    np.testing.assert_allclose(numpy(layer([x, a]))[0, :, 0], [1 - 3, 3 - 1])


@pytest.mark.parametrize("layer, hops", [
    (GCNConv(3), 1), (GCNConv(3, self_loops=False), 1), (ChebConv(3, order=2), 1),
    (ChebConv(3, order=3), 2),
])
def test_conv_sees_only_its_neighbourhood(node_features, layer, hops):
    check_locality(layer, node_features, path_graph(node_features), hops)


def test_padding_rows_zero_with_bias_anywhere(node_features, adjacency):
    x = node_features.copy()
    x[0, 2] = 0.0  # padding in the middle of a graph
    a = random_adjacency(x, seed=5)
    for layer in (GCNConv(3, activation="sigmoid", bias_initializer="ones"),
                  ChebConv(3, activation="sigmoid", bias_initializer="ones")):
        out = numpy(layer([x, a]))
        assert np.all(out[0, 2] == 0) and np.all(out[2, 3:] == 0)
        assert np.all(out[0, [0, 1, 3]] > 0)


def test_rejects_bad_arguments(node_features):
    with pytest.raises(ValueError, match="order"):
        ChebConv(3, order=0)
    with pytest.raises(ValueError, match=r"\[x, adjacency\]"):
        GCNConv(3)(node_features)
    with pytest.raises(ValueError, match="adjacency"):
        ChebConv(3)([node_features, np.ones((3, 5, 5), "float32")])
