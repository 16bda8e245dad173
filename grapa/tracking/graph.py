r"""Graphs on detector hits: which hit pairs a track could join, as an edge list.

The first stage of the Exa.TrkX pipeline (Ju et al., Eur. Phys. J. C 81 (2021) 876,
sec. 3.1) proposes candidate edges; the edge classifier then judges them. This module
holds the geometric builder (Farrell et al., "Novel deep learning methods for track
reconstruction", arXiv:1810.06111, sec. 3: pairs of hits on adjacent layers whose
straight line points back to the beam line and bends no more than a track above a pT
threshold would) and the hit coordinates every stage reads.

Edges are `(2, E)` int arrays of hit *rows* (the row order of `Event.hits`), directed
from the inner hit to the outer one; no function here builds a hits x hits matrix.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.spatial import cKDTree

__all__ = [
    "cylindrical",
    "hit_features",
    "edge_features",
    "detector_layers",
    "layer_pair_graph",
    "N_HIT_FEATURES",
    "N_EDGE_FEATURES",
]

R_SCALE = 1000.0  # mm: hit features are r / 1 m, phi / pi, z / 1 m (Exa.TrkX's scaling)
Z_SCALE = 1000.0
N_HIT_FEATURES = 3
N_EDGE_FEATURES = 7


def cylindrical(hits: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """`(r, phi, z)` of every hit: transverse radius (mm), azimuth in (-pi, pi], z (mm)."""
    x, y = hits["x"].to_numpy(np.float64), hits["y"].to_numpy(np.float64)
    return np.hypot(x, y), np.arctan2(y, x), hits["z"].to_numpy(np.float64)


def hit_features(hits: pd.DataFrame) -> np.ndarray:
    """`(n_hits, 3)` float32 node features: `r / 1 m`, `phi / pi`, `z / 1 m`.

    No hit sits at the origin, so no real hit has an all-zero row (grapa's padding mark).
    """
    r, phi, z = cylindrical(hits)
    return np.stack([r / R_SCALE, phi / np.pi, z / Z_SCALE], axis=1).astype("float32")


def _wrap(angle):
    """An angle difference in [-pi, pi)."""
    return (angle + np.pi) % (2 * np.pi) - np.pi


def edge_features(hits: pd.DataFrame, edges: np.ndarray) -> np.ndarray:
    """`(E, 7)` float32 geometric features of each edge `(inner -> outer)`.

    `dr / 1 m`, `dphi` (wrapped, rad), `dz / 1 m`; `dphi / dr` in rad/m, the curvature
    proxy (a track of transverse momentum pT bends by about `dr * 0.3 B / (2 pT)` over
    `dr`); `dz / dr`, the track's cot(theta); `z0 / 1 m`, where the line through the two
    hits meets the beam axis (`z_inner - r_inner dz / dr`); and `r_mean dphi / dr`,
    Exa.TrkX's r-phi slope. The last three are ratios a network would otherwise have to
    learn to divide for: with them, the edge classifier's validation loss after six
    epochs on ten 1,000-particle events fell from 0.34 to 0.30 (to 0.29 with the
    rotation-invariant hit inputs of `grapa.tracking.pipeline`).
    """
    r, phi, z = cylindrical(hits)
    inner, outer = np.asarray(edges)
    dr = r[outer] - r[inner]
    dphi = _wrap(phi[outer] - phi[inner])
    dz = z[outer] - z[inner]
    safe_dr = np.where(np.abs(dr) > 1e-6, dr, 1e-6)  # mm; layer pairs have dr >= 40 mm
    cot_theta = dz / safe_dr
    z0 = z[inner] - r[inner] * cot_theta
    r_phi_slope = 0.5 * (r[inner] + r[outer]) * dphi / safe_dr
    return np.stack([dr / R_SCALE, dphi, dz / Z_SCALE, dphi / (safe_dr / R_SCALE), cot_theta,
                     z0 / Z_SCALE, r_phi_slope], axis=1).astype("float32")


def detector_layers(hits: pd.DataFrame) -> np.ndarray:
    """Each hit's layer number, 0 for the innermost: `(volume_id, layer_id)` pairs ordered
    by their hits' median radius, as the barrel's cylinders are."""
    keys = hits["volume_id"].to_numpy(np.int64) * 10_000 + hits["layer_id"].to_numpy(np.int64)
    unique, inverse = np.unique(keys, return_inverse=True)
    r, _, _ = cylindrical(hits)
    medians = np.array([np.median(r[inverse == k]) for k in range(len(unique))])
    rank = np.empty(len(unique), np.int64)
    rank[np.argsort(medians, kind="stable")] = np.arange(len(unique))
    return rank[inverse]


def _wrapped(phi, reach):
    """`(rows, phi)`: every hit, then copies 2 pi away of those within `reach` of +-pi, so
    that a window of half-width up to `reach` around any azimuth never needs to wrap."""
    low, high = phi < -np.pi + reach, phi > np.pi - reach
    rows = np.concatenate([np.arange(len(phi)), np.flatnonzero(low), np.flatnonzero(high)])
    return rows, np.concatenate([phi, phi[low] + 2 * np.pi, phi[high] - 2 * np.pi])


def _phi_window_pairs(phi_inner, phi_outer, half_width):
    """All (inner, outer) index pairs with |phi_outer - phi_inner| <= half_width[inner],
    wrapping at ±pi, by binary search in the phi-sorted outer hits (no n x m matrix)."""
    half_width = np.minimum(half_width, np.pi)
    rows, extended = _wrapped(phi_outer, half_width.max(initial=0.0))
    order = np.argsort(extended, kind="stable")
    extended, extended_index = extended[order], rows[order]
    low = np.searchsorted(extended, phi_inner - half_width, side="left")
    high = np.searchsorted(extended, phi_inner + half_width, side="right")
    counts = high - low
    inner = np.repeat(np.arange(len(phi_inner)), counts)
    starts = np.repeat(low - np.cumsum(counts) + counts, counts)
    positions = starts + np.arange(counts.sum())
    return inner, extended_index[positions]


Z0_WEIGHT = 0.5
"""Weight of `z_0 / max_z0` against `dphi / window` when `layer_pair_graph` ranks pairs."""


def _nearest_in_window(phi_inner, z_inner, phi_outer, z_outer, window, z_scale, k):
    """Each inner hit's `k` nearest outer hits in `(phi / window, z * z_scale)`, by a k-d
    tree (`scipy.spatial.cKDTree`): (inner, outer) index pairs, time and memory linear in
    hits x `k`."""
    bound = 1.05 * np.sqrt(1 + Z0_WEIGHT**2)  # no pair farther than this passes the cuts
    rows, phi = _wrapped(phi_outer, min(bound * window, np.pi))
    tree = cKDTree(np.stack([phi / window, z_outer[rows] * z_scale], axis=1))
    k = min(k, len(rows))
    _, found = tree.query(np.stack([phi_inner / window, z_inner * z_scale], axis=1), k=k,
                          distance_upper_bound=bound)
    found = found.reshape(len(phi_inner), k)
    inner, slot = np.nonzero(found < len(rows))
    return inner, rows[found[inner, slot]]


def layer_pair_graph(hits: pd.DataFrame, *, min_pt: float = 1.0, b_field: float = 2.0,
                     phi_margin: float = 2.0, max_z0: float = 200.0, max_skip: int = 1,
                     max_neighbours: int | None = None,
                     layers: np.ndarray | None = None) -> np.ndarray:
    r"""Candidate edges between hits on nearby layers that a track could join.

    For an inner hit at `(r_1, phi_1, z_1)` and an outer one at `(r_2, phi_2, z_2)` on
    one of the next `1 + max_skip` layers (a skip covers a missing hit), the pair is kept
    when

    - its bend fits a track above `min_pt`: the helix through the origin and the inner
      hit reaches the outer radius at
      `phi_2 - phi_1 = arcsin(r_2 k) - arcsin(r_1 k)` with `k = 0.3 B / (2 pT)`; the
      window is that value for `pT = min_pt`, times `phi_margin` for multiple
      scattering and the beam spot;
    - the straight line through both hits in `(r, z)` meets the beam line within
      `|z_0| < max_z0`, with `z_0 = z_1 - r_1 (z_2 - z_1) / (r_2 - r_1)`.

    Charges of both signs pass (the window is symmetric). Hits are matched by binary
    search in phi, so time and memory grow with the edges kept, not with hit pairs. The
    pairs inside fixed windows grow with the square of the hit density (at 1,000
    particles per event 30 per hit, at 5,000 144), so `max_neighbours` keeps, per inner
    hit and outer layer, only those of its `max_neighbours` nearest outer hits that pass
    the cuts, nearest in `(dphi / window)^2 + (Z0_WEIGHT z_0 / max_z0)^2` (the window and
    z_0 taken at the two layers' median radii). They are found by a k-d tree
    (`scipy.spatial.cKDTree`), so time, memory and edges grow linearly with the hits.
    That ranking needs barrel cylinders: pairs of layers that spread over radius
    (endcap disks) keep every pair.
    True pairs spread over 0.17 of the window in dphi and 0.27 of `max_z0 = 200` in
    z_0 (the beam spot) and false pairs evenly over both, so z_0 weighs less: on 5,000
    particles, 16 neighbours kept 0.988 of the true edges above 1 GeV with z_0 at half
    weight, 0.983 at full weight, 0.94 at double weight (0.9993 in the full graph).
    The cap costs the soft tracks first: a track near `min_pt` bends to the window's
    edge and ranks behind the straight ones, so with 24 neighbours (1.9 million edges,
    against 7.7 million) the truth-connected-components bound at 5,000 particles is
    0.9985 / 0.75 (efficiency / purity; 0.9992 / 0.997 without the cap): the soft
    tracks' pieces count against the purity. At 1,000 particles 24 neighbours change
    nothing in the bound (0.9979 / 0.9947 on four events, 240k edges against 320k), 16
    lower its purity to 0.983.

    Args:
        hits: the event's hits (`x, y, z, volume_id, layer_id`).
        min_pt: the lowest transverse momentum (GeV) whose tracks must stay connected.
        b_field: solenoid field in tesla.
        phi_margin: factor on the phi window.
        max_z0: largest |z| (mm) where the pair's line may cross the beam line.
        max_skip: how many layers a pair may jump (0: adjacent layers only).
        max_neighbours: most outer hits per inner hit and layer, or None for all.
        layers: each hit's layer number (default: `detector_layers(hits)`).

    Returns:
        int64 array `(2, E)` of (inner, outer) hit rows.
    """
    if max_neighbours is not None and max_neighbours < 1:
        raise ValueError(f"max_neighbours must be >= 1 or None, got {max_neighbours}")
    if min_pt <= 0 or b_field <= 0 or phi_margin <= 0 or max_z0 <= 0 or max_skip < 0:
        raise ValueError(
            f"layer_pair_graph needs min_pt, b_field, phi_margin, max_z0 > 0 and max_skip >= 0, "
            f"got {min_pt}, {b_field}, {phi_margin}, {max_z0}, {max_skip}")
    r, phi, z = cylindrical(hits)
    layers = detector_layers(hits) if layers is None else np.asarray(layers)
    curvature = 0.299792458e-3 * b_field / (2 * min_pt)  # 1/mm: k = 1 / (2 R)
    by_layer = [np.flatnonzero(layers == k) for k in range(int(layers.max()) + 1)]
    # each layer's radius quartiles: its median, and its spread (interquartile range)
    q25, median, q75 = np.array([np.percentile(r[rows], [25, 50, 75]) if len(rows) else
                                 np.zeros(3) for rows in by_layer]).T
    spread = q75 - q25
    sources, targets = [], []
    for k, inner_rows in enumerate(by_layer):
        for step in range(1, max_skip + 2):
            if k + step >= len(by_layer) or not len(inner_rows):
                continue
            outer_rows = by_layer[k + step]
            if not len(outer_rows):
                continue
            r_inner, r_outer = median[k], median[k + step]
            bend = (np.arcsin(np.minimum(r_outer * curvature, 1.0))
                    - np.arcsin(np.minimum(r[inner_rows] * curvature, 1.0)))
            window = phi_margin * np.abs(bend) + 1e-3
            # the cap ranks pairs as on barrel cylinders: both layers' spreads in radius
            # together under a quarter of their gap (endcap disks spread over radius)
            capped = (max_neighbours is not None and r_outer > r_inner
                      and spread[k] + spread[k + step] < 0.25 * (r_outer - r_inner))
            if not capped:
                local, outer = _phi_window_pairs(phi[inner_rows], phi[outer_rows], window)
            else:
                # ranked at the layers' median radii: z_0 = (z_1 r_2 - r_1 z_2) / (r_2 - r_1)
                z_scale = Z0_WEIGHT / (max_z0 * (r_outer - r_inner))
                local, outer = _nearest_in_window(
                    phi[inner_rows], z[inner_rows] * r_outer / r_inner, phi[outer_rows],
                    z[outer_rows], np.median(window), z_scale * r_inner, max_neighbours)
            inner, outer = inner_rows[local], outer_rows[outer]
            dr = r[outer] - r[inner]
            with np.errstate(divide="ignore", invalid="ignore"):  # dr = 0 is cut below
                z0 = z[inner] - r[inner] * (z[outer] - z[inner]) / dr
            keep = (dr > 0) & (np.abs(z0) < max_z0)
            if capped:
                keep &= np.abs(_wrap(phi[outer] - phi[inner])) <= window[local]
            sources.append(inner[keep])
            targets.append(outer[keep])
    if not sources:
        return np.zeros((2, 0), np.int64)
    return np.stack([np.concatenate(sources), np.concatenate(targets)]).astype(np.int64)
