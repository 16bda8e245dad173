"""Tests for grapa.evaluation: numbers worked out by hand or from closed forms."""

import warnings

import numpy as np
import pytest
from scipy.special import ndtr
from sklearn.metrics import roc_auc_score, roc_curve

from grapa import evaluation
from grapa.evaluation import (
    Invertibility,
    angular_distances,
    angular_scores,
    auc,
    auc_difference,
    auc_standard_error,
    c_addition,
    cross_table,
    feature_auc_map,
    invertibility,
    non_invertible_pairs,
    part_means,
    rejection,
    roc,
)

# --- ROC, AUC, rejection -----------------------------------------------------------------


def test_auc_hand_counted():
    background = [0.1, 0.4, 0.35, 0.8]
    signal = [0.35, 0.9, 0.5]
    # Pairs (signal > background counts 1, a tie 1/2), 3 x 4 = 12 pairs:
    #   s = 0.35: beats 0.1, ties 0.35          -> 1.5
    #   s = 0.9:  beats all four                -> 4
    #   s = 0.5:  beats 0.1, 0.4, 0.35          -> 3
    # AUC = 8.5 / 12
    assert auc(background, signal) == pytest.approx(8.5 / 12)
    labels = [0] * 4 + [1] * 3
    assert auc(background, signal) == pytest.approx(roc_auc_score(labels, background + signal))


def test_auc_swapping_classes_mirrors_it():
    rng = np.random.default_rng(0)
    background, signal = rng.normal(0, 1, 300), rng.normal(0.5, 1, 200)
    assert auc(signal, background) == pytest.approx(1 - auc(background, signal))


def test_roc_is_sklearns_curve():
    background, signal = [0.1, 0.4, 0.35, 0.8], [0.35, 0.9, 0.5]
    fpr, tpr, thresholds = roc(background, signal)
    expected = roc_curve([0] * 4 + [1] * 3, background + signal)
    for got, want in zip((fpr, tpr, thresholds), expected, strict=True):
        np.testing.assert_array_equal(got, want)


def test_rejection_hand_worked():
    background = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0]
    signal = [0.95, 0.85, 0.65, 0.45, 0.05]
    # Lowering the cut from above: at 0.95 one signal (tpr 0.2) and one background
    # (1.0, fpr 0.1) pass; at 0.85 tpr = 0.4 and fpr = 0.2 (1.0, 0.9); at 0.65
    # tpr = 0.6 and fpr = 0.4 (0.7 ... 1.0).
    assert rejection(background, signal, signal_efficiency=0.2) == pytest.approx(10)
    assert rejection(background, signal) == pytest.approx(5)  # 0.3 first reached at 0.4
    assert rejection(background, signal, signal_efficiency=0.6) == pytest.approx(2.5)


def test_rejection_is_inf_without_background_above_the_cut():
    assert rejection([0.1, 0.2, 0.3], [0.5, 0.6, 0.05], signal_efficiency=0.5) == np.inf


@pytest.mark.parametrize("efficiency", [0, -0.1, 1.5])
def test_rejection_rejects_impossible_efficiency(efficiency):
    with pytest.raises(ValueError, match="signal_efficiency"):
        rejection([0.1, 0.2], [0.3, 0.4], signal_efficiency=efficiency)


@pytest.mark.parametrize(
    ("background", "signal", "message"),
    [
        ([], [0.1], "background_scores is empty"),
        ([0.1, np.nan], [0.2], "NaN"),
        ([0.1], [0.2, np.inf], "signal_scores has 1 non-finite"),
        ([[0.1, 0.2]], [0.2], r"shape \(n_jets,\)"),
    ],
)
def test_invalid_scores_raise_named_errors(background, signal, message):
    for function in (auc, roc, rejection):
        with pytest.raises(ValueError, match=message):
            function(background, signal)


# --- AUC feature map -----------------------------------------------------------------------


def test_feature_auc_map_finds_the_one_separating_cell():
    rng = np.random.default_rng(1)
    background = rng.exponential(1.0, size=(2000, 3, 4))
    signal = rng.exponential(1.0, size=(1500, 3, 4))
    signal[:, 1, 2] += background.max() + 1  # every signal loss above every background one
    auc_map = feature_auc_map(background, signal)
    assert auc_map.shape == (3, 4)
    assert auc_map[1, 2] == 1.0
    others = np.delete(auc_map.ravel(), 1 * 4 + 2)
    # AUC of equal distributions: sd = sqrt((n_b + n_s + 1) / (12 n_b n_s)) ~ 0.007.
    np.testing.assert_allclose(others, 0.5, atol=0.04)


def test_feature_auc_map_equals_sklearn_per_cell_with_ties():
    rng = np.random.default_rng(2)
    background = rng.integers(0, 5, size=(40, 2, 3)).astype(float)  # many ties
    signal = rng.integers(1, 7, size=(25, 2, 3)).astype(float)
    labels = np.r_[np.zeros(40), np.ones(25)]
    auc_map = feature_auc_map(background, signal)
    for node in range(2):
        for feature in range(3):
            expected = roc_auc_score(
                labels, np.r_[background[:, node, feature], signal[:, node, feature]]
            )
            assert auc_map[node, feature] == pytest.approx(expected, abs=1e-12)


def test_feature_auc_map_names_the_expected_shape():
    with pytest.raises(ValueError, match=r"\(n_signal, 3, 4\)"):
        feature_auc_map(np.ones((5, 3, 4)), np.ones((5, 4, 4)))
    with pytest.raises(ValueError, match=r"\(n_jets, n, F\)"):
        feature_auc_map(np.ones((5, 12)), np.ones((5, 12)))


# --- c addition ----------------------------------------------------------------------------


def test_c_addition_by_hand():
    losses = [[1.0, 2.0], [3.0, 4.0]]
    means = [1.0, 2.0]
    # power 3: 1/1 + 2/8 = 1.25 and 3/1 + 4/8 = 3.5
    np.testing.assert_allclose(c_addition(losses, means), [1.25, 3.5])
    # power 1: 1 + 2/2 = 2 and 3 + 4/2 = 5
    np.testing.assert_allclose(c_addition(losses, means, power=1), [2.0, 5.0])


def test_c_addition_flattens_trailing_axes():
    losses = np.arange(12.0).reshape(2, 3, 2)
    means = np.array([1.0, 2.0, 1.0, 2.0, 1.0, 2.0])
    # jet 0 parts 0..5: 0 + 1/4 + 2 + 3/4 + 4 + 5/4 = 8.25
    assert c_addition(losses, means, power=2)[0] == pytest.approx(8.25)
    np.testing.assert_allclose(
        c_addition(losses, means.reshape(3, 2), power=2), c_addition(losses, means, power=2)
    )
    np.testing.assert_allclose(part_means(losses), [3, 4, 5, 6, 7, 8])


def test_c_addition_rejects_bad_reference_means():
    with pytest.raises(ValueError, match="must have 2 entries"):
        c_addition([[1.0, 2.0]], [1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match=r"positive; parts \[1\]"):
        c_addition([[1.0, 2.0]], [1.0, 0.0])


def _two_gaussian_features(sigma_1, sigma_2, n, seed):
    """Background at 0, signal at 1, widths (sigma_1, sigma_2) in both classes (T fig. 5.3)."""
    rng = np.random.default_rng(seed)
    widths = [sigma_1, sigma_2]
    return rng.normal(0, widths, size=(n, 2)), rng.normal(1, widths, size=(n, 2))


def test_c_addition_optimum_matches_the_closed_form():
    # T 5.1.4: f = f_1 + c f_2 has signal mean 1 + c and width sqrt(s1^2 + c^2 s2^2);
    # its relative width, (1 + (c q)^2) / (1 + c)^2 up to the factor s1^2, is minimal at
    # c = 1/q^2 with q = sigma_2 / sigma_1 (T eq. 5.3, 5.4), where the AUC is maximal.
    sigma_1, sigma_2 = 1.0, 2.0
    q = sigma_2 / sigma_1
    background, signal = _two_gaussian_features(sigma_1, sigma_2, n=20_000, seed=3)
    grid = np.geomspace(1 / q**2 / 8, 8 / q**2, 61)  # 7 % steps, 1/q^2 in the middle
    combined_background = background[:, :1] + grid * background[:, 1:]
    combined_signal = signal[:, :1] + grid * signal[:, 1:]
    # One "feature" per c: the AUC of every c at once.
    aucs = feature_auc_map(combined_background[..., None], combined_signal[..., None])[:, 0]

    best_c = grid[np.argmax(aucs)]
    assert abs(np.log(best_c * q**2)) < np.log(1.2)
    assert aucs.max() - max(aucs[0], aucs[-1]) > 0.01  # a real peak, not an edge

    # The sampled curve follows AUC(c) = Phi((1 + c) / sqrt(2 (s1^2 + c^2 s2^2))).
    analytic = ndtr((1 + grid) / np.sqrt(2 * (sigma_1**2 + grid**2 * sigma_2**2)))
    np.testing.assert_allclose(aucs, analytic, atol=0.01)


def test_c_addition_with_variances_reaches_the_optimal_auc():
    # Weighting each feature by 1/m_i with m_i = mean background f_i^2 = sigma_i^2
    # (power=1) is f_1/s1^2 + f_2/s2^2, proportional to f_1 + f_2/q^2: the optimum,
    # whose AUC is Phi(sqrt((1/s1^2 + 1/s2^2) / 2)).
    sigma_1, sigma_2 = 1.0, 2.0
    background, signal = _two_gaussian_features(sigma_1, sigma_2, n=20_000, seed=4)
    train_background, _ = _two_gaussian_features(sigma_1, sigma_2, n=20_000, seed=5)
    means = part_means(train_background**2)
    np.testing.assert_allclose(means, [sigma_1**2, sigma_2**2], rtol=0.05)
    combined = auc(c_addition(background, means, power=1), c_addition(signal, means, power=1))
    optimum = ndtr(np.sqrt((1 / sigma_1**2 + 1 / sigma_2**2) / 2))
    assert combined == pytest.approx(optimum, abs=0.01)
    assert combined > max(auc(background[:, i], signal[:, i]) for i in range(2)) + 0.02


# --- Jet angles and the trivial angular scorer ---------------------------------------------


def _constituent(pt, eta, phi):
    """Massless (E, px, py, pz)."""
    return [pt * np.cosh(eta), pt * np.cos(phi), pt * np.sin(phi), pt * np.sinh(eta)]


def _jet_across_pi():
    """Three constituents around phi = pi, one on each side of the +-pi line, and padding.

    By symmetry the summed momentum has py = 0, px < 0 and pz = 0: the axis sits at
    phi = pi, eta = 0.
    """
    return np.array(
        [
            _constituent(100.0, 0.2, np.pi - 0.1),  # d_eta 0.2,  d_phi -0.1
            _constituent(100.0, -0.2, -np.pi + 0.1),  # d_eta -0.2, d_phi +0.1 (across +-pi)
            _constituent(50.0, 0.0, np.pi),  # on the axis
            [0.0, 0.0, 0.0, 0.0],  # padding
        ]
    )


def test_jet_angles_by_hand_across_phi_pi():
    features = evaluation.jet_features(_jet_across_pi()[None])[0]
    # pT sum 250: lpt = -log(100/250), -log(100/250), -log(50/250)
    expected = np.array(
        [
            [1.0, 0.2, -0.1, -np.log(0.4)],
            [1.0, -0.2, 0.1, -np.log(0.4)],
            [1.0, 0.0, 0.0, -np.log(0.2)],
            [0.0, 0.0, 0.0, 0.0],
        ]
    )
    np.testing.assert_allclose(features, expected, atol=2e-6)
    assert np.exp(-features[:3, 3]).sum() == pytest.approx(1.0)


def test_jet_angles_are_invariant_under_a_phi_rotation():
    rng = np.random.default_rng(6)
    pt, eta, phi = rng.uniform(1, 50, 6), rng.normal(0.5, 0.3, 6), rng.normal(3.0, 0.3, 6)
    jet = np.array([_constituent(*p) for p in zip(pt, eta, phi, strict=True)])
    angle = 1.3  # carries the jet across phi = +-pi
    rotated = jet.copy()
    rotated[:, 1] = np.cos(angle) * jet[:, 1] - np.sin(angle) * jet[:, 2]
    rotated[:, 2] = np.sin(angle) * jet[:, 1] + np.cos(angle) * jet[:, 2]
    features = evaluation.jet_features(np.stack([jet, rotated]))
    np.testing.assert_allclose(features[0], features[1], atol=2e-6)
    assert np.all(np.abs(features[..., 2]) < 1.5)  # compact, no 2 pi jumps


def test_padding_and_empty_jets_give_zeros_without_warnings():
    jets = np.zeros((2, 4, 4))
    jets[0] = _jet_across_pi()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        features = evaluation.jet_features(jets)
        distances = angular_distances(jets)
    np.testing.assert_array_equal(features[1], 0.0)
    np.testing.assert_array_equal(features[0, 3], 0.0)
    np.testing.assert_allclose(distances, [[0.05, 0.05, 0.0, 0.0], [0, 0, 0, 0]], atol=2e-6)


def test_angular_scores_c_added_by_hand():
    jets = np.zeros((2, 4, 4))
    jets[0, :2] = _jet_across_pi()[:2]  # same axis (phi = pi, eta = 0) without the third
    jets[1, :2] = [_constituent(80.0, 0.0, 0.0), _constituent(20.0, 0.5, 0.0)]
    # Jet 1: axis at phi 0 and eta = asinh(sum pz / axis pT) = asinh(20 sinh(0.5) / 100).
    axis_eta = np.arcsinh(20 * np.sinh(0.5) / 100)
    jet_1 = [axis_eta**2, (0.5 - axis_eta) ** 2, 0.0, 0.0]
    np.testing.assert_allclose(angular_distances(jets), [[0.05, 0.05, 0, 0], jet_1], atol=2e-6)

    means = np.array([0.1, 0.2, 0.5, 1.0])
    expected = [
        0.05 / 0.1**3 + 0.05 / 0.2**3,
        jet_1[0] / 0.1**3 + jet_1[1] / 0.2**3,
    ]
    np.testing.assert_allclose(angular_scores(jets, reference_means=means), expected, rtol=1e-5)

    # Default reference: the jets' own per-node means; the two always-empty nodes
    # (means 0) are left out instead of dividing by 0.
    own = [(0.05 + jet_1[0]) / 2, (0.05 + jet_1[1]) / 2]
    expected = [
        0.05 / own[0] ** 2 + 0.05 / own[1] ** 2,
        jet_1[0] / own[0] ** 2 + jet_1[1] / own[1] ** 2,
    ]
    np.testing.assert_allclose(angular_scores(jets, power=2), expected, rtol=1e-5)


def test_angular_scores_rank_wide_jets_above_narrow_ones():
    rng = np.random.default_rng(7)

    def jets(width, count):
        pt = rng.uniform(5, 100, size=(count, 8))
        eta, phi = rng.normal(0, width, size=(2, count, 8))
        return np.stack(_constituent(pt, eta, phi), axis=-1)

    narrow_train, narrow, wide = jets(0.1, 200), jets(0.1, 200), jets(0.2, 200)
    means = part_means(angular_distances(narrow_train))
    assert auc(angular_scores(narrow, means), angular_scores(wide, means)) > 0.9


def test_jet_angle_errors_name_the_problem():
    with pytest.raises(ValueError, match=r"\(n_jets, n_constituents, 4\).*got \(2, 3, 3\)"):
        angular_distances(np.ones((2, 3, 3)))
    beam = np.zeros((1, 2, 4))
    beam[0, 0] = [10.0, 0.0, 0.0, 10.0]  # along the beam: JetFeatures clamps pT, stays finite
    assert np.all(np.isfinite(angular_distances(beam)))
    with pytest.raises(ValueError, match=r"shape \(4,\)"):
        angular_scores(_jet_across_pi()[None], reference_means=[1.0, 1.0])


# --- Invertibility and cross tables --------------------------------------------------------


class GaussianDensity:
    """Toy one-class model: score = Mahalanobis distance to the training mean."""

    def fit(self, x):
        self.mean = x.mean(axis=0)
        self.precision = np.linalg.inv(np.cov(x, rowvar=False))
        self.trained_on = x
        return self

    def score(self, x):
        offset = x - self.mean
        return np.sqrt(np.einsum("ij,jk,ik->i", offset, self.precision, offset))


def _gaussian(mean, width, seed, n=2000):
    return np.random.default_rng(seed).normal(mean, width, size=(n, 2))


def test_width_only_difference_is_not_invertible():
    # Trained on the narrow set, the wide one looks anomalous; trained on the wide set,
    # the narrow one sits closer to the mean than the wide set itself: AUC < 0.5.
    result = invertibility(GaussianDensity, _gaussian(0, 1, 0), _gaussian(0, 2, 1))
    assert result.auc_ab > 0.7
    assert result.auc_ba < 0.3
    assert not result.invertible


def test_mean_difference_is_invertible():
    result = invertibility(GaussianDensity, _gaussian(0, 1, 0), _gaussian([3, 0], 1, 1))
    assert result.auc_ab > 0.9 and result.auc_ba > 0.9
    assert result.invertible
    assert isinstance(result, Invertibility)
    with pytest.raises(AttributeError):
        result.auc_ab = 0.0  # frozen


def test_invertibility_trains_on_the_first_fraction():
    models = []

    def factory():
        models.append(GaussianDensity())
        return models[-1]

    data_a, data_b = _gaussian(0, 1, 0, n=100), _gaussian(1, 1, 1, n=100)
    invertibility(factory, data_a, data_b, train_fraction=0.3)
    np.testing.assert_array_equal(models[0].trained_on, data_a[:30])
    np.testing.assert_array_equal(models[1].trained_on, data_b[:30])


def test_cross_table_of_three_toy_sets():
    datasets = {
        "narrow": _gaussian(0, 1, 0),
        "wide": _gaussian(0, 2, 1),
        "shifted": _gaussian([4, 0], 1, 2),
    }
    table = cross_table(GaussianDensity, datasets)
    assert list(table.index) == list(table.columns) == ["narrow", "wide", "shifted"]
    np.testing.assert_array_equal(np.diag(table.to_numpy()), 0.5)
    assert table.loc["narrow", "wide"] > 0.7 and table.loc["wide", "narrow"] < 0.3
    for a, b in [("narrow", "shifted"), ("wide", "shifted")]:
        assert table.loc[a, b] > 0.6 and table.loc[b, a] > 0.6
    assert non_invertible_pairs(table) == [("narrow", "wide")]
    # The pairwise test is the 2 x 2 corner of the table.
    pair = invertibility(GaussianDensity, datasets["narrow"], datasets["wide"])
    assert pair.auc_ab == table.loc["narrow", "wide"]
    assert pair.auc_ba == table.loc["wide", "narrow"]


def test_invertibility_input_errors():
    with pytest.raises(ValueError, match="train_fraction"):
        invertibility(GaussianDensity, _gaussian(0, 1, 0), _gaussian(1, 1, 1), 1.0)
    with pytest.raises(ValueError, match="too few to split"):
        invertibility(GaussianDensity, _gaussian(0, 1, 0, n=1), _gaussian(1, 1, 1))
    with pytest.raises(ValueError, match="at least two datasets"):
        cross_table(GaussianDensity, {"a": _gaussian(0, 1, 0)})

    class OneScore(GaussianDensity):
        def score(self, x):
            return super().score(x)[:1]

    with pytest.raises(ValueError, match=r"model.score must return shape \(1000,\)"):
        invertibility(OneScore, _gaussian(0, 1, 0), _gaussian(1, 1, 1))


def test_auc_standard_error_matches_the_spread_of_sampled_aucs():
    from grapa.evaluation import auc_standard_error

    rng = np.random.default_rng(0)
    for shift in (0.0, 1.0):
        aucs = [auc(rng.normal(size=150), rng.normal(shift, 1, size=100)) for _ in range(400)]
        expected = auc_standard_error(np.mean(aucs), 150, 100)
        assert np.std(aucs) == pytest.approx(expected, rel=0.15)
    # At A = 0.5 with n = m: se^2 = (1/4 + 2 (n - 1) / 12) / n^2
    n = 3000
    assert auc_standard_error(0.5, n, n) == pytest.approx(np.sqrt((0.25 + (n - 1) / 6) / n**2))


def delong_by_pairs(background_a, signal_a, background_b, signal_b):
    """DeLong et al. 1988 from its definition: psi over every (signal, background) pair."""
    components = []
    for background, signal in ((background_a, signal_a), (background_b, signal_b)):
        psi = (signal[:, None] > background[None, :]) + 0.5 * (signal[:, None] == background[None, :])
        components.append((psi.mean(axis=1), psi.mean(axis=0), psi.mean()))
    (v10_a, v01_a, auc_a), (v10_b, v01_b, auc_b) = components
    s10 = np.cov(np.stack([v10_a, v10_b]))
    s01 = np.cov(np.stack([v01_a, v01_b]))
    c = np.array([1.0, -1.0])
    return auc_a - auc_b, np.sqrt(c @ s10 @ c / len(signal_a) + c @ s01 @ c / len(background_a))


def test_auc_difference_is_delongs_paired_test():
    rng = np.random.default_rng(5)
    shared_b, shared_s = rng.normal(size=300), rng.normal(1.0, size=200)
    # two correlated scorers, rounded so that ties occur
    a = (np.round(shared_b + rng.normal(0, 0.5, 300), 1), np.round(shared_s + rng.normal(0, 0.5, 200), 1))
    b = (np.round(shared_b + rng.normal(0, 0.8, 300), 1), np.round(shared_s + rng.normal(0, 0.8, 200), 1))
    difference, error = auc_difference(*a, *b)
    expected_difference, expected_error = delong_by_pairs(*a, *b)
    assert difference == pytest.approx(expected_difference, abs=1e-12)
    assert difference == pytest.approx(auc(*a) - auc(*b), abs=1e-12)
    assert error == pytest.approx(expected_error, rel=1e-9)
    # what the scorers share cancels: the paired error is below either AUC's own error
    assert error < auc_standard_error(auc(*b), 300, 200)
    assert auc_difference(*a, *a) == (0.0, 0.0)
    with pytest.raises(ValueError, match="same jets"):
        auc_difference(a[0], a[1], b[0][:-1], b[1])
