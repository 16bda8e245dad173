"""The baseline scorers against direct computations, and both directions on QCD / top."""

import numpy as np
import pytest
from sklearn.mixture import GaussianMixture

from grapa.data import substructure_observables
from grapa.evaluation import (
    BASELINES,
    AngularScorer,
    MassScorer,
    ObservablesClassifier,
    ObservablesScorer,
    angular_distances,
    angular_scores,
    auc,
)


def jets_of_mass(masses):
    """Two back-to-back-in-x constituents per jet: (E, +-p, 0, 0) plus a boost in y."""
    jets = np.zeros((len(masses), 3, 4))
    for j, m in enumerate(masses):
        p, boost = 10.0, 100.0
        energy = np.hypot(m / 2, p)
        jets[j, 0] = [np.hypot(energy, boost / 2), p, boost / 2, 0.0]
        jets[j, 1] = [np.hypot(energy, boost / 2), -p, boost / 2, 0.0]
    return jets


def test_mass_scorer_is_the_distance_from_the_training_median():
    train = jets_of_mass([10.0, 20.0, 40.0])
    test = jets_of_mass([5.0, 20.0, 33.0])
    mass = substructure_observables(train)["mass"].to_numpy()
    scorer = MassScorer().fit(train)
    assert scorer.median_mass == pytest.approx(np.median(mass))
    test_mass = substructure_observables(test)["mass"].to_numpy()
    np.testing.assert_allclose(scorer.score(test), np.abs(test_mass - np.median(mass)))


def test_observables_scorer_is_the_mixtures_negative_log_likelihood(sample_jets):
    qcd, top = sample_jets
    scorer = ObservablesScorer(components=3, seed=1).fit(qcd[:800])
    values = substructure_observables(qcd[:800]).to_numpy()
    mean, std = values.mean(axis=0), values.std(axis=0)
    mixture = GaussianMixture(3, covariance_type="full", random_state=1)
    mixture.fit((values - mean) / std)
    test = substructure_observables(top[:100]).to_numpy()
    np.testing.assert_allclose(scorer.score(top[:100]),
                               -mixture.score_samples((test - mean) / std), rtol=1e-6)


def test_angular_scorer_uses_the_training_means(sample_jets):
    qcd, top = sample_jets
    scorer = AngularScorer().fit(qcd[:500, :4])
    means = angular_distances(qcd[:500, :4]).mean(axis=0)
    np.testing.assert_allclose(scorer.score(top[:50, :4]), angular_scores(top[:50, :4], means))


@pytest.mark.parametrize("name", ["mass", "observables"])
def test_baselines_find_top_in_qcd_and_qcd_in_top(name, sample_jets):
    qcd, top = sample_jets
    qcd_train, qcd_test = qcd[:2000], qcd[2000:3000]
    top_train, top_test = top[:1400], top[1400:]
    from_qcd = BASELINES[name]().fit(qcd_train)
    from_top = BASELINES[name]().fit(top_train)
    assert auc(from_qcd.score(qcd_test), from_qcd.score(top_test)) > 0.7
    assert auc(from_top.score(top_test), from_top.score(qcd_test)) > 0.7


def test_unfitted_scorers_say_so(jets):
    for scorer in (MassScorer(), ObservablesScorer(), AngularScorer(), ObservablesClassifier()):
        with pytest.raises(RuntimeError, match="call fit"):
            scorer.score(jets)
    with pytest.raises(ValueError, match="at least as many training jets"):
        ObservablesScorer(components=8).fit(jets)


def test_observables_classifier_is_boosting_on_the_eight_observables(sample_jets):
    from sklearn.ensemble import HistGradientBoostingClassifier

    qcd, top = sample_jets
    classifier = ObservablesClassifier(max_iter=50, seed=3).fit(qcd[:1000], top[:800])
    values = np.concatenate([substructure_observables(q).to_numpy() for q in (qcd[:1000], top[:800])])
    direct = HistGradientBoostingClassifier(max_iter=50, early_stopping=True, random_state=3)
    direct.fit(values, np.repeat([0, 1], [1000, 800]))
    test = substructure_observables(top[800:900]).to_numpy()
    np.testing.assert_allclose(classifier.score(top[800:900]), direct.predict_proba(test)[:, 1])
    qcd_scores, top_scores = classifier.score(qcd[2000:3000]), classifier.score(top[1400:])
    assert np.all((qcd_scores >= 0) & (qcd_scores <= 1))
    assert auc(qcd_scores, top_scores) > 0.85  # supervised: better than any baseline above
