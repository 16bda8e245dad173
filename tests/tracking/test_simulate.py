"""Tests of grapa.tracking.simulate: the barrel detector's helices, scattering, smearing,
counts and TrackML weights, each against numbers worked out here from the physics."""

import dataclasses

import numpy as np
import pandas as pd
import pytest

from grapa.cli import main
from grapa.tracking.events import read_event
from grapa.tracking.simulate import (
    HIT_COLUMNS,
    PARTICLE_COLUMNS,
    TRUTH_COLUMNS,
    BarrelDetector,
    simulate_event,
    simulate_events,
)

DETECTOR = BarrelDetector()
RADII = np.array([32, 72, 116, 172, 260, 360, 500, 660, 820, 1020], dtype=float)
HALF_LENGTHS = np.array([491.0] * 4 + [1084.0] * 6)
# R [mm] = pT [GeV] / (0.3 GeV / (T m) * B) = pT / (0.299792458e-3 * 2)
MM_PER_GEV = 1 / (0.299792458e-3 * 2.0)
PION_MASS = 0.13957039


def with_particles(hits, truth, particles):
    """One row per particle hit: measured and true position, momentum, its particle."""
    rows = hits.merge(truth, on="hit_id").merge(particles, on="particle_id")
    rows["r"] = np.hypot(rows.tx, rows.ty)
    rows["layer"] = np.abs(rows.r.to_numpy()[:, None] - RADII).argmin(axis=1)
    return rows


def wrap(angle):
    return np.mod(angle + np.pi, 2 * np.pi) - np.pi


def test_defaults_are_trackml_barrel():
    assert DETECTOR.b_field == 2.0 and DETECTOR.radii == tuple(RADII)
    assert DETECTOR.volume_ids == (8,) * 4 + (13,) * 4 + (17,) * 2
    assert DETECTOR.layer_ids == (2, 4, 6, 8, 2, 4, 6, 8, 2, 4)
    hits, truth, particles = simulate_event(200, seed=0)
    assert list(hits.columns) == HIT_COLUMNS == ["hit_id", "x", "y", "z", "volume_id",
                                                 "layer_id", "module_id"]
    assert list(truth.columns) == TRUTH_COLUMNS
    assert list(particles.columns) == PARTICLE_COLUMNS
    assert (hits.hit_id.to_numpy() == np.arange(1, len(hits) + 1)).all()
    assert (truth.hit_id == hits.hit_id).all()
    assert particles.particle_id.is_unique and (particles.particle_id > 0).all()
    assert set(particles.q) == {-1, 1}
    for frame, columns in ((hits, ["hit_id", "volume_id", "layer_id", "module_id"]),
                           (truth, ["hit_id", "particle_id"]),
                           (particles, ["particle_id", "q", "nhits"])):
        assert all(frame[column].dtype == np.int64 for column in columns)


def test_generated_particles_follow_the_requested_spectra():
    n = 20000
    _, _, particles = simulate_event(n, seed=14)
    pt = np.hypot(particles.px, particles.py)
    p = np.linalg.norm(particles[["px", "py", "pz"]], axis=1)
    eta = np.arctanh(particles.pz / p)
    assert pt.min() >= 0.5 and pt.max() <= 20 and np.abs(eta).max() <= 1.0 + 1e-12
    # dN/dpT ~ pT^-3 on [0.5, 20]: P(pT < x) = (0.5^-2 - x^-2) / (0.5^-2 - 20^-2)
    for x in (0.7, 1.0, 3.0):
        expected = (4 - x**-2) / (4 - 20**-2)
        assert abs((pt < x).mean() - expected) < 4 * np.sqrt(expected * (1 - expected) / n)
    assert abs(np.mean(np.abs(eta)) - 0.5) < 4 * np.sqrt(1 / 12 / n)  # uniform in |eta|
    assert abs(np.mean(particles.q)) < 4 / np.sqrt(n)
    for column, sigma in (("vx", 0.015), ("vy", 0.015), ("vz", 55.0)):
        assert abs(np.std(particles[column]) / sigma - 1) < 4 / np.sqrt(2 * n)


def test_ideal_hits_lie_on_the_helix_through_the_vertex():
    hits, truth, particles = simulate_event(
        400, seed=1, detector=DETECTOR.ideal(), pt_min=0.3, pt_max=5.0, pt_power=1.0,
        inefficiency=0.0, noise_fraction=0.0)
    rows = with_particles(hits, truth, particles)
    assert len(rows) == len(hits) > 2000
    pt = np.hypot(rows.px, rows.py)
    radius = pt * MM_PER_GEV
    # F = q v x B with B along +z: a positive particle turns clockwise, so the centre
    # lies to the right of its initial direction
    centre_x = rows.vx + rows.q * radius * rows.py / pt
    centre_y = rows.vy - rows.q * radius * rows.px / pt
    np.testing.assert_allclose(np.hypot(rows.tx - centre_x, rows.ty - centre_y), radius,
                               rtol=1e-9)
    np.testing.assert_allclose(rows.r, RADII[rows.layer], atol=1e-9)
    # no smearing: the measured hit is the true one
    np.testing.assert_allclose(rows[["x", "y", "z"]].to_numpy(),
                               rows[["tx", "ty", "tz"]].to_numpy(), atol=1e-9)
    # z grows linearly with the transverse arc length from the vertex
    chord = np.hypot(rows.tx - rows.vx, rows.ty - rows.vy)
    arc = 2 * radius * np.arcsin(chord / (2 * radius))
    np.testing.assert_allclose(rows.tz - rows.vz, arc * rows.pz / pt, atol=1e-6)
    # no material: |p| and pz are kept, and p is tangent to the circle at the hit
    np.testing.assert_allclose(np.linalg.norm(rows[["tpx", "tpy", "tpz"]], axis=1),
                               np.linalg.norm(rows[["px", "py", "pz"]], axis=1), rtol=1e-12)
    np.testing.assert_allclose(rows.tpz, rows.pz, rtol=1e-12)
    radial = (rows.tx - centre_x) * rows.tpx + (rows.ty - centre_y) * rows.tpy
    np.testing.assert_allclose(radial / (radius * pt), 0, atol=1e-9)
    # the turning sense: (hit - centre) x p has the sign of -q
    cross = (rows.tx - centre_x) * rows.tpy - (rows.ty - centre_y) * rows.tpx
    assert (np.sign(cross) == -rows.q).all()


def test_a_particle_stops_below_twice_its_radius():
    pt = 0.08  # 2R = 266.9 mm: it reaches 260 mm, not 360 mm
    assert 260 < 2 * pt * MM_PER_GEV < 360
    hits, truth, particles = simulate_event(
        300, seed=2, detector=DETECTOR.ideal(), pt_min=pt, pt_max=pt * 1.001, eta_max=0.5,
        inefficiency=0.0, noise_fraction=0.0)
    assert (particles.nhits == 5).all()
    rows = with_particles(hits, truth, particles)
    assert (rows.groupby("particle_id").layer.agg(sorted).map(tuple) == (0, 1, 2, 3, 4)).all()


def test_a_particle_leaving_a_layers_length_stops():
    hits, truth, particles = simulate_event(
        2000, seed=3, detector=DETECTOR.ideal(), pt_min=10.0, pt_max=20.0, eta_max=2.5,
        inefficiency=0.0, noise_fraction=0.0)
    pt = np.hypot(particles.px, particles.py).to_numpy()[:, None]
    radius = pt * MM_PER_GEV
    z = particles.vz.to_numpy()[:, None] + (
        2 * radius * np.arcsin(RADII / (2 * radius)) * particles.pz.to_numpy()[:, None] / pt)
    outside = np.abs(z) > HALF_LENGTHS
    expected = np.where(outside.any(axis=1), outside.argmax(axis=1), len(RADII))
    clear = (np.abs(np.abs(z) - HALF_LENGTHS) > 0.5).all(axis=1)  # no borderline crossing
    assert clear.sum() > 1900 and 0 < (expected < 10).mean() < 1
    np.testing.assert_array_equal(particles.nhits.to_numpy()[clear], expected[clear])
    # some stop in the pixels, some in the strips, some cross everything
    assert (expected < 4).any() and ((expected > 4) & (expected < 10)).any()
    assert (expected == 10).any()


def test_a_particle_scattered_back_inwards_stops():
    # 2R = 300 mm: the particle crosses 260 mm at 60 degrees to the radial direction; a
    # wall of 20 X0 there (theta0 ~ 1.5 rad) turns many inwards, some onto circles that
    # would reach 360 mm after a loop through the inside
    material = (0.0,) * 4 + (20.0,) + (0.0,) * 5
    detector = dataclasses.replace(DETECTOR.ideal(), material=material)
    pt = 150 / MM_PER_GEV
    hits, truth, particles = simulate_event(
        5000, seed=13, detector=detector, pt_min=pt, pt_max=pt * 1.0001, eta_max=0.3,
        inefficiency=0.0, noise_fraction=0.0)
    rows = with_particles(hits, truth, particles).sort_values(["particle_id", "layer"])
    before = rows[rows.layer == 4].set_index("particle_id")
    after = rows[rows.layer == 5].set_index("particle_id")
    before = before.loc[after.index]
    assert len(after) > 200
    # the circle through the hit at 360 mm, from its momentum there
    pt_after = np.hypot(after.tpx, after.tpy)
    radius = pt_after * MM_PER_GEV
    centre_x = after.tx + after.q * radius * after.tpy / pt_after
    centre_y = after.ty - after.q * radius * after.tpx / pt_after
    angle_before = np.arctan2(before.ty - centre_y, before.tx - centre_x)
    angle_after = np.arctan2(after.ty - centre_y, after.tx - centre_x)
    # travelled from 260 to 360 mm along the circle: less than half a turn, no loop
    turned = np.mod(-after.q * (angle_after - angle_before), 2 * np.pi)
    assert (turned < np.pi).all(), turned.max()


def highland(p, x_over_x0):
    """PDG eq. 34.15 for a unit charge, written out for the test."""
    beta = p / np.sqrt(p**2 + PION_MASS**2)
    return 0.0136 / (beta * p) * np.sqrt(x_over_x0) * (1 + 0.038 * np.log(x_over_x0 / beta**2))


def test_scattering_angle_spread_matches_highland():
    material = (0.02,) + (0.0,) * 9  # only the first layer scatters
    detector = dataclasses.replace(DETECTOR.ideal(), material=material)
    n = 20000
    # at 0.3 GeV a pion's beta is 0.91: 1 / (beta p) differs from 1 / p by 10%
    hits, truth, particles = simulate_event(
        n, seed=4, detector=detector, pt_min=0.3, pt_max=0.3003, eta_max=0.5,
        inefficiency=0.0, noise_fraction=0.0)
    rows = with_particles(hits, truth, particles).sort_values(["particle_id", "layer"])
    first = rows[rows.layer == 0].set_index("particle_id")
    second = rows[rows.layer == 1].set_index("particle_id").loc[first.index]
    p = np.linalg.norm(first[["tpx", "tpy", "tpz"]], axis=1)
    # the path through the layer: x / X0 over the cosine to the radial direction
    cos_incidence = (first.tx * first.tpx + first.ty * first.tpy) / (first.r * p)
    theta0 = highland(p, 0.02 / cos_incidence)
    assert 0.0055 < theta0.min() < theta0.max() < 0.0075
    # kick in the plane of p and z: the field keeps pz / |p|, so the polar angle between
    # the first and the second layer changes by the kick alone
    polar_in = np.arccos(first.tpz / p)
    polar_out = np.arccos(second.tpz / np.linalg.norm(second[["tpx", "tpy", "tpz"]], axis=1))
    polar_kick = (polar_out - polar_in) / theta0
    # kick in the bending plane: undo the field's turn between the two hits of the
    # scattered helix (radius from its pT), then compare directions at the first layer
    pt_out = np.hypot(second.tpx, second.tpy)
    chord = np.hypot(second.tx - first.tx, second.ty - first.ty)
    turn = 2 * np.arcsin(chord / (2 * pt_out * MM_PER_GEV))
    phi_out_at_first = np.arctan2(second.tpy, second.tpx) + first.q * turn
    azimuth_kick = wrap(phi_out_at_first - np.arctan2(first.tpy, first.tpx))
    transverse_kick = azimuth_kick * np.sin(polar_in) / theta0
    tolerance = 4 / np.sqrt(2 * n)  # four standard errors of a standard deviation
    for kick in (polar_kick, transverse_kick):
        assert abs(np.std(kick) - 1) < tolerance, np.std(kick)
        assert abs(np.mean(kick)) < 4 / np.sqrt(n)
    # |p| is kept through the scattering
    np.testing.assert_allclose(np.linalg.norm(second[["tpx", "tpy", "tpz"]], axis=1), p,
                               rtol=1e-12)


def test_smearing_matches_the_resolution():
    detector = dataclasses.replace(DETECTOR, material=(0.0,) * 10)
    n = 4000
    hits, truth, particles = simulate_event(
        n, seed=5, detector=detector, pt_min=2.0, pt_max=20.0, eta_max=0.5,
        inefficiency=0.0, noise_fraction=0.0)
    rows = with_particles(hits, truth, particles)
    np.testing.assert_allclose(np.hypot(rows.x, rows.y), RADII[rows.layer], rtol=1e-12)
    expected = {1: (0.015, 0.015), 5: (0.018, 0.6), 9: (0.03, 0.5)}
    for layer, (rphi, z) in expected.items():
        on_layer = rows[rows.layer == layer]
        assert len(on_layer) > 0.95 * n
        tolerance = 4 / np.sqrt(2 * len(on_layer))
        residual = RADII[layer] * wrap(np.arctan2(on_layer.y, on_layer.x)
                                       - np.arctan2(on_layer.ty, on_layer.tx))
        assert abs(np.std(residual) / rphi - 1) < tolerance
        assert abs(np.std(on_layer.z - on_layer.tz) / z - 1) < tolerance


def test_same_seed_same_event_other_seed_other_event():
    one = simulate_event(300, seed=7)
    two = simulate_event(300, seed=np.random.default_rng(7))
    other = simulate_event(300, seed=8)
    for a, b in zip(one, two):
        pd.testing.assert_frame_equal(a, b)
    assert not np.allclose(one[2].px, other[2].px)


def test_counts_inefficiency_and_noise():
    n = 3000
    # pT >= 5 GeV and |eta| <= 0.2: every particle crosses all ten layers
    options = dict(detector=DETECTOR.ideal(), pt_min=5.0, pt_max=20.0, eta_max=0.2)
    _, _, complete = simulate_event(n, seed=9, inefficiency=0.0, noise_fraction=0.0,
                                    **options)
    assert (complete.nhits == 10).all()
    hits, truth, particles = simulate_event(n, seed=9, inefficiency=0.2,
                                            noise_fraction=0.25, **options)
    counts = truth[truth.particle_id > 0].particle_id.value_counts()
    np.testing.assert_array_equal(particles.set_index("particle_id").nhits[counts.index],
                                  counts)
    n_particle_hits = particles.nhits.sum()
    kept = n_particle_hits / (10 * n)
    assert abs(kept - 0.8) < 4 * np.sqrt(0.8 * 0.2 / (10 * n))
    noise = truth.particle_id == 0
    assert noise.sum() == round(0.25 * n_particle_hits)
    assert (truth.weight[noise] == 0).all()
    # noise sits on the cylinders, spread like the particle hits over the layers
    radius = np.hypot(hits.x, hits.y)
    layer = np.abs(radius.to_numpy()[:, None] - RADII).argmin(axis=1)
    np.testing.assert_allclose(radius, RADII[layer], rtol=1e-12)
    noise_share = np.bincount(layer[noise], minlength=10) / noise.sum()
    particle_share = np.bincount(layer[~noise], minlength=10) / (~noise).sum()
    np.testing.assert_allclose(noise_share, particle_share,
                               atol=4 * np.sqrt(0.1 * 0.9 / noise.sum()))
    # and uniform in phi and over each layer's length
    phi = np.arctan2(hits.y[noise], hits.x[noise])
    assert abs(np.mean(np.cos(phi))) < 4 / np.sqrt(2 * noise.sum())
    z_fraction = np.abs(hits.z[noise]) / HALF_LENGTHS[layer[noise]]
    assert z_fraction.max() <= 1 and abs(z_fraction.mean() - 0.5) < 4 * np.sqrt(
        1 / 12 / noise.sum())


def test_noise_follows_the_particle_hits_over_layers():
    # below 0.24 GeV (2R < 801 mm) no particle reaches the long strips at 820 mm
    _, truth, particles = simulate_event(
        3000, seed=12, detector=DETECTOR.ideal(), pt_min=0.1, pt_max=0.24, pt_power=0.0,
        eta_max=0.5, inefficiency=0.0, noise_fraction=0.3)
    layer = np.abs(np.hypot(truth.tx, truth.ty).to_numpy()[:, None] - RADII).argmin(axis=1)
    noise = (truth.particle_id == 0).to_numpy()
    particle_hits = np.bincount(layer[~noise], minlength=10)
    noise_hits = np.bincount(layer[noise], minlength=10)
    assert particle_hits[0] > 2 * particle_hits[7] > 0 and particle_hits[8:].sum() == 0
    assert noise_hits[8:].sum() == 0
    expected = noise.sum() * particle_hits / particle_hits.sum()
    assert (np.abs(noise_hits - expected) < 4 * np.sqrt(expected) + 1).all()


def test_hit_ids_follow_the_detector_and_modules_hold_their_hits():
    hits, truth, _ = simulate_event(1000, seed=10)
    keys = hits[["volume_id", "layer_id", "module_id"]].to_numpy()
    assert (np.diff(keys[:, 0]) >= 0).all()
    same_volume = np.diff(keys[:, 0]) == 0
    assert (np.diff(keys[:, 1])[same_volume] >= 0).all()
    same_layer = same_volume & (np.diff(keys[:, 1]) == 0)
    assert (np.diff(keys[:, 2])[same_layer] >= 0).all()
    assert not (np.diff(truth.particle_id[truth.particle_id > 0]) >= 0).all()
    # module_id = 1 + i_phi * n_z + i_z, i_phi counted from phi = 0, i_z from -half length
    layer = np.abs(np.hypot(hits.x, hits.y).to_numpy()[:, None] - RADII).argmin(axis=1)
    n_phi = np.array(DETECTOR.modules_phi)[layer]
    n_z = np.array(DETECTOR.modules_z)[layer]
    i_phi, i_z = np.divmod(hits.module_id.to_numpy() - 1, n_z)
    phi = np.mod(np.arctan2(hits.y, hits.x), 2 * np.pi)
    assert ((i_phi * 2 * np.pi / n_phi <= phi) & (phi < (i_phi + 1) * 2 * np.pi / n_phi)).all()
    z_low = -HALF_LENGTHS[layer] + i_z * 2 * HALF_LENGTHS[layer] / n_z
    inner = (i_z > 0) & (i_z < n_z - 1)  # the end modules also hold smeared overflow
    assert ((hits.z >= z_low) & (hits.z < z_low + 2 * HALF_LENGTHS[layer] / n_z))[inner].all()


def test_weights_follow_trackml():
    hits, truth, particles = simulate_event(
        3000, seed=11, detector=DETECTOR.ideal(), pt_min=0.3, pt_max=6.0, pt_power=1.0,
        eta_max=0.3, inefficiency=0.5, noise_fraction=0.1)
    assert truth.weight.sum() == pytest.approx(1.0, abs=1e-12)
    assert (truth.weight[truth.particle_id == 0] == 0).all()
    rows = with_particles(hits, truth, particles).sort_values(["particle_id", "layer"])
    short = rows.nhits < 4
    assert short.any() and (rows.weight[short] == 0).all()
    assert (rows.weight[~short] > 0).all()
    # the order weights: TrackML's proposal for 9 hits, and its interpolation to 4 hits
    proposal = np.array([10, 8, 6, 5, 3, 3, 3, 5, 6]) / 10
    four = np.array([10, 6 - 0.25 / 0.375, 3, 6]) / 10
    for nhits, relative in ((9, proposal), (4, four)):
        groups = rows[rows.nhits == nhits].groupby("particle_id").weight
        assert groups.ngroups > 10
        for _, weight in groups:
            np.testing.assert_allclose(weight.to_numpy() / weight.iloc[0], relative)
    # a particle's weight: 1 for pT >= 3 GeV, 0.2 for pT <= 0.5, linear in between
    pt = np.hypot(particles.px, particles.py)
    pt_weight = np.clip(0.2 + 0.8 * (pt - 0.5) / 2.5, 0.2, 1.0)
    total = rows.groupby("particle_id").weight.sum()
    ratio = total / pt_weight[total.index - 1].to_numpy()
    ratio = ratio[particles.set_index("particle_id").nhits[ratio.index] >= 4]
    np.testing.assert_allclose(ratio, ratio.iloc[0], rtol=1e-9)


@pytest.mark.parametrize("options, message", [
    (dict(n_particles=0), "at least 1 particle"),
    (dict(n_particles=2.5), "whole number"),
    (dict(inefficiency=1.0), "inefficiency"),
    (dict(pt_min=2.0, pt_max=1.0), "pt_min < pt_max"),
    (dict(noise_fraction=-0.1), "noise_fraction"),
    (dict(eta_max=-1.0), "eta_max"),
])
def test_bad_options_raise_clear_errors(options, message):
    options = {"n_particles": 10, **options}
    with pytest.raises(ValueError, match=message):
        simulate_event(options.pop("n_particles"), **options)


def test_detector_checks_its_layers():
    with pytest.raises(ValueError, match="material has 9 entries for 10 layers"):
        BarrelDetector(material=(0.01,) * 9)
    with pytest.raises(ValueError, match="increasing"):
        BarrelDetector(radii=(72.0, 32.0), half_lengths=(1, 1), volume_ids=(8, 8),
                       layer_ids=(2, 4), material=(0, 0), resolution_rphi=(0, 0),
                       resolution_z=(0, 0), modules_phi=(1, 1), modules_z=(1, 1))


def test_simulate_events_writes_reproducible_trackml_files(tmp_path):
    prefixes = simulate_events(tmp_path / "a", 3, 40, seed=5, first_event_id=7,
                               pt_min=1.0)
    assert [prefix.name for prefix in prefixes] == [f"event00000000{i}" for i in (7, 8, 9)]
    again = simulate_events(tmp_path / "b", 3, 40, seed=5, first_event_id=7, pt_min=1.0)
    other = simulate_events(tmp_path / "c", 3, 40, seed=6, first_event_id=7, pt_min=1.0)
    for one, two, three in zip(prefixes, again, other):
        for part in ("hits", "truth", "particles"):
            text = (one.parent / f"{one.name}-{part}.csv").read_bytes()
            assert text == (two.parent / f"{two.name}-{part}.csv").read_bytes()
            assert text != (three.parent / f"{three.name}-{part}.csv").read_bytes()
    # event k draws from the k-th child of the master seed
    hits, truth, particles = simulate_event(
        40, seed=np.random.SeedSequence(5).spawn(3)[1], pt_min=1.0)
    event = read_event(tmp_path / "a", 8)
    np.testing.assert_allclose(event.hits[["x", "y", "z"]], hits[["x", "y", "z"]], rtol=1e-6)
    np.testing.assert_array_equal(event.truth.particle_id, truth.particle_id)
    np.testing.assert_array_equal(event.particles.nhits, particles.nhits)
    assert event.truth.weight.sum() == pytest.approx(1.0, rel=1e-5)


def test_simulate_events_checks_before_writing(tmp_path):
    with pytest.raises(ValueError, match="n_events 0"):
        simulate_events(tmp_path / "x", 0, 10)
    with pytest.raises(ValueError, match="inefficiency"):
        simulate_events(tmp_path / "x", 2, 10, inefficiency=1.5)
    assert not (tmp_path / "x").exists()


def test_cli_simulates_track_events(tmp_path, capsys):
    out = tmp_path / "events"
    assert main(["simulate", "--process", "tracks", "--events", "2", "--particles", "30",
                 "--out", str(out), "--seed", "3", "--pt-min", "1", "--pt-max", "5"]) == 0
    names = sorted(path.name for path in out.iterdir())
    assert names == [f"event00000{i}-{part}.csv" for i in (1000, 1001)
                     for part in ("hits", "particles", "truth")]
    particles = read_event(out, 1001).particles
    pt = np.hypot(particles.px, particles.py)
    assert len(particles) == 30 and ((pt >= 1) & (pt <= 5)).all()
    assert "wrote 2 events of 30 particles" in capsys.readouterr().out


@pytest.mark.parametrize("arguments, message", [
    (["--process", "tracks", "--events", "2"], "--process tracks needs --particles"),
    (["--process", "tracks", "--particles", "2"], "--process tracks needs --events"),
    (["--process", "top"], "the jet process 'top' needs --jets"),
    (["--process", "tracks", "--events", "1", "--particles", "5", "--jets", "3"],
     "--jets is not used by --process tracks"),
    (["--process", "tracks", "--events", "1", "--particles", "5", "--pt-min", "3",
      "--pt-max", "2"], "--pt-min 3 --pt-max 2: the track pT window"),
    (["--process", "tracks", "--events", "0", "--particles", "5"], "--events 0"),
])
def test_cli_names_the_missing_or_wrong_flag(tmp_path, capsys, arguments, message):
    assert main(["simulate", *arguments, "--out", str(tmp_path / "out")]) == 2
    error = capsys.readouterr().err
    assert message in error and len(error.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()
