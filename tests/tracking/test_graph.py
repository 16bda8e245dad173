"""Graph construction on hits, against hand-computed values and a brute-force builder."""

import numpy as np
import pandas as pd
import pytest

from grapa.tracking.graph import (
    CURVATURE_SCALE,
    SLOPE_SCALE,
    Z0_WEIGHT,
    _phi_window_pairs,
    continuation_features,
    cylindrical,
    detector_layers,
    edge_features,
    edge_kinematics,
    hit_features,
    layer_pair_graph,
)
from grapa.tracking.metrics import edge_metrics
from grapa.tracking.simulate import BarrelDetector, simulate_event


def _hits(x, y, z, volume, layer):
    return pd.DataFrame({"hit_id": np.arange(1, len(x) + 1), "x": x, "y": y, "z": z,
                         "volume_id": volume, "layer_id": layer, "module_id": 1})


def test_hit_and_edge_features_by_hand():
    hits = _hits([3.0, 0.0], [4.0, -72.0], [5.0, 30.0], [8, 8], [2, 4])
    np.testing.assert_allclose(hit_features(hits), [[0.005, np.arctan2(4, 3) / np.pi, 0.005],
                                                    [0.072, -0.5, 0.030]], rtol=1e-6)
    # hits at r = 5 mm, z = 5 mm and r = 72 mm, z = 30 mm
    dr, dphi, dz = 0.067, -np.pi / 2 - np.arctan2(4, 3), 0.025
    cot_theta = 25.0 / 67.0
    z0 = 0.005 - 0.005 * cot_theta  # metres: the line back to r = 0
    r_phi_slope = (0.005 + 0.072) / 2 * dphi / dr
    np.testing.assert_allclose(edge_features(hits, np.array([[0], [1]]))[0],
                               [dr, dphi, dz, dphi / dr, cot_theta, z0, r_phi_slope], rtol=1e-5)


def test_edge_dphi_wraps_at_pi():
    hits = _hits([-100.0, -200.0], [1.0, -1.0], [0.0, 0.0], [8, 8], [2, 4])
    _, phi, _ = cylindrical(hits)
    assert abs(edge_features(hits, np.array([[0], [1]]))[0, 1]) < 0.02 < abs(phi[1] - phi[0])


def test_detector_layers_ordered_by_radius():
    radius = np.array([500.0, 32.0, 172.0, 32.0, 500.0])
    hits = _hits(radius, np.zeros(5), np.zeros(5), [13, 8, 8, 8, 13], [6, 2, 8, 2, 6])
    np.testing.assert_array_equal(detector_layers(hits), [2, 0, 1, 0, 2])


def test_phi_window_pairs_match_brute_force():
    rng = np.random.default_rng(0)
    inner = rng.uniform(-np.pi, np.pi, 200)
    inner[:5] = [np.pi - 1e-3, -np.pi + 1e-3, 3.1, -3.1, 0.0]  # next to the wrap
    outer = rng.uniform(-np.pi, np.pi, 300)
    half = rng.uniform(0.0, 0.2, 200)
    i, o = _phi_window_pairs(inner, outer, half)
    found = set(zip(i.tolist(), o.tolist()))
    delta = np.abs((outer[None, :] - inner[:, None] + np.pi) % (2 * np.pi) - np.pi)
    expected = set(zip(*np.nonzero(delta <= half[:, None])))
    assert found == {(int(a), int(b)) for a, b in expected}
    assert len(i) == len(found)  # no pair twice


def _brute_force_graph(hits, min_pt, b_field, phi_margin, max_z0, max_skip):
    r, phi, z = cylindrical(hits)
    layers = detector_layers(hits)
    k = 0.299792458e-3 * b_field / (2 * min_pt)
    edges = set()
    for a in range(len(hits)):
        for b in range(len(hits)):
            if not 1 <= layers[b] - layers[a] <= max_skip + 1:
                continue
            r_outer = np.median(r[layers == layers[b]])
            window = phi_margin * abs(np.arcsin(min(r_outer * k, 1)) - np.arcsin(min(r[a] * k, 1))) + 1e-3
            dphi = (phi[b] - phi[a] + np.pi) % (2 * np.pi) - np.pi
            z0 = z[a] - r[a] * (z[b] - z[a]) / (r[b] - r[a])
            if abs(dphi) <= window and abs(z0) < max_z0:
                edges.add((a, b))
    return edges


def test_layer_pair_graph_matches_brute_force():
    hits, _, _ = simulate_event(40, seed=3)
    options = dict(min_pt=0.8, b_field=2.0, phi_margin=1.5, max_z0=150.0, max_skip=1)
    edges = layer_pair_graph(hits, **options)
    assert edges.shape[0] == 2 and edges.dtype == np.int64
    assert set(zip(edges[0].tolist(), edges[1].tolist())) == _brute_force_graph(hits, **options)


def test_layer_pair_graph_keeps_every_true_edge_above_min_pt():
    """Ideal detector (no scattering, no smearing), vertices within max_z0: every pair of
    consecutive hits of a particle above min_pt is a candidate edge."""
    hits, truth, particles = simulate_event(300, seed=1, detector=BarrelDetector().ideal(),
                                            inefficiency=0.0)
    edges = layer_pair_graph(hits, min_pt=1.0, max_z0=300.0)
    result = edge_metrics(edges, truth, hits, min_pt=1.0, particles=particles)
    assert result["edge_efficiency"] == 1.0
    r, _, _ = cylindrical(hits)
    assert np.all(r[edges[1]] > r[edges[0]])  # inner -> outer


def test_layer_pair_graph_rejects_bad_cuts():
    hits, _, _ = simulate_event(5, seed=0)
    with pytest.raises(ValueError, match="min_pt, b_field, phi_margin, max_z0 > 0"):
        layer_pair_graph(hits, min_pt=0.0)


def _brute_force_capped(hits, k, min_pt=0.5, phi_margin=2.0, max_z0=200.0, max_skip=1):
    """Per inner hit and outer layer: rank every outer hit by
    (dphi / W)^2 + (Z0_WEIGHT z0 / max_z0)^2 at the layers' median radii (W the window
    there), keep the k nearest within the search bound, then the exact cuts per hit."""
    r, phi, z = cylindrical(hits)
    layers = detector_layers(hits)
    curvature = 0.299792458e-3 * 2.0 / (2 * min_pt)
    median = [np.median(r[layers == k]) for k in range(layers.max() + 1)]

    def bend(r_in, r_out):
        return abs(np.arcsin(min(r_out * curvature, 1)) - np.arcsin(min(r_in * curvature, 1)))

    bound = 1.05 * np.sqrt(1 + Z0_WEIGHT**2)
    edges = set()
    for a in range(len(hits)):
        for step in range(1, max_skip + 2):
            outer = np.flatnonzero(layers == layers[a] + step)
            if not len(outer):
                continue
            r1, r2 = median[layers[a]], median[layers[a] + step]
            w = np.median([phi_margin * bend(r[i], r2) + 1e-3
                           for i in np.flatnonzero(layers == layers[a])])
            dphi = (phi[outer] - phi[a] + np.pi) % (2 * np.pi) - np.pi
            z0 = (z[a] * r2 - r1 * z[outer]) / (r2 - r1)
            distance = np.hypot(dphi / w, Z0_WEIGHT * z0 / max_z0)
            order = np.argsort(distance)[:k]
            for b in outer[order[distance[order] < bound]]:
                exact_dphi = (phi[b] - phi[a] + np.pi) % (2 * np.pi) - np.pi
                exact_z0 = z[a] - r[a] * (z[b] - z[a]) / (r[b] - r[a])
                if abs(exact_dphi) <= phi_margin * bend(r[a], r2) + 1e-3 and abs(exact_z0) < max_z0:
                    edges.add((a, int(b)))
    return edges


def test_max_neighbours_matches_brute_force_ranking():
    hits, _, _ = simulate_event(150, seed=4)  # 1,467 of 2,577 (hit, layer) windows hold > 2
    capped = layer_pair_graph(hits, min_pt=0.5, max_neighbours=2)
    assert set(zip(*capped.tolist())) == _brute_force_capped(hits, 2)


def test_max_neighbours_keeps_a_subset_capped_per_hit_and_layer():
    hits, truth, particles = simulate_event(1500, seed=4)
    full = layer_pair_graph(hits, min_pt=0.5)
    capped = layer_pair_graph(hits, min_pt=0.5, max_neighbours=8)
    assert set(zip(*capped.tolist())) <= set(zip(*full.tolist()))
    layers = detector_layers(hits)
    _, counts = np.unique(capped[0] * 100 + layers[capped[1]], return_counts=True)
    assert counts.max() == 8 and capped.shape[1] < 0.6 * full.shape[1]
    # the nearest are the likeliest: the cap keeps the true edges far more than others
    kept = [edge_metrics(e, truth, hits, min_pt=1.0, particles=particles) for e in (full, capped)]
    assert kept[1]["n_true_edges_found"] > 0.97 * kept[0]["n_true_edges_found"]
    with pytest.raises(ValueError, match="max_neighbours must be >= 1"):
        layer_pair_graph(hits, max_neighbours=0)


def test_max_neighbours_wraps_at_pi():
    """A track crossing phi = pi: its outer hit is the inner one's nearest across the cut."""
    hits = _hits([-32.0, -72.0, 10.0, 20.0], [0.1, -0.3, 32.0, 70.0], [0.0, 0.0, 500.0, 0.0],
                 [8, 8, 8, 8], [2, 4, 2, 4])
    edges = layer_pair_graph(hits, min_pt=1.0, max_neighbours=1)
    assert (0, 1) in set(zip(*edges.tolist()))


def test_max_neighbours_on_disks_of_one_median_radius():
    """Endcap disks (TrackML's other volumes) spread over r at fixed z, so two layers may
    share a median radius: the ranking, made for cylinders, is not used and every pair
    stays."""
    rng = np.random.default_rng(1)
    r = np.repeat(rng.uniform(100.0, 500.0, 200), 2)  # both disks: the same radii
    phi = rng.uniform(-np.pi, np.pi, 400)
    disk = np.arange(400) % 2
    hits = _hits(r * np.cos(phi), r * np.sin(phi), np.where(disk, 1200.0, 1000.0),
                 np.full(400, 7), np.where(disk, 4, 2))
    layers = disk  # the disk nearer the origin first
    full = layer_pair_graph(hits, min_pt=0.5, max_z0=1e4, layers=layers)
    capped = layer_pair_graph(hits, min_pt=0.5, max_z0=1e4, max_neighbours=2, layers=layers)
    assert full.shape[1] > 0
    np.testing.assert_array_equal(capped, full)


def _circumcurvature(p1, p2, p3):
    """1 / R of the circle through three points, from the triangle: R = abc / (4 area)."""
    a, b, c = (np.linalg.norm(np.subtract(u, v)) for u, v in ((p1, p2), (p2, p3), (p3, p1)))
    area = 0.5 * abs((p2[0] - p1[0]) * (p3[1] - p1[1]) - (p3[0] - p1[0]) * (p2[1] - p1[1]))
    return 4 * area / (a * b * c)


def test_edge_kinematics_by_hand():
    # a circle of radius 500 mm through the origin, centred at (0, 500): hits at r = 100, 300
    points = [(500 * np.sin(t), 500 - 500 * np.cos(t)) for t in 2 * np.arcsin([0.1, 0.3])]
    hits = _hits([points[0][0], points[1][0]], [points[0][1], points[1][1]], [10.0, 70.0],
                 [8, 8], [2, 4])
    curvature, slope = edge_kinematics(hits, np.array([[0], [1]]))
    r = np.hypot(*np.array(points).T)
    np.testing.assert_allclose(r, [100.0, 300.0], rtol=1e-6)
    assert curvature[0] == pytest.approx(_circumcurvature((0, 0), *points), rel=1e-9)
    assert curvature[0] == pytest.approx(1 / 500, rel=1e-6)  # counter-clockwise: positive
    assert slope[0] == pytest.approx(60.0 / 200.0)
    mirrored = hits.assign(x=-hits["x"])  # the same track bending the other way
    assert edge_kinematics(mirrored, np.array([[0], [1]]))[0][0] == pytest.approx(-1 / 500, rel=1e-6)
    degenerate = _hits([0.0, 50.0, 50.0], [0.0, 20.0, 20.0], [0.0, 1.0, 2.0], [8] * 3, [2, 4, 6])
    curvature, slope = edge_kinematics(degenerate, np.array([[0, 1], [1, 2]]))
    np.testing.assert_array_equal(curvature, [0.0, 0.0])  # on the beam line; one point
    assert np.all(np.isfinite(slope))


def _brute_force_continuation(hits, edges):
    curvature, slope = edge_kinematics(hits, edges)
    curvature, slope = curvature / CURVATURE_SCALE, slope / SLOPE_SCALE
    out = np.zeros((edges.shape[1], 6))
    for e, (inner, outer) in enumerate(edges.T):
        for column, partners in ((0, edges[0] == outer), (3, edges[1] == inner)):
            if not partners.any():
                out[e, column:column + 3] = np.log1p(1e3), np.log1p(1e3), 0
                continue
            d_curvature = np.abs(curvature[partners] - curvature[e])
            d_slope = np.abs(slope[partners] - slope[e])
            best = np.argmin(d_curvature ** 2 + d_slope ** 2)
            out[e, column:column + 3] = (np.log1p(min(d_curvature[best], 1e3)),
                                         np.log1p(min(d_slope[best], 1e3)), 1)
    return out


def test_continuation_features_match_brute_force():
    # every hit has at most 4 edges on each side, so the curvature search sees them all
    rng = np.random.default_rng(5)
    n = 60
    radius = np.repeat([32.0, 72.0, 116.0, 172.0], n // 4)
    phi = rng.uniform(-0.3, 0.3, n)
    hits = _hits(radius * np.cos(phi), radius * np.sin(phi), rng.uniform(-50, 50, n),
                 np.full(n, 8), np.repeat([2, 4, 6, 8], n // 4))
    layer = np.repeat(np.arange(4), n // 4)
    inner = np.repeat(np.flatnonzero(layer < 3), 3)
    outer = np.array([rng.choice(np.flatnonzero(layer == layer[i] + 1)) for i in inner])
    edges = np.unique(np.stack([inner, outer]), axis=1)
    in_degree = np.bincount(edges[1], minlength=n)
    edges = edges[:, in_degree[edges[1]] <= 4]
    assert np.bincount(edges[0]).max() <= 4 and np.bincount(edges[1]).max() <= 4
    np.testing.assert_allclose(continuation_features(hits, edges),
                               _brute_force_continuation(hits, edges), rtol=1e-4, atol=1e-5)


def test_continuation_features_find_the_track_that_goes_on():
    # one helix (R = 2 m, cot theta 0.5) through four layers, and a stray hit on layer 2
    radius = np.array([32.0, 72.0, 116.0, 172.0])
    turn = 2 * np.arcsin(radius / 4000.0)
    x, y = 2000 * np.sin(turn), 2000 - 2000 * np.cos(turn)
    z = 5.0 + 0.5 * 4000 * np.arcsin(radius / 4000.0)
    hits = _hits(np.r_[x, 30.0], np.r_[y, 60.0], np.r_[z, 40.0], np.full(5, 8),
                 [2, 4, 6, 8, 6])
    edges = np.array([[0, 1, 2, 1, 4], [1, 2, 3, 4, 3]])  # the track, 1 -> stray -> 3
    features = continuation_features(hits, edges)
    track, stray = features[[0, 1, 2]], features[[3, 4]]
    # along the helix the next edge continues it: curvature and slope change little
    assert np.all(track[0, :2] < np.log1p(0.3)) and np.all(track[1, :2] < np.log1p(0.3))
    assert np.all(track[1, 3:5] < np.log1p(0.3)) and np.all(track[2, 3:5] < np.log1p(0.3))
    # the detour's edges continue only each other, and badly
    assert stray[0, 0] > np.log1p(50) and stray[1, 3] > np.log1p(50)
    # the first edge has nothing before it, the last nothing after
    np.testing.assert_allclose(features[0, 3:], [np.log1p(1e3), np.log1p(1e3), 0])
    np.testing.assert_allclose(features[2, :3], [np.log1p(1e3), np.log1p(1e3), 0])
    assert continuation_features(hits, np.zeros((2, 0), np.int64)).shape == (0, 6)
