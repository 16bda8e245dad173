"""Read, validate and write jets in the top-tagging HDF5 schema (SPEC sec. 1).

The schema is the one of the public top-tagging dataset (Kasieczka et al.): a pandas
HDF5 store, key ``"table"``, one row per jet, columns ``E_0, PX_0, PY_0, PZ_0, E_1, ...``
(constituent 4-momenta in GeV, sorted by pT descending, zero padded) and
``is_signal_new`` (1 = top, 0 = QCD). Both pandas "fixed" and "table" stores are read,
always a bounded number of rows at a time, so a 4 GB file never sits in memory.

Streaming into ``model.fit`` (``JetSequence``) is in ``grapa.data.stream``, the file
summary of ``grapa inspect`` (``describe_jets``, ``count_empty_jets``) in
``grapa.data.summary``; both read through the helpers here.
"""

from __future__ import annotations

import difflib
import importlib
import re
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

DEFAULT_KEY = "table"
LABEL_COLUMN = "is_signal_new"
MOMENTUM_NAMES = ("E", "PX", "PY", "PZ")
READ_CHUNK_ROWS = 10_000
_CONSTITUENT_COLUMN = re.compile(r"^(E|PX|PY|PZ)_(\d+)$")


class JetDataError(ValueError):
    """A jet file that breaks the top-tagging schema; the message names the fix."""


def constituent_columns(n_constituents: int) -> list[str]:
    """Column names of the first ``n_constituents`` constituents, in schema order.

    Args:
        n_constituents: number of constituents.

    Returns:
        ``["E_0", "PX_0", "PY_0", "PZ_0", "E_1", ...]``, ``4 * n_constituents`` names.
    """
    return [f"{name}_{i}" for i in range(n_constituents) for name in MOMENTUM_NAMES]


@dataclass(frozen=True)
class _Layout:
    """What one key of a jet file holds, read from its metadata and first row."""

    path: Path
    key: str
    is_table: bool
    n_rows: int
    n_constituents: int  # constituent slots in the file (highest E/PX/PY/PZ index + 1)
    dtypes: pd.Series  # column name -> dtype
    has_labels: bool

    def where(self) -> str:
        return f"{self.path.name} key '{self.key}'"


def read_jets(
    path: str | Path,
    n_constituents: int | None = None,
    start: int | None = None,
    stop: int | None = None,
    key: str = DEFAULT_KEY,
) -> tuple[np.ndarray, np.ndarray | None]:
    """Read jets from a top-tagging HDF5 file ("fixed" or "table" pandas store).

    The rows ``start:stop`` (Python slice semantics) are read a chunk at a time and
    validated: every value finite, every energy >= 0, the labels integers.

    Jets whose constituents are all zero (no particle at all) are kept, so the rows stay
    aligned with the labels and with the file; grapa's layers treat them as all padding
    and output zeros for them. ``count_empty_jets`` counts them and ``grapa inspect``
    reports the count.

    Args:
        path: HDF5 file.
        n_constituents: constituents per jet to return; the hardest ones when the file
            holds more, zero padded when it holds fewer. None: as many as the file holds.
        start: first row to read (None: 0).
        stop: row to stop before (None: the end).
        key: the pandas key of the jets.

    Returns:
        ``(jets, labels)``: jets float32 ``(n_jets, n_constituents, 4)`` as
        (E, px, py, pz) in GeV; labels int64 ``(n_jets,)`` from ``is_signal_new``, or
        None when the file has no such column.

    Raises:
        FileNotFoundError: no file at ``path``.
        JetDataError: the file breaks the schema (the message says where and how to fix).
        ValueError: ``n_constituents < 1``.

    Example:
        >>> jets, labels = read_jets(sample_path(), n_constituents=16)  # doctest: +SKIP
    """
    layout = _read_layout(path, key)
    n_constituents = _check_n_constituents(layout, n_constituents)
    rows = range(layout.n_rows)[start:stop]
    jets = np.zeros((len(rows), n_constituents, 4), np.float32)
    labels = np.zeros(len(rows), np.int64) if layout.has_labels else None
    for first in range(0, len(rows), READ_CHUNK_ROWS):
        chunk = rows[first : first + READ_CHUNK_ROWS]
        chunk_jets, chunk_labels = _read_rows(layout, chunk.start, chunk.stop, n_constituents)
        jets[first : first + len(chunk)] = chunk_jets
        if labels is not None:
            labels[first : first + len(chunk)] = chunk_labels
    return jets, labels


def write_jets(
    path: str | Path,
    jets: np.ndarray,
    labels: np.ndarray | None = None,
    format: str = "table",
    key: str = DEFAULT_KEY,
    append: bool = False,
    complib: str = "zlib",
    complevel: int = 9,
) -> Path:
    """Write jets in the top-tagging schema (float32 4-momenta, int64 labels).

    Args:
        path: HDF5 file; overwritten unless ``append``.
        jets: ``(n_jets, n_constituents, 4)`` array of (E, px, py, pz).
        labels: ``(n_jets,)`` values of ``is_signal_new``, or None for no such column.
        format: pandas store format, ``"table"`` (appendable, column selection) or
            ``"fixed"``.
        key: the pandas key.
        append: add the rows to an existing "table" store with the same columns.
        complib: PyTables compression library (``"zlib"`` is readable everywhere).
        complevel: compression level, 0-9.

    Returns:
        ``path`` as a ``Path``.
    """
    jets = np.asarray(jets, np.float32)
    if jets.ndim != 3 or jets.shape[-1] != 4:
        raise ValueError(f"jets must have shape (n_jets, n_constituents, 4), got {jets.shape}")
    if append and format != "table":
        raise ValueError("append=True needs format='table': pandas cannot append to 'fixed'")
    path = Path(path)
    with pd.HDFStore(
        path, mode="a" if append else "w", complib=complib, complevel=complevel
    ) as store:
        first_row = store.get_storer(key).nrows if append and key in store else 0
        frame = pd.DataFrame(
            jets.reshape(len(jets), -1),
            columns=constituent_columns(jets.shape[1]),
            index=pd.RangeIndex(first_row, first_row + len(jets)),
        )
        if labels is not None:
            if len(labels) != len(jets):
                raise ValueError(f"{len(labels)} labels for {len(jets)} jets")
            frame[LABEL_COLUMN] = np.asarray(labels, np.int64)
        if append:
            store.append(key, frame, index=False)
        else:
            store.put(key, frame, format=format)
    return path


def _read_layout(path: str | Path, key: str) -> _Layout:
    """Open ``path``, check that ``key`` holds a data frame, and describe its columns."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"no jet file at {path}: check the path, or simulate one with "
            f"`grapa simulate --process qcd --jets 10000 --out {path.name}`"
        )
    key = "/" + key.lstrip("/")
    try:
        store = pd.HDFStore(path, mode="r")
    except Exception as error:  # PyTables raises several types for a non-HDF5 file
        raise JetDataError(
            f"{path} is not a pandas HDF5 store ({_hdf5_reason(error)}); write jets with "
            "grapa.data.write_jets or pandas.DataFrame.to_hdf"
        ) from error
    with store:
        if key not in store.keys():
            raise JetDataError(
                f"key '{key[1:]}' not found in {path.name}; it holds keys "
                f"{[k[1:] for k in store.keys()]}: pass one of them as key="
            )
        storer = store.get_storer(key)
        empty = store.select(key, start=0, stop=0)
        if not isinstance(empty, pd.DataFrame):
            raise JetDataError(
                f"{path.name} key '{key[1:]}' holds a {type(empty).__name__}, expected a "
                "DataFrame with columns E_0, PX_0, PY_0, PZ_0, ..."
            )
        n_rows = int(storer.nrows if storer.is_table else storer.shape[0])
    indices = [
        int(m.group(2)) for m in map(_CONSTITUENT_COLUMN.match, empty.columns.astype(str)) if m
    ]
    layout = _Layout(
        path=path,
        key=key[1:],
        is_table=bool(storer.is_table),
        n_rows=n_rows,
        n_constituents=max(indices) + 1 if indices else 0,
        dtypes=empty.dtypes,
        has_labels=LABEL_COLUMN in empty.columns,
    )
    _check_label_column(layout)
    return layout


def _hdf5_reason(error: Exception) -> str:
    """One line from an HDF5 error: the innermost cause of its back trace, not all of it.

    HDF5's messages carry a back trace of twenty lines, one per library frame; its
    deepest entry says what is wrong with the file ("truncated file: eof = ...").
    """
    text = str(error)
    if "HDF5 error back trace" not in text:
        return f"{type(error).__name__}: {text}"
    trace = text.split("HDF5 error back trace", 1)[1].split("End of HDF5 error back trace")[0]
    causes = [line.strip() for line in trace.splitlines()
              if line.strip() and not line.strip().startswith("File ")]
    cause = causes[-1] if causes else "unreadable"
    if cause.startswith("truncated file"):
        cause += "; the file is cut short (an interrupted copy or write?)"
    return f"HDF5: {cause}"


def _check_n_constituents(layout: _Layout, n_constituents: int | None) -> int:
    """Resolve ``n_constituents`` and check the columns it needs exist and are numbers."""
    if n_constituents is not None and n_constituents < 1:
        raise ValueError(f"n_constituents must be >= 1, got {n_constituents}")
    if layout.n_constituents == 0:
        raise JetDataError(_no_constituents_message(layout))
    n_constituents = n_constituents or layout.n_constituents
    needed = constituent_columns(min(n_constituents, layout.n_constituents))
    missing = [column for column in needed if column not in layout.dtypes.index]
    if missing:
        raise JetDataError(_missing_column_message(layout, missing))
    for column in needed + ([LABEL_COLUMN] if layout.has_labels else []):
        if not pd.api.types.is_numeric_dtype(layout.dtypes[column]):
            raise JetDataError(
                f"column {column} of {layout.where()} holds {layout.dtypes[column]} values, "
                "expected numbers: convert it with pandas.to_numeric and rewrite the file"
            )
    return n_constituents


def _no_constituents_message(layout: _Layout) -> str:
    columns = [str(c) for c in layout.dtypes.index]
    upper = [c for c in columns if _CONSTITUENT_COLUMN.match(c.upper())]
    if upper:
        return (
            f"{layout.where()} has no column E_0, PX_0, PY_0, PZ_0, ... but has "
            f"{upper[:4]}: the schema's names are upper case; rename them with "
            "frame.rename(columns=str.upper) and rewrite the file"
        )
    return (
        f"{layout.where()} has no constituent columns: expected E_i, PX_i, PY_i, PZ_i "
        f"for i = 0, 1, ... (the top-tagging schema), found {columns[:8]}"
        + (" ..." if len(columns) > 8 else "")
    )


def _missing_column_message(layout: _Layout, missing: list[str]) -> str:
    first = missing[0]
    index = int(first.rsplit("_", 1)[1])
    close = difflib.get_close_matches(first, [str(c) for c in layout.dtypes.index], n=1)
    hint = f" (is '{close[0]}' meant to be '{first}'? rename it)" if close else ""
    more = f" and {len(missing) - 1} more" if len(missing) > 1 else ""
    fix = f"pass n_constituents={index} or regenerate the file" if index else "regenerate the file"
    return (
        f"column {first}{more} missing in {layout.where()}{hint}: expected E_i, PX_i, PY_i, "
        f"PZ_i for every i < {layout.n_constituents}; {fix}"
    )


def _check_label_column(layout: _Layout) -> None:
    if layout.has_labels:
        return
    close = difflib.get_close_matches(LABEL_COLUMN, [str(c) for c in layout.dtypes.index], n=1)
    if close:
        warnings.warn(
            f"{layout.where()} has no column '{LABEL_COLUMN}' but has '{close[0]}': "
            f"labels are None; rename the column to '{LABEL_COLUMN}' to use it",
            stacklevel=4,
        )


def _read_rows(
    layout: _Layout, start: int, stop: int, n_constituents: int
) -> tuple[np.ndarray, np.ndarray | None]:
    """Read and validate rows ``start:stop``; returns (jets, labels) as in ``read_jets``."""
    n_read = min(n_constituents, layout.n_constituents)
    columns = constituent_columns(n_read) + ([LABEL_COLUMN] if layout.has_labels else [])
    # A "fixed" store cannot select columns: read whole rows, then pick.
    frame = pd.read_hdf(
        layout.path,
        layout.key,
        start=start,
        stop=stop,
        columns=columns if layout.is_table else None,
    )
    jets = np.zeros((len(frame), n_constituents, 4), np.float32)
    with np.errstate(over="ignore"):  # a float64 beyond float32 becomes inf, reported below
        momenta = frame[columns[: 4 * n_read]].to_numpy(np.float32)
    jets[:, :n_read] = momenta.reshape(-1, n_read, 4)
    _check_momenta(layout, jets, start)
    labels = _labels(layout, frame, start) if layout.has_labels else None
    return jets, labels


def _check_momenta(layout: _Layout, jets: np.ndarray, first_row: int) -> None:
    bad = ~np.isfinite(jets)
    if bad.any():
        row, constituent, component = np.argwhere(bad)[0]
        raise JetDataError(
            f"{int(bad.sum())} NaN or infinite values in {layout.where()} rows "
            f"{first_row}-{first_row + len(jets) - 1}, first in row {first_row + row} column "
            f"{MOMENTUM_NAMES[component]}_{constituent}: drop or repair those rows and "
            "rewrite the file (frame[np.isfinite(frame).all(axis=1)] keeps the finite rows)"
        )
    negative = jets[..., 0] < 0
    if negative.any():
        row, constituent = np.argwhere(negative)[0]
        raise JetDataError(
            f"{int(negative.sum())} negative energies in {layout.where()}, first in row "
            f"{first_row + row} column E_{constituent} ({jets[row, constituent, 0]:g} GeV): "
            "energies must be >= 0; check that the columns are (E, PX, PY, PZ) and not "
            "swapped, and regenerate the file"
        )


def _labels(layout: _Layout, frame: pd.DataFrame, first_row: int) -> np.ndarray:
    values = frame[LABEL_COLUMN].to_numpy(np.float64)
    bad = ~np.isfinite(values) | (values != np.round(values))
    if bad.any():
        row = int(np.argmax(bad))
        raise JetDataError(
            f"column {LABEL_COLUMN} of {layout.where()} holds {values[row]} in row "
            f"{first_row + row}, expected integers (1 = top, 0 = QCD): repair the labels "
            "and rewrite the file"
        )
    return values.astype(np.int64)


# Names that lived here before streaming and the summary got modules of their own; they
# are imported on first use, so these modules import this one and never the reverse.
_MOVED = {
    "JetSequence": "grapa.data.stream",
    "count_empty_jets": "grapa.data.summary",
    "describe_jets": "grapa.data.summary",
}


def __getattr__(name: str):
    if name in _MOVED:
        return getattr(importlib.import_module(_MOVED[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
