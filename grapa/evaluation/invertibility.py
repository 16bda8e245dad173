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


def _member_scores(members, splits, score_training, task):
    """One task of a cross table: train member `k` on `trained_on`, score every test part.

    Returns `({dataset: scores of its test part}, scores of the training part)`; the
    latter, which `combine` scales by, only with `score_training` (else None).
    """
    trained_on, k = task
    model = members[k]()
    model.fit(splits[trained_on][0])
    scores = {scored: _model_scores(model, test, f"{scored!r}")
              for scored, (_, test) in splits.items()}
    training = _model_scores(model, splits[trained_on][0],
                             f"the training part of {trained_on!r}") if score_training else None
    return scores, training


def _row_aucs(model_factory, parts, trained_on, names):
    """AUC of every other dataset against `trained_on`'s test part, members combined."""
    if len(parts) == 1:
        scores = parts[0][0]
    else:
        training = None if parts[0][1] is None else np.stack([part[1] for part in parts], axis=1)
        scores = {name: _scores(model_factory.combine(
                      np.stack([part[0][name] for part in parts], axis=1), training),
                      f"combined scores of {name!r}")
                  for name in names}
    return {scored: auc(scores[trained_on], scores[scored])
            for scored in names if scored != trained_on}


def cross_table(
    model_factory: Callable[[], ScoringModel],
    datasets: Mapping[str, Any],
    train_fraction: float = 0.5,
    workers: int = 1,
    ray=None,
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

    A factory may stand for several independently trained models whose scores are
    combined (e.g. seed repeats, `grapa.crosscheck.ModelFactory(repeats=3)`): then
    `model_factory.members()` returns one factory per model and
    `model_factory.combine(scores, training_scores)` turns the members' `(n_jets,
    n_members)` scores into one per jet, given their scores of the row's training part
    (None when `model_factory.scales_by_training` is False: they are not computed).
    Every (row, member) pair is one task, so a 4 x 4 table of 3 repeats is 12 tasks, and
    the table is the same however they are run (`grapa.parallel.map_tasks`).

    Args:
        model_factory: returns a fresh model with `fit(x)` and `score(x) -> (len(x),)`.
            With `workers > 1` or `ray` it must be picklable (a top-level class or function).
        datasets: name -> jets (anything sliceable with `len`), at least two.
        train_fraction: fraction of each dataset used for training.
        workers: tasks (one trained model each) computed in parallel spawned processes.
        ray: None to compute without Ray; True (or `"local"`) for a local Ray instance, or
            a Ray cluster address: each task one Ray task (`grapa.parallel.map_tasks`).

    Returns:
        `pandas.DataFrame`, rows = trained on, columns = scored, indexed by the names.
    """
    from grapa.parallel import map_tasks

    if len(datasets) < 2:
        raise ValueError(f"cross_table needs at least two datasets, got {len(datasets)}.")
    splits = {name: _split(data, train_fraction, name) for name, data in datasets.items()}
    names = list(splits)
    members = list(model_factory.members()) if hasattr(model_factory, "members") else [
        model_factory]
    tasks = [(name, k) for name in names for k in range(len(members))]
    score_training = len(members) > 1 and getattr(model_factory, "scales_by_training", True)
    results = map_tasks(_member_scores, tasks, shared=(members, splits, score_training),
                        workers=workers, ray=ray)
    table = pd.DataFrame(0.5, index=pd.Index(names, name="trained on"),
                         columns=pd.Index(names, name="scored"))
    for k, trained_on in enumerate(names):
        parts = results[k * len(members):(k + 1) * len(members)]
        for scored, value in _row_aucs(model_factory, parts, trained_on, names).items():
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
