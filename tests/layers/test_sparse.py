"""Edge-list layers: the generic harness, and the maths against a numpy transcription."""

import keras
import numpy as np
import pytest
from keras import ops

from grapa.layers.sparse import EdgeEnds, InteractionNetwork, scatter
from tests.layer_harness import run_layer_test


def _graph(batch=2, n_nodes=7, n_edges=10, width=4, edge_width=4, seed=0):
    rng = np.random.default_rng(seed)
    nodes = rng.normal(size=(batch, n_nodes, width)).astype("float32")
    edges = np.stack([rng.choice(n_nodes, size=(n_edges, 2), replace=True)
                      for _ in range(batch)]).astype("int32")
    edges[1, -3:] = -1  # the second graph is smaller: three padding edges
    edge_features = rng.normal(size=(batch, n_edges, edge_width)).astype("float32")
    edge_features[1, -3:] = 0
    return nodes, edges, edge_features


def test_edge_ends_harness(tmp_path):
    nodes, edges, _ = _graph()
    run_layer_test(EdgeEnds, {}, [nodes, edges], tmp_path, input_kinds=("nodes", "edges"),
                   output_kinds=("edge_features",))


def test_edge_ends_gathers_source_then_target():
    nodes, edges, _ = _graph()
    out = ops.convert_to_numpy(EdgeEnds()([nodes, edges]))
    for b in range(2):
        for e, (i, j) in enumerate(edges[b]):
            expected = (np.zeros(8) if i < 0 else np.concatenate([nodes[b, i], nodes[b, j]]))
            np.testing.assert_allclose(out[b, e], expected, atol=1e-6)


@pytest.mark.parametrize("aggregation, residual", [("sum", True), ("mean", False), ("max", True)])
def test_interaction_network_harness(tmp_path, aggregation, residual):
    nodes, edges, edge_features = _graph()
    run_layer_test(InteractionNetwork,
                   {"units": 4, "aggregation": aggregation, "residual": residual},
                   [nodes, edges, edge_features], tmp_path,
                   input_kinds=("nodes", "edges", "edge_features"),
                   output_kinds=("nodes", "edge_features"))


def _dense_stack(stack, x):
    """numpy: Dense layers (relu between) then LayerNorm, from the layer's weights."""
    for layer in stack:
        if isinstance(layer, keras.layers.Dense):
            kernel, bias = (np.asarray(w) for w in layer.get_weights())
            x = x @ kernel + bias
            if layer.activation is keras.activations.relu:
                x = np.maximum(x, 0)
        else:
            gamma, beta = (np.asarray(w) for w in layer.get_weights())
            mean, var = x.mean(-1, keepdims=True), x.var(-1, keepdims=True)
            x = (x - mean) / np.sqrt(var + layer.epsilon) * gamma + beta
    return x


@pytest.mark.parametrize("aggregation", ["sum", "mean", "max"])
def test_interaction_network_matches_numpy(aggregation):
    """Battaglia et al. 2016 as Exa.TrkX writes it, edge by edge in plain numpy."""
    nodes, edges, edge_features = _graph(seed=3)
    nodes[1, 6] = 0  # node 6 of graph 1: padding unless an edge touches it
    edges[1][(edges[1] == 6).any(axis=1)] = -1
    layer = InteractionNetwork(4, aggregation=aggregation)
    new_nodes, new_edges = (ops.convert_to_numpy(t) for t in layer([nodes, edges, edge_features]))
    for b in range(2):
        real = edges[b][:, 0] >= 0
        messages = np.zeros_like(edge_features[b])
        for e in np.flatnonzero(real):
            i, j = edges[b, e]
            messages[e] = edge_features[b, e] + _dense_stack(
                layer.edge_network, np.concatenate([nodes[b, i], nodes[b, j], edge_features[b, e]]))
        np.testing.assert_allclose(new_edges[b], messages, atol=1e-5)
        for node in range(nodes.shape[1]):
            pooled = []
            for end in (1, 0):  # incoming (node is the target), then outgoing
                rows = messages[real & (edges[b][:, end] == node)]
                if len(rows) == 0:
                    pooled.append(np.zeros(4))
                elif aggregation == "sum":
                    pooled.append(rows.sum(0))
                elif aggregation == "mean":
                    pooled.append(rows.mean(0))
                else:
                    pooled.append(rows.max(0))
            is_real = nodes[b, node].any() or (edges[b][real] == node).any()
            expected = (nodes[b, node] + _dense_stack(
                layer.node_network, np.concatenate([nodes[b, node], *pooled]))) if is_real else 0
            np.testing.assert_allclose(new_nodes[b, node], expected, atol=1e-5)


def test_scatter_sums_by_target_and_drops_padding():
    messages = np.array([[[1.0], [2.0], [4.0], [8.0]]], "float32")
    index = np.array([[1, 1, 0, 3]], "int32")  # 3 = one past the 3 nodes: a padding edge
    out = ops.convert_to_numpy(scatter(messages, index, 4, 1, 3, "sum"))
    np.testing.assert_allclose(out[0, :, 0], [4.0, 3.0, 0.0])
    out = ops.convert_to_numpy(scatter(messages, index, 4, 1, 3, "max"))
    np.testing.assert_allclose(out[0, :, 0], [4.0, 2.0, 0.0])


def test_residual_needs_matching_widths():
    nodes, edges, edge_features = _graph(width=3)
    with pytest.raises(ValueError, match=r"Dense\(4\)\) or pass residual=False"):
        InteractionNetwork(4)([nodes, edges, edge_features])
    assert InteractionNetwork(4, residual=False)([nodes, edges, edge_features])[0].shape == (2, 7, 4)


def test_bad_aggregation_is_named():
    with pytest.raises(ValueError, match="aggregation must be one of"):
        InteractionNetwork(4, aggregation="median")


def test_large_sparse_graph_without_dense_adjacency():
    """100k nodes: a dense (N, N) float32 adjacency would be 40 GB; the edge list is fine."""
    rng = np.random.default_rng(0)
    n_nodes, n_edges = 100_000, 300_000
    nodes = rng.normal(size=(1, n_nodes, 8)).astype("float32")
    edges = rng.integers(0, n_nodes, size=(1, n_edges, 2)).astype("int32")
    out, messages = InteractionNetwork(8)([nodes, edges, np.ones((1, n_edges, 8), "float32")])
    assert out.shape == (1, n_nodes, 8) and messages.shape == (1, n_edges, 8)
    assert np.isfinite(ops.convert_to_numpy(out)).all()
