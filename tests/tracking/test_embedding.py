"""Metric-learning graph construction: the loss by hand, the radius graph against a brute
force search, the training pairs of a hand-built event, and a tiny trained embedding."""

import keras
import numpy as np
import pandas as pd
import pytest

from grapa.tracking.embedding import (
    HingeEmbeddingLoss,
    HitEmbedding,
    build_hit_embedding,
    hinge_embedding_loss,
    neighbour_pairs,
    radius_graph,
    training_pairs,
    true_pairs,
)
from grapa.tracking.events import make_event
from grapa.tracking.metrics import combine_metrics, edge_metrics
from grapa.tracking.simulate import simulate_event

# ---------------------------------------------------------------------------------------
# The loss
# ---------------------------------------------------------------------------------------


def _squared_distances(first, second):
    first, second = np.asarray(first, "float32"), np.asarray(second, "float32")
    return keras.ops.sum(keras.ops.square(first - second), axis=-1)


def test_hinge_loss_by_hand_on_2d_points():
    # from the origin: b at distance 0.05 (inside the margin 0.1), c at 0.5 (outside),
    # and the origin itself (distance 0)
    origin, b, c = [0.0, 0.0], [0.03, 0.04], [0.3, 0.4]
    squared = _squared_distances([origin] * 5, [b, c, b, c, origin])
    is_true = np.array([1, 1, 0, 0, 0], "float32")
    contrastive = keras.ops.convert_to_numpy(
        hinge_embedding_loss(is_true, squared, 0.1, hinge_on="distance"))
    # true pairs: d^2; false pairs: max(0, 0.1 - d)^2
    np.testing.assert_allclose(contrastive, [0.0025, 0.25, 0.05**2, 0.0, 0.01], atol=1e-6)
    exatrkx = keras.ops.convert_to_numpy(hinge_embedding_loss(is_true, squared, 0.1))
    # false pairs: max(0, 0.1^2 - d^2)
    np.testing.assert_allclose(exatrkx, [0.0025, 0.25, 0.01 - 0.0025, 0.0, 0.01], atol=1e-6)
    with pytest.raises(ValueError, match="hinge_on must be one of"):
        hinge_embedding_loss(is_true, squared, 0.1, hinge_on="cosine")


def test_hinge_loss_class_weights_and_config():
    squared = _squared_distances([[0.0, 0.0]] * 3, [[0.03, 0.04], [0.0, 0.02], [0.3, 0.4]])
    is_true = np.array([1.0, 0.0, 0.0], "float32")
    weights = np.array([1.5, 0.75, 0.75], "float32")  # one true pair weighs as two false
    loss = HingeEmbeddingLoss(margin=0.1)
    value = float(keras.ops.convert_to_numpy(loss(is_true, squared, sample_weight=weights)))
    by_hand = (1.5 * 0.0025 + 0.75 * (0.1**2 - 0.02**2) + 0.75 * 0.0) / 3
    assert value == pytest.approx(by_hand, rel=1e-5)
    clone = HingeEmbeddingLoss.from_config(
        HingeEmbeddingLoss(margin=0.2, hinge_on="distance").get_config())
    assert (clone.margin, clone.hinge_on) == (0.2, "distance")
    with pytest.raises(ValueError, match="margin must be > 0"):
        HingeEmbeddingLoss(margin=0.0)


def test_periodic_phi_joins_the_two_sides_of_pi():
    model = build_hit_embedding(units=16)
    model.get_layer("embedding_scaling").adapt(np.random.default_rng(0).normal(size=(50, 3)))
    hits = np.array([[0.5, 1.0, 0.2], [0.5, -1.0, 0.2], [0.5, 0.0, 0.2]], "float32")
    out = keras.ops.convert_to_numpy(model(hits))
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(out[0], out[1], atol=1e-5)  # phi = pi and -pi: one azimuth
    assert np.abs(out[0] - out[2]).max() > 1e-3


# ---------------------------------------------------------------------------------------
# Radius graphs
# ---------------------------------------------------------------------------------------


def _brute_force_graph(points, radius, k_max, transverse_radius, layers):
    """Every point's k_max nearest others closer than radius, from the full distance
    matrix; then oriented inner -> outer (ties: smaller row first), same layer dropped."""
    distances = np.linalg.norm(points[:, None] - points[None], axis=-1)
    edges = set()
    for i in range(len(points)):
        order = [j for j in np.argsort(distances[i], kind="stable") if j != i]
        for j in [j for j in order if distances[i, j] < radius][:k_max]:
            if layers[i] == layers[j]:
                continue
            if (transverse_radius[i], i) < (transverse_radius[j], j):
                edges.add((i, j))
            else:
                edges.add((j, i))
    return edges


@pytest.mark.parametrize("k_max", [3, 1000])
def test_radius_graph_matches_a_brute_force_search(k_max):
    rng = np.random.default_rng(1)
    points = rng.uniform(size=(90, 3))
    transverse_radius = rng.integers(0, 6, size=90).astype(float)  # many ties
    layers = rng.integers(0, 4, size=90)
    edges = radius_graph(points, 0.3, k_max, transverse_radius=transverse_radius,
                         layers=layers)
    assert edges.dtype == np.int64 and edges.shape[0] == 2
    found = set(map(tuple, edges.T.tolist()))
    assert len(found) == edges.shape[1]  # no duplicates
    assert found == _brute_force_graph(points, 0.3, k_max, transverse_radius, layers)
    inner, outer = edges
    assert np.all(layers[inner] != layers[outer])
    assert np.all((transverse_radius[inner] < transverse_radius[outer])
                  | ((transverse_radius[inner] == transverse_radius[outer]) & (inner < outer)))


def test_neighbour_pairs_cap_and_uncapped_pairs():
    rng = np.random.default_rng(2)
    points = rng.uniform(size=(120, 2))
    capped = neighbour_pairs(points, 0.2, 4)
    assert np.bincount(capped[0], minlength=120).max() == 4
    assert np.all(capped[0] != capped[1])
    distances = np.linalg.norm(points[capped[0]] - points[capped[1]], axis=1)
    assert distances.max() < 0.2
    uncapped = neighbour_pairs(points, 0.2, 10_000)
    undirected = set(map(tuple, np.sort(uncapped, axis=0).T.tolist()))
    all_distances = np.linalg.norm(points[:, None] - points[None], axis=-1)
    i, j = np.nonzero(np.triu(all_distances < 0.2, k=1))
    assert undirected == set(zip(i.tolist(), j.tolist()))
    # two hits at one point stay neighbours: the point itself is dropped by index
    twins = neighbour_pairs(np.zeros((2, 3)), 0.1, 1)
    assert sorted(map(tuple, twins.T.tolist())) == [(0, 1), (1, 0)]


def test_radius_graph_rejects_bad_inputs():
    points = np.zeros((3, 2))
    with pytest.raises(ValueError, match="radius must be a finite distance > 0"):
        radius_graph(points, 0.0, 5, transverse_radius=np.zeros(3), layers=np.arange(3))
    with pytest.raises(ValueError, match="k_max must be an integer >= 1"):
        neighbour_pairs(points, 0.1, 0)
    with pytest.raises(ValueError, match="need shape"):
        radius_graph(points, 0.1, 5, transverse_radius=np.zeros(2), layers=np.arange(3))


# ---------------------------------------------------------------------------------------
# Training pairs
# ---------------------------------------------------------------------------------------


def _hand_event():
    """Particle 1 (pT 2 GeV) crosses layers 2, 4, 6, 8 of volume 8; particle 2 (pT 0.6)
    layers 2 and 4; one noise hit on layer 4. Hit ids are not in track order."""
    layer = np.array([2, 4, 6, 8, 2, 4, 4])
    radius = np.array([32.0, 72, 116, 172, 32, 72, 72])
    phi = np.array([0.1, 0.1, 0.1, 0.1, 2.0, 2.0, -2.0])
    particle = np.array([1, 1, 1, 1, 2, 2, 0])
    hit_id = np.array([7, 3, 5, 1, 2, 6, 4])
    x, y = radius * np.cos(phi), radius * np.sin(phi)
    hits = pd.DataFrame({"hit_id": hit_id, "x": x, "y": y, "z": radius / 10,
                         "volume_id": 8, "layer_id": layer, "module_id": 1})
    truth = pd.DataFrame({"hit_id": hit_id, "particle_id": particle, "tx": x, "ty": y,
                          "tz": radius / 10, "tpx": 0.0, "tpy": 0.0, "tpz": 0.0,
                          "weight": 1.0})
    particles = pd.DataFrame({"particle_id": [1, 2], "vx": 0.0, "vy": 0.0, "vz": 0.0,
                              "px": [2.0, 0.6], "py": 0.0, "pz": 0.0, "q": 1,
                              "nhits": [4, 2]})
    return make_event(1, hits, truth, particles)


def _as_ids(event, pairs):
    hit_id = event.hits["hit_id"].to_numpy()
    return {(int(hit_id[a]), int(hit_id[b])) for a, b in pairs.T}


def test_true_pairs_are_consecutive_hits_and_one_skip():
    event = _hand_event()
    # particle 1 in track order: hit ids 7, 3, 5, 1; particle 2: 2, 6
    consecutive = {(7, 3), (3, 5), (5, 1), (2, 6)}
    skips = {(7, 5), (3, 1)}
    assert _as_ids(event, true_pairs(event)) == consecutive | skips
    assert _as_ids(event, true_pairs(event, min_pt=1.0)) == {(7, 3), (3, 5), (5, 1)} | skips


def test_training_pairs_keep_only_false_pairs_across_layers():
    event = _hand_event()
    rows = {int(h): r for r, h in enumerate(event.hits["hit_id"])}
    # candidate hard negatives: a true pair, a same-layer pair, a noise pair, a false one
    hard = np.array([[rows[7], rows[3], rows[4], rows[2]],
                     [rows[3], rows[6], rows[5], rows[3]]])
    pairs, is_true, n_hard = training_pairs(event, np.random.default_rng(0), n_random=200,
                                            hard_negatives=hard)
    assert n_hard == 2  # noise 4 -> 5 and particle 2's 2 -> particle 1's 3
    assert _as_ids(event, pairs[:, -n_hard:]) == {(4, 5), (2, 3)}
    assert _as_ids(event, pairs[:, is_true == 1]) == _as_ids(event, true_pairs(event))
    particle = event.truth["particle_id"].to_numpy()
    layer = event.hits["layer_id"].to_numpy()
    false = pairs[:, is_true == 0]
    assert false.shape[1] > n_hard  # random ones too
    assert not np.any((particle[false[0]] == particle[false[1]]) & (particle[false[0]] != 0))
    assert np.all(layer[false[0]] != layer[false[1]])
    _, _, capped = training_pairs(event, np.random.default_rng(0), n_random=0,
                                  hard_negatives=hard, max_hard=1)
    assert capped == 1


# ---------------------------------------------------------------------------------------
# A tiny trained embedding
# ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def small_sample():
    train = [make_event(i, *simulate_event(100, seed=10 + i)) for i in range(6)]
    test = [make_event(100 + i, *simulate_event(100, seed=500 + i)) for i in range(2)]
    return train, test


@pytest.fixture(scope="module")
def trained(small_sample):
    train, _ = small_sample
    return HitEmbedding(units=32).fit(train, epochs=4, pairs_per_event=3000,
                                      learning_rate=3e-3, batch_size=512, seed=0)


def _efficiency(embedding, events, radius):
    graphs = [embedding.build_graph(event.hits, radius=radius) for event in events]
    results = [edge_metrics(g, e.truth, e.hits, min_pt=1.0, particles=e.particles)
               for g, e in zip(graphs, events)]
    pooled = combine_metrics(results)
    return pooled["edge_efficiency"], pooled["n_edges"]


def _radius_for_edges(embedding, events, n_edges):
    """The smallest radius (bisection) whose graphs hold at least n_edges edges."""
    low, high = 1e-4, 2.0
    for _ in range(18):
        middle = (low + high) / 2
        low, high = (middle, high) if _efficiency(embedding, events, middle)[1] < n_edges \
            else (low, middle)
    return high


def test_training_beats_the_untrained_embedding(small_sample, trained):
    train, test = small_sample
    assert len(trained.history["loss"]) == 4
    assert trained.history["loss"][-1] < trained.history["loss"][0]
    assert min(trained.history["n_hard_negatives"]) > 0
    efficiency, n_edges = _efficiency(trained, test, trained.radius)
    assert n_edges > 0
    untrained = HitEmbedding(units=32).fit(train, epochs=0)
    baseline, baseline_edges = _efficiency(
        untrained, test, _radius_for_edges(untrained, test, n_edges))
    assert baseline_edges >= n_edges
    assert efficiency > 0.9
    assert efficiency > baseline + 0.2, (efficiency, baseline)


def test_fit_starts_from_a_seeded_network(small_sample):
    train, test = small_sample
    first = HitEmbedding(units=8).fit(train[:1], epochs=0, seed=3).embed(test[0].hits)
    second = HitEmbedding(units=8).fit(train[:1], epochs=0, seed=3).embed(test[0].hits)
    other = HitEmbedding(units=8).fit(train[:1], epochs=0, seed=4).embed(test[0].hits)
    np.testing.assert_array_equal(first, second)
    assert np.abs(first - other).max() > 1e-3


def test_training_without_hard_negatives(small_sample):
    train, _ = small_sample
    embedding = HitEmbedding(units=8).fit(train[:1], epochs=1, pairs_per_event=500,
                                          hard_negative_neighbours=0)
    assert embedding.history["n_hard_negatives"] == [0]
    assert 0 < embedding.history["n_false_pairs"][0] <= 500


def test_graph_directions_and_layers_on_an_event(small_sample, trained):
    event = small_sample[1][0]
    edges = trained.build_graph(event.hits)
    r = np.hypot(event.hits["x"], event.hits["y"]).to_numpy()
    assert np.all(r[edges[0]] <= r[edges[1]])
    layers = event.hits[["volume_id", "layer_id"]].to_numpy()
    assert np.all(np.any(layers[edges[0]] != layers[edges[1]], axis=1))
    assert len(np.unique(edges[0] * event.n_hits + edges[1])) == edges.shape[1]


def test_save_and_load_give_the_same_graph(small_sample, trained, tmp_path):
    event = small_sample[1][0]
    trained.save(tmp_path / "embedding")
    loaded = HitEmbedding.load(tmp_path / "embedding")
    assert loaded.config == trained.config
    assert loaded.history == trained.history
    np.testing.assert_array_equal(loaded.build_graph(event.hits), trained.build_graph(event.hits))
    with pytest.raises(FileNotFoundError, match="embedding.json is missing"):
        HitEmbedding.load(tmp_path)


def test_bad_inputs_name_the_fix(small_sample):
    event = small_sample[0][0]
    no_truth = make_event(7, event.hits)
    with pytest.raises(ValueError, match="has no truth"):
        HitEmbedding(units=8).fit([no_truth], epochs=1)
    with pytest.raises(ValueError, match="at least one training event"):
        HitEmbedding(units=8).fit([], epochs=1)
    with pytest.raises(ValueError, match="radius must be a finite distance > 0"):
        HitEmbedding(radius=0.0)
    with pytest.raises(ValueError, match="margin must be a finite distance > 0"):
        HitEmbedding(margin=-1.0)
    embedding = HitEmbedding(units=8)
    with pytest.raises(ValueError, match="radius must be a finite distance > 0"):
        embedding.fit([event], epochs=0, radius=-0.1)
    assert embedding.radius == 0.1  # a rejected option leaves the config as it was
    with pytest.raises(ValueError, match="radius must be a finite distance > 0"):
        embedding.build_graph(event.hits, radius=0.0)
    with pytest.raises(ValueError, match="has no particles table"):
        true_pairs(make_event(8, event.hits, event.truth), min_pt=1.0)
