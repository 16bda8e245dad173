"""Relative particle features (JetNet's convention) and back to 4-momenta."""

import numpy as np
import pytest

from grapa.data.relative import from_relative, relative_masses, to_relative


def _massless(pt, eta, phi):
    return np.array([pt * np.cosh(eta), pt * np.cos(phi), pt * np.sin(phi), pt * np.sinh(eta)])


def test_features_of_a_hand_made_jet():
    # two particles at phi = +-(pi - 0.1): the jet axis is at phi = pi, and the relative
    # azimuths must wrap to -+0.1 rather than jump by 2 pi
    first = _massless(300.0, 0.5, np.pi - 0.1)
    second = _massless(100.0, 0.3, -np.pi + 0.1)
    jets = np.stack([first, second, np.zeros(4)])[None]
    particles, kinematics = to_relative(jets)
    total = first + second
    jet_pt = np.hypot(total[1], total[2])
    jet_eta = np.arcsinh(total[3] / jet_pt)
    assert kinematics[0, 0] == pytest.approx(jet_pt)
    assert kinematics[0, 1] == pytest.approx(jet_eta)
    assert kinematics[0, 2] == pytest.approx(np.arctan2(total[2], total[1]))
    assert abs(kinematics[0, 2]) > 3.0  # the axis is near phi = pi
    np.testing.assert_allclose(particles[0, :2, 2], [300.0 / jet_pt, 100.0 / jet_pt])
    np.testing.assert_allclose(particles[0, :2, 0], [0.5 - jet_eta, 0.3 - jet_eta])
    phi_jet = kinematics[0, 2]
    expected = [np.pi - 0.1 - phi_jet, -np.pi + 0.1 - phi_jet]
    expected = [(value + np.pi) % (2 * np.pi) - np.pi for value in expected]
    np.testing.assert_allclose(particles[0, :2, 1], expected, atol=1e-12)
    assert np.all(np.abs(particles[0, :2, 1]) < 0.2)  # wrapped, not ~2 pi
    assert np.all(particles[0, 2] == 0)  # padding stays padding


def test_round_trip_keeps_massless_particles_and_padding():
    rng = np.random.default_rng(0)
    n_jets, n_particles = 20, 7
    pt = rng.uniform(1, 100, (n_jets, n_particles))
    eta = rng.normal(0, 1, (n_jets, n_particles))
    phi = rng.uniform(-np.pi, np.pi, (n_jets, n_particles))
    jets = np.moveaxis(_massless(pt, eta, phi), 0, -1)
    jets[:, 5:] = 0.0  # two padding slots
    particles, kinematics = to_relative(jets)
    back = from_relative(particles, kinematics)
    np.testing.assert_allclose(back, jets, rtol=1e-9, atol=1e-9)
    again, kinematics_again = to_relative(back)
    np.testing.assert_allclose(again, particles, atol=1e-12)
    np.testing.assert_allclose(kinematics_again, kinematics, rtol=1e-12)


def test_n_particles_keeps_the_leading_ones_and_pads():
    jets = np.zeros((1, 3, 4))
    jets[0, 0] = _massless(50.0, 0.1, 0.2)
    jets[0, 1] = _massless(20.0, -0.1, 0.1)
    jets[0, 2] = _massless(5.0, 0.0, 0.0)
    two, kinematics = to_relative(jets, n_particles=2)
    assert two.shape == (1, 2, 3)
    # the axis still uses all three constituents
    assert kinematics[0, 0] == pytest.approx(np.hypot(*jets[0, :, 1:3].sum(axis=0)))
    five, _ = to_relative(jets, n_particles=5)
    assert five.shape == (1, 5, 3) and np.all(five[0, 3:] == 0)


def test_relative_mass_of_two_massless_particles():
    # m^2 = 2 pt1 pt2 (cosh(d_eta) - cos(d_phi)) for massless particles
    particles = np.array([[[0.2, 0.0, 0.6], [-0.1, 0.15, 0.3], [0.0, 0.0, 0.0]]])
    expected = np.sqrt(2 * 0.6 * 0.3 * (np.cosh(0.3) - np.cos(0.15)))
    assert relative_masses(particles)[0] == pytest.approx(expected)


@pytest.mark.parametrize("call, message", [
    (lambda: to_relative(np.zeros((2, 3, 4))), "no constituent"),
    (lambda: to_relative(np.ones((2, 3, 3))), "4"),
    (lambda: from_relative(np.zeros((2, 3, 3)), np.zeros((3, 3))), "kinematics must have shape"),
    (lambda: from_relative(np.full((1, 3, 3), np.nan), np.zeros((1, 3))), "NaN"),
    (lambda: relative_masses(np.zeros((2, 3))), "particles must have shape"),
])
def test_errors(call, message):
    with pytest.raises(ValueError, match=message):
        call()
