"""Joining track fragments by a helix fit: the fit against exact helices, the joins."""

import numpy as np
import pandas as pd
import pytest

from grapa.tracking.fragments import fit_helix, join_fragments

RADII = np.array([32.0, 72.0, 116.0, 172.0, 260.0, 360.0, 500.0, 660.0, 820.0, 1020.0])


def _helix(radius, phi0, z0, cot, charge=1):
    """Hits of a helix from the origin (circle of `radius` mm through it) on RADII."""
    centre = radius * np.array([np.cos(phi0 + charge * np.pi / 2),
                                np.sin(phi0 + charge * np.pi / 2)])
    # a point at transverse distance r from the origin on the circle: turning angle
    # 2 arcsin(r / 2R) from the start, arc length s = 2R arcsin(r / 2R)
    turn = 2 * np.arcsin(RADII / (2 * radius))
    start = -centre
    angle = np.arctan2(start[1], start[0]) - charge * turn
    x = centre[0] + radius * np.cos(angle)
    y = centre[1] + radius * np.sin(angle)
    return x, y, z0 + cot * radius * turn


def test_helix_fit_is_exact_on_a_helix_and_measures_a_known_offset():
    x, y, z = _helix(900.0, 0.3, 12.0, 0.8)
    np.testing.assert_allclose(np.hypot(x, y), RADII, rtol=1e-12)
    rphi, z_rms = fit_helix(x, y, z, np.zeros(10, int))
    assert rphi[0] < 1e-6 and z_rms[0] < 1e-6
    # z off the line by +-1 mm alternately, symmetric in s: the line fit cannot absorb it
    # all, the rms is at most 1 and close to it
    shift = np.where(np.arange(10) % 2, 1.0, -1.0)
    _, z_rms = fit_helix(x, y, z + shift, np.zeros(10, int))
    assert 0.9 < z_rms[0] <= 1.0
    # two tracks at once, the second of the other charge, each fitted alone
    x2, y2, z2 = _helix(3000.0, -2.0, -40.0, -0.3, charge=-1)
    rphi, z_rms = fit_helix(np.r_[x, x2], np.r_[y, y2], np.r_[z, z2], np.repeat([0, 1], 10))
    np.testing.assert_array_less(np.r_[rphi, z_rms], 1e-6)
    # one hit moved 1 mm outward along its radius and 3 mm in z: against numpy's own
    # least squares, the circle through the origin (r^2 = 2ax + 2by), its geometric
    # distances, and the line z(s) in the arc length on that circle
    xm, ym, zm = x.copy(), y.copy(), z.copy()
    xm[5], ym[5] = x[5] * (1 + 1 / RADII[5]), y[5] * (1 + 1 / RADII[5])
    zm[5] += 3.0
    rphi, z_rms = fit_helix(xm, ym, zm, np.zeros(10, int))
    (a, b), *_ = np.linalg.lstsq(np.stack([2 * xm, 2 * ym], axis=1), xm**2 + ym**2, rcond=None)
    radius = np.hypot(a, b)
    distance = np.hypot(xm - a, ym - b) - radius
    np.testing.assert_allclose(rphi[0], np.sqrt(np.mean(distance**2)), rtol=1e-3)
    s = 2 * radius * np.arcsin(np.hypot(xm, ym) / (2 * radius))
    line = np.polyval(np.polyfit(s, zm, 1), s)
    np.testing.assert_allclose(z_rms[0], np.sqrt(np.mean((zm - line) ** 2)), rtol=1e-9)
    assert 0.05 < rphi[0] < 1 / np.sqrt(10) + 0.01


def _hits(*tracks):
    """A hits table of the tracks' hits, one layer per radius."""
    x, y, z = (np.concatenate(v) for v in zip(*tracks))
    layer = np.argmin(np.abs(np.hypot(x, y)[:, None] - RADII), axis=1)
    return pd.DataFrame({"x": x, "y": y, "z": z, "volume_id": 8, "layer_id": 2 * layer + 2})


def test_join_fragments_joins_one_helix_and_not_another():
    a = _helix(900.0, 0.3, 12.0, 0.8)  # hits 0-9: fragments 0-4 and 5-9
    b = _helix(900.0, 0.32, 30.0, 0.8)  # hits 10-19: another particle beside it
    hits = _hits(a, b)
    labels = np.repeat([0, 1, 2, 3], 5)
    # candidate edges: a's break (4 -> 5), a's inner piece to b's outer piece (4 -> 15),
    # b's inner piece to a's outer piece (14 -> 5), and edges inside fragments (ignored)
    edges = np.array([[4, 4, 14, 0, 11], [5, 15, 5, 1, 12]])
    joined = join_fragments(hits, labels, edges, helix_neighbours=0)  # edge proposals only
    assert joined[0] == joined[9] and joined[10] != joined[15]
    assert joined[10] != joined[5] and joined[15] != joined[0]
    assert len(np.unique(joined)) == 3
    # offered alone, the wrong join fails the fit (z0 differs by 18 mm), unless the cuts
    # are opened
    wrong = np.array([[4], [15]])
    edges_only = {"helix_neighbours": 0}
    assert len(np.unique(join_fragments(hits, labels, wrong, **edges_only))) == 4
    assert len(np.unique(join_fragments(hits, labels, wrong, max_rphi=50, max_z=50,
                                        **edges_only))) == 3
    # any edge between two candidates proposes their join, not only end to start
    assert len(np.unique(join_fragments(hits, labels, np.array([[3], [5]]), **edges_only))) == 3
    # a track broken in three comes together over two rounds, one join per round each
    thirds = np.repeat([0, 1, 2], [3, 3, 4])
    chain = np.array([[2, 5], [3, 6]])
    np.testing.assert_array_equal(join_fragments(_hits(a), thirds, chain, **edges_only),
                                  np.zeros(10))
    assert len(np.unique(join_fragments(_hits(a), thirds, chain, max_rounds=1,
                                        **edges_only))) == 2
    # tight cuts: the true join's residuals are ~0, so it still passes
    assert len(np.unique(join_fragments(hits, labels, edges, max_rphi=1e-3, max_z=1e-3,
                                        **edges_only))) == 3


def test_each_fragment_end_joins_once_to_its_best_fit():
    a = _helix(900.0, 0.3, 12.0, 0.8)
    hits = _hits(a)
    x = hits["x"].to_numpy().copy()
    hits = pd.concat([hits, pd.DataFrame({"x": [x[5] * 1.0005], "y": [hits["y"][5] * 1.0005],
                                          "z": [hits["z"][5] + 0.1], "volume_id": 8,
                                          "layer_id": hits["layer_id"][5]})],
                     ignore_index=True)
    # fragments: 0-4, 5-9, and a 1-hit fragment (hit 10) near hit 5, on its layer; the
    # inner piece may join 5-9 (true) or hit 10: only the better fit joins, and then hit
    # 10 may not, its layer taken
    labels = np.r_[np.zeros(5, int), np.ones(5, int), 2]
    edges = np.array([[4, 4], [5, 10]])
    joined = join_fragments(hits, labels, edges, min_hits=4)
    assert joined[4] == joined[5] and joined[10] != joined[4]


def test_join_fragments_without_proposals_keeps_the_labels():
    hits = _hits(_helix(900.0, 0.3, 12.0, 0.8))
    labels = np.arange(10)
    np.testing.assert_array_equal(join_fragments(hits, labels, np.zeros((2, 0), int)), labels)
    with pytest.raises(ValueError, match="join options"):
        from grapa.tracking.pipeline import TrackFinder

        TrackFinder(join={"max_rhpi": 1.0})


@pytest.mark.parametrize("charge", [1, -1])
def test_helix_parameters_are_the_helix_direction_curvature_slope_and_z0(charge):
    from grapa.tracking.fragments import HELIX_SCALES, helix_parameters
    from grapa.tracking.graph import edge_kinematics

    radius, phi0, z0, cot = 1500.0, 2.9, -40.0, -0.6
    x, y, z = _helix(radius, phi0, z0, cot, charge)
    turning = np.sign(edge_kinematics(_hits((x, y, z)), np.array([[0], [1]]))[0][0])
    # `_helix` leaves the origin towards phi0 + pi: its start, -centre, sits a quarter
    # turn behind on a circle it runs round against its charge
    np.testing.assert_allclose(np.arctan2(y[0], x[0]), phi0 - np.pi, atol=0.02)
    expected = np.array([-np.cos(phi0), -np.sin(phi0), turning / radius, cot, z0])
    track = np.r_[np.zeros(10, int), 1, 1]  # the whole helix, and two of its hits alone
    points = helix_parameters(np.r_[x, x[3:5]], np.r_[y, y[3:5]], np.r_[z, z[3:5]], track)
    scales = np.array([HELIX_SCALES[0], *HELIX_SCALES])
    np.testing.assert_allclose(points * scales, [expected, expected], rtol=1e-6, atol=1e-9)


def test_pieces_that_no_edge_links_join_by_their_helix_parameters():
    a = _helix(900.0, 0.3, 12.0, 0.8)
    b = _helix(900.0, 0.32, 30.0, 0.8)
    c = _helix(2500.0, -2.0, -5.0, 0.1, charge=-1)
    hits = _hits(a, b, c)
    labels = np.repeat([0, 1, 2, 3, 4, 5], [4, 6, 5, 5, 7, 3])  # each helix in two pieces
    none = np.zeros((2, 0), int)
    joined = join_fragments(hits, labels, none)
    np.testing.assert_array_equal(np.unique(joined, return_inverse=True)[1],
                                  np.repeat([0, 1, 2], 10))
    assert len(np.unique(join_fragments(hits, labels, none, helix_neighbours=0))) == 6


def test_split_candidates_peels_the_helices_a_merged_candidate_holds(monkeypatch):
    from grapa.tracking import fragments
    from grapa.tracking.fragments import split_candidates

    a = _helix(900.0, 0.3, 12.0, 0.8)
    b = _helix(1400.0, 0.5, -20.0, 0.7, charge=-1)
    stray = tuple(v[5:6] + d for v, d in zip(a, (0.0, 40.0, 15.0)))  # on a's layer 5, 40 mm off
    hits = _hits(a, b, stray)
    labels = np.r_[np.zeros(5, int), np.ones(5, int),  # a: two pieces
                   np.full(5, 2), np.ones(5, int),      # b's inner half on its own, its outer
                   1]                                    # half with a's outer one, and the stray
    split = split_candidates(hits, labels)
    # a's outer half, b's outer half and the stray are three candidates now
    assert len({split[5], split[15], split[20]}) == 3
    for piece in (np.arange(5, 10), np.arange(15, 20)):
        assert len(np.unique(split[piece])) == 1
    # the untouched candidates keep their hits together
    assert len(np.unique(split[:5])) == 1 and len(np.unique(split[10:15])) == 1
    # two merged candidates (inner halves, outer halves), peeled in one block or in a
    # block each: the same four pieces
    halves = np.tile(np.repeat([0, 1], 5), 2)
    together = split_candidates(_hits(a, b), halves)
    assert len(np.unique(together)) == 4
    assert all(len(np.unique(together[k:k + 5])) == 1 for k in (0, 5, 10, 15))
    monkeypatch.setattr(fragments, "SPLIT_BLOCK", 1)
    np.testing.assert_array_equal(split_candidates(_hits(a, b), halves), together)
    monkeypatch.undo()
    # both particles' ten hits in one candidate (two hits on every layer): two helices
    both = split_candidates(_hits(a, b), np.zeros(20, int))
    assert len(np.unique(both)) == 2 and both[0] != both[10]
    assert len(np.unique(both[:10])) == 1 and len(np.unique(both[10:])) == 1
    # a candidate one helix fits, and one with fewer than min_hits hits, stay whole
    np.testing.assert_array_equal(split_candidates(_hits(a), np.zeros(10, int)), np.zeros(10))
    merged = np.r_[0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 2, 2, 2, 2, 2, 2, 2]  # 0: 5 hits
    assert len(np.unique(split_candidates(_hits(a, b), merged, min_hits=6)[merged == 0])) == 1
    # join_fragments splits first: the outer halves join their inner ones
    joined = join_fragments(hits, labels, np.zeros((2, 0), int))
    assert joined[0] == joined[9] and joined[10] == joined[19] and joined[0] != joined[10]
    assert joined[20] not in (joined[0], joined[10])
    unsplit = join_fragments(hits, labels, np.zeros((2, 0), int), split=False)
    assert unsplit[5] == unsplit[15]


def test_extend_candidates_takes_the_lone_hits_on_a_candidates_helix():
    from grapa.tracking.fragments import extend_candidates

    a = _helix(900.0, 0.3, 12.0, 0.8)
    b = _helix(1400.0, 0.5, -20.0, 0.7, charge=-1)
    off = tuple(v[3:4] + d for v, d in zip(b, (0.0, 0.0, 25.0)))  # b's layer 3, 25 mm in z
    hits = _hits(a, b, off)
    # a: hits 0-6 a candidate, 7-9 alone; b: whole but its hit on layer 3 missing (13
    # alone), and the hit 25 mm off b's helix on that layer alone too (20)
    labels = np.r_[np.zeros(7, int), 1, 2, 3, np.full(3, 4), 5, np.full(6, 4), 6]
    extended = extend_candidates(hits, labels)
    assert (extended[:10] == extended[0]).all()
    assert (extended[10:20] == extended[10]).all() and extended[10] != extended[0]
    assert extended[20] not in (extended[0], extended[10])
    # a candidate that fits no helix (a's hits and one of b's) takes nothing
    misfit = labels.copy()
    misfit[10] = 0
    assert len(np.unique(extend_candidates(hits, misfit)[7:10])) == 3
    # a lone hit outside the windows (40 mm off in z), the only one: nothing is taken
    x, y, z = (v.copy() for v in a)
    z[9] += 40.0
    alone = np.r_[np.zeros(9, int), 1]
    np.testing.assert_array_equal(extend_candidates(_hits((x, y, z)), alone), alone)
    # join_fragments extends last, unless told not to
    assert (join_fragments(hits, labels, np.zeros((2, 0), int))[:10] == extended[0]).all()
    kept = join_fragments(hits, labels, np.zeros((2, 0), int), extend=False)
    assert len(np.unique(kept[7:10])) == 3
