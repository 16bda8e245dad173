"""substructure_observables against a per-jet, per-constituent computation by hand."""

import math

import numpy as np
import pytest

from grapa.data import SUBSTRUCTURE_OBSERVABLES, substructure_observables


def constituent(pt, eta, phi, mass=0.0):
    px, py, pz = pt * math.cos(phi), pt * math.sin(phi), pt * math.sinh(eta)
    return [math.sqrt(px**2 + py**2 + pz**2 + mass**2), px, py, pz]


def by_hand(jet):
    """The eight observables of one jet with Python loops (independent of the module)."""
    real = [c for c in jet if any(c)]
    energy, px, py, pz = (sum(c[k] for c in real) for k in range(4))
    jet_pt = math.hypot(px, py)
    jet_eta, jet_phi = math.asinh(pz / jet_pt), math.atan2(py, px)
    pts = [math.hypot(c[1], c[2]) for c in real]
    etas = [math.asinh(c[3] / p) for c, p in zip(real, pts)]
    phis = [math.atan2(c[2], c[1]) for c in real]
    z = [p / sum(pts) for p in pts]

    def d_phi(a, b):
        d = a - b
        while d > math.pi:
            d -= 2 * math.pi
        while d <= -math.pi:
            d += 2 * math.pi
        return d

    d_r = [math.hypot(e - jet_eta, d_phi(f, jet_phi)) for e, f in zip(etas, phis)]
    e2 = sum(z[i] * z[j] * math.hypot(etas[i] - etas[j], d_phi(phis[i], phis[j]))
             for i in range(len(real)) for j in range(i + 1, len(real)))
    mass = math.sqrt(energy**2 - px**2 - py**2 - pz**2)
    ordered = sorted(z, reverse=True)
    return [mass, math.log(len(real)), sum(zi * r for zi, r in zip(z, d_r)),
            math.sqrt(sum(zi**2 for zi in z)), e2, ordered[0], sum(ordered[:3]), mass / jet_pt]


@pytest.fixture
def two_jets():
    jets = np.zeros((2, 6, 4))
    # a three-prong jet, padding in the middle of the constituent axis
    jets[0, 0] = constituent(300.0, 0.1, 0.2, mass=0.14)
    jets[0, 2] = constituent(200.0, -0.2, 0.5)
    jets[0, 3] = constituent(100.0, 0.3, -0.1)
    jets[0, 5] = constituent(10.0, 0.0, 0.0)
    # a jet straddling phi = +-pi: its constituents are 0.2 apart, not 2 pi - 0.2
    jets[1, 0] = constituent(400.0, 1.0, math.pi - 0.1)
    jets[1, 1] = constituent(150.0, 1.1, -math.pi + 0.1)
    return jets


def test_observables_match_a_computation_by_hand(two_jets):
    table = substructure_observables(two_jets)
    assert list(table.columns) == list(SUBSTRUCTURE_OBSERVABLES)
    expected = np.array([by_hand(jet) for jet in two_jets])
    np.testing.assert_allclose(table.to_numpy(), expected, rtol=1e-9, atol=1e-12)


def test_closed_form_two_constituents():
    # pT 100 and 50 at the same eta, 0.3 apart in phi: e2 = z1 z2 dR = (2/3)(1/3)(0.3)
    jets = np.array([[constituent(100.0, 0.0, 0.0), constituent(50.0, 0.0, 0.3)]])
    row = substructure_observables(jets).iloc[0]
    assert row["e2"] == pytest.approx(2 / 9 * 0.3, rel=1e-9)
    assert row["pt_d"] == pytest.approx(math.sqrt(4 / 9 + 1 / 9))
    assert row["leading_fraction"] == pytest.approx(2 / 3)
    assert row["leading3_fraction"] == pytest.approx(1.0)
    assert row["log_multiplicity"] == pytest.approx(math.log(2))


def test_padding_and_block_size_change_nothing(two_jets):
    padded = np.concatenate([two_jets, np.zeros((2, 4, 4))], axis=1)[:, ::-1]
    np.testing.assert_allclose(substructure_observables(padded).to_numpy(),
                               substructure_observables(two_jets).to_numpy(), rtol=1e-12)
    many = np.repeat(two_jets, 300, axis=0)  # more than one block of the pair sum
    table = substructure_observables(many)
    np.testing.assert_allclose(table.to_numpy()[::300], substructure_observables(two_jets))


def test_bad_jets_are_named():
    jets = np.zeros((3, 4, 4))
    jets[0, 0] = constituent(100.0, 0.0, 0.0)
    jets[2, 0] = constituent(100.0, 0.0, 0.0)
    with pytest.raises(ValueError, match="1 of 3 jets have no constituent.*index 1"):
        substructure_observables(jets)
    jets[1, 0] = constituent(50.0, 0.0, 0.0)
    jets[2, 0, 0] = np.nan
    with pytest.raises(ValueError, match="non-finite.*jet index 2"):
        substructure_observables(jets)
    with pytest.raises(ValueError, match=r"\(n_jets, n_constituents, 4\)"):
        substructure_observables(jets[..., :3])


def test_width_uses_the_same_angles_as_the_jetfeatures_layer(sample_jets):
    """The numpy observables and the Keras layer define d_eta, d_phi alike (one definition
    of the jet axis and of the wrapped azimuth)."""
    from grapa.evaluation import jet_features

    jets = sample_jets[1][:200]
    features = jet_features(jets)  # (flag, d_eta, d_phi, lpt) from grapa.layers.JetFeatures
    pt = np.hypot(jets[..., 1], jets[..., 2])
    z = pt / pt.sum(axis=1, keepdims=True)
    width = (z * np.hypot(features[..., 1], features[..., 2])).sum(axis=1)
    np.testing.assert_allclose(substructure_observables(jets)["width"], width, rtol=2e-4,
                               atol=1e-6)
