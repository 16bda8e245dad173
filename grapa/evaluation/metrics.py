"""ROC curves, AUC and its standard error, background rejection (Klüttermann 2021, ch. 3.1).

Plain numpy + `sklearn.metrics`; see `grapa.evaluation` for the conventions
(background = trained on, signal = the anomaly, higher score = more anomalous).
"""

from __future__ import annotations

import numpy as np
from sklearn import metrics

__all__ = ["auc", "auc_difference", "auc_standard_error", "rejection", "roc"]


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


def auc_difference(background_a, signal_a, background_b, signal_b) -> tuple[float, float]:
    """`AUC_a - AUC_b` of two scorers on the same jets, and its standard error.

    DeLong, DeLong & Clarke-Pearson (Biometrics 44 (1988) 837): each AUC is the mean of
    per-jet placement values, and the variance of the difference comes from their
    covariance between the two scorers, so what the scorers share (the same hard jets)
    cancels. Computed from midranks (Sun & Xu, IEEE Signal Process. Lett. 21 (2014)
    1389), O(n log n). Use it to say whether one model beats another on one test set;
    `auc_standard_error` is the error of one AUC alone and overstates that of a
    difference.

    Args:
        background_a, signal_a: scorer a's scores of the background and signal jets.
        background_b, signal_b: scorer b's scores of the same jets, in the same order.

    Returns:
        `(difference, standard_error)`.

    Raises:
        ValueError: if the two scorers' arrays differ in length, or a score is not finite.
    """
    from scipy.stats import rankdata

    scorers = [(_scores(background, "background scores"), _scores(signal, "signal scores"))
               for background, signal in ((background_a, signal_a), (background_b, signal_b))]
    (background, signal), (other_background, other_signal) = scorers
    if len(background) != len(other_background) or len(signal) != len(other_signal):
        raise ValueError(
            "auc_difference compares two scorers on the same jets: got "
            f"{len(background)} and {len(other_background)} background scores, "
            f"{len(signal)} and {len(other_signal)} signal scores."
        )
    n_b, n_s = len(background), len(signal)
    signal_placement, background_placement = [], []
    for background, signal in scorers:
        ranks = rankdata(np.concatenate([signal, background]))
        # the fraction of background below each signal jet, and of signal above each
        # background jet (ties count 1/2)
        signal_placement.append((ranks[:n_s] - rankdata(signal)) / n_b)
        background_placement.append(1.0 - (ranks[n_s:] - rankdata(background)) / n_s)
    aucs = [float(np.mean(v)) for v in signal_placement]
    contrast = np.array([1.0, -1.0])
    variance = 0.0
    for values, count in ((signal_placement, n_s), (background_placement, n_b)):
        if count > 1:
            variance += contrast @ np.cov(np.stack(values)) @ contrast / count
    return aucs[0] - aucs[1], float(np.sqrt(max(variance, 0.0)))


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
