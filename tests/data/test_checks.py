"""check_jets: every bad input named once, where it enters grapa, at every public entry."""

import warnings

import numpy as np
import pytest

import grapa
from grapa.data import EmptyJetsWarning, check_jets, sample_path, write_jets
from grapa.data.checks import EMPTY_JET_WARNING_FRACTION


@pytest.fixture
def qcd(sample_jets):
    return sample_jets[0][:200, :4].copy()


def test_non_finite_jets_are_counted_and_the_first_is_named(qcd):
    qcd[17, 2, 0] = np.nan
    qcd[40, 0, 3] = np.inf
    with pytest.raises(ValueError, match=r"2 of 200 jets have non-finite.*jet index 17"):
        check_jets(qcd)


def test_a_float64_value_beyond_float32_is_caught_after_the_cast(qcd):
    jets = qcd.astype(np.float64)
    jets[3, 0, 0] = 1e300
    with pytest.raises(ValueError, match="1 of 200 jets have non-finite.*jet index 3"):
        check_jets(jets)


def test_shape_and_empty_sets_are_named():
    with pytest.raises(ValueError, match=r"\(n_jets, 4, 4\).*got \(5, 3, 4\).*n_constituents=4"):
        check_jets(np.ones((5, 3, 4)), 4)
    with pytest.raises(ValueError, match="is empty"):
        check_jets(np.zeros((0, 4, 4)))


def test_an_all_empty_training_set_is_an_error_and_many_empty_jets_a_warning(qcd):
    with pytest.raises(ValueError, match="all 500 training jets are empty"):
        check_jets(np.zeros((500, 4, 4)), training=True, what="training jets")
    n_empty = int(len(qcd) * EMPTY_JET_WARNING_FRACTION) + 5
    qcd[:n_empty] = 0
    with pytest.warns(EmptyJetsWarning, match=f"{n_empty} of 200 jets"):
        check_jets(qcd, training=True)
    qcd[:n_empty - 10] = qcd[-1]  # now below the threshold: no warning
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_jets(qcd, training=True)
        check_jets(np.zeros((3, 4, 4)))  # empty test jets are fine: padding scores 0


def test_every_model_entry_rejects_a_nan_jet(qcd):
    """The issue's case: a NaN energy used to come out as an ordinary-looking score."""
    from grapa.evaluation import AngularScorer, MassScorer, ObservablesScorer
    from grapa.models import JetDensity, build_graph_autoencoder, build_mixed_model

    autoencoder = build_graph_autoencoder("jets4")
    bad = qcd.copy()
    bad[5, 0, 0] = np.nan
    for call in (autoencoder.score, autoencoder.reconstruct, autoencoder.encode,
                 autoencoder.feature_losses, build_mixed_model("jets4", n=2).score,
                 JetDensity().score, JetDensity().fit, MassScorer().fit, ObservablesScorer().fit,
                 AngularScorer().fit):
        with pytest.raises(ValueError, match="1 of 200 jets have non-finite.*jet index 5"):
            call(bad)
    with pytest.raises(ValueError, match="1 of 200 training jets have non-finite.*index 5"):
        grapa.train("jets4", bad, n_train=200, max_epochs=1, verbose=0)


def test_train_on_a_file_of_empty_jets_stops_before_training(tmp_path):
    path = tmp_path / "empty.h5"
    write_jets(path, np.zeros((500, 4, 4), "float32"), np.zeros(500, int))
    with pytest.raises(ValueError, match="all 500 training jets are empty"):
        grapa.train("jets4", path, max_epochs=1, verbose=0)
    assert sample_path().exists()
