"""Baseline anomaly scorers: what a physicist tries before any neural network.

Klüttermann 2021, sec. 5.2.1 (the trivial angular scorer): a model is only interesting
where it beats these on the same jets.
"""

from __future__ import annotations

import numpy as np

from grapa.data.checks import check_jets
from grapa.data.observables import (
    SUBSTRUCTURE_OBSERVABLES,
    jet_observables,
    substructure_observables,
    validate_jets,
)
from grapa.evaluation.maps import c_addition
from grapa.evaluation.metrics import _finite_array

__all__ = [
    "BASELINES",
    "DEFAULT_BASELINES",
    "baseline_scorers",
    "AngularScorer",
    "MassScorer",
    "ObservablesClassifier",
    "ObservablesScorer",
    "angular_distances",
    "angular_scores",
    "jet_features",
]


# ---------------------------------------------------------------------------------------
# The trivial angular scorer (sec. 5.2.1)
# ---------------------------------------------------------------------------------------


def jet_features(jets, batch_size: int = 65536) -> np.ndarray:
    """`grapa.layers.JetFeatures` on a numpy array: (E, px, py, pz) -> (flag, d_eta, d_phi, lpt).

    Runs the layer itself (one definition of the jet features in grapa), in batches so
    that large files do not build one huge tensor.

    Args:
        jets: `(n_jets, n, 4)` constituent 4-vectors, zero rows = padding.
        batch_size: jets per call of the layer.

    Returns:
        `(n_jets, n, 4)` float64 array of (flag, d_eta, d_phi, lpt).
    """
    from keras import ops

    from grapa.layers import JetFeatures

    jets = check_jets(jets)
    layer = JetFeatures()
    parts = [
        ops.convert_to_numpy(layer(jets[start : start + batch_size]))
        for start in range(0, len(jets), batch_size)
    ]
    return np.concatenate(parts).astype(np.float64)


def angular_distances(jets) -> np.ndarray:
    """Squared angular distance of every constituent to the jet axis (Klüttermann 2021, sec. 5.2.1).

    ```text
    D_ji = d_eta_ji^2 + d_phi_ji^2
    ```

    the loss of a "model" that outputs 0 for both angles. Padding gives 0.

    Args:
        jets: `(n_jets, n, 4)` raw constituents (E, px, py, pz), zero rows = padding.

    Returns:
        `(n_jets, n)` array.
    """
    features = jet_features(jets)
    return features[..., 1] ** 2 + features[..., 2] ** 2


def angular_scores(jets, reference_means=None, power: float = 3) -> np.ndarray:
    """The trivial angular scorer: angular distances c-added over nodes (Klüttermann 2021, sec. 5.2.1).

    ```text
    s_j = sum_i D_ji / m_i^p,   D_ji = d_eta_ji^2 + d_phi_ji^2
    ```

    Wide jets (top) score higher than narrow ones (QCD). It reached AUC 0.915 on the
    Delphes top-tagging data and is the baseline every "non-trivial" model must beat.

    Args:
        jets: `(n_jets, n, 4)` raw constituents (E, px, py, pz), zero rows = padding.
            The angles come from `grapa.layers.JetFeatures`.
        reference_means: `(n,)` mean D_i per node on the **training background**, i.e.
            `part_means(angular_distances(background_train_jets))`; pass it for a fair
            test. `None` uses the means of `jets` itself, which peeks at the scored data.
        power: the c-addition exponent p.

    Returns:
        `(n_jets,)` scores, higher = wider = more anomalous.

    Raises:
        ValueError: if no node has a positive reference mean, or on invalid jets.

    Nodes whose reference mean is 0 (padding, or a lone constituent on the axis, in
    every reference jet) carry no information and are left out.
    """
    distances = angular_distances(jets)
    if reference_means is None:
        means = distances.mean(axis=0)
    else:
        means = _finite_array(reference_means, "reference_means")
        if means.shape != (distances.shape[1],):
            raise ValueError(
                f"reference_means must have shape ({distances.shape[1]},), one per node "
                f"of jets {distances.shape[:1] + (distances.shape[1], 4)}, got {means.shape}."
            )
    informative = means > 0
    if not informative.any():
        raise ValueError(
            "every node has reference mean 0 (the reference jets have at most one "
            "constituent each); there is nothing to score. Use more constituents."
        )
    return c_addition(distances[:, informative], means[informative], power=power)


# ---------------------------------------------------------------------------------------
# Scorers with fit / score: usable wherever a model is (cross tables, reports)
# ---------------------------------------------------------------------------------------


class AngularScorer:
    """The trivial angular scorer (sec. 5.2.1) as a model: `fit` stores the node means.

    `fit(jets)` computes `part_means(angular_distances(jets))` on the training
    background; `score(jets)` is `angular_scores(jets, those_means)`. Higher = wider.
    """

    name = "angular"

    def __init__(self, power: float = 3):
        self.power = power
        self.reference_means = None

    def fit(self, jets):
        self.reference_means = angular_distances(jets).mean(axis=0)
        return self

    def score(self, jets) -> np.ndarray:
        _check_fitted(self, self.reference_means)
        return angular_scores(jets, self.reference_means, self.power)


class MassScorer:
    """Distance of a jet's mass from the training jets' median mass.

    ```text
    s = |m - median(m_train)|
    ```

    The first thing a physicist looks at: two-sided, so it finds heavier and lighter jets
    alike (top in QCD, and QCD in top).
    """

    name = "mass"

    def __init__(self):
        self.median_mass = None

    def fit(self, jets):
        self.median_mass = float(np.median(_masses(jets)))
        return self

    def score(self, jets) -> np.ndarray:
        _check_fitted(self, self.median_mass)
        return np.abs(_masses(jets) - self.median_mass)


class ObservablesScorer:
    """A Gaussian mixture on the standardized substructure observables.

    The eight observables of `grapa.data.substructure_observables` (mass, log
    multiplicity, width, pT_D, e2, leading and three leading pT fractions, m/pT) are
    standardized with the training jets' mean and standard deviation, a
    `sklearn.mixture.GaussianMixture` is fitted to them, and the score is the negative
    log-likelihood:

    ```text
    s = -log p_GMM(standardize(observables(jet)))
    ```

    Args:
        components: mixture components (8).
        covariance: `GaussianMixture`'s `covariance_type` ("full").
        observables: which columns of `substructure_observables` to use (all 8).
        seed: `random_state` of the mixture's initialisation.
    """

    name = "observables"

    def __init__(self, components: int = 8, covariance: str = "full",
                 observables=SUBSTRUCTURE_OBSERVABLES, seed: int = 0):
        self.components, self.covariance = components, covariance
        self.observables, self.seed = tuple(observables), seed
        self.mixture = None

    def _standardized(self, jets) -> np.ndarray:
        return (_observable_values(jets, self.observables) - self.mean) / self.std

    def fit(self, jets):
        from sklearn.mixture import GaussianMixture

        values = _observable_values(jets, self.observables)
        if len(values) < self.components:
            raise ValueError(
                f"the observables mixture has {self.components} components and needs at least "
                f"as many training jets, got {len(values)}."
            )
        self.mean, self.std = values.mean(axis=0), np.maximum(values.std(axis=0), 1e-12)
        self.mixture = GaussianMixture(self.components, covariance_type=self.covariance,
                                       random_state=self.seed)
        self.mixture.fit((values - self.mean) / self.std)
        return self

    def score(self, jets) -> np.ndarray:
        _check_fitted(self, self.mixture)
        return -self.mixture.score_samples(self._standardized(jets))


class ObservablesClassifier:
    """The supervised baseline of a tagger: gradient boosting on the jet observables.

    `sklearn.ensemble.HistGradientBoostingClassifier` on the eight observables of
    `grapa.data.substructure_observables`, fitted on labelled background and signal
    jets; `score(jets)` is the predicted probability of signal. This is what a graph
    tagger must beat on the same jets to be worth its cost.

    Args:
        observables: which columns of `substructure_observables` to use (all 8).
        max_iter: boosting iterations at most (early stopping on a held-out 10%).
        seed: `random_state` of the booster.
    """

    name = "observables_boosting"

    def __init__(self, observables=SUBSTRUCTURE_OBSERVABLES, max_iter: int = 500, seed: int = 0):
        self.observables, self.max_iter, self.seed = tuple(observables), max_iter, seed
        self.classifier = None

    def fit(self, background_jets, signal_jets):
        from sklearn.ensemble import HistGradientBoostingClassifier

        values = np.concatenate([_observable_values(jets, self.observables)
                                 for jets in (background_jets, signal_jets)])
        labels = np.repeat([0, 1], [len(background_jets), len(signal_jets)])
        self.classifier = HistGradientBoostingClassifier(
            max_iter=self.max_iter, early_stopping=True, random_state=self.seed)
        self.classifier.fit(values, labels)
        return self

    def score(self, jets) -> np.ndarray:
        _check_fitted(self, self.classifier)
        return self.classifier.predict_proba(_observable_values(jets, self.observables))[:, 1]


BASELINES = {scorer.name: scorer for scorer in (MassScorer, ObservablesScorer, AngularScorer)}
# The trivial scorers every report and cross table shows beside the model, on the same jets.
DEFAULT_BASELINES = ("mass", "observables")


def baseline_scorers(names=DEFAULT_BASELINES) -> dict:
    """`{name: fresh, unfitted scorer}` for names of `BASELINES`, or a ValueError naming
    the unknown ones."""
    unknown = [name for name in names if name not in BASELINES]
    if unknown:
        raise ValueError(f"unknown baselines {unknown}; choose from {sorted(BASELINES)}.")
    return {name: BASELINES[name]() for name in names}


def _masses(jets) -> np.ndarray:
    return jet_observables(validate_jets(jets))["mass"]


def _observable_values(jets, observables) -> np.ndarray:
    """`(n_jets, len(observables))`: the named columns of `substructure_observables`."""
    return substructure_observables(jets)[list(observables)].to_numpy()


def _check_fitted(scorer, state) -> None:
    if state is None:
        raise RuntimeError(f"{type(scorer).__name__} is not fitted: call fit(...) first.")
