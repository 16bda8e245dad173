"""The bipartite HGNN (Liu et al. 2023): the matching, the weights, the candidates, the
model and the trained finder."""

import warnings

import keras
import numpy as np
import pytest

from grapa.tracking.events import make_event, singleton_tracks
from grapa.tracking.fragments import join_fragments
from grapa.tracking.hierarchical import (
    HierarchicalTrackFinder,
    MovingScoreCut,
    balanced,
    bipartite_tracks,
    build_bipartite_hgnn,
    embedding_loss_weight,
    embedding_model,
    match_supernodes,
    pad_hierarchy,
    pt_weights,
    warn_if_never_cut,
)
from grapa.tracking.metrics import tracking_metrics
from grapa.tracking.pipeline import JOIN_DEFAULTS
from grapa.tracking.pooling import pool_hits
from grapa.tracking.simulate import simulate_event


def test_matching_maximizes_the_summed_scores_not_each_particles_best():
    # hits 0-2: particle 1, 3-4: particle 2, 5: noise, 6: particle 3; super-nodes 0, 1
    particles = np.array([1, 1, 1, 2, 2, 0, 3])
    assignment = np.array([[0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 6],
                           [0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 0]])
    scores = np.array([.9, .8, .9, .8, .9, .8, .9, .1, .9, .1, 1., .5])
    truth, owner = match_supernodes(particles, assignment, scores, n_super=2)
    # both particles 1 and 2 score highest on super-node 0; the best pairing gives it to
    # 2 (1.8) and super-node 1 to particle 1 (2.4): 4.2 against 2.7 + 0.2 = 2.9 the other
    # way; particle 3 (0.5 on super-node 0) is left unmatched; noise is never true
    assert owner == {1: 1, 2: 0}
    np.testing.assert_array_equal(truth, [0, 1, 0, 1, 0, 1, 1, 0, 1, 0, 0, 0])


def test_pt_weights_and_balance_worked_by_hand():
    # 0.5 below 0.5 GeV, a ramp to 1 at 1 GeV, then + (pT - 1): the authors' weighting
    np.testing.assert_allclose(pt_weights([0.0, 0.5, 0.75, 1.0, 3.0, np.nan]),
                               [0.5, 0.5, 0.75, 1.0, 3.0, 0.5])
    weights = balanced([1.0, 3.0, 2.0, 2.0, 2.0], [True, True, False, False, False])
    np.testing.assert_allclose(weights, [0.625, 1.875, 5 / 6, 5 / 6, 5 / 6], rtol=1e-6)
    assert weights[:2].sum() == pytest.approx(weights[2:].sum())
    # an edge weighs its two hits' pT weights summed, then balanced: hits of 0.5, 1 and
    # 3 GeV weigh 0.5, 1 and 3; edges (0, 1) true (1.5), (1, 2) and (0, 2) false (4, 3.5)
    from grapa.tracking.hierarchical import edge_weights
    from grapa.tracking.pipeline import EventGraph
    graph = EventGraph(np.zeros((3, 3)), np.array([[0, 1, 0], [1, 2, 2]]), np.zeros((3, 7)),
                       np.array([True, False, False]))
    np.testing.assert_allclose(edge_weights(graph, np.array([0.5, 1.0, 3.0])),
                               [1.5, 4 * 1.5 / 7.5, 3.5 * 1.5 / 7.5], rtol=1e-6)


def test_candidates_keep_each_hits_best_assignment_above_the_cut():
    assignment = np.array([[0, 0, 1, 1, 2, 3], [4, 7, 4, 7, 7, 4]])
    scores = np.array([0.8, 0.9, 0.95, 0.6, 0.5, 0.71])
    np.testing.assert_array_equal(bipartite_tracks(5, assignment, scores, 0.7),
                                  [7, 4, -1, 4, -1])


def test_embedding_loss_fades_out_along_a_sine():
    assert [embedding_loss_weight(e, 2) for e in range(4)] == pytest.approx(
        [1.0, 1 - np.sin(np.pi / 4), 0.0, 0.0])
    assert embedding_loss_weight(0, 0) == 0.0  # the authors' configuration: never


def test_moving_cut_moves_five_percent_and_survives_an_overlapping_event():
    rng = np.random.default_rng(0)
    two_peaks = np.r_[rng.normal(0.0, 0.3, 4000), rng.normal(4.0, 0.3, 1000)]
    cut = MovingScoreCut(granularity=5.0)
    first = cut.update(two_peaks)
    assert 0.0 < first < 4.0
    shifted = cut.update(two_peaks + 1.0)
    assert shifted == pytest.approx(0.95 * first + 0.05 * (first + 1.0), abs=1e-3)
    assert cut.update(rng.normal(0.0, 1.0, 5000)) == shifted  # one blob: no cut, no move
    assert (cut.events, cut.cuts) == (3, 2)
    warn_if_never_cut(cut)  # silent: two events gave a cut


def test_a_training_whose_slices_never_gave_a_cut_warns():
    cut = MovingScoreCut(granularity=5.0)
    blob = np.random.default_rng(1).normal(0.0, 1.0, 5000)
    assert cut.update(blob) == pytest.approx(np.median(blob))  # the start: the median
    with pytest.warns(RuntimeWarning, match=r"none of the 1 training slices gave a pooling cut"):
        warn_if_never_cut(cut)


@pytest.fixture(scope="module")
def small_events():
    return [make_event(i, *simulate_event(60, seed=40 + i)) for i in range(3)]


def test_model_runs_saves_and_gives_the_pooling_its_embeddings(small_events, tmp_path):
    from grapa.tracking.pipeline import event_graph, pad_graphs

    keras.utils.set_random_seed(0)
    graph = event_graph(small_events[0])
    padded = pad_graphs([graph])
    model = build_bipartite_hgnn(units=16, embedding_dim=4, flat_steps=1,
                                 hierarchical_steps=1, hidden_layers=1)
    flat = [padded["nodes"], padded["azimuth"], padded["edges"], padded["edge_features"]]
    embeddings = np.asarray(embedding_model(model).predict_on_batch(flat))[0, : len(graph.nodes)]
    np.testing.assert_allclose(np.linalg.norm(embeddings, axis=1), 1.0, rtol=1e-5)
    pooling = pool_hits(embeddings.astype(np.float64), graph.edges, cut=0.0)
    hierarchy = pad_hierarchy([pooling], padded["nodes"].shape[1])
    n_assign, n_super = pooling.assignment.shape[1], len(pooling.centers)
    # room for the pooling's 5 super-nodes per hit however many it found: one shape
    assert hierarchy["assignment"].shape[1] == 5 * padded["nodes"].shape[1]
    with pytest.raises(ValueError, match="assignments, more than .* assignments=1"):
        pad_hierarchy([pooling], padded["nodes"].shape[1], assignments=1)
    np.testing.assert_array_equal(hierarchy["assignment"][0, :n_assign], pooling.assignment.T)
    assert (hierarchy["assignment"][0, n_assign:] == -1).all()
    np.testing.assert_array_equal(hierarchy["pooled"][0, : len(graph.nodes)], pooling.labels)
    assert (hierarchy["pooled"][0, len(graph.nodes):] == -1).all()
    assert hierarchy["supernode_mask"][0].sum() == n_super
    n_super_edges = pooling.super_edges.shape[1]
    np.testing.assert_array_equal(hierarchy["super_edges"][0, :n_super_edges],
                                  pooling.super_edges.T)
    inputs = flat + [hierarchy[k] for k in ("pooled", "supernode_mask", "super_edges",
                                            "assignment")]
    out = model.predict_on_batch(inputs)
    distance = np.asarray(out["edge_distance"])[0, : graph.edges.shape[1], 0]
    expected = ((embeddings[graph.edges[0]] - embeddings[graph.edges[1]]) ** 2).sum(1)
    np.testing.assert_allclose(distance, expected, rtol=1e-4, atol=1e-6)
    model.save(tmp_path / "hgnn.keras")
    loaded = keras.saving.load_model(tmp_path / "hgnn.keras")
    np.testing.assert_allclose(np.asarray(loaded.predict_on_batch(inputs)["assignment_logit"]),
                               np.asarray(out["assignment_logit"]), atol=1e-5)


def test_finder_trains_reconstructs_and_round_trips(small_events, tmp_path):
    finder = HierarchicalTrackFinder(units=16, embedding_dim=4, flat_steps=2,
                                     hierarchical_steps=1, hidden_layers=2,
                                     embedding_epochs=2, filter_efficiency=None,
                                     graph_options={"min_pt": 1.0})
    # whole events (sectors=1): 8 end-to-end steps, not 128 (45 s of TensorFlow)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        finder.fit(small_events[:2], epochs=4, pretrain_epochs=2, learning_rate=3e-3,
                   sectors=1, verbose=0)
    # so short a training may give no cut; fit warns exactly when no slice gave one
    warned = any("gave a pooling cut" in str(w.message) for w in caught)
    assert warned == (sum(finder.history["mixture_cuts"]) == 0)
    assert len(finder.history["loss"]) == 4 and np.isfinite(finder.history["loss"]).all()
    assert len(finder.history["pretrain_loss"]) == 2
    assert len(finder.history["mixture_cuts"]) == 4
    assert all(0.0 <= share <= 1.0 for share in finder.history["mixture_cuts"])
    assert finder.config["pooling_cut"] is not None
    event = small_events[2]
    labels = finder.reconstruct(event)
    assert labels.shape == (event.n_hits,) and labels.min() >= 0
    # the bipartite candidates, every hit in none on its own, joined where a helix fits
    graph = finder.graph(event)
    pooling, scores = finder.assignment_scores(event, graph)
    bipartite = bipartite_tracks(event.n_hits, pooling.assignment, scores,
                                 finder.config["score_cut"])
    np.testing.assert_array_equal(
        labels, join_fragments(event.hits, singleton_tracks(bipartite), graph.edges))
    finder.config["join"] = None
    unjoined = finder.reconstruct(event)
    np.testing.assert_array_equal(unjoined, bipartite)
    finder.config["join"] = dict(JOIN_DEFAULTS)
    metrics = tracking_metrics(labels, event.truth, event.particles)
    assert 0.0 <= metrics["efficiency"] <= 1.0
    loaded = HierarchicalTrackFinder.load(finder.save(tmp_path / "hgnn"))
    np.testing.assert_array_equal(loaded.reconstruct(event), labels)


@pytest.mark.parametrize("option, value, message", [
    ("score_cut", 1.0, "score_cut must be in"),
    ("embedding_weight", 1.5, "embedding_weight must be in"),
    ("filter_efficiency", 0.0, "filter_efficiency must be in"),
])
def test_finder_refuses_options_out_of_range(option, value, message):
    with pytest.raises(ValueError, match=message):
        HierarchicalTrackFinder(**{option: value})


def test_a_fixed_embedding_weight_replaces_the_fading_schedule():
    fixed = HierarchicalTrackFinder(units=16, embedding_dim=4, embedding_weight=0.25,
                                    filter_efficiency=None)
    assert [fixed._hinge_weight(e) for e in range(3)] == [0.25, 0.25, 0.25]
    # None: the authors' fade, carried on from the pretraining (its weight-1 start)
    fading = HierarchicalTrackFinder(units=16, embedding_dim=4, embedding_weight=None,
                                     embedding_epochs=2, filter_efficiency=None)
    assert [fading._hinge_weight(e) for e in range(3)] == pytest.approx(
        [1 - np.sin(np.pi / 6), 1 - np.sin(np.pi / 3), 0.0])
