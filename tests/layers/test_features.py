import math

import numpy as np
import pytest
from keras import ops

from grapa.layers import PARTICLE_FEATURE_NAMES, JetFeatures, ParticleFeatures, SortNodes
from tests.layer_harness import run_layer_test


def four_vector(pt, eta, phi, mass=0.0):
    px, py, pz = pt * math.cos(phi), pt * math.sin(phi), pt * math.sinh(eta)
    return [math.sqrt(px * px + py * py + pz * pz + mass * mass), px, py, pz]


def features(jets):
    return np.asarray(ops.convert_to_numpy(JetFeatures()(np.asarray(jets, "float32"))))


def test_jet_features_harness(jets, tmp_path):
    run_layer_test(JetFeatures, {}, jets, tmp_path)


def test_three_constituent_jet_by_hand():
    # pT 100, 50, 50 at (eta, phi) = (0.1, 0.2), (-0.1, 0.0), (0.3, 0.4)
    jet = [four_vector(100, 0.1, 0.2), four_vector(50, -0.1, 0.0), four_vector(50, 0.3, 0.4)]
    out = features([jet + [[0, 0, 0, 0]]])[0]
    # Jet axis from the summed 3-momentum, worked out independently of the layer.
    p = np.array(jet)[:, 1:].sum(axis=0)
    axis_eta = math.asinh(p[2] / math.hypot(p[0], p[1]))
    axis_phi = math.atan2(p[1], p[0])
    for i, (pt, eta, phi) in enumerate([(100, 0.1, 0.2), (50, -0.1, 0.0), (50, 0.3, 0.4)]):
        np.testing.assert_allclose(
            out[i], [1, eta - axis_eta, phi - axis_phi, -math.log(pt / 200)], atol=2e-6
        )
    np.testing.assert_array_equal(out[3], 0)
    np.testing.assert_allclose(np.exp(-out[:3, 3]).sum(), 1.0, rtol=1e-6)
    assert math.isclose(out[0, 3], math.log(2), rel_tol=1e-6)


def test_jet_straddling_phi_pi_is_compact():
    # Constituents at phi = pi - 0.1 and -pi + 0.1 (0.2 apart across the boundary).
    jet = [four_vector(60, 0.0, math.pi - 0.1), four_vector(60, 0.0, -math.pi + 0.1)]
    out = features([jet])[0]
    np.testing.assert_allclose(out[:, 2], [-0.1, 0.1], atol=1e-5)
    np.testing.assert_allclose(out[:, 1], [0.0, 0.0], atol=1e-6)


def test_jet_at_phi_pi_unequal_pt():
    # Axis phi lies between: pT-weighted; d_phi must sum (pT-weighted) to about zero.
    jet = [four_vector(90, 0.0, math.pi - 0.05), four_vector(30, 0.0, -math.pi + 0.15)]
    out = features([jet])[0]
    assert abs(out[0, 2] - out[1, 2] + 0.2) < 1e-5  # separation of 0.2 across the boundary
    assert np.all(np.abs(out[:, 2]) < 0.2)


def test_padding_and_all_zero_jet_are_zero_and_finite():
    jets = np.zeros((2, 4, 4), "float32")
    jets[0, 0] = four_vector(10, 0.5, 1.0)
    out = features(jets)
    assert np.all(np.isfinite(out))
    np.testing.assert_array_equal(out[1], 0)
    np.testing.assert_array_equal(out[0, 1:], 0)
    np.testing.assert_allclose(out[0, 0], [1, 0, 0, 0], atol=1e-6)


def test_constituent_along_the_beam_stays_finite():
    jets = np.array([[four_vector(10, 0.5, 1.0), [5.0, 0.0, 0.0, 5.0]]], "float32")
    assert np.all(np.isfinite(features(jets)))


def test_rejects_wrong_feature_count():
    with pytest.raises(ValueError, match=r"\(E, px, py, pz\)"):
        JetFeatures()(np.zeros((1, 3, 5), "float32"))


def test_sort_nodes_harness(node_features, tmp_path):
    run_layer_test(SortNodes, {"feature": 2, "descending": True}, node_features, tmp_path,
                   permutation="invariant")


def test_sort_nodes_stable_with_padding_last():
    # lpt values with a tie (nodes 0 and 3) and two padding nodes (lpt 0 would sort first).
    x = np.array([[[1, 0.5], [0, 0], [1, 0.2], [1, 0.5], [0, 0], [1, 0.9]]], "float32")
    out = np.asarray(ops.convert_to_numpy(SortNodes(feature=1)(x)))[0]
    np.testing.assert_array_equal(out, x[0][[2, 0, 3, 5, 1, 4]])
    down = np.asarray(ops.convert_to_numpy(SortNodes(feature=1, descending=True)(x)))[0]
    np.testing.assert_array_equal(down, x[0][[5, 0, 3, 2, 1, 4]])


def test_sort_nodes_matches_numpy_stable_argsort(node_features):
    out = np.asarray(ops.convert_to_numpy(SortNodes(feature=0)(node_features)))
    for jet, sorted_jet in zip(node_features, out):
        real = np.any(jet != 0, axis=-1)
        expected = np.concatenate(
            [jet[real][np.argsort(jet[real, 0], kind="stable")], jet[~real]]
        )
        np.testing.assert_array_equal(sorted_jet, expected)


def particle_features(jets):
    return np.asarray(ops.convert_to_numpy(ParticleFeatures()(np.asarray(jets, "float32"))))


def test_particle_features_harness(jets, tmp_path):
    run_layer_test(ParticleFeatures, {}, jets, tmp_path)


def test_particle_features_by_hand():
    # Qu & Gouskos 2020, table I, for a 3-constituent jet worked out with math alone.
    kinematics = [(100, 0.1, 0.2, 0.0), (50, -0.1, 0.0, 0.5), (50, 0.3, 0.4, 0.14)]
    jet = [four_vector(*k) for k in kinematics]
    out = particle_features([[[0, 0, 0, 0]] + jet])[0]  # padding first
    np.testing.assert_array_equal(out[0], 0)
    p = np.array(jet)[:, 1:].sum(axis=0)
    axis_eta, axis_phi = math.asinh(p[2] / math.hypot(p[0], p[1])), math.atan2(p[1], p[0])
    energy_sum = sum(v[0] for v in jet)
    for row, (pt, eta, phi, _), vector in zip(out[1:], kinematics, jet):
        d_eta, d_phi = eta - axis_eta, phi - axis_phi
        expected = [d_eta, d_phi, math.log(pt), math.log(vector[0]), math.log(pt / 200),
                    math.log(vector[0] / energy_sum), math.hypot(d_eta, d_phi)]
        np.testing.assert_allclose(row, expected, atol=2e-5)
    assert PARTICLE_FEATURE_NAMES[2:4] == ("log_pt", "log_e")


def test_particle_features_padding_only_jet_is_zero_and_finite():
    out = particle_features(np.zeros((2, 5, 4), "float32"))
    np.testing.assert_array_equal(out, 0)
