"""Edge-list layers: the generic harness, and the maths against a numpy transcription."""

import keras
import numpy as np
import pytest
from keras import ops

from grapa.layers.sparse import EdgeEnds, HierarchicalInteraction, InteractionNetwork, scatter
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


def _hierarchy(seed=0, units=4):
    """Two events: hits, graph edges, super-nodes, super-edges and assignments, with
    padding rows and padding edges (-1) in the second event."""
    rng = np.random.default_rng(seed)
    n, k, e, s, a = 7, 4, 9, 6, 10

    def features(*shape):
        return rng.normal(size=shape).astype("float32")

    nodes, edge_features = features(2, n, units), features(2, e, units)
    supernodes, super_features = features(2, k, units), features(2, s, units)
    edges = rng.integers(0, n, size=(2, e, 2)).astype("int32")
    super_edges = rng.integers(0, k, size=(2, s, 2)).astype("int32")
    assignment = np.stack([rng.integers(0, n, size=(2, a)), rng.integers(0, k, size=(2, a))],
                          axis=-1).astype("int32")
    super_weights, assignment_weights = features(2, s, 1), features(2, a, 1)
    # event 1: hit 6 and super-node 3 are padding, and so are the last edges of each list
    nodes[1, 6], supernodes[1, 3] = 0, 0
    for index, node, last in ((edges, 6, 2), (super_edges, 3, 1), (assignment, None, 3)):
        if node is not None:
            index[1][(index[1] == node).any(axis=1)] = -1
        index[1, -last:] = -1
    assignment[1][(assignment[1, :, 0] == 6) | (assignment[1, :, 1] == 3)] = -1
    edge_features[1][edges[1, :, 0] < 0] = 0
    super_features[1][super_edges[1, :, 0] < 0] = 0
    return [nodes, edges, edge_features, supernodes, super_edges, super_features,
            super_weights, assignment, assignment_weights]


def test_hierarchical_interaction_matches_numpy(tmp_path):
    """Liu et al. 2023's hierarchical step, edge by edge in plain numpy, on a batch with
    padding; then saved in a model and loaded."""
    inputs = _hierarchy(seed=4)
    layer = HierarchicalInteraction(4)
    outputs = [ops.convert_to_numpy(t) for t in layer(inputs)]
    (nodes, edges, edge_features, supernodes, super_edges, super_features, super_weights,
     assignment, assignment_weights) = inputs
    for b in range(2):
        real_e, real_s, real_a = (index[b][:, 0] >= 0 for index in (edges, super_edges,
                                                                    assignment))

        def is_real(rows, index, real, column, i):
            return rows[b, i].any() or (index[b][real][:, column] == i).any()

        new_super = np.zeros_like(supernodes[b])
        for c in range(supernodes.shape[1]):
            if not (is_real(supernodes, super_edges, real_s, 0, c)
                    or is_real(supernodes, super_edges, real_s, 1, c)
                    or (assignment[b][real_a][:, 1] == c).any()):
                continue
            into = real_s & (super_edges[b][:, 1] == c)
            messages = (super_features[b][into] * super_weights[b][into]).sum(0)
            mine = real_a & (assignment[b][:, 1] == c)
            hits = (nodes[b][assignment[b][mine][:, 0]] * assignment_weights[b][mine]).sum(0)
            new_super[c] = supernodes[b, c] + _dense_stack(
                layer.supernode_network, np.concatenate([supernodes[b, c], messages, hits]))
        np.testing.assert_allclose(outputs[2][b], new_super, atol=1e-5)
        new_nodes = np.zeros_like(nodes[b])
        for i in range(nodes.shape[1]):
            if not (is_real(nodes, edges, real_e, 0, i) or is_real(nodes, edges, real_e, 1, i)):
                continue
            touching = real_e & ((edges[b][:, 0] == i) | (edges[b][:, 1] == i))
            # an edge (i, i) is both incoming and outgoing: it counts twice
            loops = real_e & (edges[b][:, 0] == i) & (edges[b][:, 1] == i)
            messages = edge_features[b][touching].sum(0) + edge_features[b][loops].sum(0)
            mine = real_a & (assignment[b][:, 0] == i)
            owners = (new_super[assignment[b][mine][:, 1]] * assignment_weights[b][mine]).sum(0)
            new_nodes[i] = nodes[b, i] + _dense_stack(
                layer.node_network, np.concatenate([nodes[b, i], messages, owners]))
        np.testing.assert_allclose(outputs[0][b], new_nodes, atol=1e-5)
        for new, old, index, real, ends, network in (
                (outputs[1], edge_features, edges, real_e, new_nodes, layer.edge_network),
                (outputs[3], super_features, super_edges, real_s, new_super,
                 layer.superedge_network)):
            expected = np.zeros_like(old[b])
            for row in np.flatnonzero(real):
                i, j = index[b, row]
                expected[row] = old[b, row] + _dense_stack(
                    network, np.concatenate([ends[i], ends[j], old[b, row]]))
            np.testing.assert_allclose(new[b], expected, atol=1e-5)

    # in a model: compiled, saved and loaded with the same outputs
    tensors = [keras.Input(shape=x.shape[1:], dtype=x.dtype) for x in inputs]
    model = keras.Model(tensors, HierarchicalInteraction(4)(tensors))
    path = tmp_path / "hierarchical.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    for before, after in zip(model.predict(inputs, verbose=0), loaded.predict(inputs, verbose=0)):
        np.testing.assert_allclose(before, after, atol=1e-6)


def test_hierarchical_interaction_needs_matching_widths():
    inputs = _hierarchy()
    inputs[3] = np.zeros((2, 4, 5), "float32")
    with pytest.raises(ValueError, match=r"width 4, got \[4, 4, 5, 4\]"):
        HierarchicalInteraction(4)(inputs)
