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
    "edge_kinematics",
    "continuation_features",
    "detector_layers",
    "layer_pair_graph",
    "N_HIT_FEATURES",
    "N_EDGE_FEATURES",
    "N_CONTINUATION_FEATURES",
]

R_SCALE = 1000.0  # mm: hit features are r / 1 m, phi / pi, z / 1 m (Exa.TrkX's scaling)
Z_SCALE = 1000.0
N_HIT_FEATURES = 3
N_EDGE_FEATURES = 7
N_CONTINUATION_FEATURES = 6


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
    # filled column by column: a float64 stack of all seven doubled the graph's peak memory
    out = np.empty((len(inner), N_EDGE_FEATURES), np.float32)
    out[:, 0] = dr / R_SCALE
    out[:, 1] = dphi
    out[:, 2] = dz / Z_SCALE
    out[:, 3] = dphi / (safe_dr / R_SCALE)
    out[:, 4] = cot_theta
    out[:, 5] = (z[inner] - r[inner] * cot_theta) / Z_SCALE
    out[:, 6] = 0.5 * (r[inner] + r[outer]) * dphi / safe_dr
    return out


CURVATURE_SCALE = 1e-5  # 1/mm
SLOPE_SCALE = 0.01
"""Units of `continuation_features`' residuals: about the median change of curvature
(8.8e-6 / mm) and of dz/dr (0.0063) between the two edges of a true hit triplet in
1,000-particle events (multiple scattering and hit smearing)."""
CONTINUATION_CANDIDATES = 4
"""`continuation_features` compares an edge with this many neighbours' edges on each
side of it in curvature."""
CONTINUATION_BLOCK = 16384
"""Edges `continuation_features` compares at a time: the comparisons' temporaries stay
that size (at 5,000 particles the search over all 1.9 million edges at once peaked at
350 MB, in blocks at 277 MB, in the same time)."""


def edge_kinematics(hits: pd.DataFrame, edges: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    r"""`(curvature, slope)` of each edge `(inner -> outer)`: the signed curvature (1/mm) of
    the circle through the beam line (the origin), the inner and the outer hit in x-y,
    :math:`\kappa = 2 (x_1 y_2 - y_1 x_2) / (r_1 r_2 |p_2 - p_1|)`, and `dz / dr`."""
    x, y, z = (hits[c].to_numpy(np.float64) for c in ("x", "y", "z"))
    inner, outer = np.asarray(edges)
    x1, y1, x2, y2 = x[inner], y[inner], x[outer], y[outer]
    r1_squared, r2_squared = x1 * x1 + y1 * y1, x2 * x2 + y2 * y2
    chord_squared = (x2 - x1) ** 2 + (y2 - y1) ** 2
    # two hits at one point, or one on the beam line, span no circle: curvature 0, not NaN
    curvature = 2 * (x1 * y2 - y1 * x2) / np.sqrt(
        np.maximum(r1_squared * r2_squared * chord_squared, 1e-30))
    dr = np.sqrt(r2_squared) - np.sqrt(r1_squared)
    slope = (z[outer] - z[inner]) / np.where(np.abs(dr) > 1e-6, dr, 1e-6)
    return curvature, slope


def continuation_features(hits: pd.DataFrame, edges: np.ndarray) -> np.ndarray:
    r"""`(E, 6)` float32: how well each edge continues into the graph's other edges.

    A charged particle from the beam line follows one helix, so two consecutive edges of
    its track, `a -> b` and `b -> c`, lie on one circle through the origin in x-y and
    one line in r-z: their curvatures :math:`\kappa` and slopes `dz / dr`
    (`edge_kinematics`) agree up to multiple scattering. Two hits of different particles
    rarely have a third hit that continues their helix, however close they sit. For
    each edge `a -> b` this finds, among the edges that leave `b`, the one closest in
    :math:`(\Delta\kappa / \sigma_\kappa)^2 + (\Delta \text{slope} / \sigma_s)^2`
    (`CURVATURE_SCALE`, `SLOPE_SCALE`), and likewise among the edges that arrive at `a`.
    Columns: `log(1 + |dkappa| / sigma_kappa)`, `log(1 + |dslope| / sigma_s)` and 1 when
    such an edge exists (0 and the residuals at `log(1 + 1000)` when none does: the
    first and last layers), outward, then inward. Skip edges of the graph continue a
    track across a missing hit.

    This is the edge filter's view beyond one edge, as triplet seeding does it in
    classical tracking (e.g. ATLAS, Eur. Phys. J. C 77 (2017) 673). On 1,000-particle
    events it let the filter keep 7% of the candidate edges for 99.5% of the true ones,
    against 53% without; the same filter kept 4-6% of the edges of 5,000-particle events
    against 79%.

    The search is linear in the edges: the edges are sorted by (hit, curvature) once
    per side, each edge is looked up by binary search, and only the
    `CONTINUATION_CANDIDATES` nearest in curvature on either side are compared (a true
    continuation's change of curvature is a small fraction of the spread among a hit's
    edges).
    """
    edges = np.asarray(edges)
    n_edges = edges.shape[1]
    out = np.empty((n_edges, N_CONTINUATION_FEATURES), np.float32)
    if n_edges == 0:
        return out
    curvature, slope = edge_kinematics(hits, edges)
    curvature = (curvature / CURVATURE_SCALE).astype(np.float32)
    slope = (slope / SLOPE_SCALE).astype(np.float32)
    # sort keys: hit row + a monotone squash of the curvature into (-0.4, 0.4)
    squashed = 0.4 * np.tanh(1e-3 * curvature.astype(np.float64))
    keys = {end: hit + squashed for end, hit in zip(("inner", "outer"), edges)}
    order = {end: np.argsort(key) for end, key in keys.items()}
    # outward: the edges leaving this edge's outer hit; inward: those arriving at its inner
    for column, (partner, own) in ((0, ("inner", "outer")), (3, ("outer", "inner"))):
        partner_keys, own_keys = keys[partner][order[partner]], keys[own][order[own]]
        position = np.searchsorted(partner_keys, own_keys)
        partner_rows = (np.rint(partner_keys).astype(np.int64), curvature[order[partner]],
                        slope[order[partner]])
        own_rows = (np.rint(own_keys).astype(np.int64), curvature[order[own]], slope[order[own]])
        rows = order[own]
        for start in range(0, n_edges, CONTINUATION_BLOCK):
            block = slice(start, start + CONTINUATION_BLOCK)
            out[rows[block], column:column + 3] = _best_continuation(
                position[block], partner_rows, *(values[block] for values in own_rows))
    return out


def _best_continuation(position, partner_rows, hit, curvature, slope):
    """`(n, 3)`: the best partner's log residuals and whether one exists, for a block of
    edges whose partners sort from `position` (`continuation_features`)."""
    partner_hit, partner_curvature, partner_slope = partner_rows
    best = np.full(len(position), np.inf, np.float32)
    best_curvature, best_slope = best.copy(), best.copy()
    last = len(partner_hit) - 1
    for offset in range(-CONTINUATION_CANDIDATES, CONTINUATION_CANDIDATES):
        candidate = np.clip(position + offset, 0, last)
        d_curvature = np.abs(partner_curvature[candidate] - curvature)
        d_slope = np.abs(partner_slope[candidate] - slope)
        distance = np.where(partner_hit[candidate] == hit,
                            d_curvature * d_curvature + d_slope * d_slope, np.inf)
        better = distance < best
        np.copyto(best, distance, where=better)
        np.copyto(best_curvature, d_curvature, where=better)
        np.copyto(best_slope, d_slope, where=better)
    found = np.isfinite(best)
    far = np.float32(1e3)  # no partner: the first and last layers
    return np.stack([np.log1p(np.where(found, np.minimum(best_curvature, far), far)),
                     np.log1p(np.where(found, np.minimum(best_slope, far), far)),
                     found], axis=1)


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
