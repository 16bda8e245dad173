"""The tracking figures: binned efficiencies by hand, and what the event display draws."""

import numpy as np
import pandas as pd
import pytest
from matplotlib.colors import to_rgba

from grapa.plotting import plot_event_display, plot_tracking_efficiency
from grapa.plotting.tracking import efficiency_by_bin


def _assert_saved(path):
    png = path.read_bytes()
    assert png.startswith(b"\x89PNG") and len(png) > 1000


def test_efficiency_by_bin_by_hand():
    values = [1.0, 1.5, 1.5, 1.9, 2.0, 2.5, 4.0, 0.5, 5.0]
    matched = [True, True, True, False, True, False, False, True, True]
    efficiency, error, counts = efficiency_by_bin(values, matched, [1, 2, 3, 4])
    # [1, 2): 1.0, 1.5, 1.5, 1.9 with 3 matched; [2, 3): 2.0, 2.5 with 1; [3, 4] (the last
    # bin is closed): 4.0 with 0; 0.5 and 5.0 fall outside every bin
    np.testing.assert_array_equal(counts, [4, 2, 1])
    np.testing.assert_allclose(efficiency, [0.75, 0.5, 0.0])
    np.testing.assert_allclose(error, [np.sqrt(0.75 * 0.25 / 4), np.sqrt(0.5 * 0.5 / 2), 0.0])


def test_efficiency_by_bin_empty_bin_is_nan():
    efficiency, error, counts = efficiency_by_bin(np.array([0.5, 2.5]), np.array([1, 0]),
                                                  [0, 1, 2, 3])
    np.testing.assert_array_equal(counts, [1, 0, 1])
    np.testing.assert_array_equal(efficiency, [1.0, np.nan, 0.0])
    assert np.isnan(error[1]) and error[0] == error[2] == 0


@pytest.mark.parametrize(("values", "matched", "bins", "message"), [
    ([1.0, 2.0], [True], [0, 3], "shape"),
    ([1.0, 2.0], [0.5, 1.0], [0, 3], "bool"),
    ([1.0, 2.0], [True, False], [0, 3, 2], "increasing"),
    ([1.0, 2.0], [True, False], [1], "increasing"),
])
def test_efficiency_by_bin_errors(values, matched, bins, message):
    with pytest.raises(ValueError, match=message):
        efficiency_by_bin(values, matched, bins)


def _particle_table(pt, eta, reconstructable, matched):
    return pd.DataFrame({"particle_id": np.arange(1, len(pt) + 1), "pt": pt, "eta": eta,
                         "phi": 0.0, "nhits": 8, "reconstructable": reconstructable,
                         "matched": matched, "track_id": -1})


def test_tracking_efficiency_plots_the_reconstructable_particles(tmp_path):
    first = _particle_table(pt=[1.2, 1.5, 3.0, 0.5], eta=[-0.5, 0.5, 0.5, 0.0],
                            reconstructable=[True, True, True, False],
                            matched=[True, False, True, True])
    second = _particle_table(pt=[8.0, 15.0, 2.0], eta=[-0.5, 0.5, -0.5],
                             reconstructable=[True, True, False], matched=[True, True, False])
    path = tmp_path / "nested" / "efficiency.png"
    figure = plot_tracking_efficiency([first, second], path, pt_bins=[1, 2, 5, 20],
                                      eta_bins=[-1, 0, 1])
    _assert_saved(path)
    pt_axis, eta_axis = figure.axes
    # reconstructable: pT 1.2 (matched), 1.5 (not), 3.0, 8.0, 15.0 (matched);
    # eta -0.5: 1.2, 8.0 (2 of 2); eta 0.5: 1.5, 3.0, 15.0 (2 of 3)
    expected = {pt_axis: [0.5, 1.0, 1.0], eta_axis: [1.0, 2 / 3]}
    for axis, efficiency in expected.items():
        points = axis.containers[0].lines[0]
        np.testing.assert_allclose(points.get_ydata(), efficiency)
    np.testing.assert_allclose(pt_axis.containers[0].lines[0].get_xdata(),
                               np.sqrt([1 * 2, 2 * 5, 5 * 20]))  # log-bin centres
    assert pt_axis.get_xscale() == "log"
    assert "4 of 5 reconstructable" in figure.get_suptitle()


def test_tracking_efficiency_default_bins_cover_the_data_and_leave_out_empty_bins():
    table = _particle_table(pt=[1.1, 1.2, 19.0], eta=[0.1, 0.2, 0.9],
                            reconstructable=True, matched=[True, False, True])
    figure = plot_tracking_efficiency(table, n_bins=4)
    points = figure.axes[0].containers[0].lines[0]
    # log bins from 1.1 to 19 GeV: the two low-pT particles share the first bin, the
    # last is alone in the last bin, the two between are empty and not drawn
    np.testing.assert_allclose(points.get_ydata(), [0.5, 1.0])


def test_tracking_efficiency_needs_a_reconstructable_particle():
    table = _particle_table(pt=[0.5], eta=[0.0], reconstructable=False, matched=False)
    with pytest.raises(ValueError, match="no reconstructable particle"):
        plot_tracking_efficiency(table)
    with pytest.raises(ValueError, match="lack column"):
        plot_tracking_efficiency(table.drop(columns="eta"))


def _radial_event():
    """Three particles on straight radial lines (4 hits each, at r = 100..400 mm) and two
    noise hits; hit rows shuffled so that radius order is not row order."""
    rows = []
    for particle, (phi, pt) in {1: (0.0, 2.0), 2: (2.0, 5.0), 3: (-2.0, 1.5), 4: (3.0, 0.6)}.items():
        for radius in (100.0, 200.0, 300.0, 400.0):
            rows.append((particle, radius * np.cos(phi), radius * np.sin(phi),
                         pt * np.cos(phi), pt * np.sin(phi)))
    rows += [(0, 50.0, 250.0, 0.0, 0.0), (0, -150.0, -30.0, 0.0, 0.0)]
    order = np.random.default_rng(0).permutation(len(rows))
    table = pd.DataFrame([rows[i] for i in order],
                         columns=["particle_id", "x", "y", "tpx", "tpy"])
    hits = pd.DataFrame({"hit_id": np.arange(1, len(table) + 1), "x": table["x"],
                         "y": table["y"], "z": 0.0})
    truth = pd.DataFrame({"hit_id": hits["hit_id"], "particle_id": table["particle_id"],
                          "tpx": table["tpx"], "tpy": table["tpy"], "tpz": 0.0})
    return hits, truth


def test_event_display_draws_tracks_by_radius_and_colours_truth_by_match(tmp_path):
    hits, truth = _radial_event()
    particle = truth["particle_id"].to_numpy()
    # particle 1 found whole (track 7), particle 2 whole plus a noise hit (track 3),
    # particle 3 split in two 2-hit pieces (no candidate of 3 hits), particle 4 whole
    labels = np.full(len(hits), -1)
    labels[particle == 1] = 7
    labels[particle == 2] = 3
    labels[np.flatnonzero(particle == 0)[0]] = 3
    labels[np.flatnonzero(particle == 3)[:2]] = 10
    labels[np.flatnonzero(particle == 3)[2:]] = 11
    labels[particle == 4] = 5
    path = tmp_path / "display.png"
    figure = plot_event_display(hits, labels, path, truth=truth)
    _assert_saved(path)
    found, true = figure.axes
    radius = np.hypot(hits["x"], hits["y"]).to_numpy()

    def chain(rows):
        rows = rows[np.argsort(radius[rows])]
        return np.column_stack([hits["x"].to_numpy()[rows], hits["y"].to_numpy()[rows]])

    # found: tracks 3 (5 hits) and then 5, 7 (4 hits each, smaller label first)
    lines = found.collections[1]
    assert len(lines.get_segments()) == 3
    for segment, label in zip(lines.get_segments(), (3, 5, 7)):
        np.testing.assert_allclose(segment, chain(np.flatnonzero(labels == label)))
    track_colours = dict(zip((3, 5, 7), lines.get_colors()))
    assert len({tuple(colour) for colour in track_colours.values()}) == 3
    # true, pT > 1 GeV, highest first: particle 2 (5 GeV, track 3), 1 (2 GeV, track 7),
    # 3 (1.5 GeV, missed: black); particle 4 (0.6 GeV) is left out
    lines = true.collections[1]
    for segment, pid in zip(lines.get_segments(), (2, 1, 3)):
        np.testing.assert_allclose(segment, chain(np.flatnonzero(particle == pid)))
    np.testing.assert_allclose(lines.get_colors(),
                               [track_colours[3], track_colours[7], to_rgba("black")])
    assert "3 particles with pT > 1 GeV, 1 missed" in true.get_title()
    # every hit is drawn in grey under the tracks
    assert len(found.collections[0].get_offsets()) == len(hits)


def test_event_display_limits_the_tracks_and_works_without_truth():
    hits, truth = _radial_event()
    labels = np.unique(truth["particle_id"], return_inverse=True)[1]
    figure = plot_event_display(hits, labels, max_tracks=2)
    assert len(figure.axes) == 1
    assert len(figure.axes[0].collections[1].get_segments()) == 2
    assert "the 2 largest drawn" in figure.axes[0].get_title()
    with pytest.raises(ValueError, match=r"track_ids must be integers of shape \(18,\)"):
        plot_event_display(hits, labels[:-1])
    with pytest.raises(ValueError, match="not aligned"):
        plot_event_display(hits, labels, truth=truth.iloc[::-1].reset_index(drop=True))
