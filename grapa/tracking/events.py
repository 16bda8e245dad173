"""Read, write and validate events in the TrackML format.

The format is the one of the Kaggle TrackML challenge (Amrouche et al., "The Tracking
Machine Learning challenge: Accuracy phase", 2019) as its reference reader reads it
(github.com/LAL/trackml-library, ``trackml/dataset.py``). One directory holds, per event,
CSV files named ``event{event_id:09d}-{part}.csv``, each possibly gzip-compressed
(``.csv.gz``):

- ``hits``: ``hit_id,x,y,z,volume_id,layer_id,module_id`` (positions in mm);
- ``truth``: ``hit_id,particle_id,tx,ty,tz,tpx,tpy,tpz,weight`` (``particle_id`` 0 marks a
  noise hit; true position in mm and momentum in GeV at the hit; the score weight);
- ``particles``: ``particle_id,vx,vy,vz,px,py,pz,q,nhits`` (production vertex in mm,
  momentum in GeV, charge, hits);
- ``cells`` (optional, in the real data only): ``hit_id,ch0,ch1,value``.

A submission is one CSV for many events: ``event_id,hit_id,track_id``.

Columns are read with the dtypes of ``PART_DTYPES`` (the reference reader's, with every
id widened to int64): ids never pass through a float, so particle ids above 2**53 survive;
positions and momenta are float32. Columns beyond the format's are ignored on reading.

An ``Event`` holds its hits sorted by ``hit_id`` with a fresh RangeIndex and its truth
aligned with them row by row, so a hit's row is its node index in a graph. Every reader
here checks the files and says what is wrong and how to fix it (``TrackMLFormatError``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = [
    "DEFAULT_PARTS",
    "PART_DTYPES",
    "SUBMISSION_DTYPES",
    "UNASSIGNED",
    "Event",
    "TrackMLFormatError",
    "event_prefix",
    "iter_events",
    "list_events",
    "make_event",
    "read_event",
    "read_event_prefix",
    "read_submission",
    "singleton_tracks",
    "submission_from_track_ids",
    "validate_event",
    "validate_submission",
    "write_event",
    "write_submission",
]

PART_DTYPES: dict[str, dict[str, str]] = {
    "hits": {
        "hit_id": "int64", "x": "float32", "y": "float32", "z": "float32",
        "volume_id": "int32", "layer_id": "int32", "module_id": "int32",
    },
    "truth": {
        "hit_id": "int64", "particle_id": "int64", "tx": "float32", "ty": "float32",
        "tz": "float32", "tpx": "float32", "tpy": "float32", "tpz": "float32",
        "weight": "float32",
    },
    "particles": {
        "particle_id": "int64", "vx": "float32", "vy": "float32", "vz": "float32",
        "px": "float32", "py": "float32", "pz": "float32", "q": "int32", "nhits": "int32",
    },
    "cells": {"hit_id": "int64", "ch0": "int32", "ch1": "int32", "value": "float32"},
}
"""Per part, its columns in file order and the dtype each is read as."""

SUBMISSION_DTYPES: dict[str, str] = {"event_id": "int64", "hit_id": "int64", "track_id": "int64"}
"""The columns of a submission, in file order, and their dtypes."""

DEFAULT_PARTS = ("hits", "truth", "particles")
"""The parts ``read_event`` reads unless told otherwise (cells are optional)."""

UNASSIGNED = -1
"""The track label of a hit in no track candidate; any negative label means the same."""

_FINITE_COLUMNS = {
    "hits": ("x", "y", "z"),
    "truth": ("tx", "ty", "tz", "tpx", "tpy", "tpz", "weight"),
    "particles": ("vx", "vy", "vz", "px", "py", "pz"),
    "cells": ("value",),
}
_ROW_ID = {"hits": "hit_id", "truth": "hit_id", "particles": "particle_id", "cells": "hit_id"}
_HITS_FILE = re.compile(r"^event(\d{9,})-hits\.csv(\.gz)?$")
_PREFIX_NAME = re.compile(r"^event(\d+)$")


class TrackMLFormatError(ValueError):
    """An event or submission that breaks the TrackML format; the message names the fix."""


@dataclass(frozen=True, eq=False)
class Event:
    """One event: its hits and, when read, truth, particles and cells.

    ``hits`` is sorted by ``hit_id`` with a fresh RangeIndex; ``truth``, when present, is
    aligned with it row by row (the same ``hit_id`` in the same row), so a hit's row
    position is its node index in graphs. ``read_event`` and ``make_event`` guarantee
    this; ``validate_event`` checks it.

    Attributes:
        event_id: the event's number (the 9 digits of its file names).
        hits: the hits table, columns of ``PART_DTYPES["hits"]``.
        truth: the truth table aligned with ``hits``, or None when not read.
        particles: the particles table, or None when not read.
        cells: the cells table, or None when not read.
    """

    event_id: int
    hits: pd.DataFrame
    truth: pd.DataFrame | None = None
    particles: pd.DataFrame | None = None
    cells: pd.DataFrame | None = None

    @property
    def n_hits(self) -> int:
        """The number of hits (nodes)."""
        return len(self.hits)


# ---------------------------------------------------------------------------------------
# Reading events
# ---------------------------------------------------------------------------------------


def event_prefix(directory: str | Path, event_id: int) -> Path:
    """The common path of an event's files, ``directory/event{event_id:09d}``.

    Args:
        directory: the dataset directory.
        event_id: the event's number.

    Returns:
        the prefix; the files are ``f"{prefix}-hits.csv"`` and so on.
    """
    return Path(directory) / f"event{int(event_id):09d}"


def list_events(directory: str | Path) -> list[int]:
    """The ids of the events in ``directory`` that have a hits file, sorted.

    Args:
        directory: the dataset directory.

    Returns:
        event ids, ascending.

    Raises:
        TrackMLFormatError: the directory does not exist or holds no hits file.
    """
    directory = _existing_directory(directory)
    names = [path.name for path in directory.iterdir()]
    ids = sorted({int(match.group(1)) for match in map(_HITS_FILE.match, names) if match})
    if not ids:
        raise TrackMLFormatError(
            f"no hits file in {directory} (it holds {len(names)} entries): looked for "
            "event<9-digit id>-hits.csv or .csv.gz, e.g. event000001000-hits.csv; point "
            "to the directory of the unpacked dataset, or write events with write_event"
        )
    return ids


def read_event(directory: str | Path, event_id: int,
               parts: Sequence[str] = DEFAULT_PARTS) -> Event:
    """Read and validate one event of a dataset directory.

    Args:
        directory: the dataset directory.
        event_id: the event's number.
        parts: the parts to read, among ``"hits"`` (always needed), ``"truth"``,
            ``"particles"`` and ``"cells"``.

    Returns:
        the event, its hits sorted by ``hit_id`` and its truth aligned with them.

    Raises:
        TrackMLFormatError: a requested file is missing or breaks the format (see
            ``validate_event`` for the checks).
        ValueError: ``parts`` names an unknown part or leaves out ``"hits"``.
    """
    _existing_directory(directory)
    return _read(event_prefix(directory, event_id), int(event_id), parts)


def read_event_prefix(prefix: str | Path, parts: Sequence[str] = DEFAULT_PARTS) -> Event:
    """Read an event from its file prefix, as trackml-library's ``load_event`` does.

    Args:
        prefix: the files' common path without ``-hits.csv``, e.g.
            ``"train_1/event000001000"``.
        parts: as in ``read_event``.

    Returns:
        the event; its id is the number in the prefix.

    Raises:
        TrackMLFormatError: the prefix does not end in ``event<digits>``, or as in
            ``read_event``.
    """
    prefix = Path(prefix)
    match = _PREFIX_NAME.match(prefix.name)
    if match is None:
        raise TrackMLFormatError(
            f"'{prefix}' is not an event prefix: expected a path ending in event<id>, e.g. "
            "train_1/event000001000 (the files' names without -hits.csv)"
        )
    _existing_directory(prefix.parent)
    return _read(prefix, int(match.group(1)), parts)


def iter_events(directory: str | Path, parts: Sequence[str] = DEFAULT_PARTS,
                events: Iterable[int] | None = None) -> Iterator[Event]:
    """Read the events of a directory one at a time.

    Args:
        directory: the dataset directory.
        parts: as in ``read_event``.
        events: the event ids to read, in this order; None: all of ``list_events``.

    Yields:
        one ``Event`` per id.
    """
    for event_id in list_events(directory) if events is None else events:
        yield read_event(directory, event_id, parts)


def _read(prefix: Path, event_id: int, parts: Sequence[str]) -> Event:
    parts = _check_parts(parts)
    paths = {part: _part_path(prefix, part) for part in parts}
    frames = {part: _read_part(path, part) for part, path in paths.items()}
    names = _memory_names(event_id) | {part: str(path) for part, path in paths.items()}
    return _make_event(event_id, frames, names)


def _check_parts(parts: Sequence[str]) -> tuple[str, ...]:
    parts = (parts,) if isinstance(parts, str) else tuple(parts)
    unknown = [part for part in parts if part not in PART_DTYPES]
    if unknown:
        raise ValueError(f"unknown event part(s) {unknown}: choose among {list(PART_DTYPES)}")
    if "hits" not in parts:
        raise ValueError(f"parts={parts} leaves out 'hits', which every event needs: add it")
    return parts


def _existing_directory(directory: str | Path) -> Path:
    directory = Path(directory)
    if not directory.is_dir():
        raise TrackMLFormatError(
            f"no directory {directory}: check the path (a TrackML dataset directory holds "
            "files event000001000-hits.csv, ...)"
        )
    return directory


def _part_path(prefix: Path, part: str) -> Path:
    """The one file of ``part`` at ``prefix``, plain or gzipped."""
    plain = Path(f"{prefix}-{part}.csv")
    found = [path for path in (plain, Path(f"{plain}.gz")) if path.is_file()]
    if len(found) == 2:
        raise TrackMLFormatError(
            f"both {found[0].name} and {found[1].name} exist in {prefix.parent}: delete the "
            "stale one, so that it is clear which to read"
        )
    if not found:
        optional = " (cells are optional: leave 'cells' out of parts=)" if part == "cells" else ""
        raise TrackMLFormatError(
            f"missing file {plain} (or {plain.name}.gz) for the requested part '{part}'"
            f"{optional}: write it with write_event, or leave '{part}' out of parts="
        )
    return found[0]


def _read_part(path: Path, part: str) -> pd.DataFrame:
    """Read one part's file with the format's dtypes, its columns in file order."""
    dtypes = PART_DTYPES[part]
    try:
        header = pd.read_csv(path, nrows=0).columns
        _check_columns(header, part, str(path))
        with np.errstate(invalid="ignore"):  # a blank integer field: named below
            frame = pd.read_csv(path, usecols=list(dtypes), dtype=dtypes)
    except pd.errors.EmptyDataError as error:
        raise TrackMLFormatError(
            f"{path} is empty: a {part} file starts with the header {','.join(dtypes)}; "
            "rewrite it (write_event)"
        ) from error
    except (ValueError, OverflowError, OSError, EOFError) as error:
        if isinstance(error, TrackMLFormatError):
            raise
        integers = [column for column, dtype in dtypes.items() if dtype.startswith("int")]
        raise TrackMLFormatError(
            f"{path} cannot be read as a TrackML {part} file ({type(error).__name__}: "
            f"{error}): columns {', '.join(integers)} must hold integers (int64 range, no "
            "blank fields), the others numbers, and a .gz file must be complete; repair or "
            "regenerate the file"
        ) from error
    return frame[list(dtypes)]


# ---------------------------------------------------------------------------------------
# Building and validating events
# ---------------------------------------------------------------------------------------


def make_event(event_id: int, hits: pd.DataFrame, truth: pd.DataFrame | None = None,
               particles: pd.DataFrame | None = None,
               cells: pd.DataFrame | None = None) -> Event:
    """An ``Event`` from tables in memory: cast, ordered and validated.

    Each table's format columns are cast to ``PART_DTYPES`` and come first (extra columns
    are kept after them); hits and truth are sorted by ``hit_id``, every index is reset.

    Args:
        event_id: the event's number (>= 0).
        hits: the hits table.
        truth: the truth table, same hit ids as ``hits`` in any order, or None.
        particles: the particles table, or None.
        cells: the cells table, or None.

    Returns:
        the event, meeting the ``Event`` contract.

    Raises:
        TrackMLFormatError: a table breaks the format (see ``validate_event``).
    """
    frames = {"hits": hits, "truth": truth, "particles": particles, "cells": cells}
    return _make_event(event_id, frames, _memory_names(event_id))


def validate_event(event: Event) -> None:
    """Check an event against the TrackML format and the ``Event`` contract.

    Checked, each failure a ``TrackMLFormatError`` naming the table, what is wrong and
    the fix: the format's columns present with integer ids; at least one hit; hits sorted
    by ``hit_id`` with a RangeIndex; no duplicated hit id (particle id in particles);
    positions, momenta and weights finite (the count and the first row's id); the truth's
    hit ids those of the hits (how many missing and extra), in the same rows; every
    nonzero truth particle id present in particles; cells only on known hits.

    Args:
        event: the event.

    Raises:
        TrackMLFormatError: the first check that fails.
    """
    _validate(event, _memory_names(event.event_id))


def _memory_names(event_id: int) -> dict[str, str]:
    return {part: f"the {part} of event {event_id}" for part in PART_DTYPES}


def _make_event(event_id: int, frames: Mapping[str, pd.DataFrame | None],
                names: Mapping[str, str]) -> Event:
    if int(event_id) < 0:
        raise ValueError(f"event_id must be >= 0 (it names the files), got {event_id}")
    tables = {}
    for part, frame in frames.items():
        if frame is not None:
            _check_columns(frame.columns, part, names[part])
            frame = _cast(frame, part, names[part])
            if part in ("hits", "truth"):
                frame = frame.sort_values("hit_id", kind="stable")
            frame = frame.reset_index(drop=True)
        tables[part] = frame
    event = Event(int(event_id), **tables)
    _validate(event, names)
    return event


def _validate(event: Event, names: Mapping[str, str]) -> None:
    for part in PART_DTYPES:
        frame = getattr(event, part)
        if frame is not None:
            _check_columns(frame.columns, part, names[part])
            _check_dtypes(frame, part, names[part])
            _check_finite(frame, part, names[part])
    hits = event.hits
    if len(hits) == 0:
        raise TrackMLFormatError(
            f"{names['hits']} holds no hits: an event needs at least one; drop the event "
            "or regenerate it"
        )
    _check_unique(hits, "hit_id", names["hits"])
    _check_row_order(hits, names["hits"])
    if event.truth is not None:
        _check_unique(event.truth, "hit_id", names["truth"])
        _check_truth_hits(hits, event.truth, names)
    if event.particles is not None:
        _check_unique(event.particles, "particle_id", names["particles"])
        if event.truth is not None:
            _check_known_particles(event.truth, event.particles, names)
    if event.cells is not None:
        _check_cells(hits, event.cells, names)


def _check_columns(columns: Iterable, part: str, where: str) -> None:
    expected = PART_DTYPES[part]
    present = {str(column) for column in columns}
    missing = [column for column in expected if column not in present]
    if missing:
        raise TrackMLFormatError(
            f"{where} lacks column(s) {', '.join(missing)}: a TrackML {part} table has the "
            f"header {','.join(expected)}, found {','.join(map(str, columns)) or 'none'}; "
            "add or rename the columns (write_event writes the header)"
        )


def _cast(frame: pd.DataFrame, part: str, where: str) -> pd.DataFrame:
    """The format's columns cast to their dtypes, first; any other column after them."""
    dtypes = PART_DTYPES[part]
    cast = {}
    for column, dtype in dtypes.items():
        values = frame[column]
        if not pd.api.types.is_numeric_dtype(values):
            raise TrackMLFormatError(
                f"column {column} of {where} holds {values.dtype} values, expected "
                f"{dtype}: convert it with pandas.to_numeric"
            )
        if dtype.startswith("int"):
            _check_integral(values, column, dtype, where)
        cast[column] = values.astype(dtype)
    result = pd.DataFrame(cast, index=frame.index)
    for column in frame.columns:
        if column not in dtypes:
            result[column] = frame[column].to_numpy()
    return result


def _check_integral(values: pd.Series, column: str, dtype: str, where: str) -> None:
    """Raise unless ``values`` are integers that ``dtype`` holds exactly."""
    array = values.to_numpy()
    if array.dtype.kind == "f":
        if not (np.isfinite(array) & (array == np.round(array))).all():
            raise TrackMLFormatError(
                f"column {column} of {where} holds non-integer values (NaN or fractions): "
                f"ids and counts are integers; repair them and cast with .astype('{dtype}')"
            )
    limits = np.iinfo(dtype)
    if len(array) and array.dtype.kind in "iuf" and (
        array.max() > limits.max or array.min() < limits.min
    ):
        raise TrackMLFormatError(
            f"column {column} of {where} holds values beyond {dtype} "
            f"({array.min()} to {array.max()}): the TrackML format stores them as {dtype}"
        )


def _check_dtypes(frame: pd.DataFrame, part: str, where: str) -> None:
    for column, dtype in PART_DTYPES[part].items():
        values = frame[column]
        integer = dtype.startswith("int")
        if not (pd.api.types.is_integer_dtype(values) if integer
                else pd.api.types.is_numeric_dtype(values)):
            raise TrackMLFormatError(
                f"column {column} of {where} holds {values.dtype} values, expected {dtype}: "
                "build the event with grapa.tracking.events.make_event, which casts them"
            )


def _check_finite(frame: pd.DataFrame, part: str, where: str) -> None:
    columns = list(_FINITE_COLUMNS[part])
    values = frame[columns].to_numpy(np.float64)
    finite = np.isfinite(values)
    bad = ~finite.all(axis=1)
    if bad.any():
        row = int(np.argmax(bad))
        column = columns[int(np.argmin(finite[row]))]
        id_column = _ROW_ID[part]
        raise TrackMLFormatError(
            f"{int(bad.sum())} of {len(frame)} rows of {where} have a NaN or infinite value "
            f"in {', '.join(columns)}, the first at {id_column} {frame[id_column].iloc[row]} "
            f"(column {column}): drop or repair those rows, e.g. "
            f"frame[np.isfinite(frame[{columns}]).all(axis=1)], and rewrite the file"
        )


def _check_unique(frame: pd.DataFrame, column: str, where: str) -> None:
    duplicated = frame[column].duplicated()
    if duplicated.any():
        first = frame[column][duplicated].iloc[0]
        raise TrackMLFormatError(
            f"{int(duplicated.sum())} duplicated {column} values in {where}, the first "
            f"{first}: each {column} names one row; drop the duplicates "
            f"(frame.drop_duplicates('{column}')) or regenerate the file"
        )


def _has_fresh_index(frame: pd.DataFrame) -> bool:
    index = frame.index
    return isinstance(index, pd.RangeIndex) and index.start == 0 and index.step == 1


def _check_row_order(hits: pd.DataFrame, where: str) -> None:
    if not (_has_fresh_index(hits) and hits["hit_id"].is_monotonic_increasing):
        raise TrackMLFormatError(
            f"{where} are not sorted by hit_id with a fresh RangeIndex, so a hit's row is "
            "not its node index: build the event with grapa.tracking.events.make_event, "
            "which sorts them"
        )


def _check_truth_hits(hits: pd.DataFrame, truth: pd.DataFrame,
                      names: Mapping[str, str]) -> None:
    hit_ids, truth_ids = hits["hit_id"].to_numpy(), truth["hit_id"].to_numpy()
    if np.array_equal(hit_ids, truth_ids) and _has_fresh_index(truth):
        return
    missing = np.setdiff1d(hit_ids, truth_ids)
    extra = np.setdiff1d(truth_ids, hit_ids)
    if len(missing) or len(extra):
        examples = ", ".join(
            f"{what} e.g. hit_id {ids[0]}" for what, ids in (("missing", missing),
                                                             ("extra", extra)) if len(ids))
        raise TrackMLFormatError(
            f"the hit ids of {names['truth']} do not match those of {names['hits']}: "
            f"{len(missing)} hits have no truth row and {len(extra)} truth rows name no hit "
            f"({examples}); the two files must come from the same event: regenerate them "
            "together, or read parts=('hits',) only"
        )
    raise TrackMLFormatError(
        f"{names['truth']} is not aligned row by row with {names['hits']} (same hit ids in "
        "other rows, or an index other than a fresh RangeIndex): build the event with grapa.tracking.events.make_event, which aligns it"
    )


def _check_known_particles(truth: pd.DataFrame, particles: pd.DataFrame,
                           names: Mapping[str, str]) -> None:
    ids = truth["particle_id"].to_numpy()
    ids = np.unique(ids[ids != 0])
    unknown = ids[~np.isin(ids, particles["particle_id"].to_numpy())]
    if len(unknown):
        raise TrackMLFormatError(
            f"{len(unknown)} particle ids of {names['truth']} are missing from "
            f"{names['particles']}, e.g. {', '.join(map(str, unknown[:3]))}: particle_id 0 "
            "marks noise, every other one needs a particles row; the files come from "
            "different events or the particles file is cut: regenerate them together"
        )


def _check_cells(hits: pd.DataFrame, cells: pd.DataFrame, names: Mapping[str, str]) -> None:
    unknown = ~np.isin(cells["hit_id"].to_numpy(), hits["hit_id"].to_numpy())
    if unknown.any():
        raise TrackMLFormatError(
            f"{int(unknown.sum())} rows of {names['cells']} name hits absent from "
            f"{names['hits']}, the first hit_id {cells['hit_id'].to_numpy()[unknown][0]}: "
            "the files come from different events; regenerate them together"
        )


# ---------------------------------------------------------------------------------------
# Writing events
# ---------------------------------------------------------------------------------------


def write_event(directory: str | Path, event_id: int, hits: pd.DataFrame,
                truth: pd.DataFrame | None = None, particles: pd.DataFrame | None = None,
                *, cells: pd.DataFrame | None = None, compress: bool = False) -> Path:
    """Write an event's tables as TrackML CSV files, after ``make_event`` validated them.

    Each file has exactly the format's columns in the format's order; ids are written as
    integers, floats as float32 in their shortest form that reads back to the same
    float32 (pandas' own formatting), so a write-read round trip is exact. A file of the
    same part with the other compression is removed, so that reading is not ambiguous.

    Args:
        directory: the dataset directory; created when missing.
        event_id: the event's number.
        hits: the hits table.
        truth: the truth table, or None for no truth file.
        particles: the particles table, or None for no particles file.
        cells: the cells table, or None for no cells file.
        compress: write ``.csv.gz`` instead of ``.csv``.

    Returns:
        the event's prefix, ``directory/event{event_id:09d}``.

    Raises:
        TrackMLFormatError: the tables break the format (see ``validate_event``).
    """
    event = make_event(event_id, hits, truth, particles, cells)
    prefix = event_prefix(directory, event.event_id)
    prefix.parent.mkdir(parents=True, exist_ok=True)
    for part, dtypes in PART_DTYPES.items():
        frame = getattr(event, part)
        if frame is None:
            continue
        plain = Path(f"{prefix}-{part}.csv")
        path, other = (Path(f"{plain}.gz"), plain) if compress else (plain, Path(f"{plain}.gz"))
        other.unlink(missing_ok=True)
        frame[list(dtypes)].to_csv(path, index=False)
    return prefix


# ---------------------------------------------------------------------------------------
# Submissions
# ---------------------------------------------------------------------------------------


def singleton_tracks(track_ids: np.ndarray) -> np.ndarray:
    """int64 labels in which every hit in no candidate (a negative label) is a one-hit
    track of its own, numbered after the largest label; the others unchanged."""
    labels = np.asarray(track_ids).astype(np.int64)
    unassigned = labels < 0
    labels[unassigned] = labels.max(initial=-1) + 1 + np.arange(int(unassigned.sum()))
    return labels


def submission_from_track_ids(event: Event, track_ids: np.ndarray) -> pd.DataFrame:
    """A submission for one event from a track label per hit row.

    Hits with a negative label (``UNASSIGNED``, in no track candidate) each get a track
    id of their own, above every given one: the submission then lists every hit once, as
    the format requires, and such a hit scores as a one-hit track.

    Args:
        event: the event; its hit rows are the labels' rows.
        track_ids: integer array ``(n_hits,)``, the track label of each hit row.

    Returns:
        a submission frame, columns ``event_id, hit_id, track_id`` (int64).

    Raises:
        ValueError: ``track_ids`` is not one integer per hit.
    """
    labels = np.asarray(track_ids)
    if labels.shape != (event.n_hits,) or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(
            f"track_ids must be integers of shape ({event.n_hits},) (one label per hit row "
            f"of event {event.event_id}), got {labels.dtype} {labels.shape}"
        )
    labels = singleton_tracks(labels)
    return pd.DataFrame({
        "event_id": np.full(event.n_hits, event.event_id, np.int64),
        "hit_id": event.hits["hit_id"].to_numpy(np.int64),
        "track_id": labels,
    })


def write_submission(path: str | Path, submission: pd.DataFrame) -> Path:
    """Write a submission CSV (``.csv.gz`` when ``path`` ends so).

    Args:
        path: the file; its directory is created when missing.
        submission: a frame with integer columns ``event_id, hit_id, track_id``.

    Returns:
        ``path`` as a Path.

    Raises:
        TrackMLFormatError: a column is missing or not integer.
    """
    path = Path(path)
    _check_submission_columns(submission, "the submission")
    path.parent.mkdir(parents=True, exist_ok=True)
    submission[list(SUBMISSION_DTYPES)].astype(SUBMISSION_DTYPES).to_csv(path, index=False)
    return path


def read_submission(path: str | Path) -> pd.DataFrame:
    """Read a submission CSV (plain or gzipped).

    Args:
        path: the file.

    Returns:
        a frame with int64 columns ``event_id, hit_id, track_id``.

    Raises:
        TrackMLFormatError: no such file, a missing column or a non-integer value.
    """
    path = Path(path)
    if not path.is_file():
        raise TrackMLFormatError(
            f"no submission file at {path}: check the path, or write one with write_submission"
        )
    header = ",".join(SUBMISSION_DTYPES)
    try:
        columns = pd.read_csv(path, nrows=0).columns
        missing = [column for column in SUBMISSION_DTYPES if column not in columns]
        if missing:
            raise TrackMLFormatError(
                f"{path} lacks column(s) {', '.join(missing)}: a submission has the header "
                f"{header}, found {','.join(map(str, columns))}; add or rename the columns"
            )
        frame = pd.read_csv(path, usecols=list(SUBMISSION_DTYPES), dtype=SUBMISSION_DTYPES)
    except pd.errors.EmptyDataError as error:
        raise TrackMLFormatError(f"{path} is empty: a submission starts with the header "
                                 f"{header}") from error
    except (ValueError, OverflowError, OSError, EOFError) as error:
        if isinstance(error, TrackMLFormatError):
            raise
        raise TrackMLFormatError(
            f"{path} cannot be read as a submission ({type(error).__name__}: {error}): "
            f"{header} must all be integers, without blank fields; repair the file"
        ) from error
    return frame[list(SUBMISSION_DTYPES)]


def validate_submission(submission: pd.DataFrame, event: Event) -> None:
    """Check that a submission assigns every hit of ``event`` exactly one integer track.

    Only the submission's rows with ``event_id == event.event_id`` are looked at, so one
    submission for many events is checked event by event.

    Args:
        submission: a frame with columns ``event_id, hit_id, track_id``.
        event: the event.

    Raises:
        TrackMLFormatError: a column is missing or not integer, the event has no rows, or
            hits are missing, duplicated or unknown (their counts and first ids named).
    """
    where = f"the submission of event {event.event_id}"
    _check_submission_columns(submission, "the submission")
    rows = submission["event_id"].to_numpy() == event.event_id
    if not rows.any():
        present = np.unique(submission["event_id"].to_numpy())
        raise TrackMLFormatError(
            f"the submission has no rows for event {event.event_id}; it holds events "
            f"{', '.join(map(str, present[:10]))}{' ...' if len(present) > 10 else ''}: "
            "add the event's hits, or validate against one of those"
        )
    submitted = submission["hit_id"].to_numpy()[rows]
    hit_ids = event.hits["hit_id"].to_numpy()
    problems = [
        (what, ids) for what, ids in (
            ("missing", np.setdiff1d(hit_ids, submitted)),
            ("duplicated", np.unique(submitted[pd.Series(submitted).duplicated().to_numpy()])),
            ("unknown", np.setdiff1d(submitted, hit_ids)),
        ) if len(ids)
    ]
    if problems:
        described = "; ".join(f"{len(ids)} {what} hit ids (e.g. {ids[0]})"
                              for what, ids in problems)
        raise TrackMLFormatError(
            f"{where} must list each of the event's {len(hit_ids)} hits exactly once: "
            f"{described}. Build it with submission_from_track_ids(event, track_ids)"
        )


def _check_submission_columns(submission: pd.DataFrame, where: str) -> None:
    missing = [column for column in SUBMISSION_DTYPES if column not in submission.columns]
    if missing:
        raise TrackMLFormatError(
            f"{where} lacks column(s) {', '.join(missing)}: a submission has the columns "
            f"{','.join(SUBMISSION_DTYPES)}, found {','.join(map(str, submission.columns))}"
        )
    for column in SUBMISSION_DTYPES:
        if not pd.api.types.is_integer_dtype(submission[column]):
            raise TrackMLFormatError(
                f"column {column} of {where} holds {submission[column].dtype} values, "
                f"expected integers: cast with frame['{column}'].astype('int64') after "
                "giving every hit a track"
            )
