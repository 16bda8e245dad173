"""The edge-classifier pipeline: padding, track building by hand, a tiny trained finder."""

import json

import numpy as np
import pytest

from grapa.tracking.events import make_event
from grapa.tracking.graph import continuation_features
from grapa.tracking.pipeline import (
    EventGraph,
    TrackFinder,
    _bucket,
    build_tracks,
    event_graph,
    filter_inputs,
    pad_graphs,
    sector_pieces,
    select_edges,
    split_sectors,
)
from grapa.tracking.simulate import simulate_event


def _event(n_particles=60, seed=0, event_id=1000):
    return make_event(event_id, *simulate_event(n_particles, seed=seed))


def _same_partition(labels, groups):
    """`labels` splits the hits into exactly `groups` (lists of hit rows)."""
    for group in groups:
        assert len(set(labels[group])) == 1, group
    assert len({labels[g[0]] for g in groups}) == len(groups)


def test_components_merge_what_the_walk_splits():
    # two tracks 0-1-2-3 and 4-5-6-7, joined by one weaker wrong edge 1 -> 6
    edges = np.array([[0, 1, 2, 4, 5, 6, 1], [1, 2, 3, 5, 6, 7, 6]])
    scores = np.array([0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.7])
    components = build_tracks(9, edges, scores, 0.5, "components")
    _same_partition(components, [[0, 1, 2, 3, 4, 5, 6, 7], [8]])
    walk = build_tracks(9, edges, scores, 0.5, "walk")
    _same_partition(walk, [[0, 1, 2, 3], [4, 5, 6, 7], [8]])


def test_walk_keeps_the_best_of_two_outgoing_edges():
    # hit 0 has two outgoing edges: 0 -> 1 (0.6) and 0 -> 2 (0.8); 2 -> 3 continues
    edges = np.array([[0, 0, 2], [1, 2, 3]])
    walk = build_tracks(4, edges, np.array([0.6, 0.8, 0.9]), 0.5, "walk")
    _same_partition(walk, [[0, 2, 3], [1]])


def test_threshold_drops_edges():
    edges = np.array([[0, 1], [1, 2]])
    labels = build_tracks(3, edges, np.array([0.4, 0.6]), 0.5, "components")
    _same_partition(labels, [[0], [1, 2]])
    with pytest.raises(ValueError, match="method must be one of"):
        build_tracks(3, edges, np.array([0.4, 0.6]), method="greedy")


def test_bucket_sizes():
    assert [_bucket(n) for n in (1, 16, 17, 20, 21, 1000, 1024, 1025)] == [
        16, 16, 20, 20, 24, 1024, 1024, 1280]


def test_event_graph_labels_and_padding():
    event = _event()
    graph = event_graph(event, min_pt=0.5)
    particle = event.truth["particle_id"].to_numpy()
    np.testing.assert_array_equal(
        graph.labels, (particle[graph.edges[0]] == particle[graph.edges[1]])
        & (particle[graph.edges[0]] > 0))
    assert filter_inputs(graph).shape == (graph.edges.shape[1], 11)  # (r, z) twice, 7
    assert graph.continuation is None
    with_continuation = event_graph(event, continuation=True, min_pt=0.5)
    np.testing.assert_array_equal(
        filter_inputs(with_continuation),
        np.concatenate([filter_inputs(graph),
                        continuation_features(event.hits, graph.edges)], axis=1))
    keep = graph.labels
    np.testing.assert_array_equal(select_edges(with_continuation, keep).continuation,
                                  with_continuation.continuation[keep])
    small = EventGraph(graph.nodes[:5], np.array([[0, 1], [1, 2]]), graph.edge_features[:2],
                       np.array([True, False]))
    padded = pad_graphs([graph, small])
    n, e = len(graph.nodes), graph.edges.shape[1]
    assert padded["nodes"].shape[1] >= n and padded["edges"].shape[1] >= e
    np.testing.assert_array_equal(padded["edges"][1, :2], [[0, 1], [1, 2]])
    assert np.all(padded["edges"][1, 2:] == -1) and np.all(padded["nodes"][1, 5:] == 0)
    np.testing.assert_array_equal(padded["nodes"][0, :n], graph.nodes[:, [0, 2]])  # r, z
    # each hit's azimuth in radians, from the hits themselves; 0 on padding rows
    np.testing.assert_allclose(padded["azimuth"][0, :n], np.arctan2(
        event.hits["y"].to_numpy(), event.hits["x"].to_numpy()), rtol=1e-5, atol=1e-6)
    assert np.all(padded["azimuth"][1, 5:] == 0)
    np.testing.assert_array_equal(padded["mask"][1], np.r_[1.0, 1.0, np.zeros(padded["mask"].shape[1] - 2)])
    np.testing.assert_array_equal(padded["labels"][0, :e], graph.labels)
    with pytest.raises(ValueError, match="more than the padded"):
        pad_graphs([graph], n_nodes=10)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    events = [_event(60, seed=s, event_id=1000 + s) for s in range(3)]
    finder = TrackFinder(units=8, steps=1, filter_efficiency=0.99)
    finder.fit(events[:2], events[2:], epochs=2, filter_epochs=1, verbose=0)
    return finder, events


def test_filter_keeps_the_asked_fraction_of_true_edges(trained):
    finder, events = trained
    kept = sum(int(finder.graph(e).labels.sum()) for e in events[:2])
    total = sum(int(event_graph(e, **finder.config["graph_options"]).labels.sum())
                for e in events[:2])
    assert 0.98 * total <= kept <= total
    assert set(finder.history) >= {"loss", "val_loss", "filter_loss"}
    summary = finder.training_summary
    assert summary["events"] == 2 and summary["filtered_edges"] <= summary["candidate_edges"]
    assert summary["true_filtered_edges"] == kept


def test_scores_do_not_depend_on_padding(trained):
    finder, events = trained
    graph = finder.graph(events[2])
    edges, scores = finder.edge_scores(events[2], graph)
    assert edges.shape[1] == len(scores) and np.all((scores >= 0) & (scores <= 1))
    padded = pad_graphs([graph], n_nodes=len(graph.nodes) + 100, n_edges=graph.edges.shape[1] + 300)
    logits = np.asarray(finder.classifier.predict_on_batch(
        [padded["nodes"], padded["edges"], padded["edge_features"]]))[0, : len(scores), 0]
    np.testing.assert_allclose(1 / (1 + np.exp(-logits)), scores, atol=1e-5)


def test_save_load_reconstruct(trained, tmp_path):
    finder, events = trained
    labels = finder.reconstruct(events[2])
    assert labels.shape == (events[2].n_hits,) and labels.dtype == np.int64
    finder.save(tmp_path / "run")
    loaded = TrackFinder.load(tmp_path / "run")
    assert loaded.config == finder.config
    np.testing.assert_array_equal(loaded.reconstruct(events[2]), labels)
    # the filter reads the continuation features; a finder saved before they existed
    # (no "filter_continuation" in its config) builds its graphs without them
    assert loaded.edge_filter.input_shape == (None, 17)
    assert loaded.graph(events[2]).continuation is not None
    del loaded.config["filter_continuation"]
    assert loaded._candidate_graph(events[2]).continuation is None
    # a finder saved before joins were proposed by helix parameters proposes by edges
    # only, and neither splits nor extends
    assert finder.config["join"]["helix_neighbours"] == 1
    config_file = tmp_path / "run" / "track_finder.json"
    saved = json.loads(config_file.read_text())
    for key in ("helix_neighbours", "split", "extend"):
        del saved["config"]["join"][key]
    config_file.write_text(json.dumps(saved))
    old = TrackFinder.load(tmp_path / "run").config["join"]
    assert (old["helix_neighbours"], old["split"], old["extend"]) == (0, False, False)
    (tmp_path / "run" / "filter.keras").unlink()
    with pytest.raises(FileNotFoundError, match="filter.keras is missing"):
        TrackFinder.load(tmp_path / "run")
    with pytest.raises(FileNotFoundError, match="track_finder.json is missing"):
        TrackFinder.load(tmp_path)


def test_training_needs_truth():
    event = _event()
    hits_only = make_event(event.event_id, event.hits)
    with pytest.raises(ValueError, match="has no truth"):
        TrackFinder(units=8, steps=1).fit([hits_only], epochs=1, verbose=0)
    with pytest.raises(ValueError, match="builder must be one of"):
        TrackFinder(builder="greedy")
    with pytest.raises(ValueError, match=r"mend_threshold must be in \[0, threshold = 0.97\)"):
        TrackFinder(mend_threshold=0.98)
    assert TrackFinder(mend_threshold=None).config["mend_threshold"] is None


def test_split_sectors_by_inner_hit_azimuth():
    # phi / pi of hits 0..4: -0.9, -0.1, 0.2, 0.8, 0.9; 2 sectors split at phi = 0
    nodes = np.array([[0.1, p, 0.0] for p in (-0.9, -0.1, 0.2, 0.8, 0.9)], "float32")
    edges = np.array([[0, 1, 2, 3], [1, 2, 3, 4]])
    graph = EventGraph(nodes, edges, np.arange(16, dtype="float32").reshape(4, 4),
                       np.array([True, False, True, True]))
    low, high = split_sectors(graph, 2)
    np.testing.assert_array_equal(low.nodes, nodes[[0, 1, 2]])
    np.testing.assert_array_equal(low.edges, [[0, 1], [1, 2]])  # 0->1, 1->2 renumbered
    np.testing.assert_array_equal(low.labels, [True, False])
    np.testing.assert_array_equal(high.nodes, nodes[[2, 3, 4]])
    np.testing.assert_array_equal(high.edges, [[0, 1], [1, 2]])  # 2->3, 3->4
    np.testing.assert_array_equal(high.edge_features, graph.edge_features[2:])
    assert split_sectors(graph, 1) == [graph]
    (_, low_rows), (_, high_rows) = sector_pieces(graph, 2)  # the event's rows, for truth
    np.testing.assert_array_equal(low_rows, [0, 1, 2])
    np.testing.assert_array_equal(high_rows, [2, 3, 4])


def test_grouped_walk_keeps_skip_edges_and_drops_a_wrong_edge():
    # track A: hits 0,1,2 on layers 0,1,2 with its skip edge 0 -> 2; track B: 3,4,5 the
    # same; a wrong edge 0 -> 4 (step 1) scores below A's own step-1 edge 0 -> 1
    edges = np.array([[0, 1, 0, 3, 4, 3, 0], [1, 2, 2, 4, 5, 5, 4]])
    scores = np.array([0.95, 0.95, 0.9, 0.95, 0.95, 0.9, 0.92])
    steps = np.array([1, 1, 2, 1, 1, 2, 1])
    grouped = build_tracks(6, edges, scores, 0.5, "walk", groups=steps)
    _same_partition(grouped, [[0, 1, 2], [3, 4, 5]])
    # one group: hit 0 keeps only its best outgoing edge (0 -> 1), the skip edges lose
    chains = build_tracks(6, edges, scores, 0.5, "walk")
    _same_partition(chains, [[0, 1, 2], [3, 4, 5]])
    assert len(set(build_tracks(6, edges, scores, 0.5, "components"))) == 1  # merged


def test_mending_joins_free_ends_with_a_weaker_edge_and_never_overrules_a_kept_one():
    # track 0-1-2-3-4-5 whose edge 2 -> 3 scored 0.4; hit 6 is another track's, and its
    # edge 2 -> 6 (0.3) is weaker than the true 2 -> 3
    edges = np.array([[0, 1, 2, 3, 4, 2], [1, 2, 3, 4, 5, 6]])
    scores = np.array([0.95, 0.95, 0.4, 0.95, 0.95, 0.3])
    _same_partition(build_tracks(7, edges, scores, 0.9), [[0, 1, 2], [3, 4, 5], [6]])
    mended = build_tracks(7, edges, scores, 0.9, mend_threshold=0.1)
    _same_partition(mended, [[0, 1, 2, 3, 4, 5], [6]])
    # below the mending threshold, nothing joins
    _same_partition(build_tracks(7, edges, scores, 0.9, mend_threshold=0.5),
                    [[0, 1, 2], [3, 4, 5], [6]])
    # an end already taken by a kept edge is not free: 1 -> 7 (0.5) may not join hit 1,
    # whose kept outgoing edge is 1 -> 2, to hit 7
    edges = np.c_[edges, [1, 7]]
    scores = np.r_[scores, 0.5]
    _same_partition(build_tracks(8, edges, scores, 0.9, mend_threshold=0.1),
                    [[0, 1, 2, 3, 4, 5], [6], [7]])
    # two weak edges from one free end: only the better one mends
    edges = np.array([[0, 1, 1], [1, 2, 3]])
    labels = build_tracks(4, edges, np.array([0.95, 0.3, 0.6]), 0.9, mend_threshold=0.1)
    _same_partition(labels, [[0, 1, 3], [2]])
    with pytest.raises(ValueError, match="mend_threshold must be in"):
        build_tracks(4, edges, np.array([0.95, 0.3, 0.6]), 0.5, mend_threshold=0.6)


def test_build_joins_what_a_missed_edge_broke_and_reconstruct_uses_it():
    from grapa.tracking.metrics import tracking_metrics, true_edges

    event = _event(n_particles=80, seed=4)
    edges = true_edges(event.truth, event.hits)
    r = np.hypot(event.hits["x"].to_numpy(), event.hits["y"].to_numpy())
    edges = np.where(r[edges[0]] <= r[edges[1]], edges, edges[::-1])  # (inner, outer)
    scores = np.ones(edges.shape[1])
    scores[::3] = 0.0  # a perfect classifier that missed every third edge
    joining, plain = TrackFinder(units=8, steps=1), TrackFinder(units=8, steps=1, join=None)
    broken = tracking_metrics(plain.build(event, edges, scores), event.truth, event.particles)
    joined = tracking_metrics(joining.build(event, edges, scores), event.truth, event.particles)
    # pieces of at most 3 of a particle's ~10 hits match nothing; joined, all match
    assert broken["efficiency"] < 0.1 and broken["purity"] < 0.1
    assert joined["efficiency"] > 0.95 and joined["purity"] > 0.95
