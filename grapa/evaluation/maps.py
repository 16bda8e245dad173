"""AUC feature maps and c addition (Klüttermann 2021, sec. 3.3.2, 5.1.4)."""

from __future__ import annotations

import numpy as np
from scipy.stats import rankdata

from grapa.evaluation.metrics import _finite_array

__all__ = ["c_addition", "feature_auc_map", "part_means"]


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
