"""Tests of grapa.tracking.metrics on hand-built events whose metrics are worked out here."""

import warnings
from collections import Counter, defaultdict

import numpy as np
import pandas as pd
import pytest

from grapa.tracking.events import UNASSIGNED, TrackMLFormatError
from grapa.tracking.metrics import (
    UndefinedMetricWarning,
    combine_metrics,
    edge_labels,
    edge_metrics,
    particle_table,
    tracking_metrics,
    trackml_score,
    true_edges,
    truth_cc_bound,
)

# The hand-built event: (particle_id, pT in GeV, [track label of each of its hits]).
#   particle 1: pT 2,   6 hits, split: 4 in candidate 10 (matched), 2 in candidate 11 (too small)
#   particles 2 and 3 merged in candidate 20: 2 holds 5 of its 8 hits (2 matched), 3 holds
#     3 of its 6 hits (50%, not more), its other 3 in candidate 21 (50% again): 3 unmatched
#   particle 4: pT 0.5 (below min_pt), 5 hits in candidate 30: matched, not reconstructable
#   particle 5: 4 hits (below min_hits), in candidate 40: matched, not reconstructable
#   particle 6: pT 1.2, 5 hits, 3 in candidate 60 (matched), 2 unassigned
#   particle 7: in the particles table, no hit
#   noise: 3 hits in candidate 50 (never a match), 1 unassigned
U = UNASSIGNED
PARTICLES = [
    (1, 2.0, [10, 10, 10, 10, 11, 11]),
    (2, 3.0, [20, 20, 20, 20, 20]),
    (3, 1.5, [20, 20, 20, 21, 21, 21]),
    (4, 0.5, [30, 30, 30, 30, 30]),
    (5, 5.0, [40, 40, 40, 40]),
    (6, 1.2, [60, 60, 60, U, U]),
    (7, 9.0, []),
    (0, None, [50, 50, 50, U]),
]
# By hand, defaults (min_hits 5, min_pt 1 GeV, candidates of >= 3 hits):
#   reconstructable 1, 2, 3, 6; matched among them 1, 2, 6        -> efficiency 3/4
#   candidates >= 3 hits: 10, 20, 21, 30, 40, 50, 60 (7); matched to reconstructable 10, 20,
#   60 (3); to non-reconstructable 30, 40 (2)                        -> purity 3 / (7 - 2)


def hand_event(shuffle_seed=None):
    """(track_ids, truth, particles) of the event above; weight 1 per particle hit, 0 noise."""
    rows = [(pid, label) for pid, _, labels in PARTICLES for label in labels]
    if shuffle_seed is not None:
        rows = [rows[i] for i in np.random.default_rng(shuffle_seed).permutation(len(rows))]
    particle_ids = np.array([pid for pid, _ in rows], np.int64)
    truth = pd.DataFrame({
        "hit_id": np.arange(1, len(rows) + 1),
        "particle_id": particle_ids,
        "weight": (particle_ids != 0).astype(np.float32),
    })
    phi = np.array([0.3, -1.0, 2.0, 0.0, 1.0, -2.5, 0.7])
    pt = np.array([pt for pid, pt, _ in PARTICLES if pid])
    particles = pd.DataFrame({
        "particle_id": [pid for pid, _, _ in PARTICLES if pid],
        "px": pt * np.cos(phi), "py": pt * np.sin(phi), "pz": pt * np.sinh(0.5),
    })
    return np.array([label for _, label in rows], np.int64), truth, particles


# ---------------------------------------------------------------------------------------
# Efficiency and purity
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("shuffle_seed", [None, 3])
def test_tracking_metrics_by_hand(shuffle_seed):
    track_ids, truth, particles = hand_event(shuffle_seed)
    result = tracking_metrics(track_ids, truth, particles)
    assert result["efficiency"] == 3 / 4
    assert result["purity"] == 3 / 5
    assert result == {
        "efficiency": 0.75, "purity": 0.6, "n_particles": 7, "n_reconstructable": 4,
        "n_matched": 3, "n_candidates": 7, "n_candidates_matched": 3,
        "n_candidates_nonreconstructable": 2, "n_candidates_counted": 5,
        "n_unassigned_hits": 3,
    }


def test_tracking_metrics_cuts_are_configurable():
    track_ids, truth, particles = hand_event()
    # particle 5 (4 hits) becomes reconstructable: matched 1, 2, 5, 6 of 1, 2, 3, 5, 6;
    # candidate 40 moves to the numerator, only 30 is left out: 4 / (7 - 1)
    looser = tracking_metrics(track_ids, truth, particles, min_hits=4)
    assert (looser["efficiency"], looser["purity"]) == (4 / 5, 4 / 6)
    # particle 4 (0.5 GeV) too: only 3 unmatched; only the fakes 21 and 50 left
    loosest = tracking_metrics(track_ids, truth, particles, min_hits=4, min_pt=0.4)
    assert (loosest["efficiency"], loosest["purity"]) == (5 / 6, 5 / 7)
    # candidate 11 (2 hits) now counts in the purity, as a fake
    small = tracking_metrics(track_ids, truth, particles, min_candidate_hits=2)
    assert (small["n_candidates"], small["purity"]) == (8, 3 / 6)


def test_perfect_tracking_and_unassigned_hits():
    _, truth, particles = hand_event()
    perfect = truth["particle_id"].to_numpy().copy()
    perfect[perfect == 0] = UNASSIGNED
    result = tracking_metrics(perfect, truth, particles)
    assert (result["efficiency"], result["purity"]) == (1.0, 1.0)
    # every hit unassigned: no candidate at all
    with pytest.warns(UndefinedMetricWarning, match="purity is undefined"):
        nothing = tracking_metrics(np.full(len(truth), -1), truth, particles)
    assert nothing["efficiency"] == 0.0 and np.isnan(nothing["purity"])


def test_particle_table():
    track_ids, truth, particles = hand_event(shuffle_seed=5)
    table = particle_table(track_ids, truth, particles).set_index("particle_id")
    assert table["nhits"].to_dict() == {1: 6, 2: 5, 3: 6, 4: 5, 5: 4, 6: 5, 7: 0}
    assert table["reconstructable"].to_dict() == {
        1: True, 2: True, 3: True, 4: False, 5: False, 6: True, 7: False}
    assert table["matched"].to_dict() == {
        1: True, 2: True, 3: False, 4: True, 5: True, 6: True, 7: False}
    assert table["track_id"].to_dict() == {1: 10, 2: 20, 3: U, 4: 30, 5: 40, 6: 60, 7: U}
    np.testing.assert_allclose(table["pt"], [2.0, 3.0, 1.5, 0.5, 5.0, 1.2, 9.0])
    np.testing.assert_allclose(table["eta"], 0.5)
    np.testing.assert_allclose(table["phi"], [0.3, -1.0, 2.0, 0.0, 1.0, -2.5, 0.7])


def test_double_majority_needs_more_than_half_both_ways():
    # particle 1: 4 hits; a candidate of 2 of them + 2 noise holds 50% each way
    truth = pd.DataFrame({"particle_id": [1, 1, 1, 1, 0, 0]})
    particles = pd.DataFrame({"particle_id": [1], "px": [2.0], "py": [0.0], "pz": [0.0]})
    half = tracking_metrics(np.array([0, 0, -1, -1, 0, 0]), truth, particles, min_hits=4)
    assert half["n_matched"] == 0 and half["purity"] == 0.0
    three = tracking_metrics(np.array([0, 0, 0, -1, 0, 0]), truth, particles, min_hits=4)
    assert three["n_matched"] == 1 and three["purity"] == 1.0  # 3 of 4 and 3 of 5


def test_combine_metrics_adds_counts():
    track_ids, truth, particles = hand_event()
    one = tracking_metrics(track_ids, truth, particles)
    with pytest.warns(UndefinedMetricWarning):
        empty = tracking_metrics(np.full(len(truth), -1), truth, particles)
    pooled = combine_metrics([one, empty])
    assert pooled["n_reconstructable"] == 8 and pooled["efficiency"] == 3 / 8
    assert pooled["purity"] == 3 / 5  # the empty event adds no candidate
    with pytest.raises(ValueError, match="different counts"):
        combine_metrics([one, {"n_edges": 1}])


def test_tracking_metrics_errors():
    track_ids, truth, particles = hand_event()
    with pytest.raises(ValueError, match=r"shape \(35,\)"):
        tracking_metrics(track_ids[:-1], truth, particles)
    with pytest.raises(ValueError, match="must be integers"):
        tracking_metrics(track_ids.astype(float), truth, particles)
    with pytest.raises(TrackMLFormatError, match="missing from particles, e.g. 6"):
        tracking_metrics(track_ids, truth, particles[particles.particle_id != 6])


# ---------------------------------------------------------------------------------------
# The TrackML score
# ---------------------------------------------------------------------------------------


def score_by_loop(truth, submission):
    """The TrackML score from its definition, one track at a time, in plain Python."""
    track_of = dict(zip(submission["hit_id"].tolist(), submission["track_id"].tolist()))
    particle_hits = Counter(truth["particle_id"].tolist())
    tracks = defaultdict(list)
    for hit_id, particle_id, weight in zip(truth["hit_id"].tolist(),
                                           truth["particle_id"].tolist(),
                                           truth["weight"].tolist()):
        tracks[track_of.get(hit_id, ("alone", hit_id))].append((particle_id, weight))
    score = 0.0
    for hits in tracks.values():
        counts = Counter(particle_id for particle_id, _ in hits)
        majority, n = max(counts.items(), key=lambda item: (item[1], -item[0]))
        if n > len(hits) / 2 and n > particle_hits[majority] / 2:
            score += sum(weight for particle_id, weight in hits if particle_id == majority)
    return score / truth["weight"].sum()


def test_trackml_score_by_hand():
    track_ids, truth, particles = hand_event(shuffle_seed=1)
    submission = pd.DataFrame({"hit_id": truth["hit_id"], "track_id": track_ids})
    # counted tracks: 10 (4 hits of 1), 20 (5 of 2), 30 (5 of 4), 40 (4 of 5), 60 (3 of 6),
    # 50 (noise, weight 0); total weight: 31 particle hits
    assert trackml_score(truth, submission) == pytest.approx(21 / 31, abs=1e-12)
    perfect = pd.DataFrame({"hit_id": truth["hit_id"], "track_id": truth["particle_id"]})
    assert trackml_score(truth, perfect) == pytest.approx(1.0, abs=1e-12)


def test_trackml_score_matches_a_plain_loop():
    rng = np.random.default_rng(11)
    for trial in range(20):
        n_hits = int(rng.integers(20, 300))
        truth = pd.DataFrame({
            "hit_id": rng.permutation(n_hits) + 1000,
            "particle_id": rng.integers(0, n_hits // 6 + 2, n_hits) * 10**15,
            "weight": rng.uniform(0.0, 1.0, n_hits),
        })
        truth.loc[truth["particle_id"] == 0, "weight"] = 0.0
        # tracks that are mostly right: relabel the particle ids, then perturb some hits
        labels = pd.factorize(truth["particle_id"])[0]
        perturb = rng.random(n_hits) < 0.25
        labels[perturb] = rng.integers(-1, labels.max() + 3, int(perturb.sum()))
        submission = pd.DataFrame({"hit_id": truth["hit_id"], "track_id": labels})
        submission = submission[submission["track_id"] >= 0]  # hits left out: alone
        submission = submission.sample(frac=1.0, random_state=trial)
        assert trackml_score(truth, submission) == pytest.approx(
            score_by_loop(truth, submission), abs=1e-12)


def test_trackml_score_negative_label_is_a_hit_alone():
    truth = pd.DataFrame({"hit_id": [1, 2], "particle_id": [7, 8], "weight": [0.5, 0.5]})
    left_out = pd.DataFrame({"hit_id": [1], "track_id": [3]})
    negative = pd.DataFrame({"hit_id": [1, 2], "track_id": [3, -1]})
    # particle 8 has one hit: alone, it is a perfect one-hit track
    assert trackml_score(truth, left_out) == trackml_score(truth, negative) == 1.0


def test_trackml_score_errors():
    truth = pd.DataFrame({"hit_id": [1, 2], "particle_id": [7, 8], "weight": [0.5, 0.5]})
    with pytest.raises(TrackMLFormatError, match="more than once"):
        trackml_score(truth, pd.DataFrame({"hit_id": [1, 1], "track_id": [0, 1]}))
    with pytest.raises(TrackMLFormatError, match="sum to 0"):
        trackml_score(truth.assign(weight=0.0), pd.DataFrame({"hit_id": [1], "track_id": [0]}))
    with pytest.raises(TrackMLFormatError, match="lacks column.*weight"):
        trackml_score(truth.drop(columns="weight"), pd.DataFrame({"hit_id": [1], "track_id": [0]}))
    with pytest.raises(TrackMLFormatError, match="several events"):
        trackml_score(truth, pd.DataFrame({"event_id": [1, 2], "hit_id": [1, 2],
                                           "track_id": [0, 0]}))


# ---------------------------------------------------------------------------------------
# Edges
# ---------------------------------------------------------------------------------------


def line_event():
    """Hit rows 0-11: particle 1 (rows 3, 7, 0, 10, 5 from the inside out), particle 2
    (rows 8, 1, 11, 4 from the inside out, pT 0.5 GeV), noise (rows 2, 6, 9).
    """
    radius = {3: 30.0, 7: 70.0, 0: 120.0, 10: 170.0, 5: 260.0,  # particle 1, along y = x
              8: 32.0, 1: 72.0, 11: 115.0, 4: 175.0,  # particle 2, along y = -x
              2: 50.0, 6: 100.0, 9: 150.0}  # noise
    particle_ids = np.zeros(12, np.int64)
    particle_ids[[3, 7, 0, 10, 5]] = 1
    particle_ids[[8, 1, 11, 4]] = 2
    angle = np.where(particle_ids == 2, -np.pi / 4, np.pi / 4)
    r = np.array([radius[row] for row in range(12)])
    truth = pd.DataFrame({
        "hit_id": np.arange(12), "particle_id": particle_ids,
        "tx": r * np.cos(angle), "ty": r * np.sin(angle), "tz": 0.1 * r,
    })
    hits = pd.DataFrame({"hit_id": np.arange(12), "x": truth["tx"], "y": truth["ty"],
                         "z": truth["tz"]})
    particles = pd.DataFrame({"particle_id": [1, 2], "px": [2.0, 0.5], "py": [0.0, 0.0],
                              "pz": [0.3, 0.1]})
    return truth, hits, particles


PARTICLE_1_EDGES = [(3, 7), (7, 0), (0, 10), (10, 5)]
PARTICLE_2_EDGES = [(8, 1), (1, 11), (11, 4)]


def test_true_edges_follow_the_particle_outward():
    truth, hits, _ = line_event()
    expected = sorted(PARTICLE_1_EDGES + PARTICLE_2_EDGES)
    assert sorted(map(tuple, true_edges(truth).T.tolist())) == expected
    # from the measured positions when truth has none: the same
    positions_only_in_hits = truth.drop(columns=["tx", "ty", "tz"])
    assert sorted(map(tuple, true_edges(positions_only_in_hits, hits).T.tolist())) == expected
    assert true_edges(truth).dtype == np.int64
    with pytest.raises(TrackMLFormatError, match="pass the hits"):
        true_edges(positions_only_in_hits)


def test_edge_labels_same_particle_and_consecutive():
    truth, _, _ = line_event()
    edges = np.array([[3, 0, 10, 2, 7], [7, 3, 4, 6, 0]])  # skip-one, reversed, mixed, noise
    np.testing.assert_array_equal(edge_labels(edges, truth), [True, True, False, False, True])
    np.testing.assert_array_equal(
        edge_labels(edges, truth, consecutive=true_edges(truth)),
        [True, False, False, False, True])
    with pytest.raises(ValueError, match=r"pass edges\.T"):
        edge_labels(edges.T, truth)
    with pytest.raises(ValueError, match=r"outside \[0, 12\)"):
        edge_labels(np.array([[0], [12]]), truth)


def graph_with_one_wrong_edge():
    """Particle 1's chain complete (one edge reversed), particle 2's chain missing its
    middle edge, a skip-one edge of particle 1, and one wrong edge from particle 1 to 2.
    """
    edges = [(3, 7), (0, 7), (0, 10), (10, 5), (8, 1), (11, 4), (3, 0), (5, 8)]
    return np.array(edges).T


def test_edge_metrics_by_hand():
    truth, hits, particles = line_event()
    edges = graph_with_one_wrong_edge()
    result = edge_metrics(edges, truth, hits)
    # 6 of the 7 true edges present; 7 of the 8 edges same-particle (the skip-one counts)
    assert (result["edge_efficiency"], result["edge_purity"]) == (6 / 7, 7 / 8)
    scores = np.array([0.9, 0.9, 0.9, 0.9, 0.9, 0.4, 0.9, 0.2])
    cut = edge_metrics(edges, truth, hits, scores=scores, threshold=0.5)
    assert (cut["n_edges"], cut["edge_efficiency"], cut["edge_purity"]) == (6, 5 / 7, 1.0)
    # particle 2 is below 1 GeV: only particle 1's 4 true edges count, all present
    high_pt = edge_metrics(edges, truth, hits, min_pt=1.0, particles=particles)
    assert (high_pt["n_true_edges"], high_pt["edge_efficiency"]) == (4, 1.0)
    assert high_pt["edge_purity"] == 7 / 8
    with pytest.raises(ValueError, match="min_pt needs the particles"):
        edge_metrics(edges, truth, hits, min_pt=1.0)
    with pytest.raises(ValueError, match="one per edge"):
        edge_metrics(edges, truth, hits, scores=scores[:3])
    with pytest.warns(UndefinedMetricWarning, match="edge_purity"):
        empty = edge_metrics(np.zeros((2, 0), np.int64), truth, hits)
    assert empty["edge_efficiency"] == 0.0 and np.isnan(empty["edge_purity"])


def test_truth_cc_bound_prunes_the_wrong_edge():
    truth, _, particles = line_event()
    edges = graph_with_one_wrong_edge()
    result = truth_cc_bound(edges, truth, particles, min_hits=4, min_pt=0.1)
    # components: particle 1's 5 hits; particle 2 broken into {8, 1} and {11, 4}, neither
    # more than half of its 4 hits; 3 noise hits alone
    assert result["n_components"] == 1 + 2 + 3
    assert (result["n_reconstructable"], result["n_matched"]) == (2, 1)
    assert result["efficiency"] == 0.5
    assert (result["n_candidates"], result["purity"]) == (1, 1.0)
    # closing particle 2's gap makes the bound perfect; without the pruning, the wrong
    # edge would merge {8, 1} into particle 1's candidate
    closed = np.concatenate([edges, [[1], [11]]], axis=1)
    assert truth_cc_bound(closed, truth, particles, min_hits=4, min_pt=0.1)["efficiency"] == 1.0


def test_no_warning_when_defined():
    track_ids, truth, particles = hand_event()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        tracking_metrics(track_ids, truth, particles)
