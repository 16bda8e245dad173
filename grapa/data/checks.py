"""The one check every public entry that takes jets runs, before any compiled step.

A NaN inside a compiled model does not always come out as NaN: a sort, a mask or a
top-k can turn it into an ordinary-looking number, and a jet is then silently
absorbed. And a training set of empty jets trains to loss 0 with nothing learned. So
`check_jets` looks at the numpy input once, where it enters grapa (`score`,
`reconstruct`, `encode`, `feature_losses`, `fit` and `train` of every model, the
observables and baselines, `grapa evaluate`, `grapa crosscheck`), and says what is wrong.
"""

from __future__ import annotations

import warnings

import numpy as np

__all__ = ["EMPTY_JET_WARNING_FRACTION", "EmptyJetsWarning", "check_jets", "check_finite"]

EMPTY_JET_WARNING_FRACTION = 0.05
"""A training set with more than this fraction of empty jets gets an `EmptyJetsWarning`."""


class EmptyJetsWarning(UserWarning):
    """Many training jets have no constituent at all: they teach a model nothing."""


def check_finite(array: np.ndarray, what: str,
                 fix: str = "jets[np.isfinite(jets).all(axis=(1, 2))]", unit: str = "jet") -> None:
    """A ValueError naming how many rows of `array` are not finite, and the first one."""
    finite = np.isfinite(array).reshape(len(array), -1).all(axis=1)
    if not finite.all():
        raise ValueError(
            f"{int((~finite).sum())} of {len(array)} {what} have non-finite values (NaN or "
            f"inf), the first at {unit} index {int(np.argmin(finite))}; drop or repair them first, "
            f"e.g. {fix}."
        )


def check_jets(jets, n_constituents: int | None = None, *, training: bool = False,
               what: str = "jets", dtype="float32") -> np.ndarray:
    """`jets` as a numpy array of `dtype`, or an error saying what is wrong with them.

    Checked, in this order:

    - the shape is `(n_jets, n_constituents, 4)` (columns E, px, py, pz), with the given
      `n_constituents` when it is not None;
    - there is at least one jet;
    - every value is finite: otherwise a ValueError with the count of bad jets and the
      first one's index;
    - with `training=True`: not every jet is empty (all constituents zero), else a
      ValueError; more than `EMPTY_JET_WARNING_FRACTION` empty jets give an
      `EmptyJetsWarning` with their count.

    Args:
        jets: array-like of jets.
        n_constituents: the constituents per jet the caller needs, or None for any.
        training: whether the jets are a training set.
        what: how messages name the jets (`"jets"`, `"training jets"`).
        dtype: the returned array's dtype.

    Returns:
        the jets as a numpy array.
    """
    raw = np.asarray(jets)
    if raw.ndim != 3 or raw.shape[-1] != 4 or (n_constituents is not None
                                               and raw.shape[1] != n_constituents):
        expected = "n_constituents" if n_constituents is None else n_constituents
        hint = ("" if n_constituents is None else
                f" Read them with grapa.data.read_jets(path, n_constituents={n_constituents}), "
                f"or slice jets[:, :{n_constituents}].")
        raise ValueError(
            f"{what} must have shape (n_jets, {expected}, 4) with columns (E, px, py, pz), "
            f"got {raw.shape}.{hint}"
        )
    if len(raw) == 0:
        raise ValueError(f"{what} is empty: pass at least one jet.")
    if not np.issubdtype(raw.dtype, np.number):
        raise ValueError(f"{what} must be numbers, got dtype {raw.dtype}.")
    with np.errstate(over="ignore"):  # a value beyond float32's range becomes inf: named below
        array = raw.astype(dtype, copy=False)
    check_finite(array, what)  # NaN and inf survive the cast, so one pass checks both
    if training:
        empty = ~np.any(array, axis=(1, 2))
        if empty.all():
            raise ValueError(
                f"all {len(array)} {what} are empty (every constituent is zero): there is "
                "nothing to learn. Check the file, the is_signal_new label you selected and "
                "n_constituents."
            )
        if empty.mean() > EMPTY_JET_WARNING_FRACTION:
            warnings.warn(
                f"{int(empty.sum())} of {len(array)} {what} ({empty.mean():.1%}) are empty "
                "(every constituent is zero); a model learns nothing from them. Drop them "
                "with jets[np.any(jets, axis=(1, 2))].",
                EmptyJetsWarning, stacklevel=3,
            )
    return array
