"""Training data of oneoff networks: checked feature arrays, random negatives (Klüttermann
2021, sec. 7.1.1) and the targets, 1 for background and 0 for negatives."""

from __future__ import annotations

import numpy as np

from grapa.data.checks import check_finite

__all__ = ["random_negatives"]


def _features(x, input_dim=None, name="x"):
    """`x` as a finite float32 array `(events, features)`, or a ValueError saying why not."""
    array = np.asarray(x, dtype="float32")
    if array.ndim != 2:
        raise ValueError(
            f"{name} must have shape (events, features), got {array.shape}. Flatten jets "
            "or latent spaces first, e.g. x.reshape(len(x), -1)."
        )
    if input_dim is not None and array.shape[1] != input_dim:
        raise ValueError(
            f"{name} has {array.shape[1]} features but the oneoff network was built for "
            f"input_dim={input_dim}."
        )
    if len(array) == 0:
        raise ValueError(f"{name} is empty: pass at least one event.")
    check_finite(array, f"events of {name}", fix=f"{name}[np.isfinite({name}).all(axis=1)]",
                 unit="event")
    return array


def random_negatives(background, n=None, seed=None):
    """Random events to train towards 0 (Klüttermann 2021, sec. 7.1.1, fn. 83).

    Each feature is drawn independently from a Gaussian with the background's mean and
    standard deviation of that feature, so the negatives share the background's
    per-feature ranges but none of its correlations.

    Args:
        background: `(events, features)` training background.
        n: number of negatives (default: as many as background events).
        seed: seed of the numpy generator.

    Returns:
        `(n, features)` float32 array.
    """
    background = _features(background, name="background")
    rng = np.random.default_rng(seed)
    size = (len(background) if n is None else int(n), background.shape[1])
    return rng.normal(background.mean(axis=0), background.std(axis=0), size).astype("float32")


def _training_set(background, outputs, negatives, seed):
    """Inputs and targets (ones for background, zeros for negatives), shuffled together
    so that Keras's `validation_split` (the last events) sees both kinds."""
    targets = np.ones((len(background), outputs), "float32")
    if not negatives:
        return background, targets
    fake = random_negatives(background, seed=seed)
    inputs = np.concatenate([background, fake])
    targets = np.concatenate([targets, np.zeros((len(fake), outputs), "float32")])
    order = np.random.default_rng(seed).permutation(len(inputs))
    return inputs[order], targets[order]
