"""The anomaly-detection split: background to train on, held-out background and signal."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from grapa.data.toptagging import read_jets


@dataclass(frozen=True)
class AnomalySplit:
    """Jets for one anomaly-detection experiment, raw `(n_jets, n, 4)` arrays.

    Attributes:
        train: background jets to train on (the model's own validation split included).
        background_test: held-out background jets.
        signal_test: signal (anomaly) jets, never seen in training.
    """

    train: np.ndarray
    background_test: np.ndarray
    signal_test: np.ndarray


def anomaly_split(
    background: str | Path,
    signal: str | Path | None = None,
    n_constituents: int = 4,
    test_fraction: float = 1 / 3,
    background_label: int = 0,
    max_jets: int | None = None,
) -> AnomalySplit:
    """Read background and signal jets and split off held-out test jets.

    With one file that has `is_signal_new` (like the bundled sample), jets labelled
    `background_label` are the background and the others the signal. With two files,
    every jet of `background` is background and every jet of `signal` is signal. The
    last `test_fraction` of the background is held out; files keep their order, so the
    split is reproducible.

    Args:
        background: top-tagging file with the background (or both classes).
        signal: optional top-tagging file with the signal.
        n_constituents: constituents per jet.
        test_fraction: fraction of the background held out for testing.
        background_label: the background's `is_signal_new` in a mixed file.
        max_jets: read at most this many jets per file.

    Returns:
        an `AnomalySplit`.
    """
    if not 0 < test_fraction < 1:
        raise ValueError(f"test_fraction must lie in (0, 1), got {test_fraction}.")
    jets, labels = read_jets(background, n_constituents=n_constituents, stop=max_jets)
    if signal is None:
        if labels is None:
            raise ValueError(
                f"{background} has no is_signal_new column, so background and signal cannot "
                "be told apart: pass the signal file as `signal`."
            )
        is_background = np.asarray(labels) == background_label
        jets, signal_jets = jets[is_background], jets[~is_background]
    else:
        signal_jets, _ = read_jets(signal, n_constituents=n_constituents, stop=max_jets)
    if len(signal_jets) == 0 or len(jets) < 2:
        raise ValueError(
            f"need background and signal jets, got {len(jets)} background and "
            f"{len(signal_jets)} signal jets from {background}"
            + (f" and {signal}." if signal else ".")
        )
    n_test = max(1, int(round(len(jets) * test_fraction)))
    return AnomalySplit(jets[:-n_test], jets[-n_test:], signal_jets)
