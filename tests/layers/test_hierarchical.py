"""The hierarchical GNN's layers (Liu et al. 2023) against numpy, edge by edge."""

import keras
import numpy as np
import pytest
from keras import ops

from grapa.layers.hierarchical import (
    AssignmentPooling,
    AzimuthalEmbedding,
    BipartiteEnds,
    DotProductWeights,
    HierarchicalInteraction,
    PooledMembership,
    SuperNodeCenters,
)
from grapa.layers.sparse import EdgeDistance
from tests.layers.test_sparse import _dense_stack


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

        def is_real(rows, index, real, column, i, b=b):
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


def test_super_node_centers_are_normalized_means_of_their_hits():
    rng = np.random.default_rng(0)
    embeddings = rng.normal(size=(2, 6, 3)).astype("float32")
    labels = np.array([[0, 0, 1, -1, 1, 1], [2, -1, 0, 0, -1, -1]], "int32")
    mask = np.array([[1, 1, 0], [1, 0, 1]], "float32")  # event 0 has 2 super-nodes
    out = ops.convert_to_numpy(SuperNodeCenters()([embeddings, labels, mask]))
    expected = np.zeros((2, 3, 3))
    for b in range(2):
        for a in range(3):
            if mask[b, a]:
                mean = embeddings[b][labels[b] == a].mean(0)
                expected[b, a] = mean / np.linalg.norm(mean)
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-6)
    # a hit of event 1 never moves a centre of event 0
    moved = embeddings.copy()
    moved[1] += 5.0
    np.testing.assert_allclose(ops.convert_to_numpy(
        SuperNodeCenters()([moved, labels, mask]))[0], expected[0], rtol=1e-5, atol=1e-6)


def _weights_inputs():
    rng = np.random.default_rng(1)
    left = rng.normal(size=(2, 5, 3)).astype("float32")
    right = rng.normal(size=(2, 4, 3)).astype("float32")
    edges = np.array([[[0, 0], [0, 1], [0, 3], [1, 2], [1, 0], [4, 3], [2, 2], [-1, -1]],
                      [[0, 1], [0, 2], [3, 0], [3, 3], [3, 1], [-1, -1], [-1, -1],
                       [-1, -1]]], "int32")
    return left, right, edges


def _batch_normalized_dots(left, right, edges, epsilon):
    real = edges[..., 0] >= 0
    dots = np.zeros(edges.shape[:2])
    for b in range(2):
        for row in np.flatnonzero(real[b]):
            i, a = edges[b, row]
            dots[b, row] = left[b, i] @ right[b, a]
    mean, var = dots[real].mean(), dots[real].var()  # over the real edges of the batch
    return (dots - mean) / np.sqrt(var + epsilon), real, mean, var


def test_dot_product_weights_softmax_over_each_hits_assignments():
    left, right, edges = _weights_inputs()
    layer = DotProductWeights("softmax")
    out = ops.convert_to_numpy(layer([left, right, edges], training=True))[..., 0]
    logits, real, mean, var = _batch_normalized_dots(left, right, edges, layer.epsilon)
    # the moving moments take 1% of the batch's (momentum 0.99)
    assert float(ops.convert_to_numpy(layer.moving_mean)) == pytest.approx(0.01 * mean)
    assert float(ops.convert_to_numpy(layer.moving_variance)) == pytest.approx(0.99 + 0.01 * var)
    expected = np.zeros_like(logits)
    for b in range(2):
        for i in np.unique(edges[b][real[b]][:, 0]):
            mine = real[b] & (edges[b, :, 0] == i)
            expected[b, mine] = np.exp(logits[b, mine]) / np.exp(logits[b, mine]).sum()
    np.testing.assert_allclose(out, expected, rtol=1e-4, atol=1e-6)
    assert out[~real].max() == 0.0


def test_dot_product_weights_sigmoid_divided_by_each_graphs_mean():
    left, right, edges = _weights_inputs()
    layer = DotProductWeights("sigmoid")
    out = ops.convert_to_numpy(layer([left, right, edges], training=True))[..., 0]
    logits, real, _, _ = _batch_normalized_dots(left, right, edges, layer.epsilon)
    expected = np.where(real, 1.0 / (1.0 + np.exp(-logits)), 0.0)
    expected /= (expected.sum(1, keepdims=True) / real.sum(1, keepdims=True))
    np.testing.assert_allclose(out, expected, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(out.sum(1) / real.sum(1), 1.0, rtol=1e-5)


def test_dot_product_weights_save_and_refuse_unknown_normalization(tmp_path):
    left, right, edges = _weights_inputs()
    inputs = [keras.Input(shape=x.shape[1:], dtype=x.dtype) for x in (left, right, edges)]
    model = keras.Model(inputs, DotProductWeights("sigmoid", momentum=0.9)(inputs))
    model.save(tmp_path / "weights.keras")
    loaded = keras.saving.load_model(tmp_path / "weights.keras")
    np.testing.assert_allclose(loaded.predict([left, right, edges], verbose=0),
                               model.predict([left, right, edges], verbose=0), atol=1e-6)
    with pytest.raises(ValueError, match="normalization must be one of"):
        DotProductWeights("exp")


def test_assignment_pooling_sums_weighted_l1_normalized_hits():
    rng = np.random.default_rng(2)
    nodes = rng.normal(size=(2, 5, 3)).astype("float32")
    _, _, assignment = _weights_inputs()
    weights = rng.uniform(size=(2, 8, 1)).astype("float32")
    mask = np.array([[1, 1, 1, 1], [1, 1, 1, 0]], "float32")
    for normalize in (True, False):
        out = ops.convert_to_numpy(AssignmentPooling(normalize)(
            [nodes, mask, assignment, weights]))
        features = nodes / np.abs(nodes).sum(-1, keepdims=True) if normalize else nodes
        expected = np.zeros((2, 4, 3))
        for b in range(2):
            for row in range(8):
                i, a = assignment[b, row]
                if i >= 0 and mask[b, a]:
                    expected[b, a] += weights[b, row, 0] * features[b, i]
        np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-6)


def test_bipartite_ends_and_edge_distance_gather_the_right_rows():
    left, right, assignment = _weights_inputs()
    ends = ops.convert_to_numpy(BipartiteEnds()([left, right, assignment]))
    assert ends.shape == (2, 8, 6)
    for b in range(2):
        for row in range(8):
            i, a = assignment[b, row]
            expected = np.zeros(6) if i < 0 else np.concatenate([left[b, i], right[b, a]])
            np.testing.assert_allclose(ends[b, row], expected, rtol=1e-6)
    edges = np.array([[[0, 4], [2, 1], [-1, -1]], [[3, 3], [1, 0], [4, 2]]], "int32")
    distance = ops.convert_to_numpy(EdgeDistance()([left, edges]))[..., 0]
    expected = [[((left[0, 0] - left[0, 4]) ** 2).sum(), ((left[0, 2] - left[0, 1]) ** 2).sum(),
                 0.0],
                [0.0, ((left[1, 1] - left[1, 0]) ** 2).sum(),
                 ((left[1, 4] - left[1, 2]) ** 2).sum()]]
    np.testing.assert_allclose(distance, expected, rtol=1e-5)


def test_one_training_step_through_padding_stays_finite():
    """Padding super-nodes (no hits: a zero mean) and padding hits (no assignment: an
    empty softmax) must give zero, not NaN, gradients: a tiny floor under a norm or a
    softmax total squares to 0 in the backward pass."""
    keras.utils.set_random_seed(0)
    left, _, assignment = _weights_inputs()
    labels = np.array([[0, 0, 1, -1, 1], [0, -1, 0, 0, -1]], "int32")
    mask = np.array([[1, 1, 0, 0], [1, 1, 0, 0]], "float32")  # super-node 1 of event 1: no hits
    inputs = [keras.Input((5, 3)), keras.Input((5,), dtype="int32"), keras.Input((4,)),
              keras.Input((8, 2), dtype="int32")]
    embedding = keras.layers.UnitNormalization()(keras.layers.Dense(3)(inputs[0]))
    centers = SuperNodeCenters()([embedding, inputs[1], inputs[2]])
    weights = DotProductWeights("softmax")([embedding, centers, inputs[3]])
    super_weights = DotProductWeights("sigmoid")([centers, centers, inputs[3]])
    model = keras.Model(inputs, [weights, super_weights])
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    data = [left, labels, mask, np.where(assignment[..., 1:] < 2, assignment, -1)]
    target = np.random.default_rng(0).uniform(size=(2, 8, 1)).astype("float32")
    model.train_on_batch(data, [target, target])
    for weight in model.weights:
        assert np.isfinite(ops.convert_to_numpy(weight)).all(), weight.path


def test_last_round_without_edge_updates_passes_the_edges_through():
    inputs = _hierarchy(seed=5)
    full = HierarchicalInteraction(4)
    expected = [ops.convert_to_numpy(t) for t in full(inputs)]
    last = HierarchicalInteraction(4, update_edges=False)
    last(inputs)
    assert len(last.weights) == len(full.weights) // 2  # two networks of four
    last.set_weights(full.get_weights()[: len(last.weights)])
    out = [ops.convert_to_numpy(t) for t in last(inputs)]
    for i in (0, 2):  # hits and super-nodes as the full round
        np.testing.assert_allclose(out[i], expected[i], atol=1e-6)
    np.testing.assert_array_equal(out[1], inputs[2])
    np.testing.assert_array_equal(out[3], inputs[5])
    assert HierarchicalInteraction.from_config(last.get_config()).update_edges is False


def _azimuthal(features, azimuth, harmonics):
    layer = AzimuthalEmbedding(7, harmonics)
    return layer, np.asarray(layer([ops.convert_to_tensor(features),
                                    ops.convert_to_tensor(azimuth)]))


def test_azimuthal_embedding_matches_numpy_and_turns_with_the_event(tmp_path):
    rng = np.random.default_rng(3)
    features = rng.normal(size=(2, 5, 6)).astype("float32")
    azimuth = rng.uniform(-np.pi, np.pi, size=(2, 5)).astype("float32")
    layer, out = _azimuthal(features, azimuth, (1, 3))
    kernel = {name: [np.asarray(w) for w in getattr(layer, name).weights]
              for name in ("invariant", "offset", "radius")}
    u = features @ kernel["invariant"][0] + kernel["invariant"][1]
    angle = (azimuth[..., None] - (features @ kernel["offset"][0] + kernel["offset"][1]))
    angle = angle * np.array([1.0, 3.0])
    rho = np.log1p(np.exp(features @ kernel["radius"][0] + kernel["radius"][1]))
    expected = np.concatenate([u, rho * np.cos(angle), rho * np.sin(angle)], axis=-1)
    expected /= np.linalg.norm(expected, axis=-1, keepdims=True)
    np.testing.assert_allclose(out, expected, rtol=1e-4, atol=1e-5)
    # the whole event turned by 1 rad: every hit's embedding moves, their dot products don't
    turned = np.asarray(layer([ops.convert_to_tensor(features),
                               ops.convert_to_tensor(azimuth + 1.0)]))
    assert np.abs(turned - out).max() > 0.1
    np.testing.assert_allclose(np.einsum("bik,bjk->bij", turned, turned),
                               np.einsum("bik,bjk->bij", out, out), atol=1e-5)
    # two hits alike but for their azimuth: different embeddings
    same = np.repeat(features[:, :1], 2, axis=1)
    _, apart = _azimuthal(same, np.array([[0.0, 0.5]] * 2, "float32"), (1,))
    assert np.abs(apart[:, 0] - apart[:, 1]).max() > 1e-3
    inputs = [keras.Input((5, 6)), keras.Input((5,))]
    model = keras.Model(inputs, AzimuthalEmbedding(7, (1, 3))(inputs))
    model.save(tmp_path / "azimuthal.keras")
    loaded = keras.saving.load_model(tmp_path / "azimuthal.keras")
    np.testing.assert_allclose(loaded.predict([features, azimuth], verbose=0),
                               model.predict([features, azimuth], verbose=0), atol=1e-6)


def test_azimuthal_embedding_refuses_too_many_harmonics():
    with pytest.raises(ValueError, match="must exceed twice the number of harmonics"):
        AzimuthalEmbedding(4, (1, 2))
    with pytest.raises(ValueError, match="positive integers"):
        AzimuthalEmbedding(8, (0,))


def test_pooled_membership_marks_each_hits_own_super_node():
    # event 0: hits in super-nodes 1, 0, none; event 1: hit 0 in super-node 2
    labels = np.array([[1, 0, -1], [2, -1, -1]], "int32")
    assignment = np.array([[[0, 1], [0, 0], [1, 0], [1, 1], [2, 0], [-1, -1]],
                           [[0, 2], [0, 1], [1, 0], [-1, -1], [-1, -1], [-1, -1]]], "int32")
    out = np.asarray(PooledMembership()([ops.convert_to_tensor(labels),
                                         ops.convert_to_tensor(assignment)]))
    np.testing.assert_array_equal(out[..., 0], [[1, 0, 1, 0, 0, 0], [1, 0, 0, 0, 0, 0]])
