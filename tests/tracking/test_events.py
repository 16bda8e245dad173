"""Tests of grapa.tracking.events: TrackML files round trip, and every named error."""

import gzip
import shutil

import numpy as np
import pandas as pd
import pytest

from grapa.tracking.events import (
    PART_DTYPES,
    UNASSIGNED,
    Event,
    TrackMLFormatError,
    event_prefix,
    iter_events,
    list_events,
    make_event,
    read_event,
    read_event_prefix,
    read_submission,
    singleton_tracks,
    submission_from_track_ids,
    validate_event,
    validate_submission,
    write_event,
    write_submission,
)

BIG_ID = 2**53 + 1  # a float64 cannot hold it: 2**53 + 1 == float(2**53)
HUGE_ID = 4503737066323968 * 1000 + 7  # above 2**62, below 2**63


def event_tables():
    """Four hits, given out of hit_id order, of two particles (one with a huge id) and noise."""
    hits = pd.DataFrame({
        "hit_id": [4, 2, 1, 3],
        "x": np.array([40.123456, -20.5, 10.0, 1e-7], np.float32),
        "y": np.array([0.1, 3.25, -7.0, 123456.78], np.float32),
        "z": np.array([-1000.5, 0.0, 1.5, np.pi], np.float32),
        "volume_id": [8, 8, 7, 9],
        "layer_id": [4, 2, 2, 6],
        "module_id": [101, 22, 3, 1500],
    })
    truth = pd.DataFrame({
        "hit_id": [1, 2, 3, 4],
        "particle_id": [BIG_ID, BIG_ID, 0, HUGE_ID],
        "tx": np.array([10.0, -20.5, 0.0, 40.1], np.float32),
        "ty": np.array([-7.0, 3.25, 1.0, 0.1], np.float32),
        "tz": np.array([1.5, 0.0, 3.0, -1000.5], np.float32),
        "tpx": np.array([1.1, 1.0, 0.0, -0.3], np.float32),
        "tpy": np.array([0.2, 0.3, 0.0, 2.5], np.float32),
        "tpz": np.array([0.5, 0.5, 0.0, 7.0], np.float32),
        "weight": np.array([0.25, 0.5, 0.0, 0.25], np.float32),
    })
    particles = pd.DataFrame({
        "particle_id": [BIG_ID, HUGE_ID],
        "vx": np.array([0.01, -0.02], np.float32),
        "vy": np.array([0.0, 0.03], np.float32),
        "vz": np.array([-5.5, 12.0], np.float32),
        "px": np.array([1.1, -0.3], np.float32),
        "py": np.array([0.2, 2.5], np.float32),
        "pz": np.array([0.5, 7.0], np.float32),
        "q": [1, -1],
        "nhits": [2, 1],
    })
    return hits, truth, particles


def write_csv(directory, event_id, part, frame, suffix=".csv"):
    """A part's file written by pandas directly, bypassing write_event's checks."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"event{event_id:09d}-{part}{suffix}"
    frame.to_csv(path, index=False)
    return path


def write_by_hand(directory, event_id=1000, hits=None, truth=None, particles=None):
    default_hits, default_truth, default_particles = event_tables()
    for part, frame in (("hits", default_hits if hits is None else hits),
                        ("truth", default_truth if truth is None else truth),
                        ("particles", default_particles if particles is None else particles)):
        write_csv(directory, event_id, part, frame)


# ---------------------------------------------------------------------------------------
# Round trips
# ---------------------------------------------------------------------------------------


def test_round_trip_keeps_values_and_dtypes(tmp_path):
    hits, truth, particles = event_tables()
    prefix = write_event(tmp_path / "new", 1000, hits, truth, particles)
    assert prefix == tmp_path / "new" / "event000001000"
    with open(f"{prefix}-hits.csv") as file:
        assert file.readline().strip() == "hit_id,x,y,z,volume_id,layer_id,module_id"
    with open(f"{prefix}-particles.csv") as file:
        file.readline()
        assert file.readline().startswith(f"{BIG_ID},")  # an integer, not 9.007e15

    event = read_event(tmp_path / "new", 1000)

    assert event.event_id == 1000 and event.n_hits == 4
    for part, frame in (("hits", hits), ("truth", truth), ("particles", particles)):
        read = getattr(event, part)
        assert list(read.columns) == list(PART_DTYPES[part])
        assert dict(read.dtypes.astype(str)) == PART_DTYPES[part]
        expected = frame.sort_values(list(frame.columns)[0]).reset_index(drop=True)
        for column in frame.columns:  # exact equality: float32 values survive the text
            np.testing.assert_array_equal(read[column].to_numpy(),
                                          expected[column].to_numpy().astype(read[column].dtype))
    assert event.truth["particle_id"].tolist() == [BIG_ID, BIG_ID, 0, HUGE_ID]
    assert event.particles["particle_id"].tolist() == [BIG_ID, HUGE_ID]


def test_hits_are_sorted_and_truth_aligned(tmp_path):
    hits, truth, particles = event_tables()
    write_by_hand(tmp_path, hits=hits, truth=truth.iloc[::-1], particles=particles)
    event = read_event(tmp_path, 1000)
    assert event.hits["hit_id"].tolist() == [1, 2, 3, 4]
    assert isinstance(event.hits.index, pd.RangeIndex)
    np.testing.assert_array_equal(event.truth["hit_id"], event.hits["hit_id"])
    # hit 4 sits at x = 40.123456 in hits and tx = 40.1 in truth: still one row
    assert event.hits["x"].iloc[3] == np.float32(40.123456)
    assert event.truth["tx"].iloc[3] == np.float32(40.1)


def test_gzipped_files_are_read(tmp_path):
    hits, truth, particles = event_tables()
    write_event(tmp_path / "written", 7, hits, truth, particles, compress=True)
    assert (tmp_path / "written" / "event000000007-hits.csv.gz").is_file()
    assert not (tmp_path / "written" / "event000000007-hits.csv").exists()

    write_by_hand(tmp_path / "by_hand", 7)
    plain = tmp_path / "by_hand" / "event000000007-truth.csv"
    with open(plain, "rb") as source, gzip.open(f"{plain}.gz", "wb") as target:
        shutil.copyfileobj(source, target)
    plain.unlink()

    for directory in ("written", "by_hand"):
        event = read_event(tmp_path / directory, 7)
        assert event.truth["particle_id"].tolist() == [BIG_ID, BIG_ID, 0, HUGE_ID]
        assert event.hits["module_id"].tolist() == [3, 22, 1500, 101]


def test_read_event_prefix_and_parts(tmp_path):
    write_by_hand(tmp_path, 42)
    event = read_event_prefix(tmp_path / "event000000042", parts=("hits",))
    assert event.event_id == 42 and event.truth is None and event.particles is None
    with pytest.raises(TrackMLFormatError, match="ending in event<id>"):
        read_event_prefix(tmp_path / "hits")
    with pytest.raises(ValueError, match="leaves out 'hits'"):
        read_event(tmp_path, 42, parts=("truth",))
    with pytest.raises(ValueError, match="unknown event part"):
        read_event(tmp_path, 42, parts=("hits", "spacepoints"))


def test_cells_are_optional(tmp_path):
    write_by_hand(tmp_path)
    assert read_event(tmp_path, 1000).cells is None  # never required
    with pytest.raises(TrackMLFormatError, match="cells are optional"):
        read_event(tmp_path, 1000, parts=("hits", "cells"))
    cells = pd.DataFrame({"hit_id": [1, 1, 4], "ch0": [10, 11, 300], "ch1": [5, 5, 7],
                          "value": [0.25, 0.5, 0.125]})
    write_csv(tmp_path, 1000, "cells", cells)
    event = read_event(tmp_path, 1000, parts=("hits", "truth", "cells"))
    assert event.cells["ch0"].tolist() == [10, 11, 300]
    write_csv(tmp_path, 1000, "cells", cells.assign(hit_id=[1, 1, 99]))
    with pytest.raises(TrackMLFormatError, match="hit_id 99"):
        read_event(tmp_path, 1000, parts=("hits", "cells"))


def test_extra_columns_are_ignored_on_reading(tmp_path):
    hits, truth, particles = event_tables()
    write_by_hand(tmp_path, particles=particles.assign(particle_type=[11, -13]))
    assert list(read_event(tmp_path, 1000).particles.columns) == list(PART_DTYPES["particles"])


# ---------------------------------------------------------------------------------------
# Listing
# ---------------------------------------------------------------------------------------


def test_list_and_iter_events(tmp_path):
    hits, truth, particles = event_tables()
    write_event(tmp_path, 1005, hits, truth, particles)
    write_event(tmp_path, 1000, hits, truth, particles, compress=True)
    write_csv(tmp_path, 1003, "truth", truth)  # no hits file: not an event
    (tmp_path / "notes.txt").write_text("not an event")

    assert list_events(tmp_path) == [1000, 1005]
    assert [event.event_id for event in iter_events(tmp_path, parts=("hits",))] == [1000, 1005]
    assert [event.event_id for event in iter_events(tmp_path, events=[1005])] == [1005]
    assert event_prefix(tmp_path, 3) == tmp_path / "event000000003"


def test_list_events_errors(tmp_path):
    with pytest.raises(TrackMLFormatError, match="no directory"):
        list_events(tmp_path / "absent")
    (tmp_path / "event000001000-truth.csv").write_text("hit_id\n")
    with pytest.raises(TrackMLFormatError, match=r"looked for event<9-digit id>-hits\.csv"):
        list_events(tmp_path)


# ---------------------------------------------------------------------------------------
# Named errors
# ---------------------------------------------------------------------------------------


def test_missing_file_names_the_expected_path(tmp_path):
    write_by_hand(tmp_path)
    (tmp_path / "event000001000-particles.csv").unlink()
    with pytest.raises(TrackMLFormatError) as error:
        read_event(tmp_path, 1000)
    assert str(tmp_path / "event000001000-particles.csv") in str(error.value)
    assert "'particles'" in str(error.value)
    assert read_event(tmp_path, 1000, parts=("hits", "truth")).particles is None
    with pytest.raises(TrackMLFormatError, match="no directory"):
        read_event(tmp_path / "absent", 1000)


def test_both_plain_and_gzipped_file_is_ambiguous(tmp_path):
    write_by_hand(tmp_path)
    hits, _, _ = event_tables()
    write_csv(tmp_path, 1000, "hits", hits, suffix=".csv.gz")
    with pytest.raises(TrackMLFormatError, match="delete the stale one"):
        read_event(tmp_path, 1000)


def test_missing_column_lists_it_and_the_header(tmp_path):
    hits, _, _ = event_tables()
    write_by_hand(tmp_path, hits=hits.drop(columns=["z", "module_id"]))
    with pytest.raises(TrackMLFormatError) as error:
        read_event(tmp_path, 1000)
    message = str(error.value)
    assert "lacks column(s) z, module_id" in message
    assert "hit_id,x,y,z,volume_id,layer_id,module_id" in message
    assert "event000001000-hits.csv" in message


def test_duplicated_hit_id(tmp_path):
    hits, truth, _ = event_tables()
    write_by_hand(tmp_path, hits=hits.assign(hit_id=[4, 2, 2, 3]))
    with pytest.raises(TrackMLFormatError, match="1 duplicated hit_id values .* the first 2"):
        read_event(tmp_path, 1000, parts=("hits",))


def test_truth_hit_ids_that_do_not_match(tmp_path):
    _, truth, _ = event_tables()
    write_by_hand(tmp_path, truth=truth.assign(hit_id=[1, 2, 3, 9]))
    with pytest.raises(TrackMLFormatError) as error:
        read_event(tmp_path, 1000)
    message = str(error.value)
    assert "1 hits have no truth row and 1 truth rows name no hit" in message
    assert "missing e.g. hit_id 4" in message and "extra e.g. hit_id 9" in message


def test_nan_position_names_count_and_first_hit(tmp_path):
    hits, _, _ = event_tables()
    x = hits["x"].to_numpy().copy()
    y = hits["y"].to_numpy().copy()
    x[3], y[1] = np.nan, np.inf  # hits 3 and 2
    write_by_hand(tmp_path, hits=hits.assign(x=x, y=y))
    with pytest.raises(TrackMLFormatError,
                       match="2 of 4 rows .* NaN or infinite .* first at hit_id 2 "
                             r"\(column y\)"):
        read_event(tmp_path, 1000)


def test_nan_momentum_in_particles(tmp_path):
    _, _, particles = event_tables()
    write_by_hand(tmp_path, particles=particles.assign(px=[np.nan, 1.0]))
    with pytest.raises(TrackMLFormatError, match=f"first at particle_id {BIG_ID}"):
        read_event(tmp_path, 1000)


def test_truth_particle_missing_from_particles(tmp_path):
    _, _, particles = event_tables()
    write_by_hand(tmp_path, particles=particles.iloc[:1])
    with pytest.raises(TrackMLFormatError, match=f"1 particle ids .* e.g. {HUGE_ID}"):
        read_event(tmp_path, 1000)


def test_empty_hits_and_unreadable_values(tmp_path):
    hits, _, _ = event_tables()
    write_csv(tmp_path, 1, "hits", hits.iloc[:0])
    with pytest.raises(TrackMLFormatError, match="holds no hits"):
        read_event(tmp_path, 1, parts=("hits",))
    (tmp_path / "event000000002-hits.csv").write_text("")
    with pytest.raises(TrackMLFormatError, match="is empty"):
        read_event(tmp_path, 2, parts=("hits",))
    write_csv(tmp_path, 3, "hits", hits.astype({"volume_id": float}).assign(
        volume_id=[8, np.nan, 7, 9]))
    with pytest.raises(TrackMLFormatError, match="cannot be read as a TrackML hits file"):
        read_event(tmp_path, 3, parts=("hits",))


def test_particle_id_beyond_int64_is_named(tmp_path):
    _, truth, _ = event_tables()
    text = truth.to_csv(index=False).replace(str(HUGE_ID), str(2**64 - 1))
    (tmp_path / "event000001000-truth.csv").write_text(text)
    write_csv(tmp_path, 1000, "hits", event_tables()[0])
    with pytest.raises(TrackMLFormatError, match="int64 range"):
        read_event(tmp_path, 1000, parts=("hits", "truth"))


def test_write_event_validates():
    hits, truth, particles = event_tables()
    with pytest.raises(TrackMLFormatError, match="duplicated hit_id"):
        write_event("/nonexistent-never-created", 1, hits.assign(hit_id=[1, 1, 2, 3]))


def test_make_event_and_the_contract():
    hits, truth, particles = event_tables()
    event = make_event(5, hits, truth.iloc[::-1], particles)
    validate_event(event)
    assert event.hits["hit_id"].tolist() == [1, 2, 3, 4]
    np.testing.assert_array_equal(event.truth["hit_id"], [1, 2, 3, 4])

    with pytest.raises(TrackMLFormatError, match="not sorted by hit_id"):
        validate_event(Event(5, hits))
    with pytest.raises(TrackMLFormatError, match="not aligned row by row"):
        validate_event(Event(5, event.hits, truth.iloc[::-1].reset_index(drop=True)))
    with pytest.raises(TrackMLFormatError, match="holds float64 values, expected int64"):
        validate_event(Event(5, event.hits.astype({"hit_id": float})))
    with pytest.raises(TrackMLFormatError, match="non-integer values"):
        make_event(5, hits.assign(layer_id=[1.0, 2.5, 3.0, 4.0]))


# ---------------------------------------------------------------------------------------
# Submissions
# ---------------------------------------------------------------------------------------


def test_submission_round_trip(tmp_path):
    submission = pd.DataFrame({
        "event_id": [1000, 1000, 1001],
        "hit_id": [1, 2, 1],
        "track_id": [HUGE_ID, 0, 3],
    })
    for name in ("submission.csv", "submission.csv.gz"):
        path = write_submission(tmp_path / "out" / name, submission)
        read = read_submission(path)
        pd.testing.assert_frame_equal(read, submission.astype("int64"))


def test_submission_from_track_ids_gives_unassigned_hits_their_own_track():
    hits, truth, particles = event_tables()
    event = make_event(1000, hits, truth, particles)
    submission = submission_from_track_ids(event, np.array([5, UNASSIGNED, 5, -7]))
    assert submission["track_id"].tolist() == [5, 6, 5, 7]
    assert submission["hit_id"].tolist() == [1, 2, 3, 4]
    assert (submission["event_id"] == 1000).all()
    validate_submission(submission, event)
    with pytest.raises(ValueError, match=r"shape \(4,\)"):
        submission_from_track_ids(event, np.array([1, 2]))
    labels = np.array([-1, -3], np.int32)
    assert singleton_tracks(labels).tolist() == [0, 1] and labels.tolist() == [-1, -3]


def test_validate_submission_names_missing_duplicated_and_unknown_hits():
    hits, truth, particles = event_tables()
    event = make_event(1000, hits, truth, particles)
    other_event = pd.DataFrame({"event_id": [1001] * 4, "hit_id": [1, 2, 3, 4],
                                "track_id": [0, 0, 1, 1]})
    bad = pd.DataFrame({"event_id": [1000] * 5, "hit_id": [1, 2, 2, 2, 17],
                        "track_id": [0, 0, 1, 1, 2]})
    with pytest.raises(TrackMLFormatError) as error:
        validate_submission(pd.concat([other_event, bad]), event)
    message = str(error.value)
    assert "2 missing hit ids (e.g. 3)" in message
    assert "1 duplicated hit ids (e.g. 2)" in message
    assert "1 unknown hit ids (e.g. 17)" in message

    with pytest.raises(TrackMLFormatError, match="no rows for event 1000; it holds events 1001"):
        validate_submission(other_event, event)
    with pytest.raises(TrackMLFormatError, match="track_id .* float64 values, expected integers"):
        validate_submission(other_event.assign(event_id=1000, track_id=0.5), event)
    with pytest.raises(TrackMLFormatError, match="lacks column"):
        validate_submission(other_event.drop(columns="track_id"), event)


def test_read_submission_errors(tmp_path):
    with pytest.raises(TrackMLFormatError, match="no submission file"):
        read_submission(tmp_path / "absent.csv")
    (tmp_path / "no_event.csv").write_text("hit_id,track_id\n1,2\n")
    with pytest.raises(TrackMLFormatError, match="lacks column.*event_id"):
        read_submission(tmp_path / "no_event.csv")
    (tmp_path / "fraction.csv").write_text("event_id,hit_id,track_id\n1,2,0.5\n")
    with pytest.raises(TrackMLFormatError, match="must all be integers"):
        read_submission(tmp_path / "fraction.csv")
    with pytest.raises(TrackMLFormatError, match="expected integers"):
        write_submission(tmp_path / "x.csv", pd.DataFrame(
            {"event_id": [1], "hit_id": [1], "track_id": [np.nan]}))
