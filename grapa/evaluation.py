"""Scores, ROC/AUC, AUC feature maps, c addition and invertibility.

Klüttermann 2021, ch. 3.1 (ROC, AUC), 3.3.2 (AUC feature maps), 5.1.4 (c addition),
5.2.1 (the trivial angular scorer), 5.2.2 and 8.3 (invertibility, cross tables).

Conventions used by every function here:

- **background** is what a model was trained on; **signal** is the anomaly and the
  positive class of every ROC curve and AUC;
- **scores are "higher = more anomalous"** (an autoencoder's per-jet loss is one).

So AUC 1 means every signal jet scores above every background jet, AUC 0.5 is a random
guess and AUC 0 a perfect *anti*-classifier.

The module is plain numpy + `sklearn.metrics`; it imports no Keras, so it scores the
output of any model (or of none: see `angular_scores`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import pandas as pd
from scipy.stats import rankdata
from sklearn import metrics

__all__ = [
    "Invertibility",
    "angular_distances",
    "angular_scores",
    "auc",
    "auc_standard_error",
    "c_addition",
    "cross_table",
    "feature_auc_map",
    "jet_features",
    "invertibility",
    "non_invertible_pairs",
    "part_means",
    "rejection",
    "roc",
]


# ---------------------------------------------------------------------------------------
# Input validation
# ---------------------------------------------------------------------------------------


def _finite_array(values, name: str) -> np.ndarray:
    """`values` as a float64 array, or a ValueError if it is empty or not finite."""
    array = np.asarray(values, dtype=np.float64)
    if array.size == 0:
        raise ValueError(f"{name} is empty: pass at least one jet.")
    finite = np.isfinite(array)
    if not finite.all():
        first = np.unravel_index(np.argmin(finite), array.shape)
        raise ValueError(
            f"{name} has {array.size - finite.sum()} non-finite values (NaN or inf) out of "
            f"{array.size}, the first at index {tuple(int(i) for i in first)}. A model "
            "that outputs NaN has diverged: check its weights (and train with "
            "keras.callbacks.TerminateOnNaN). To evaluate the other jets anyway, drop "
            "those explicitly, e.g. scores[np.isfinite(scores)]."
        )
    return array


def _scores(values, name: str) -> np.ndarray:
    """One finite score per jet, shape `(n_jets,)`."""
    array = _finite_array(values, name)
    if array.ndim != 1:
        raise ValueError(
            f"{name} must have shape (n_jets,) (one score per jet), got {array.shape}. "
            "Reduce per-node or per-feature losses first, e.g. "
            "losses.reshape(len(losses), -1).mean(axis=1)."
        )
    return array


def _labelled(background_scores, signal_scores) -> tuple[np.ndarray, np.ndarray]:
    """Labels (0 = background, 1 = signal) and the concatenated scores."""
    background = _scores(background_scores, "background_scores")
    signal = _scores(signal_scores, "signal_scores")
    labels = np.concatenate([np.zeros(len(background)), np.ones(len(signal))])
    return labels, np.concatenate([background, signal])


# ---------------------------------------------------------------------------------------
# ROC, AUC, rejection (sec. 3.1)
# ---------------------------------------------------------------------------------------


def roc(background_scores, signal_scores, drop_intermediate: bool = True):
    """ROC curve of a score, signal = the anomaly (Klüttermann 2021, sec. 3.1.1).

    A jet is called signal when its score is at least the threshold; sweeping the
    threshold from high to low traces the curve.

    Args:
        background_scores: `(n_background,)` scores of background jets.
        signal_scores: `(n_signal,)` scores of signal jets.
        drop_intermediate: passed to `sklearn.metrics.roc_curve`; `False` keeps one point
            per distinct threshold.

    Returns:
        `(fpr, tpr, thresholds)` from `sklearn.metrics.roc_curve`: false positive rate
        eps_B, true positive rate eps_S, both non-decreasing, and the decreasing
        thresholds.

    Raises:
        ValueError: if a score array is empty, not 1-D, or contains NaN/inf.
    """
    labels, scores = _labelled(background_scores, signal_scores)
    return metrics.roc_curve(labels, scores, drop_intermediate=drop_intermediate)


def auc(background_scores, signal_scores) -> float:
    """Area under the ROC curve (Klüttermann 2021, sec. 3.1.2).

    ```text
    AUC = P(s > b) + P(s = b) / 2
    ```

    for a random signal score s and background score b: 1 is a perfect classifier,
    0.5 a random guess, 0 a perfect anti-classifier. Computed by
    `sklearn.metrics.roc_auc_score`.

    Args:
        background_scores: `(n_background,)` scores of background jets.
        signal_scores: `(n_signal,)` scores of signal jets.

    Returns:
        The AUC as a float.

    Raises:
        ValueError: if a score array is empty, not 1-D, or contains NaN/inf.
    """
    labels, scores = _labelled(background_scores, signal_scores)
    return float(metrics.roc_auc_score(labels, scores))


def auc_standard_error(auc_value: float, n_background: int, n_signal: int) -> float:
    """Statistical uncertainty of an AUC (Hanley and McNeil 1982, eq. 2).

    ```text
    se^2 = (A(1-A) + (n_s - 1)(Q1 - A^2) + (n_b - 1)(Q2 - A^2)) / (n_s n_b)
    Q1 = A / (2 - A),   Q2 = 2 A^2 / (1 + A)
    ```

    For 3,000 background and 3,000 signal jets at A = 0.5 it is 0.0075: invertibility
    decided by AUCs closer than about twice that to 0.5 is not significant.

    Args:
        auc_value: the AUC A.
        n_background: background jets scored.
        n_signal: signal jets scored.

    Returns:
        the one-sigma standard error.
    """
    a = float(auc_value)
    q1, q2 = a / (2 - a), 2 * a * a / (1 + a)
    variance = (a * (1 - a) + (n_signal - 1) * (q1 - a * a)
                + (n_background - 1) * (q2 - a * a)) / (n_signal * n_background)
    return float(np.sqrt(max(variance, 0.0)))


def rejection(background_scores, signal_scores, signal_efficiency: float = 0.3) -> float:
    """Background rejection 1/eps_B at a fixed signal efficiency (Klüttermann 2021, fig. 3.3).

    The working point is the **first ROC point** (the highest threshold) whose true
    positive rate reaches `signal_efficiency`; no interpolation, so the rejection belongs
    to a cut one can actually apply:

    ```text
    R(eps_S) = 1 / eps_B(t*),   t* = max{t : tpr(t) >= eps_S}
    ```

    Args:
        background_scores: `(n_background,)` scores of background jets.
        signal_scores: `(n_signal,)` scores of signal jets.
        signal_efficiency: the true positive rate eps_S of the working point, in (0, 1].

    Returns:
        1/eps_B as a float; `inf` when no background jet passes the cut (eps_B = 0,
        i.e. the rejection is larger than the background sample can resolve).

    Raises:
        ValueError: if `signal_efficiency` is outside (0, 1], or the scores are invalid.
    """
    if not 0 < signal_efficiency <= 1:
        raise ValueError(
            f"signal_efficiency must be in (0, 1], got {signal_efficiency}; the "
            "usual working point is 0.3."
        )
    fpr, tpr, _ = roc(background_scores, signal_scores, drop_intermediate=False)
    # tpr ends at 1, so some point always reaches the efficiency.
    false_positive_rate = fpr[np.argmax(tpr >= signal_efficiency)]
    return float(np.inf) if false_positive_rate == 0 else float(1 / false_positive_rate)


# ---------------------------------------------------------------------------------------
# AUC feature map (sec. 3.3.2)
# ---------------------------------------------------------------------------------------


def _rank_auc(background: np.ndarray, signal: np.ndarray) -> np.ndarray:
    """AUC of every column at once (Mann-Whitney U; ties count 1/2, as in sklearn).

    AUC = (sum of the signal ranks - n_s (n_s + 1) / 2) / (n_s n_b), with average ranks
    for ties, along axis 0 of `background` `(n_b, ...)` and `signal` `(n_s, ...)`.
    """
    n_background, n_signal = len(background), len(signal)
    ranks = rankdata(np.concatenate([background, signal]), axis=0)
    signal_rank_sum = ranks[n_background:].sum(axis=0)
    return (signal_rank_sum - n_signal * (n_signal + 1) / 2) / (n_signal * n_background)


def feature_auc_map(background_feature_losses, signal_feature_losses) -> np.ndarray:
    """AUC of every (node, feature) loss on its own (Klüttermann 2021, sec. 3.3.2, 5.2.1).

    Each cell treats one per-(node, feature) squared error as a score and computes its
    AUC, signal = the anomaly. Vectorised with the rank (Mann-Whitney) formula, which
    equals `sklearn.metrics.roc_auc_score` cell by cell, ties included.

    Args:
        background_feature_losses: `(n_background, n, F)` squared errors of background
            jets (n nodes, F features, e.g. (flag, d_eta, d_phi, lpt)).
        signal_feature_losses: `(n_signal, n, F)` squared errors of signal jets.

    Returns:
        `(n, F)` array of AUCs. Plot it with `grapa.plotting.plot_feature_auc_map`.

    Raises:
        ValueError: if an input is empty, not 3-D, contains NaN/inf, or the two disagree
            in `(n, F)`.
    """
    background = _finite_array(background_feature_losses, "background_feature_losses")
    signal = _finite_array(signal_feature_losses, "signal_feature_losses")
    for name, array in (("background", background), ("signal", signal)):
        if array.ndim != 3:
            raise ValueError(
                f"{name}_feature_losses must have shape (n_jets, n, F), got {array.shape}."
            )
    if background.shape[1:] != signal.shape[1:]:
        raise ValueError(
            f"signal_feature_losses must have shape (n_signal, {background.shape[1]}, "
            f"{background.shape[2]}) to match the background, got {signal.shape}."
        )
    return _rank_auc(background, signal)


# ---------------------------------------------------------------------------------------
# c addition (sec. 5.1.4)
# ---------------------------------------------------------------------------------------


def _parts(part_losses, name: str = "part_losses") -> np.ndarray:
    """`(n_jets, ...)` losses as a finite `(n_jets, n_parts)` matrix."""
    array = _finite_array(part_losses, name)
    if array.ndim < 2:
        raise ValueError(
            f"{name} must have shape (n_jets, n_parts) (or (n_jets, ...), flattened over "
            f"the trailing axes), got {array.shape}."
        )
    return array.reshape(len(array), -1)


def part_means(part_losses) -> np.ndarray:
    """Mean loss of every part over the jets: the `reference_means` of c addition.

    Compute it on the **training background** and reuse it for every scored dataset.

    Args:
        part_losses: `(n_jets, n_parts)` or `(n_jets, ...)` (flattened over trailing axes).

    Returns:
        `(n_parts,)` array.
    """
    return _parts(part_losses).mean(axis=0)


def c_addition(part_losses, reference_means, power: float = 3) -> np.ndarray:
    """Combine part losses, weighting each part by its mean loss (Klüttermann 2021, sec. 5.1.4).

    ```text
    s = sum_i L_i / m_i^p
    ```

    with L_i the loss of part i (a node, a batch of nodes, a feature), m_i its mean on
    the training background and p = `power`.

    Why: take two features f_1, f_2 whose background and signal are Gaussians at 0 and
    1 with the same width in both classes, sigma_1 for f_1 and sigma_2 for f_2. The sum
    f_1 + c f_2 puts signal at 1 + c with width sqrt(sigma_1^2 + c^2 sigma_2^2); its
    relative width, and so its overlap, is smallest and its AUC largest at

    ```text
    c = 1 / q^2,   q = sigma_2 / sigma_1
    ```

    (eqs. 5.2-5.4): a noisier part must count less. With m_i = sigma_i^2 (the mean
    squared deviation on background) that is exactly `power=1` applied to the features
    themselves. The thesis applies it to squared-error losses, whose signal shift also
    grows with the loss, and finds p = 3 works best empirically (fig. 5.5, fn. 54).

    Args:
        part_losses: `(n_jets, n_parts)`, or `(n_jets, ...)` flattened over trailing axes.
        reference_means: `(n_parts,)` (or the trailing shape of `part_losses`): the mean
            part losses on the training background, e.g. `part_means(train_losses)`.
            Must be positive.
        power: the exponent p (default 3, as in the thesis).

    Returns:
        `(n_jets,)` combined scores.

    Raises:
        ValueError: on NaN/inf, a shape mismatch or a non-positive reference mean.
    """
    parts = _parts(part_losses)
    means = _finite_array(reference_means, "reference_means").reshape(-1)
    if means.shape != (parts.shape[1],):
        raise ValueError(
            f"reference_means must have {parts.shape[1]} entries (one per part of "
            f"part_losses {np.shape(part_losses)}), got shape {np.shape(reference_means)}."
        )
    if np.any(means <= 0):
        raise ValueError(
            f"reference_means must be positive; parts {np.flatnonzero(means <= 0).tolist()} "
            "have mean <= 0. A part whose loss is always 0 on the reference (e.g. a node "
            "that is padding in every jet) carries no information: drop it from both "
            "part_losses and reference_means."
        )
    weights = means ** (-float(power))
    if not np.all(np.isfinite(weights)):
        raise ValueError(
            f"reference_means ** -{power} overflows; rescale the losses (c addition is "
            "invariant under a common scale up to an overall factor)."
        )
    return parts @ weights


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

    jets = _finite_array(jets, "jets").astype(np.float32)
    if jets.ndim != 3 or jets.shape[-1] != 4:
        raise ValueError(
            f"jets must have shape (n_jets, n, 4) with columns (E, px, py, pz), got "
            f"{jets.shape}."
        )
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
# Invertibility and cross tables (sec. 5.2.2, 8.3)
# ---------------------------------------------------------------------------------------


class ScoringModel(Protocol):
    """What `invertibility` and `cross_table` need from a model."""

    def fit(self, x) -> Any:
        """Train on background `x`."""

    def score(self, x) -> np.ndarray:
        """`(len(x),)` anomaly scores, higher = more anomalous."""


@dataclass(frozen=True)
class Invertibility:
    """The two AUCs of an invertibility test (Klüttermann 2021, sec. 5.2.2).

    Attributes:
        auc_ab: trained on A, background = A, signal = B.
        auc_ba: trained on B, background = B, signal = A.
    """

    auc_ab: float
    auc_ba: float

    @property
    def invertible(self) -> bool:
        """Both directions find the other dataset anomalous (both AUCs > 0.5)."""
        return self.auc_ab > 0.5 and self.auc_ba > 0.5


def _split(data, train_fraction: float, name) -> tuple[Any, Any]:
    """First `train_fraction` of the jets for training, the rest for testing."""
    if not 0 < train_fraction < 1:
        raise ValueError(f"train_fraction must be in (0, 1), got {train_fraction}.")
    n_train = int(round(len(data) * train_fraction))
    if not 0 < n_train < len(data):
        raise ValueError(
            f"dataset {name!r} has {len(data)} jets, too few to split with "
            f"train_fraction={train_fraction} into non-empty train and test parts."
        )
    return data[:n_train], data[n_train:]


def _model_scores(model: ScoringModel, x, name: str) -> np.ndarray:
    """`model.score(x)`, checked to be one finite score per jet."""
    scores = _scores(model.score(x), f"scores of {name}")
    if len(scores) != len(x):
        raise ValueError(
            f"model.score must return shape ({len(x)},) for {name}, got {scores.shape}."
        )
    return scores


def _cross_table_row(model_factory, splits, trained_on):
    """One row of a cross table: train on `trained_on`, AUC of every other test part."""
    model = model_factory()
    model.fit(splits[trained_on][0])
    background = _model_scores(model, splits[trained_on][1], f"{trained_on!r}")
    return {
        scored: auc(background, _model_scores(model, test, f"{scored!r}"))
        for scored, (_, test) in splits.items()
        if scored != trained_on
    }


def cross_table(
    model_factory: Callable[[], ScoringModel],
    datasets: Mapping[str, Any],
    train_fraction: float = 0.5,
    workers: int = 1,
) -> pd.DataFrame:
    """AUC of every ordered pair of datasets (Klüttermann 2021, sec. 8.3).

    Each dataset is split deterministically: its first `train_fraction` of jets trains,
    the rest tests (shuffle beforehand if the order means something). One fresh model
    per dataset i is trained on i's train part; then

    ```text
    T[i, j] = AUC(background = s_i(test_i), signal = s_i(test_j))
    ```

    so T_ij > 0.5 means "j looks more anomalous than i to a model of i". The diagonal is
    0.5 by definition (a test part against itself).

    Args:
        model_factory: returns a fresh model with `fit(x)` and `score(x) -> (len(x),)`.
            With `workers > 1` it must be picklable (a top-level class or function).
        datasets: name -> jets (anything sliceable with `len`), at least two.
        train_fraction: fraction of each dataset used for training.
        workers: rows (one trained model each) computed in parallel processes.

    Returns:
        `pandas.DataFrame`, rows = trained on, columns = scored, indexed by the names.
    """
    if len(datasets) < 2:
        raise ValueError(f"cross_table needs at least two datasets, got {len(datasets)}.")
    splits = {name: _split(data, train_fraction, name) for name, data in datasets.items()}
    names = list(splits)
    if workers > 1:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        # "spawn": a forked JAX or TensorFlow runtime is not safe to use in the child.
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(min(workers, len(names)), mp_context=context) as pool:
            rows = list(pool.map(_cross_table_row, [model_factory] * len(names),
                                 [splits] * len(names), names))
    else:
        rows = [_cross_table_row(model_factory, splits, name) for name in names]
    table = pd.DataFrame(0.5, index=pd.Index(names, name="trained on"),
                         columns=pd.Index(names, name="scored"))
    for trained_on, row in zip(names, rows):
        for scored, value in row.items():
            table.loc[trained_on, scored] = value
    return table


def non_invertible_pairs(table: pd.DataFrame) -> list[tuple[str, str]]:
    """Unordered pairs (i, j) of a cross table that are not invertible.

    A pair is invertible when both T_ij > 0.5 and T_ji > 0.5.

    Args:
        table: the output of `cross_table`.

    Returns:
        `(i, j)` pairs, i before j in the table's order.
    """
    names = list(table.index)
    return [
        (a, b)
        for k, a in enumerate(names)
        for b in names[k + 1:]
        if not (table.loc[a, b] > 0.5 and table.loc[b, a] > 0.5)
    ]


def invertibility(
    model_factory: Callable[[], ScoringModel], data_a, data_b, train_fraction: float = 0.5
) -> Invertibility:
    """Train on A and score B, train on B and score A (Klüttermann 2021, sec. 5.2.2).

    A model that only exploits a trivial property (e.g. "wider jets have larger
    angular losses") flags the wider dataset whichever it was trained on: one AUC > 0.5,
    the other < 0.5. A model that learned its training data flags the other dataset
    in both directions.

    Args:
        model_factory: returns a fresh model with `fit(x)` and `score(x) -> (len(x),)`.
        data_a, data_b: the two datasets (anything sliceable with `len`).
        train_fraction: each dataset's first `train_fraction` trains, the rest tests.

    Returns:
        `Invertibility(auc_ab, auc_ba)`; `.invertible` is True when both exceed 0.5.
    """
    table = cross_table(model_factory, {"A": data_a, "B": data_b}, train_fraction)
    return Invertibility(auc_ab=float(table.loc["A", "B"]), auc_ba=float(table.loc["B", "A"]))
