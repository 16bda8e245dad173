r"""Joining track fragments that one helix fits: the track-building step after the walk.

An edge classifier that misses one edge of a track splits the track in two. Where the
missed edge still scored above the mending threshold, `build_tracks` joins the pieces;
where it scored lower, the pieces stay apart, and when neither holds more than half of
the particle's hits the particle is lost and both pieces count against the purity. The
hits themselves still say whether two pieces are one track: a charged particle from the
beam line follows a helix, so the pieces of one particle lie on one circle through the
origin in x-y and on one straight line in z against the arc length.

`join_fragments` proposes, for every candidate edge whose inner hit is the outermost
hit of one candidate and whose outer hit is the innermost hit of another, the join of
the two, fits both as one helix, and keeps the joins whose fit is as good as a single
particle's (`fit_helix`); each fragment end joins at most once, the best fit winning.

The circle fit is the linear least-squares fit of a circle through the origin,
:math:`x^2 + y^2 = 2ax + 2by`, whose residual :math:`r^2 - 2ax - 2by` is
:math:`2R\,\delta` for a hit a small distance :math:`\delta` off a circle of radius
:math:`R` (the conformal-mapping fit of Hansroul, Jeremie and Savard, Nucl. Instrum.
Meth. A 270 (1988) 498, with the geometric residual). The z fit is a straight line in
the arc length :math:`s = 2R \arcsin(r / 2R)`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

__all__ = ["fit_helix", "join_fragments"]


def fit_helix(x, y, z, track) -> tuple[np.ndarray, np.ndarray]:
    """Fit every track's hits with a helix from the beam line.

    Args:
        x, y, z: `(n,)` hit positions (mm).
        track: `(n,)` integer track index of each hit, `0 .. n_tracks - 1`; each track
            needs at least 3 hits (2 parameters per fit).

    Returns:
        `(rphi, z)`: each track's root-mean-square distance (mm) of its hits from the
        fitted circle through the origin in x-y, and from the fitted line z(s).
    """
    x, y, z = (np.asarray(v, np.float64) for v in (x, y, z))
    track = np.asarray(track, np.int64)
    n_tracks = int(track.max()) + 1 if len(track) else 0
    r2 = x * x + y * y

    def total(values):
        return np.bincount(track, values, minlength=n_tracks)

    count = total(np.ones_like(x))
    # normal equations of r^2 = 2a x + 2b y: [[xx, xy], [xy, yy]] (2a, 2b) = (x r2, y r2)
    sxx, sxy, syy = total(x * x), total(x * y), total(y * y)
    sxr, syr = total(x * r2), total(y * r2)
    det = sxx * syy - sxy * sxy
    det = np.where(np.abs(det) > 0, det, np.inf)
    a = (syy * sxr - sxy * syr) / det / 2
    b = (sxx * syr - sxy * sxr) / det / 2
    radius = np.hypot(a, b)
    residual = (r2 - 2 * a[track] * x - 2 * b[track] * y) / (2 * np.maximum(radius[track], 1e-9))
    rphi = np.sqrt(total(residual**2) / count)
    # z = z0 + cot s, s the arc length from the origin on the fitted circle
    s = 2 * radius[track] * np.arcsin(np.clip(np.sqrt(r2) / (2 * radius[track]), 0, 1))
    ss, sz, s1, z1 = total(s * s), total(s * z), total(s), total(z)
    denominator = count * ss - s1 * s1
    denominator = np.where(np.abs(denominator) > 0, denominator, np.inf)
    cot = (count * sz - s1 * z1) / denominator
    z0 = (z1 - cot * s1) / count
    z_residual = z - z0[track] - cot[track] * s
    return rphi, np.sqrt(total(z_residual**2) / count)


def join_fragments(hits: pd.DataFrame, labels: np.ndarray, edges: np.ndarray, *,
                   max_rphi: float = 0.5, max_z: float = 1.0,
                   min_hits: int = 4) -> np.ndarray:
    """Join track candidates that one helix fits, end to start.

    Args:
        hits: the event's hits (`x, y, z` in mm), in the rows `labels` and `edges` index.
        labels: `(n_hits,)` candidate labels (`build_tracks`).
        edges: `(2, E)` (inner, outer) candidate edges that may link two candidates
            (the scored graph; their scores do not matter here).
        max_rphi: the largest root-mean-square distance (mm) from the circle of a join.
        max_z: the largest root-mean-square distance (mm) from the z line of a join.
        min_hits: the fewest hits a join may have (fewer fit any helix).

    Returns:
        int64 `(n_hits,)` labels, joined candidates sharing one.
    """
    labels = np.asarray(labels, np.int64)
    edges = np.asarray(edges, np.int64).reshape(2, -1)
    x, y, z = (hits[c].to_numpy(np.float64) for c in ("x", "y", "z"))
    r = np.hypot(x, y)
    n_labels = int(labels.max()) + 1 if len(labels) else 0
    order = np.lexsort((r, labels))  # by candidate, then outward
    first = np.r_[True, labels[order][1:] != labels[order][:-1]]
    last = np.r_[labels[order][1:] != labels[order][:-1], True]
    innermost = np.full(n_labels, -1)
    outermost = np.full(n_labels, -1)
    innermost[labels[order[first]]] = order[first]
    outermost[labels[order[last]]] = order[last]
    inner, outer = labels[edges[0]], labels[edges[1]]
    proposal = ((inner != outer) & (outermost[inner] == edges[0])
                & (innermost[outer] == edges[1]))
    pairs = np.unique(np.stack([inner[proposal], outer[proposal]], axis=1), axis=0)
    if not len(pairs):
        return labels
    size = np.bincount(labels, minlength=n_labels)
    pairs = pairs[size[pairs[:, 0]] + size[pairs[:, 1]] >= min_hits]
    if not len(pairs):
        return labels
    # the hits of each proposed join, join by join
    start = np.r_[0, np.cumsum(size)]  # `order` holds label k's hits at start[k]:
    rows, join = [], []
    for column in (0, 1):
        part = pairs[:, column]
        lengths = size[part]
        offsets = np.repeat(start[part] - np.r_[0, np.cumsum(lengths)[:-1]], lengths)
        rows.append(order[np.arange(lengths.sum()) + offsets])
        join.append(np.repeat(np.arange(len(pairs)), lengths))
    rows, join = np.concatenate(rows), np.concatenate(join)
    rphi, z_rms = fit_helix(x[rows], y[rows], z[rows], join)
    good = (rphi <= max_rphi) & (z_rms <= max_z)
    pairs, cost = pairs[good], (rphi / max_rphi + z_rms / max_z)[good]
    if not len(pairs):
        return labels
    # each fragment end joins once: the best fit at both ends
    best = np.ones(len(pairs), bool)
    for end in (pairs[:, 0], pairs[:, 1]):
        ranked = np.lexsort((cost, end))
        winner = np.r_[True, end[ranked][1:] != end[ranked][:-1]]
        is_best = np.zeros(len(pairs), bool)
        is_best[ranked[winner]] = True
        best &= is_best
    pairs = pairs[best]
    graph = coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])),
                       shape=(n_labels, n_labels))
    merged = connected_components(graph, directed=False)[1]
    return merged[labels].astype(np.int64)
