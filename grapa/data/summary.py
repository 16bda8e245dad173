"""Summary of a jet file, read a chunk at a time: what ``grapa inspect`` prints."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from grapa.data import toptagging
from grapa.data.observables import jet_observables
from grapa.data.toptagging import DEFAULT_KEY


def count_empty_jets(jets: np.ndarray) -> int:
    """Number of jets whose constituents are all zero.

    Args:
        jets: ``(n_jets, n_constituents, 4)`` array.

    Returns:
        How many jets hold no constituent at all.
    """
    return int(np.sum(~np.any(jets, axis=(1, 2))))


def describe_jets(
    path: str | Path,
    key: str = DEFAULT_KEY,
    quantiles: tuple[float, ...] = (0.0, 0.05, 0.25, 0.5, 0.75, 0.95, 1.0),
) -> dict:
    """Summarize a jet file, reading it a chunk at a time (what ``grapa inspect`` prints).

    Args:
        path: HDF5 file in the top-tagging schema.
        key: the pandas key.
        quantiles: quantiles of the per-jet observables to tabulate.

    Returns:
        Dict with ``"n_jets"``, ``"n_constituents"`` (slots in the file), ``"format"``,
        ``"n_signal"`` (None without labels), ``"n_empty"`` (all-zero jets),
        ``"n_unsorted"`` (jets whose constituents are not in descending pT with the
        padding last) and ``"quantiles"``: a DataFrame indexed by (class, observable),
        class ``"all"`` and, with labels, ``"QCD (0)"`` / ``"top (1)"`` (other label
        values as ``"label k"``), observables multiplicity, pT [GeV], mass [GeV], eta.
    """
    # Helpers and chunk size through the module, so patching them there reaches here too.
    layout = toptagging._read_layout(path, key)
    n_constituents = toptagging._check_n_constituents(layout, None)
    parts, n_unsorted = [], 0
    for first in range(0, layout.n_rows, toptagging.READ_CHUNK_ROWS):
        stop = min(first + toptagging.READ_CHUNK_ROWS, layout.n_rows)
        jets, labels = toptagging._read_rows(layout, first, stop, n_constituents)
        part = pd.DataFrame(jet_observables(jets))
        part["label"] = labels if labels is not None else -1
        parts.append(part)
        n_unsorted += _count_unsorted(jets)
    table = (
        pd.concat(parts, ignore_index=True)
        if parts
        else pd.DataFrame(columns=["pt", "eta", "mass", "multiplicity", "label"])
    )
    return {
        "n_jets": layout.n_rows,
        "n_constituents": layout.n_constituents,
        "format": "table" if layout.is_table else "fixed",
        "n_signal": int((table["label"] == 1).sum()) if layout.has_labels else None,
        "n_empty": int((table["multiplicity"] == 0).sum()),
        "n_unsorted": n_unsorted,
        "quantiles": _quantile_table(table, quantiles, layout.has_labels),
    }


def _count_unsorted(jets: np.ndarray) -> int:
    pt = np.hypot(jets[..., 1], jets[..., 2])
    return int(np.any(np.diff(pt, axis=1) > 1e-4 * pt[:, :1], axis=1).sum())


_OBSERVABLE_NAMES = {
    "multiplicity": "multiplicity",
    "pt": "pT [GeV]",
    "mass": "mass [GeV]",
    "eta": "eta",
}


def _quantile_table(table: pd.DataFrame, quantiles, has_labels: bool) -> pd.DataFrame:
    groups = {"all": table}
    if has_labels and table["label"].nunique() > 1:
        names = {0: "QCD (0)", 1: "top (1)"}
        for label, group in table.groupby("label"):
            groups[names.get(label, f"label {label}")] = group
    rows = {
        (group_name, title): group[name].quantile(list(quantiles)).to_numpy()
        for group_name, group in groups.items()
        for name, title in _OBSERVABLE_NAMES.items()
    }
    columns = [f"{q:.0%}" if 0 < q < 1 else ("min" if q == 0 else "max") for q in quantiles]
    index = pd.MultiIndex.from_tuples(rows, names=["jets", "observable"])
    return pd.DataFrame(list(rows.values()), index=index, columns=columns)
