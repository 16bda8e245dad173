"""Tracking metrics: track efficiency and purity, the TrackML score, edge metrics.

Track level, with the definitions of the hierarchical GNN paper (Liu et al. 2023,
"Hierarchical Graph Neural Networks for Particle Track Reconstruction",
arXiv:2303.01640) as our issue fixes them:

- a particle (``particle_id != 0``) is *reconstructable* if it left at least ``min_hits``
  hits (its rows in truth) and its transverse momentum ``hypot(px, py)`` from the
  particles table is above ``min_pt``;
- a track candidate (the hits sharing a track label) *matches* a particle when it holds
  more than 50% of the particle's hits and the particle holds more than 50% of the
  candidate's hits (the double majority; so a particle matches at most one candidate and
  a candidate at most one particle). Noise hits count in a candidate's size and are
  never a particle;
- tracking efficiency = matched reconstructable particles / reconstructable particles;
- tracking purity = candidates (of at least ``min_candidate_hits`` hits) matched to a
  reconstructable particle / (such candidates - those matched to a non-reconstructable
  particle).

The TrackML score is the one of the challenge (Amrouche et al., "The Tracking Machine
Learning challenge: Accuracy phase", 2019), computed as the reference ``score_event`` of
github.com/LAL/trackml-library (``trackml/score.py``) does, vectorized.

Edge level, as in Exa.TrkX (Ju et al., "Performance of a geometric deep learning pipeline
for HL-LHC particle tracking", Eur. Phys. J. C 81 (2021) 876): the true edges link
consecutive hits of each particle; edge efficiency is the fraction of them a graph holds,
edge purity the fraction of its edges whose two hits come from one particle.

Conventions:

- **Track labels**: one integer per truth row (which is the hit row of an ``Event``);
  a negative label (``UNASSIGNED = -1``) marks a hit in no candidate.
- **0/0**: a ratio whose denominator is 0 (no reconstructable particle, no candidate,
  no edge) is NaN and raises an ``UndefinedMetricWarning`` saying which; every result
  holds the counts behind its ratios, so ``combine_metrics`` pools events by adding
  counts (the right way to average over events, and never 0/0 once any event counts).
- **Edges**: int arrays ``(2, n_edges)`` of hit rows, ``edges[0]`` the source;
  ``true_edges`` points inner -> outer, matching ignores the direction.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Mapping

import numpy as np
import pandas as pd
from scipy import sparse
from scipy.sparse import csgraph

from grapa.tracking.events import UNASSIGNED, TrackMLFormatError, singleton_tracks

__all__ = [
    "UndefinedMetricWarning",
    "combine_metrics",
    "edge_labels",
    "edge_metrics",
    "particle_table",
    "trackml_score",
    "tracking_metrics",
    "true_edges",
    "truth_cc_bound",
]

_RATIOS = {
    "efficiency": ("n_matched", "n_reconstructable"),
    "purity": ("n_candidates_matched", "n_candidates_counted"),
    "edge_efficiency": ("n_true_edges_found", "n_true_edges"),
    "edge_purity": ("n_edges_true", "n_edges"),
}
"""Each ratio a result may hold: (numerator count, denominator count)."""


class UndefinedMetricWarning(RuntimeWarning):
    """A ratio is 0/0 (e.g. no reconstructable particle): it is NaN in the result."""


# ---------------------------------------------------------------------------------------
# Track level: efficiency and purity (Liu et al. 2023)
# ---------------------------------------------------------------------------------------


def tracking_metrics(track_ids: np.ndarray, truth: pd.DataFrame, particles: pd.DataFrame,
                     *, min_hits: int = 5, min_pt: float = 1.0,
                     min_candidate_hits: int = 3) -> dict:
    """Tracking efficiency and purity of track candidates, and the counts behind them.

    Args:
        track_ids: integer array ``(n_hits,)``, the candidate label of each truth row;
            negative = the hit is in no candidate.
        truth: the event's truth (columns ``particle_id``, one row per hit).
        particles: the event's particles (columns ``particle_id, px, py``).
        min_hits: a reconstructable particle left at least this many hits.
        min_pt: a reconstructable particle has pT above this (GeV).
        min_candidate_hits: candidates with fewer hits are left out of the purity.

    Returns:
        a dict: ``efficiency`` (``n_matched / n_reconstructable``), ``purity``
        (``n_candidates_matched / n_candidates_counted``), and the counts
        ``n_particles`` (rows of particles), ``n_reconstructable``, ``n_matched``
        (matched reconstructable particles), ``n_candidates`` (with at least
        ``min_candidate_hits`` hits), ``n_candidates_matched`` (of those, matched to a
        reconstructable particle), ``n_candidates_nonreconstructable`` (matched to a
        non-reconstructable one), ``n_candidates_counted`` (``n_candidates -
        n_candidates_nonreconstructable``) and ``n_unassigned_hits``. A ratio with
        denominator 0 is NaN, with an ``UndefinedMetricWarning``.

    Raises:
        ValueError: ``track_ids`` is not one integer per truth row.
        TrackMLFormatError: a column is missing, or a truth particle has no particles row.
    """
    labels = _track_labels(track_ids, truth)
    particle_ids = _particle_ids(truth)
    candidate_hits, matches = _matches(labels, particle_ids)
    table = _particle_table(particle_ids, particles, matches, min_hits, min_pt)
    reconstructable = table.loc[table["reconstructable"], "particle_id"]
    large = candidate_hits.index[candidate_hits.to_numpy() >= min_candidate_hits]
    large_matches = matches[matches["track_id"].isin(large)]
    to_reconstructable = large_matches["particle_id"].isin(reconstructable).to_numpy()
    counts = {
        "n_particles": len(table),
        "n_reconstructable": len(reconstructable),
        "n_matched": int((table["reconstructable"] & table["matched"]).sum()),
        "n_candidates": len(large),
        "n_candidates_matched": int(to_reconstructable.sum()),
        "n_candidates_nonreconstructable": int((~to_reconstructable).sum()),
        "n_unassigned_hits": int((labels < 0).sum()),
    }
    counts["n_candidates_counted"] = (
        counts["n_candidates"] - counts["n_candidates_nonreconstructable"])
    return _with_ratios(counts)


def particle_table(track_ids: np.ndarray, truth: pd.DataFrame, particles: pd.DataFrame,
                   *, min_hits: int = 5, min_pt: float = 1.0) -> pd.DataFrame:
    """One row per particle: kinematics, hits, reconstructable, matched.

    For efficiency-versus-pT or -eta plots: the efficiency in a bin is the mean of
    ``matched`` over the reconstructable particles in it.

    Args:
        track_ids: as in ``tracking_metrics``.
        truth: as in ``tracking_metrics``.
        particles: the event's particles (columns ``particle_id, px, py, pz``).
        min_hits: as in ``tracking_metrics``.
        min_pt: as in ``tracking_metrics``.

    Returns:
        a frame in the particles' order, columns ``particle_id``, ``pt`` (GeV), ``eta``,
        ``phi``, ``nhits`` (its rows in truth), ``reconstructable``, ``matched``
        (a candidate matches it) and ``track_id`` (that candidate's label, or
        ``UNASSIGNED``).

    Raises:
        as ``tracking_metrics``.
    """
    particle_ids = _particle_ids(truth)
    _, matches = _matches(_track_labels(track_ids, truth), particle_ids)
    return _particle_table(particle_ids, particles, matches, min_hits, min_pt)


def combine_metrics(results: Iterable[Mapping]) -> dict:
    """Pool the results of several events: add their counts and recompute the ratios.

    The efficiency of a sample is its matched particles over its reconstructable ones,
    not the mean of per-event efficiencies; this gives that, for the results of
    ``tracking_metrics``, ``edge_metrics`` and ``truth_cc_bound``.

    Args:
        results: dicts from one of those functions, all with the same keys.

    Returns:
        the summed ``n_*`` counts and every ratio they define.

    Raises:
        ValueError: no results, or results with different counts.
    """
    results = list(results)
    if not results:
        raise ValueError("combine_metrics needs at least one result")
    keys = sorted(key for key in results[0] if key.startswith("n_"))
    for result in results[1:]:
        if sorted(key for key in result if key.startswith("n_")) != keys:
            raise ValueError(
                "the results hold different counts: combine results of one function only"
            )
    return _with_ratios({key: sum(int(result[key]) for result in results) for key in keys})


def _matches(labels: np.ndarray, particle_ids: np.ndarray) -> tuple[pd.Series, pd.DataFrame]:
    """Candidate sizes and the (candidate, particle) pairs of the double majority.

    Returns:
        the hits of each candidate (a Series indexed by label, assigned hits only), and a
        frame ``track_id, particle_id`` of the matched pairs.
    """
    assigned = labels >= 0
    hits = pd.DataFrame({"track_id": labels[assigned], "particle_id": particle_ids[assigned]})
    candidate_hits = hits.groupby("track_id").size()
    pairs = hits.groupby(["track_id", "particle_id"]).size().rename("shared").reset_index()
    particle_hits = pd.Series(particle_ids).value_counts()  # all its hits, assigned or not
    shared = pairs["shared"].to_numpy()
    of_candidate = candidate_hits.reindex(pairs["track_id"]).to_numpy()
    of_particle = particle_hits.reindex(pairs["particle_id"]).to_numpy()
    # integer comparisons: "more than 50%" exactly, no rounding at 1/2
    matched = (pairs["particle_id"].to_numpy() != 0) & (2 * shared > of_particle) & (
        2 * shared > of_candidate)
    return candidate_hits, pairs.loc[matched, ["track_id", "particle_id"]].reset_index(drop=True)


def _particle_table(particle_ids: np.ndarray, particles: pd.DataFrame, matches: pd.DataFrame,
                    min_hits: int, min_pt: float) -> pd.DataFrame:
    table = _kinematics(particles, particle_ids)
    ids = table["particle_id"]
    table["nhits"] = pd.Series(particle_ids).value_counts().reindex(ids, fill_value=0).to_numpy()
    table["reconstructable"] = (ids != 0) & (table["nhits"] >= min_hits) & (table["pt"] > min_pt)
    track = pd.Series(matches["track_id"].to_numpy(), index=matches["particle_id"].to_numpy())
    table["track_id"] = track.reindex(ids, fill_value=UNASSIGNED).to_numpy()
    table["matched"] = table["track_id"] >= 0
    return table[["particle_id", "pt", "eta", "phi", "nhits", "reconstructable", "matched",
                  "track_id"]]


def _kinematics(particles: pd.DataFrame, particle_ids: np.ndarray) -> pd.DataFrame:
    """``particle_id, pt, eta, phi`` per particle, after checking every truth id has one."""
    _require_columns(particles, ("particle_id", "px", "py", "pz"), "particles")
    ids = particles["particle_id"].to_numpy()
    if pd.Series(ids).duplicated().any():
        raise TrackMLFormatError(
            "particles has duplicated particle_id values: each particle needs one row; "
            "drop the duplicates with particles.drop_duplicates('particle_id')"
        )
    in_truth = np.unique(particle_ids[particle_ids != 0])
    unknown = in_truth[~np.isin(in_truth, ids)]
    if len(unknown):
        raise TrackMLFormatError(
            f"{len(unknown)} particle ids of truth are missing from particles, e.g. "
            f"{', '.join(map(str, unknown[:3]))}: pass the particles of the same event "
            "(read_event reads both)"
        )
    px, py, pz = (particles[column].to_numpy(np.float64) for column in ("px", "py", "pz"))
    pt = np.hypot(px, py)
    with np.errstate(divide="ignore", invalid="ignore"):  # pt = 0: eta = +-inf, as it is
        eta = np.arcsinh(pz / pt)
    return pd.DataFrame({"particle_id": ids, "pt": pt, "eta": eta, "phi": np.arctan2(py, px)})


# ---------------------------------------------------------------------------------------
# The TrackML score (Amrouche et al. 2019)
# ---------------------------------------------------------------------------------------


def trackml_score(truth: pd.DataFrame, submission: pd.DataFrame) -> float:
    """The TrackML score of one event, as trackml-library's ``score_event`` computes it.

    Each track's majority particle is the particle with most of its hits (noise,
    ``particle_id`` 0, included, as in the reference). A track counts when its majority
    particle holds more than 50% of the track's hits and the track more than 50% of the
    particle's hits; the score is the summed weight of the counted tracks' hits of their
    majority particle over the event's total weight (1 for a perfect submission).

    As in the reference, submission rows of hits absent from truth are ignored and a
    truth hit absent from the submission is a one-hit track of its own; so is a hit with
    a negative ``track_id`` (the ``UNASSIGNED`` convention, which the reference does not
    support).

    Args:
        truth: the event's truth, columns ``hit_id, particle_id, weight``.
        submission: one event's rows, columns ``hit_id, track_id`` (integers).

    Returns:
        the score, in [0, 1].

    Raises:
        TrackMLFormatError: a column is missing, a hit id is submitted twice, the
            submission holds several events, or the weights sum to 0.
    """
    _require_columns(truth, ("hit_id", "particle_id", "weight"), "truth")
    _require_columns(submission, ("hit_id", "track_id"), "the submission")
    if "event_id" in submission.columns and submission["event_id"].nunique() > 1:
        raise TrackMLFormatError(
            "the submission holds several events: score one at a time, "
            "submission[submission.event_id == event_id]"
        )
    submitted = pd.Index(submission["hit_id"].to_numpy())
    if submitted.has_duplicates:
        raise TrackMLFormatError(
            f"{int(submitted.duplicated().sum())} hit ids are submitted more than once, e.g. "
            f"{submitted[submitted.duplicated()][0]}: each hit belongs to one track"
        )
    weight = truth["weight"].to_numpy(np.float64)
    total_weight = weight.sum()
    if not total_weight > 0:
        raise TrackMLFormatError(
            f"the truth weights sum to {total_weight}: the score is weighted hits over "
            "total weight; give the hits positive weights (TrackML's, or 1 for each "
            "non-noise hit)"
        )
    if not pd.api.types.is_integer_dtype(submission["track_id"]):
        raise TrackMLFormatError(
            f"track_id of the submission holds {submission['track_id'].dtype} values, "
            "expected integers: give every hit a track (or a negative label) and cast with "
            ".astype('int64')"
        )
    row = submitted.get_indexer(truth["hit_id"].to_numpy())
    labels = np.full(len(truth), UNASSIGNED, np.int64)
    labels[row >= 0] = submission["track_id"].to_numpy()[row[row >= 0]]
    hits = pd.DataFrame({
        "track": singleton_tracks(labels),
        "particle": truth["particle_id"].to_numpy(),
        "weight": weight,
    })
    particle_hits = hits["particle"].value_counts()
    track_hits = hits.groupby("track").size()
    shared = hits.groupby(["track", "particle"]).agg(
        hits=("weight", "size"), weight=("weight", "sum")).reset_index()
    # the majority particle: most hits, ties to the smaller particle id as the reference
    # (a tie never counts: neither half is > 50% of the track)
    majority = shared.sort_values(["track", "hits", "particle"],
                                  ascending=[True, False, True]).drop_duplicates("track")
    n = majority["hits"].to_numpy()
    good = (2 * n > track_hits.reindex(majority["track"]).to_numpy()) & (
        2 * n > particle_hits.reindex(majority["particle"]).to_numpy())
    return float(majority["weight"].to_numpy()[good].sum() / total_weight)


# ---------------------------------------------------------------------------------------
# Edge level (Exa.TrkX, Ju et al. 2021)
# ---------------------------------------------------------------------------------------


def true_edges(truth: pd.DataFrame, hits: pd.DataFrame | None = None) -> np.ndarray:
    """The edges linking consecutive hits of each particle, pointing outward.

    A particle's hits are ordered by the distance of their true position (``tx, ty, tz``
    of truth; the measured ``x, y, z`` of ``hits`` when truth lacks them) from the
    origin, then linked in that order, inner -> outer. Particles come from near the
    origin (the beam spot), so this is the order along the track, except for loopers
    that curl back inward in a low-pT spiral. Noise hits get no edge; equal distances
    are broken by row.

    Args:
        truth: the event's truth, aligned with its hits.
        hits: the event's hits; used only when truth has no ``tx, ty, tz``.

    Returns:
        int64 array ``(2, n_true_edges)`` of hit rows, ``[inner, outer]``.

    Raises:
        TrackMLFormatError: no positions (truth lacks ``tx, ty, tz`` and no hits are
            given), or hits not aligned with truth.
    """
    particle_ids = _particle_ids(truth)
    position = _positions(truth, hits)
    distance = np.sqrt((position**2).sum(axis=1))
    rows = np.flatnonzero(particle_ids != 0)
    order = rows[np.lexsort((rows, distance[rows], particle_ids[rows]))]
    same = particle_ids[order[:-1]] == particle_ids[order[1:]]
    return np.stack([order[:-1][same], order[1:][same]]).astype(np.int64)


def edge_labels(edges: np.ndarray, truth: pd.DataFrame, *,
                consecutive: np.ndarray | None = None) -> np.ndarray:
    """Whether each edge is true.

    By default an edge is true when its two hits come from one particle (not noise),
    however many layers apart: the target of edge classifiers whose tracks are
    connected components. With ``consecutive`` (the output of ``true_edges``), an edge
    is true only when it links two consecutive hits of a particle, in either direction.

    Args:
        edges: int array ``(2, n_edges)`` of hit rows.
        truth: the event's truth, aligned with its hits.
        consecutive: None, or int array ``(2, n)`` of the edges that count as true.

    Returns:
        bool array ``(n_edges,)``.

    Raises:
        ValueError: edges of the wrong shape or type, or naming rows beyond the hits.
    """
    n_hits = len(truth)
    edges = _check_edges(edges, n_hits)
    if consecutive is not None:
        consecutive = _check_edges(consecutive, n_hits, "consecutive")
        return np.isin(_undirected_keys(edges, n_hits), _undirected_keys(consecutive, n_hits))
    particle_ids = _particle_ids(truth)
    source, target = particle_ids[edges[0]], particle_ids[edges[1]]
    return (source == target) & (source != 0)


def edge_metrics(edges: np.ndarray, truth: pd.DataFrame, hits: pd.DataFrame | None = None,
                 *, scores: np.ndarray | None = None, threshold: float = 0.5,
                 min_pt: float | None = None,
                 particles: pd.DataFrame | None = None) -> dict:
    """Edge efficiency and purity of a graph, or of the edges a classifier keeps.

    Edge efficiency: the fraction of ``true_edges`` (consecutive hits of a particle)
    present in the graph, either direction; with ``min_pt``, of the true edges of
    particles with pT above it only. Edge purity: the fraction of the graph's edges
    whose hits come from one particle (``edge_labels``), any pT.

    Args:
        edges: int array ``(2, n_edges)`` of hit rows.
        truth: the event's truth, aligned with its hits.
        hits: the event's hits (positions used only when truth has no ``tx, ty, tz``).
        scores: None, or a classifier's score per edge: then only edges with
            ``score > threshold`` count as the graph.
        threshold: the score cut.
        min_pt: None, or a pT cut (GeV) on the particles whose true edges the
            efficiency counts; needs ``particles``.
        particles: the event's particles.

    Returns:
        a dict: ``edge_efficiency`` (``n_true_edges_found / n_true_edges``),
        ``edge_purity`` (``n_edges_true / n_edges``) and those counts; a ratio with
        denominator 0 is NaN, with an ``UndefinedMetricWarning``.

    Raises:
        ValueError: malformed edges or scores, or ``min_pt`` without ``particles``.
    """
    n_hits = len(truth)
    edges = _check_edges(edges, n_hits)
    if scores is not None:
        scores = np.asarray(scores, np.float64)
        if scores.shape != (edges.shape[1],) or not np.isfinite(scores).all():
            raise ValueError(
                f"scores must be finite, shape ({edges.shape[1]},) (one per edge), got "
                f"shape {scores.shape}"
                + ("" if scores.shape != (edges.shape[1],) else " with NaN or inf")
            )
        edges = edges[:, scores > threshold]
    target = true_edges(truth, hits)
    if min_pt is not None:
        if particles is None:
            raise ValueError("min_pt needs the particles (their px, py): pass particles=")
        table = _kinematics(particles, _particle_ids(truth))
        pt = pd.Series(table["pt"].to_numpy(), index=table["particle_id"].to_numpy())
        edge_particle = _particle_ids(truth)[target[0]]
        target = target[:, pt.reindex(edge_particle).to_numpy() > min_pt]
    found = np.isin(_undirected_keys(target, n_hits), _undirected_keys(edges, n_hits))
    counts = {
        "n_edges": int(edges.shape[1]),
        "n_edges_true": int(edge_labels(edges, truth).sum()),
        "n_true_edges": int(target.shape[1]),
        "n_true_edges_found": int(found.sum()),
    }
    return _with_ratios(counts)


def truth_cc_bound(edges: np.ndarray, truth: pd.DataFrame, particles: pd.DataFrame, *,
                   min_hits: int = 5, min_pt: float = 1.0,
                   min_candidate_hits: int = 3) -> dict:
    """The best tracking any edge classifier + connected components could do on a graph.

    The graph is pruned to its same-particle edges (a perfect classifier), its connected
    components (isolated hits are one-hit candidates) become the track candidates, and
    ``tracking_metrics`` scores them. Components are then pure, so the efficiency lost
    is that of particles the graph leaves broken into pieces none of which holds more
    than half their hits.

    Args:
        edges: int array ``(2, n_edges)`` of hit rows.
        truth: the event's truth, aligned with its hits.
        particles: the event's particles.
        min_hits: as in ``tracking_metrics``.
        min_pt: as in ``tracking_metrics``.
        min_candidate_hits: as in ``tracking_metrics``.

    Returns:
        the dict of ``tracking_metrics``, plus ``n_components``.

    Raises:
        as ``tracking_metrics`` and ``edge_labels``.
    """
    n_hits = len(truth)
    kept = _check_edges(edges, n_hits)
    kept = kept[:, edge_labels(kept, truth)]
    graph = sparse.coo_matrix((np.ones(kept.shape[1]), (kept[0], kept[1])),
                              shape=(n_hits, n_hits))
    n_components, labels = csgraph.connected_components(graph, directed=False)
    result = tracking_metrics(labels.astype(np.int64), truth, particles, min_hits=min_hits,
                              min_pt=min_pt, min_candidate_hits=min_candidate_hits)
    result["n_components"] = int(n_components)
    return result


# ---------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------


def _with_ratios(counts: dict) -> dict:
    """``counts`` with every ratio of ``_RATIOS`` they define, first."""
    ratios = {}
    for name, (numerator, denominator) in _RATIOS.items():  # a loop: stacklevel stays 4
        if numerator in counts and denominator in counts:
            ratios[name] = _ratio(counts[numerator], counts[denominator], name, numerator,
                                  denominator)
    return ratios | counts


def _ratio(numerator: int, denominator: int, name: str, numerator_key: str,
           denominator_key: str) -> float:
    if denominator == 0:
        warnings.warn(
            f"{name} is undefined ({numerator_key} / {denominator_key} = "
            f"{numerator} / 0): it is NaN; pool events with combine_metrics, or loosen "
            "the cuts",
            UndefinedMetricWarning, stacklevel=4,
        )
        return float("nan")
    return numerator / denominator


def _require_columns(frame: pd.DataFrame, columns: Iterable[str], what: str) -> None:
    missing = [column for column in columns if column not in frame.columns]
    if missing:
        raise TrackMLFormatError(
            f"{what} lacks column(s) {', '.join(missing)}, found "
            f"{', '.join(map(str, frame.columns))}: read the event with "
            "grapa.tracking.events.read_event"
        )


def _particle_ids(truth: pd.DataFrame) -> np.ndarray:
    _require_columns(truth, ("particle_id",), "truth")
    return truth["particle_id"].to_numpy(np.int64)


def _track_labels(track_ids: np.ndarray, truth: pd.DataFrame) -> np.ndarray:
    labels = np.asarray(track_ids)
    if labels.shape != (len(truth),) or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(
            f"track_ids must be integers of shape ({len(truth)},) (one candidate label per "
            f"truth row, negative = in no candidate), got {labels.dtype} {labels.shape}"
        )
    return labels.astype(np.int64)


def _positions(truth: pd.DataFrame, hits: pd.DataFrame | None) -> np.ndarray:
    if all(column in truth.columns for column in ("tx", "ty", "tz")):
        return truth[["tx", "ty", "tz"]].to_numpy(np.float64)
    if hits is None:
        raise TrackMLFormatError(
            "truth has no true positions tx, ty, tz: pass the hits (x, y, z) as well"
        )
    _require_columns(hits, ("x", "y", "z"), "hits")
    if len(hits) != len(truth):
        raise TrackMLFormatError(
            f"hits ({len(hits)} rows) and truth ({len(truth)} rows) are not aligned: pass "
            "the tables of one Event (read_event aligns them)"
        )
    return hits[["x", "y", "z"]].to_numpy(np.float64)


def _check_edges(edges: np.ndarray, n_hits: int, name: str = "edges") -> np.ndarray:
    """``edges`` as int64 ``(2, n_edges)``, or a ValueError saying what is wrong."""
    array = np.asarray(edges)
    if array.ndim != 2 or array.shape[0] != 2:
        transposed = array.ndim == 2 and array.shape[1] == 2
        hint = f" (for (n_edges, 2) pass {name}.T)" if transposed else ""
        raise ValueError(
            f"{name} must have shape (2, n_edges), rows (source, target) of hit indices, "
            f"got {array.shape}{hint}"
        )
    if array.size and not np.issubdtype(array.dtype, np.integer):
        raise ValueError(f"{name} must hold integer hit rows, got {array.dtype}")
    array = array.astype(np.int64)
    outside = (array < 0) | (array >= n_hits)
    if outside.any():
        raise ValueError(
            f"{int(outside.any(axis=0).sum())} {name} name hit rows outside [0, {n_hits}), "
            f"e.g. {int(array[outside][0])}: edges index the rows of the event's hits"
        )
    return array


def _undirected_keys(edges: np.ndarray, n_hits: int) -> np.ndarray:
    """One integer per edge, the same for (a, b) and (b, a)."""
    return np.minimum(edges[0], edges[1]) * n_hits + np.maximum(edges[0], edges[1])
