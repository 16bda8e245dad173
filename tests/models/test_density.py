"""JetDensity: the score's formula, both directions on QCD / top, saving, bad input."""

import keras
import numpy as np
import pytest

from grapa.data import substructure_observables
from grapa.evaluation import auc
from grapa.models import JetDensity


@pytest.fixture(scope="module")
def fitted(sample_jets):
    qcd, top = sample_jets
    from_qcd, from_top = JetDensity(seed=0), JetDensity(seed=1)
    from_qcd.fit(qcd[:3000], epochs=60)
    from_top.fit(top[:1800], epochs=60)
    return from_qcd, from_top


def test_score_is_mass_surprise_plus_shape_surprise_per_observable(fitted, sample_jets):
    model = fitted[0]
    jets = sample_jets[1][-50:]
    log_likelihood = model.log_likelihood(jets)
    assert log_likelihood.shape == (50, 2) and np.all(np.isfinite(log_likelihood))
    assert model.weight_of_shape == pytest.approx(1 / 7)
    np.testing.assert_allclose(model.score(jets),
                               -(log_likelihood[:, 0] + log_likelihood[:, 1] / 7), rtol=1e-6)
    columns = model.jet_observables(jets)
    np.testing.assert_allclose(columns[:, 0], substructure_observables(jets)["mass"], rtol=1e-6)


def test_mass_density_is_normalized_in_gev(fitted):
    """log p(m) is a density of the raw mass: it integrates to 1 over GeV."""
    model = fitted[0]
    masses = np.linspace(-400.0, 800.0, 6001, dtype="float32")
    observables = np.zeros((len(masses), 8), "float32")
    observables[:, 0] = masses
    observables[:, 1:] = keras.ops.convert_to_numpy(model.location)[1:]
    log_anchor = model.predict(observables, verbose=0)[:, 0]
    integral = np.exp(log_anchor).sum() * (masses[1] - masses[0])
    assert integral == pytest.approx(1.0, abs=1e-3)


def test_finds_top_in_qcd_and_qcd_in_top(fitted, sample_jets):
    qcd, top = sample_jets
    from_qcd, from_top = fitted
    qcd_test, top_test = qcd[3000:4500], top[1800:]
    assert auc(from_qcd.score(qcd_test), from_qcd.score(top_test)) > 0.75
    assert auc(from_top.score(top_test), from_top.score(qcd_test)) > 0.75


def test_saves_and_loads_with_identical_scores(fitted, sample_jets, tmp_path):
    model = fitted[0]
    model.save(tmp_path / "density.keras")
    loaded = keras.saving.load_model(tmp_path / "density.keras", safe_mode=True)
    assert isinstance(loaded, JetDensity)
    jets = sample_jets[1][:40]
    np.testing.assert_allclose(loaded.score(jets), model.score(jets), rtol=1e-6)


def test_joint_likelihood_with_shape_weight_one(fitted, sample_jets):
    joint = JetDensity(shape_weight=1.0)
    joint.set_weights(fitted[0].get_weights())
    jets = sample_jets[0][-20:]
    np.testing.assert_allclose(joint.score(jets), -fitted[0].log_likelihood(jets).sum(axis=1),
                               rtol=1e-5)


def test_bad_arguments_and_jets_are_named(jets):
    with pytest.raises(ValueError, match="unknown observables"):
        JetDensity(observables=("mass", "tau32"))
    with pytest.raises(ValueError, match="anchor 'mass' must be one of"):
        JetDensity(observables=("width", "pt_d"))
    with pytest.raises(ValueError, match="at least 10 training jets"):
        JetDensity().fit(jets)
    bad = np.array(jets)
    bad[1, 0, 0] = np.nan
    with pytest.raises(ValueError, match="non-finite.*jet index 1"):
        JetDensity().score(bad)
