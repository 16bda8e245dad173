"""Generated-jet metrics against hand-worked jets, closed forms, scipy and energyflow."""

import itertools

import numpy as np
import pandas as pd
import pytest
from scipy.stats import wasserstein_distance

from grapa.evaluation import (
    efp_graphs,
    efps,
    fpd,
    generation_metrics,
    jet_masses,
    kpd,
    physics_features,
    w1efp,
    w1m,
    w1p,
)

few_samples = pytest.mark.filterwarnings("ignore:FPD is best estimated:RuntimeWarning")


def random_jets(n_jets, n_particles=8, seed=0, eta_shift=0.0):
    """Jets with 1..n_particles real particles (the rest all-zero padding), pt summing to 1."""
    rng = np.random.default_rng(seed)
    jets = np.zeros((n_jets, n_particles, 3))
    for jet, count in zip(jets, rng.integers(1, n_particles + 1, n_jets)):
        jet[:count, :2] = rng.normal(0.0, 0.2, (count, 2))
        jet[:count, 0] += eta_shift
        pt = rng.exponential(1.0, count)
        jet[:count, 2] = pt / pt.sum()
    return jets


def copies(jet, n_jets=20, n_padding=2):
    """`n_jets` copies of one jet, padded with all-zero particles."""
    jet = np.concatenate([np.asarray(jet, float), np.zeros((n_padding, 3))])
    return np.repeat(jet[None], n_jets, axis=0)


# A jet of three particles: (eta_rel, phi_rel, pt_rel).
THREE = np.array([[0.10, -0.20, 0.5], [-0.30, 0.05, 0.3], [0.20, 0.40, 0.2]])


def hand_thetas(particles):
    """theta_ij = sqrt(d_eta^2 + d_phi^2) by a double loop, d_phi wrapped into (-pi, pi]."""
    n = len(particles)
    theta = np.zeros((n, n))
    for i, j in itertools.product(range(n), repeat=2):
        d_eta = particles[i, 0] - particles[j, 0]
        d_phi = (particles[i, 1] - particles[j, 1] + np.pi) % (2 * np.pi) - np.pi
        theta[i, j] = np.hypot(d_eta, d_phi)
    return theta


def efp_of(jet_values, graph, max_degree=4):
    """The column of `graph` (an edge tuple as `efp_graphs` writes it)."""
    return jet_values[..., efp_graphs(max_degree).index(graph)]


# ---------------------------------------------------------------------------------------
# Jet mass and W1-M
# ---------------------------------------------------------------------------------------


def test_mass_of_two_back_to_back_particles():
    # Two massless particles, pT 0.5 each at eta 0, phi 0 and pi: E = 1, p = 0, m = 1.
    jets = copies([[0.0, 0.0, 0.5], [0.0, np.pi, 0.5]], n_jets=1)
    np.testing.assert_allclose(jet_masses(jets), [1.0])
    # In general m^2 = 2 pt1 pt2 (cosh(d_eta) - cos(d_phi)).
    jet = [[0.3, 0.1, 0.6], [-0.2, -0.4, 0.4]]
    expected = np.sqrt(2 * 0.6 * 0.4 * (np.cosh(0.5) - np.cos(0.5)))
    np.testing.assert_allclose(jet_masses(copies(jet, 1)), [expected])


def test_mass_ignores_padding_and_a_fourth_column():
    jets = random_jets(5)
    with_mask = np.concatenate([jets, np.ones(jets.shape[:2] + (1,))], axis=-1)
    padded = np.pad(jets, ((0, 0), (0, 3), (0, 0)))
    np.testing.assert_allclose(jet_masses(with_mask), jet_masses(jets))
    np.testing.assert_allclose(jet_masses(padded), jet_masses(jets))


def test_w1m_between_two_fixed_masses():
    # Every jet of the first set has mass 2 sqrt(0.5 * 0.5) = 1, of the second
    # 2 sqrt(0.3 * 0.3) = 0.6: W1 of two point masses is their distance.
    heavy = copies([[0.0, 0.0, 0.5], [0.0, np.pi, 0.5]])
    light = copies([[0.0, 0.0, 0.3], [0.0, np.pi, 0.3]], n_jets=7)
    mean, std = w1m(heavy, light, num_eval_samples=50, num_batches=3, seed=0)
    assert mean == pytest.approx(0.4)
    assert std == pytest.approx(0.0, abs=1e-12)


def test_w1_of_a_set_with_itself_is_zero():
    jets = copies(THREE)  # every draw is the same jet: the resampled sets are equal
    assert w1m(jets, jets, num_eval_samples=30, num_batches=2) == (0.0, 0.0)
    means, stds = w1p(jets, jets, num_eval_samples=30, num_batches=2)
    np.testing.assert_array_equal(means, 0.0)
    means, stds = w1efp(jets, jets, num_eval_samples=30, num_batches=2)
    assert means.shape == (5,)
    np.testing.assert_array_equal(means, 0.0)


# ---------------------------------------------------------------------------------------
# W1-P
# ---------------------------------------------------------------------------------------


def test_w1p_of_an_eta_shift_is_the_shift():
    jets = copies(THREE)
    shifted = jets.copy()
    shifted[:, :3, 0] += 0.1  # the real particles only: the padding stays padding
    means, stds = w1p(jets, shifted, num_eval_samples=40, num_batches=3, seed=1)
    np.testing.assert_allclose(means, [0.1, 0.0, 0.0], atol=1e-12)
    np.testing.assert_allclose(stds, 0.0, atol=1e-12)
    mean, std = w1p(jets, shifted, num_eval_samples=40, num_batches=3,
                    average_over_features=True)
    assert mean == pytest.approx(0.1 / 3)


def test_w1p_is_scipy_on_the_real_particles_of_the_drawn_jets():
    jets1, jets2 = random_jets(60, seed=1), random_jets(45, seed=2, eta_shift=0.05)
    seed, size = 5, 80
    means, stds = w1p(jets1, jets2, num_eval_samples=size, num_batches=1, seed=seed)

    rng = np.random.default_rng(seed)  # JetNet's order: jets of the first set, then second
    sample1 = jets1[rng.choice(len(jets1), size=size)].reshape(-1, 3)
    sample2 = jets2[rng.choice(len(jets2), size=size)].reshape(-1, 3)
    real1, real2 = sample1[np.any(sample1 != 0, axis=1)], sample2[np.any(sample2 != 0, axis=1)]
    expected = [wasserstein_distance(real1[:, k], real2[:, k]) for k in range(3)]
    np.testing.assert_allclose(means, expected, rtol=1e-12)
    np.testing.assert_array_equal(stds, 0.0)

    with_padding = [wasserstein_distance(sample1[:, k], sample2[:, k]) for k in range(3)]
    assert not np.allclose(means, with_padding)  # padding would change the answer


def test_averaged_w1p_is_the_mean_with_stds_in_quadrature():
    jets1, jets2 = random_jets(50, seed=3), random_jets(50, seed=4)
    means, stds = w1p(jets1, jets2, num_eval_samples=40, num_batches=4, seed=9)
    mean, std = w1p(jets1, jets2, num_eval_samples=40, num_batches=4, seed=9,
                    average_over_features=True)
    assert mean == pytest.approx(means.mean())
    assert std == pytest.approx(np.sqrt(np.sum(stds**2)))
    assert std > 0


# ---------------------------------------------------------------------------------------
# Energy flow polynomials
# ---------------------------------------------------------------------------------------


def test_efp_set_sizes():
    assert len(efp_graphs(4)) == 36 and len(efp_graphs(4, connected_only=True)) == 21
    assert efp_graphs(1) == [(), ((0, 1),)]
    assert efp_graphs(2) == [(), ((0, 1),), ((0, 1), (0, 1)), ((0, 1), (0, 2)),
                             ((0, 1), (2, 3))]
    assert efps(random_jets(4), max_degree=3).shape == (4, 13)
    assert physics_features(random_jets(4)).shape == (4, 36)


def test_efps_against_hand_formulas():
    jets = copies(THREE, n_jets=1)
    values = efps(jets)[0]
    z, theta = THREE[:, 2], hand_thetas(THREE)
    edge = z @ theta @ z                        # sum_ij z_i z_j theta_ij
    weighted = theta * z[None, :]               # M_ij = theta_ij z_j
    assert efp_of(values, ()) == pytest.approx(z.sum())
    assert efp_of(values, ((0, 1),)) == pytest.approx(edge)
    assert efp_of(values, ((0, 1), (0, 1))) == pytest.approx(z @ theta**2 @ z)
    assert efp_of(values, ((0, 1), (0, 2))) == pytest.approx(np.sum(z * (theta @ z) ** 2))
    triangle = np.trace(weighted @ weighted @ weighted)
    assert efp_of(values, ((0, 1), (0, 2), (1, 2))) == pytest.approx(triangle)
    assert efp_of(values, ((0, 1), (2, 3))) == pytest.approx(edge**2)
    assert efp_of(values, ((0, 1), (2, 3), (4, 5))) == pytest.approx(edge**3)
    # Square: a 4-cycle, trace(M^4).
    square = np.trace(np.linalg.matrix_power(weighted, 4))
    assert efp_of(values, ((0, 1), (0, 2), (1, 3), (2, 3))) == pytest.approx(square)


def test_efps_wrap_phi_and_ignore_padding_and_a_fourth_column():
    across = np.array([[0.0, 3.0, 0.6], [0.1, -3.0, 0.4]])  # d_phi = 6 wraps to 2 pi - 6
    theta = np.hypot(0.1, 2 * np.pi - 6.0)
    values = efps(copies(across, 1, n_padding=0))[0]
    assert efp_of(values, ((0, 1),)) == pytest.approx(2 * 0.6 * 0.4 * theta)
    jets = random_jets(6)
    reference = efps(jets)
    np.testing.assert_allclose(efps(np.pad(jets, ((0, 0), (0, 4), (0, 0)))), reference)
    with_mask = np.concatenate([jets, np.ones(jets.shape[:2] + (1,))], axis=-1)
    np.testing.assert_allclose(efps(with_mask), reference)


def test_efps_match_energyflow():
    energyflow = pytest.importorskip("energyflow")
    jets = random_jets(25, n_particles=10, seed=7)
    jets[0, :2] = [[0.1, 3.0, 0.7], [-0.1, -3.05, 0.3]]  # across phi = +-pi
    jets[0, 2:] = 0.0
    ours = efps(jets)
    settings = {"measure": "hadr", "beta": 1, "normed": None, "coords": "ptyphim"}
    energyflow_order = jets[:, :, [2, 0, 1]]  # (pt, y, phi)
    for column, graph in enumerate(efp_graphs(4)):
        if graph:
            efp = energyflow.EFP(list(graph), **settings)
            expected = [efp.compute(jet) for jet in energyflow_order]
        else:
            expected = jets[:, :, 2].sum(axis=1)
        np.testing.assert_allclose(ours[:, column], expected, rtol=1e-10, atol=1e-14)
    # The whole set: the same count and the same values up to column order.
    efpset = energyflow.EFPSet(("d<=", 4), **settings)
    theirs = np.array([efpset.compute(jet) for jet in energyflow_order])
    assert theirs.shape == ours.shape
    np.testing.assert_allclose(np.sort(ours, axis=1), np.sort(theirs, axis=1), rtol=1e-10)
    # JetNet's W1-EFP set.
    prime = energyflow.EFPSet(("n==", 4), ("d==", 4), ("p==", 1), **settings)
    assert len(prime.graphs()) == 5
    selected = [k for k, graph in enumerate(efp_graphs(4, connected_only=True))
                if len(graph) == 4 and max(max(edge) for edge in graph) == 3]
    theirs = np.array([prime.compute(jet) for jet in energyflow_order])
    ours = efps(jets, connected_only=True)[:, selected]
    np.testing.assert_allclose(np.sort(ours, axis=1), np.sort(theirs, axis=1), rtol=1e-10)


# ---------------------------------------------------------------------------------------
# FPD
# ---------------------------------------------------------------------------------------

FPD_SMALL = {"min_samples": 500, "max_samples": 2_000, "num_batches": 4, "num_points": 5}


@few_samples
def test_fpd_of_one_gaussian_is_zero():
    rng = np.random.default_rng(0)
    real, generated = rng.normal(size=(20_000, 3)), rng.normal(size=(20_000, 3))
    value, error = fpd(real, generated, normalise=False, **FPD_SMALL)
    assert 0.0 <= value < max(3 * error, 2e-3)


def whitened(samples):
    """`samples` with sample mean exactly 0 and sample covariance exactly the identity."""
    centred = samples - samples.mean(axis=0)
    return centred @ np.linalg.inv(np.linalg.cholesky(np.cov(centred, rowvar=False))).T


@few_samples
def test_fpd_of_shifted_and_wider_gaussians_is_the_closed_form():
    # Diagonal covariances: FD = |mu1 - mu2|^2 + sum_k (sigma1_k - sigma2_k)^2. The sets
    # have exactly these moments, so only the resampling and the fit scatter.
    rng = np.random.default_rng(1)
    real = whitened(rng.normal(size=(20_000, 3)))
    generated = whitened(rng.normal(size=(20_000, 3))) * [1.0, 1.0, 1.5] + [0.5, 0.0, 0.0]
    expected = 0.5**2 + (1.5 - 1.0) ** 2
    value, error = fpd(real, generated, normalise=False, min_samples=2_000,
                       max_samples=10_000, num_batches=10, num_points=5)
    assert value == pytest.approx(expected, abs=max(3 * error, 0.01))
    assert 0 < error < 0.02


@few_samples
def test_normalised_fpd_does_not_depend_on_feature_units():
    rng = np.random.default_rng(2)
    real, generated = rng.normal(size=(3_000, 3)), rng.normal(0.2, 1.0, size=(3_000, 3))
    units = np.array([1e-3, 1.0, 1e4])
    np.testing.assert_allclose(fpd(real * units, generated * units, **FPD_SMALL),
                               fpd(real, generated, **FPD_SMALL), rtol=1e-6)


def test_fpd_warns_below_the_recommended_sample_size():
    rng = np.random.default_rng(3)
    with pytest.warns(RuntimeWarning, match="50,000"):
        fpd(rng.normal(size=(100, 2)), rng.normal(size=(100, 2)), **FPD_SMALL)


# ---------------------------------------------------------------------------------------
# KPD
# ---------------------------------------------------------------------------------------


def test_kpd_is_the_unbiased_mmd_of_the_drawn_samples():
    rng = np.random.default_rng(4)
    real, generated = rng.normal(size=(9, 3)), rng.normal(0.5, 1.0, size=(7, 3))
    seed, size = 11, 6
    value, error = kpd(real, generated, num_batches=1, batch_size=size, normalise=False,
                       seed=seed)

    draw = np.random.default_rng(seed)  # batch 0 uses seed + 0 * 1000
    x = real[draw.choice(len(real), size=size)]
    y = generated[draw.choice(len(generated), size=size)]

    def kernel(a, b):
        return (a @ b / 3 + 1) ** 4

    within_x = sum(kernel(x[i], x[j]) for i in range(size) for j in range(size) if i != j)
    within_y = sum(kernel(y[i], y[j]) for i in range(size) for j in range(size) if i != j)
    between = sum(kernel(x[i], y[j]) for i in range(size) for j in range(size))
    expected = (within_x + within_y) / (size * (size - 1)) - 2 * between / size**2
    assert value == pytest.approx(expected, rel=1e-12)
    assert error == 0.0


def test_kpd_is_zero_for_one_distribution_and_positive_for_two():
    rng = np.random.default_rng(5)
    real = rng.normal(size=(4_000, 4))
    same, error_same = kpd(real, rng.normal(size=(4_000, 4)), batch_size=500)
    different, error_different = kpd(real, rng.normal(0.3, 1.2, size=(4_000, 4)),
                                     batch_size=500)
    assert abs(same) < 3 * error_same + 1e-4
    assert different > 10 * abs(same) and different > 3 * error_different


# ---------------------------------------------------------------------------------------
# All metrics
# ---------------------------------------------------------------------------------------

SMALL = {"num_eval_samples": 200, "num_batches": 3, "fpd_samples": (100, 300),
         "kpd_batch_size": 100}


@few_samples
def test_generation_metrics_table_and_floor():
    real_a, real_b = random_jets(300, seed=10), random_jets(300, seed=11)
    shifted = random_jets(300, seed=12, eta_shift=0.3)
    floor = generation_metrics(real_a, real_b, **SMALL)
    worse = generation_metrics(real_a, shifted, **SMALL)
    assert isinstance(floor, pd.DataFrame)
    assert list(floor.index) == ["w1m", "w1p", "w1efp", "fpd", "kpd"]
    assert list(floor.columns) == ["value", "error"]
    assert np.isfinite(floor.to_numpy()).all() and np.isfinite(worse.to_numpy()).all()
    assert worse.loc["w1p", "value"] > 3 * floor.loc["w1p", "value"]
    # The table's W1-P is w1p averaged over features with the same draws.
    mean, std = w1p(real_a, shifted, num_eval_samples=200, num_batches=3, seed=42,
                    average_over_features=True)
    assert worse.loc["w1p", "value"] == pytest.approx(mean)
    assert worse.loc["w1p", "error"] == pytest.approx(std)


# ---------------------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("jets", "match"),
    [
        (np.ones((4, 3)), r"jets1 must have shape \(n_jets, n_particles, 3\).*got \(4, 3\)"),
        (np.ones((4, 5, 2)), r"jets1 must have shape.*got \(4, 5, 2\)"),
        (np.zeros((0, 5, 3)), r"jets1 is empty \(shape \(0, 5, 3\)\)"),
        (np.zeros((4, 5, 3)), "jets1 has no real particle"),
        (np.full((4, 5, 3), np.nan), "non-finite"),
    ],
)
def test_invalid_jets_are_named(jets, match):
    good = random_jets(4)
    for metric in (w1m, w1p, w1efp):
        with pytest.raises(ValueError, match=match):
            metric(jets, good, num_eval_samples=5, num_batches=1)


def test_invalid_arguments_are_named():
    jets = random_jets(4)
    with pytest.raises(ValueError, match="jets must have shape"):
        efps(jets[0])
    with pytest.raises(ValueError, match="max_degree must be an integer >= 1"):
        efps(jets, max_degree=0)
    with pytest.raises(ValueError, match="num_eval_samples must be an integer >= 1"):
        w1m(jets, jets, num_eval_samples=0)
    features = np.ones((10, 3))
    with pytest.raises(ValueError, match=r"real_features must have shape \(n_samples"):
        fpd(features[:, 0], features)
    with pytest.raises(ValueError, match="the same features: got 3 and 2"):
        kpd(features, features[:, :2])
    with pytest.raises(ValueError, match="1 of 10 gen_features have non-finite"):
        kpd(features, np.where(np.eye(10, 3, dtype=bool)[:, :1], np.inf, features))
    with pytest.raises(ValueError, match="num_points must be an integer >= 3"):
        fpd(features, features, num_points=2)
    with pytest.raises(ValueError, match="batch_size must be an integer >= 2"):
        kpd(features, features, batch_size=1)
