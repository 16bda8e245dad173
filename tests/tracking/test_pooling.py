"""The hierarchical GNN's pooling (Liu et al. 2023): similarities, the mixture's score
cut, super-nodes, the assignment and super graphs, against values worked out by hand
and brute-force numpy."""

import numpy as np
import pytest

from grapa.tracking.pooling import (
    assignment_graph,
    edge_similarity,
    gmm_score_cut,
    pool_hits,
    super_graph,
    super_nodes,
)


def unit(x):
    x = np.asarray(x, dtype=float)
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def test_similarity_is_the_artanh_of_the_dot_product():
    embeddings = unit([[1, 0], [0.5, np.sqrt(0.75)], [0, 1], [1, 0]])
    edges = np.array([[0, 0, 1, 0], [1, 2, 2, 3]])
    # dot products 0.5, 0, sqrt(0.75), 1 (clipped: finite)
    expected = [0.5493061443, 0.0, np.arctanh(np.sqrt(0.75))]
    s = edge_similarity(embeddings, edges)
    np.testing.assert_allclose(s[:3], expected, rtol=1e-6)
    assert np.isfinite(s[3]) and s[3] > 8


def test_score_cut_is_where_the_log_odds_reach_the_granularity():
    rng = np.random.default_rng(0)
    # lower component N(0, 1) with weight 0.9, upper N(6, 1) with weight 0.1; equal widths:
    # ln(0.1 / 0.9) + 6 s - 18 = r  ->  s = (r + 18 + ln 9) / 6
    s = np.concatenate([rng.normal(0, 1, 90_000), rng.normal(6, 1, 10_000)])
    for r in (0.0, 5.0):
        assert gmm_score_cut(s, granularity=r) == pytest.approx((r + 18 + np.log(9)) / 6,
                                                               abs=0.03)
    assert gmm_score_cut(s, 2.0) < gmm_score_cut(s, 4.0)
    with pytest.raises(ValueError, match="lower the granularity"):
        gmm_score_cut(s, granularity=60.0)
    with pytest.raises(ValueError, match="two distinct"):
        gmm_score_cut(np.ones(10))


def test_super_nodes_are_the_large_components_above_the_cut():
    embeddings = unit([[1, 0.1], [1, 0.0], [1, -0.1], [0.1, 1], [0, 1], [-1, 0.2], [-1, 0]])
    edges = np.array([[0, 1, 2, 3, 4, 5], [1, 2, 3, 4, 5, 6]])
    s = np.array([3.0, 3.0, 0.1, 3.0, 0.1, 3.0])
    labels, centers = super_nodes(embeddings, edges, s, cut=1.0, min_hits=2)
    # components {0, 1, 2}, {3, 4}, {5, 6}: all of at least 2 hits
    np.testing.assert_array_equal(labels, [0, 0, 0, 1, 1, 2, 2])
    np.testing.assert_allclose(centers[0], unit(embeddings[:3].sum(0)))
    np.testing.assert_allclose(centers[2], unit(embeddings[5:].sum(0)))
    np.testing.assert_allclose(np.linalg.norm(centers, axis=1), 1.0)
    labels, centers = super_nodes(embeddings, edges, s, cut=1.0, min_hits=3)
    np.testing.assert_array_equal(labels, [0, 0, 0, -1, -1, -1, -1])
    assert centers.shape == (1, 2)


def test_assignment_and_super_graphs_match_a_brute_force_ranking():
    rng = np.random.default_rng(1)
    hits, centers = unit(rng.normal(size=(200, 6))), unit(rng.normal(size=(30, 6)))
    edges, logits = assignment_graph(hits, centers, assignments=4)
    assert edges.shape == (2, 800)
    dots = hits @ centers.T
    best = np.argsort(-dots, axis=1)[:, :4]
    for i in range(len(hits)):
        assert set(edges[1, edges[0] == i]) == set(best[i])
    np.testing.assert_allclose(logits, dots[edges[0], edges[1]], rtol=1e-12)
    # fewer super-nodes than assignments: each hit gets them all
    assert assignment_graph(hits, centers[:2], assignments=4)[0].shape == (2, 400)

    pairs = super_graph(centers, neighbours=3)
    assert (pairs[0] != pairs[1]).all()
    as_set = set(map(tuple, pairs.T))
    assert as_set == {(b, a) for a, b in as_set} and len(as_set) == pairs.shape[1]
    distances = ((centers[:, None] - centers[None]) ** 2).sum(-1)
    np.fill_diagonal(distances, np.inf)
    for a, row in enumerate(np.argsort(distances, axis=1)[:, :3]):
        assert all((a, b) in as_set for b in row)
    assert super_graph(centers[:1]).shape == (2, 0)


def test_local_assignments_take_the_graph_neighbourhoods_super_nodes():
    # super-node 0 holds hits 0-2 and super-node 1 hits 3-5, far apart in the graph; hit
    # 6 is in neither, linked to hit 2 only, and its embedding sits on super-node 1's
    # centre: the authors' nearest super-node is 1, the graph's neighbourhood gives 0
    rng = np.random.default_rng(3)
    centres = unit([[1, 0, 0], [0, 1, 0], [0, 0, 1]])
    hits = unit(np.r_[np.repeat(centres[:2], 3, axis=0) + 0.05 * rng.normal(size=(6, 3)),
                      [[0.1, 1.0, 0.0]], [[0.0, 0.1, 1.0]]])
    labels = np.array([0, 0, 0, 1, 1, 1, -1, -1])
    edges = np.array([[0, 1, 3, 4, 2], [1, 2, 4, 5, 6]])  # hit 7: no edge at all
    local, logits = assignment_graph(hits, centres[:2], assignments=1, labels=labels,
                                     edges=edges)
    np.testing.assert_array_equal(local, [np.arange(8), [0, 0, 0, 1, 1, 1, 0, 1]])
    np.testing.assert_allclose(logits, np.einsum("ij,ij->i", hits, centres[local[1]]))
    authors, _ = assignment_graph(hits, centres[:2], assignments=1)
    assert authors[1, 6] == 1
    # two per hit: hit 2 sees super-nodes 0 (its own) and none other, hit 6 only 0
    local, _ = assignment_graph(hits, centres[:2], assignments=2, labels=labels, edges=edges)
    per_hit = {i: sorted(local[1, local[0] == i]) for i in range(8)}
    assert per_hit[2] == [0] and per_hit[6] == [0] and per_hit[7] == [1]
    # a hit linked to both super-nodes keeps the more similar when one is allowed
    bridge = np.concatenate([edges, [[6], [3]]], axis=1)
    local, _ = assignment_graph(hits, centres[:2], assignments=1, labels=labels, edges=bridge)
    assert local[1, 6] == 1
    pooling = pool_hits(hits, edges, cut=-np.inf, min_hits=3, assignments=1,
                        local_assignments=True)
    assert pooling.assignment.shape == (2, 8)


def test_pooling_recovers_particles_from_noisy_embeddings():
    rng = np.random.default_rng(2)
    particles, per_particle = 40, 8
    directions = unit(rng.normal(size=(particles, 8)))
    truth = np.repeat(np.arange(particles), per_particle)
    embeddings = unit(directions[truth] + rng.normal(0, 0.05, size=(len(truth), 8)))
    # the event's graph: each hit to its 12 nearest in the embedding, so 7 true edges and
    # 5 false ones per hit
    from scipy.spatial import cKDTree

    _, nearest = cKDTree(embeddings).query(embeddings, k=13)
    edges = np.stack([np.repeat(np.arange(len(truth)), 12), nearest[:, 1:].ravel()])
    assert 0.3 < (truth[edges[0]] != truth[edges[1]]).mean() < 0.5
    pooling = pool_hits(embeddings, edges, seed=0)
    assert pooling.centers.shape[0] == particles
    # every super-node holds one particle's hits, all of them
    for a in range(particles):
        members = truth[pooling.labels == a]
        assert len(members) == per_particle and len(set(members)) == 1
    # each hit's nearest super-node is its own particle's; logits are unit dot products
    first = pooling.assignment[1].reshape(len(truth), -1)[:, 0]
    np.testing.assert_array_equal(first, pooling.labels)
    assert pooling.assignment.shape == (2, len(truth) * 5)
    assert np.abs(pooling.assignment_logits).max() <= 1 + 1e-9
    # a cut above every edge leaves no super-node: the whole graph's components are used
    fallback = pool_hits(embeddings, edges, cut=np.inf)
    assert len(fallback.centers) >= 1 and (fallback.labels >= 0).all()


def test_pooling_refuses_embeddings_off_the_sphere_and_bad_edges():
    with pytest.raises(ValueError, match="unit sphere"):
        edge_similarity(np.ones((3, 2)), np.array([[0], [1]]))
    with pytest.raises(ValueError, match="outside the 3 hits"):
        edge_similarity(unit(np.ones((3, 2))), np.array([[0], [3]]))
    with pytest.raises(ValueError, match=r"\(2, E\)"):
        edge_similarity(unit(np.ones((3, 2))), np.array([0, 1]))
    with pytest.raises(ValueError, match="no super-nodes"):
        assignment_graph(unit(np.ones((3, 2))), np.zeros((0, 2)))
