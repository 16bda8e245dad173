"""Track finding: the tracking efficiency versus pT and eta, and an event display.

The efficiency is the one of `grapa.tracking.metrics` (Liu et al. 2023, "Hierarchical
Graph Neural Networks for Particle Track Reconstruction", arXiv:2303.01640): matched
reconstructable particles over reconstructable particles, here bin by bin, from the
per-particle tables of `grapa.tracking.metrics.particle_table`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.axes import Axes
from matplotlib.collections import LineCollection
from matplotlib.colors import to_rgba_array
from matplotlib.figure import Figure
from matplotlib.ticker import LogFormatter

from grapa.plotting._common import _SIGNAL_COLOUR, _figure, _finish
from grapa.tracking.metrics import particle_table

_HIT_COLOUR = "0.75"  # every hit, in grey, under the tracks
_MISSED_COLOUR = "black"  # a true particle no drawn track matches
_PALETTE = colormaps["tab20"]
_TABLE_COLUMNS = ("pt", "eta", "reconstructable", "matched")


def efficiency_by_bin(values, matched, bins) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    r"""The efficiency in each bin of `values`, its binomial error and the count behind it.

    .. math::
        \varepsilon_i = k_i / n_i, \qquad
        \sigma_i = \sqrt{\varepsilon_i (1 - \varepsilon_i) / n_i}

    with :math:`n_i` the entries in bin :math:`i` and :math:`k_i` the matched ones. The
    error is the normal approximation of the binomial: 0 at an efficiency of 0 or 1.
    Bins are those of `numpy.histogram` (`[low, high)`, the last one closed); values
    outside every bin are not counted.

    Args:
        values: `(n,)` the binned quantity of each particle (e.g. its pT).
        matched: `(n,)` bool, whether a track candidate matches the particle.
        bins: `(n_bins + 1,)` increasing bin edges.

    Returns:
        `(efficiency, error, counts)`, each `(n_bins,)`; an empty bin's efficiency and
        error are NaN (there is nothing to measure there).

    Example:
        >>> efficiency_by_bin([1.5, 2.5, 2.5], [True, True, False], [1, 2, 3])[0]
        array([1. , 0.5])
    """
    values = np.asarray(values, dtype=np.float64)
    matched = np.asarray(matched)
    if values.ndim != 1 or matched.shape != values.shape:
        raise ValueError(f"values and matched must both have shape (n,), one entry per "
                         f"particle; got {values.shape} and {matched.shape}")
    if matched.dtype != bool and not np.isin(matched, (0, 1)).all():
        raise ValueError(f"matched must be bool (or 0 / 1), got {matched.dtype} values")
    bins = np.asarray(bins, dtype=np.float64)
    if bins.ndim != 1 or len(bins) < 2 or not (np.diff(bins) > 0).all():
        raise ValueError(f"bins must be at least 2 strictly increasing edges, got {bins}")
    counts = np.histogram(values, bins)[0]
    passed = np.histogram(values[matched.astype(bool)], bins)[0]
    with np.errstate(divide="ignore", invalid="ignore"):  # empty bins: NaN, as documented
        efficiency = passed / counts
        error = np.sqrt(efficiency * (1 - efficiency) / counts)
    return efficiency, error, counts


def _particle_rows(particle_tables) -> pd.DataFrame:
    """One frame from a particle table or a sequence of them (one per event)."""
    tables = [particle_tables] if isinstance(particle_tables, pd.DataFrame) else list(particle_tables)
    if not tables:
        raise ValueError("particle_tables is empty: pass particle_table(...) of at least one event")
    table = pd.concat(tables, ignore_index=True)
    missing = [column for column in _TABLE_COLUMNS if column not in table.columns]
    if missing:
        raise ValueError(f"the particle tables lack column(s) {', '.join(missing)}: pass the "
                         "frames of grapa.tracking.metrics.particle_table")
    return table


def _log_bins(values: np.ndarray, n_bins: int) -> np.ndarray:
    low, high = values.min(), values.max()
    if high <= low:  # one particle, or all at one pT: a bin around it
        low, high = low / 1.5, high * 1.5
    return np.geomspace(low, high, n_bins + 1)


def _linear_bins(values: np.ndarray, n_bins: int) -> np.ndarray:
    low, high = values.min(), values.max()
    if high <= low:
        low, high = low - 0.5, high + 0.5
    return np.linspace(low, high, n_bins + 1)


def _draw_efficiency(axis: Axes, values, matched, bins, log: bool) -> None:
    efficiency, error, counts = efficiency_by_bin(values, matched, bins)
    low, high = bins[:-1], bins[1:]
    centres = np.sqrt(low * high) if log else (low + high) / 2
    shown = counts > 0
    axis.errorbar(centres[shown], efficiency[shown], yerr=error[shown],
                  xerr=np.stack([centres - low, high - centres])[:, shown], fmt="o",
                  markersize=4, capsize=2, color=_SIGNAL_COLOUR)
    if log:
        axis.set_xscale("log")
        # 2 and 5 GeV labelled as such (not 2 x 10^0), thinned out over wide ranges
        axis.xaxis.set_major_formatter(LogFormatter(labelOnlyBase=False))
        axis.xaxis.set_minor_formatter(LogFormatter(labelOnlyBase=False,
                                                    minor_thresholds=(2, 0.4)))
    axis.set(ylim=(0, 1.05), ylabel="tracking efficiency")
    axis.grid(alpha=0.3)


def plot_tracking_efficiency(particle_tables, path=None, n_bins: int = 10,
                             pt_bins=None, eta_bins=None) -> Figure:
    """Tracking efficiency of the reconstructable particles versus pT and versus eta.

    The efficiency in a bin is its matched reconstructable particles over its
    reconstructable particles (`efficiency_by_bin`), with binomial error bars; the
    horizontal bars span the bin. Bins without particles are left out. Pool many events
    (one table each) for bins with enough particles.

    Args:
        particle_tables: one frame of `grapa.tracking.metrics.particle_table`, or a list
            of them (one per event); columns `pt`, `eta`, `reconstructable`, `matched`.
        path: where to write the PNG, or None.
        n_bins: bins per axis, unless given below.
        pt_bins: pT bin edges in GeV; default `n_bins` log-spaced bins over the
            reconstructable particles' pT range.
        eta_bins: eta bin edges; default `n_bins` equal bins over their eta range.

    Returns:
        The `Figure`: 2 axes (versus pT on a log axis, versus eta), one error-bar
        series each.

    Raises:
        ValueError: no reconstructable particle, or a table without those columns.
    """
    table = _particle_rows(particle_tables)
    reconstructable = table[table["reconstructable"].to_numpy(bool)]
    if reconstructable.empty:
        raise ValueError(
            f"no reconstructable particle among the {len(table)} of the tables: loosen "
            "min_pt / min_hits of particle_table, or pass more events")
    pt, eta = (reconstructable[column].to_numpy(np.float64) for column in ("pt", "eta"))
    matched = reconstructable["matched"].to_numpy(bool)
    figure, (pt_axis, eta_axis) = _figure(2)
    _draw_efficiency(pt_axis, pt, matched, _log_bins(pt, n_bins) if pt_bins is None
                     else np.asarray(pt_bins, np.float64), log=True)
    pt_axis.set(xlabel=r"$p_T$ [GeV]", title=r"versus $p_T$")
    _draw_efficiency(eta_axis, eta, matched, _linear_bins(eta, n_bins) if eta_bins is None
                     else np.asarray(eta_bins, np.float64), log=False)
    eta_axis.set(xlabel=r"$\eta$", title=r"versus $\eta$")
    figure.suptitle(f"{int(matched.sum())} of {len(matched)} reconstructable particles "
                    f"matched: efficiency {matched.mean():.3f}")
    return _finish(figure, path)


def _hit_labels(values, name: str, n_hits: int) -> np.ndarray:
    labels = np.asarray(values)
    if labels.shape != (n_hits,) or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"{name} must be integers of shape ({n_hits},), one per hit row, "
                         f"got {labels.dtype} {labels.shape}")
    return labels.astype(np.int64)


def _largest_candidates(labels: np.ndarray, min_hits: int) -> np.ndarray:
    """The labels of the candidates with at least `min_hits` hits, largest first (ties:
    smaller label first)."""
    label, size = np.unique(labels[labels >= 0], return_counts=True)
    order = np.lexsort((label, -size))
    return label[order][size[order] >= min_hits]


def _draw_chains(axis: Axes, x, y, radius, chains: Sequence[np.ndarray], colours) -> None:
    """Each chain of hit rows as a line through its hits ordered by radius, with its hits
    marked, in its colour."""
    ordered = [rows[np.argsort(radius[rows], kind="stable")] for rows in chains]
    colours = to_rgba_array(colours) if len(colours) else np.zeros((0, 4))
    axis.add_collection(LineCollection([np.column_stack([x[rows], y[rows]]) for rows in ordered],
                                       colors=colours, linewidths=1.0))
    rows = np.concatenate(ordered) if ordered else np.zeros(0, np.int64)
    axis.scatter(x[rows], y[rows], s=6, c=np.repeat(colours, [len(r) for r in ordered], axis=0),
                 linewidths=0, zorder=3)


def _particles_from_truth(truth: pd.DataFrame, radius: np.ndarray) -> pd.DataFrame:
    """A particles table from the truth: each particle's true momentum at its innermost
    hit (pT and pz stay the same along a helix in a solenoid field along z)."""
    real = truth["particle_id"].to_numpy() != 0
    innermost = (truth.loc[real, ["particle_id", "tpx", "tpy", "tpz"]].assign(r=radius[real])
                 .sort_values("r", kind="stable").drop_duplicates("particle_id"))
    return innermost.rename(columns={"tpx": "px", "tpy": "py", "tpz": "pz"})[
        ["particle_id", "px", "py", "pz"]]


def _truth_rows(truth: pd.DataFrame, hits: pd.DataFrame) -> pd.DataFrame:
    missing = [c for c in ("hit_id", "particle_id", "tpx", "tpy", "tpz") if c not in truth.columns]
    if missing:
        raise ValueError(f"truth lacks column(s) {', '.join(missing)}: pass the event's "
                         "truth table (read_event(..., parts=('hits', 'truth')))")
    if not np.array_equal(truth["hit_id"].to_numpy(), hits["hit_id"].to_numpy()):
        raise ValueError("truth is not aligned with hits row by row (other hit ids or order): "
                         "pass the hits and truth of one Event")
    return truth


def plot_event_display(hits: pd.DataFrame, track_ids, path=None, truth=None,
                       max_tracks: int = 100, min_pt: float = 1.0,
                       min_candidate_hits: int = 3) -> Figure:
    """The transverse (x-y) view of one event: its hits, the found tracks and the truth.

    Every hit is a grey dot. The found track candidates with at least
    `min_candidate_hits` hits (the largest `max_tracks` of them) are drawn each in its
    own colour, a line joining their hits in order of radius. With `truth`, a second
    panel draws the true particles with pT above `min_pt` (the `max_tracks` of highest
    pT) the same way: a particle a candidate matches (the double majority of
    `grapa.tracking.metrics`) in that candidate's colour, a missed one in black. A
    particle's pT is that of its true momentum at its innermost hit.

    Args:
        hits: the event's hits (`x`, `y` in mm, and `hit_id` with `truth`).
        track_ids: `(n_hits,)` integer track label per hit row; negative = no track.
        path: where to write the PNG, or None.
        truth: the event's truth, aligned with `hits` (`hit_id`, `particle_id`, `tpx`,
            `tpy`, `tpz`), or None for the found tracks alone.
        max_tracks: the most tracks (and particles) drawn per panel.
        min_pt: the lowest pT of a drawn true particle (GeV).
        min_candidate_hits: the fewest hits of a drawn candidate.

    Returns:
        The `Figure`: 1 axes, or 2 (found tracks, true particles) with `truth`; each holds
        the hits' scatter, one `LineCollection` of the tracks (a polyline each, in
        drawing order) and the scatter of their hits.
    """
    missing = [column for column in ("x", "y") if column not in hits.columns]
    if missing:
        raise ValueError(f"hits lacks column(s) {', '.join(missing)}: pass the event's hits table")
    if max_tracks < 1:
        raise ValueError(f"max_tracks must be at least 1, got {max_tracks}")
    labels = _hit_labels(track_ids, "track_ids", len(hits))
    x, y = (hits[column].to_numpy(np.float64) for column in ("x", "y"))
    radius = np.hypot(x, y)
    figure, axes = _figure(1 if truth is None else 2, width=5.5, height=5.5)
    for axis in axes:
        axis.scatter(x, y, s=2, color=_HIT_COLOUR, linewidths=0)
        axis.set(xlabel="x [mm]", ylabel="y [mm]", aspect="equal")

    candidates = _largest_candidates(labels, min_candidate_hits)
    # a candidate's colour follows its rank by size, so that a particle it matches takes
    # the same colour in the truth panel whether or not the candidate is drawn
    colour_of = {label: _PALETTE(rank % _PALETTE.N) for rank, label in enumerate(candidates)}
    drawn = candidates[:max_tracks]
    _draw_chains(axes[0], x, y, radius, [np.flatnonzero(labels == label) for label in drawn],
                 [colour_of[label] for label in drawn])
    axes[0].set_title(f"found: {len(candidates)} candidates of >= {min_candidate_hits} hits"
                      + (f"\n(the {len(drawn)} largest drawn)" if len(drawn) < len(candidates)
                         else ""))
    if truth is None:
        return _finish(figure, path)

    truth = _truth_rows(truth, hits)
    table = particle_table(labels, truth, _particles_from_truth(truth, radius), min_hits=1,
                           min_pt=min_pt)
    above = table[table["pt"].to_numpy() > min_pt]
    shown = above.sort_values("pt", ascending=False, kind="stable").iloc[:max_tracks]
    particle_ids = truth["particle_id"].to_numpy()
    _draw_chains(axes[1], x, y, radius,
                 [np.flatnonzero(particle_ids == pid) for pid in shown["particle_id"]],
                 [colour_of.get(track, _MISSED_COLOUR) for track in shown["track_id"]])
    n_missed = int((~above["track_id"].isin(list(colour_of))).sum())
    axes[1].set_title(f"true: {len(above)} particles with pT > {min_pt:g} GeV, {n_missed} "
                      "missed (black)"
                      + (f"\n(the {len(shown)} of highest pT drawn)" if len(shown) < len(above)
                         else ""))
    return _finish(figure, path)
