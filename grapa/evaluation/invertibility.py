"""Invertibility and cross tables (Klüttermann 2021, sec. 5.2.2, 8.3)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import pandas as pd

from grapa.evaluation.metrics import _scores, auc

__all__ = ["Invertibility", "ScoringModel", "cross_table", "invertibility", "non_invertible_pairs"]


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
