"""``grapa track train / reconstruct / evaluate``, end to end on tiny simulated events."""

import contextlib
import io
import json
import shutil

import numpy as np
import pandas as pd
import pytest

from grapa.cli import main
from grapa.cli.common import CommandError
from grapa.tracking.events import (
    iter_events,
    read_submission,
    submission_from_track_ids,
    write_submission,
)
from grapa.tracking.metrics import combine_metrics, tracking_metrics, trackml_score
from grapa.tracking.simulate import simulate_events

TINY = ["--epochs", "1", "--units", "8", "--steps", "1", "--quiet"]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """Training events, test events with truth and the same with their hits alone, a
    finder trained on the first and its submission for the last; the train summary."""
    root = tmp_path_factory.mktemp("track")
    paths = {name: root / name for name in ("train", "test", "hits_only", "run")}
    simulate_events(paths["train"], 3, 60, seed=11)
    simulate_events(paths["test"], 3, 60, seed=12)
    shutil.copytree(paths["test"], paths["hits_only"])
    for part in ("truth", "particles"):
        for file in paths["hits_only"].glob(f"*-{part}.csv"):
            file.unlink()
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        assert main(["track", "train", "--events", str(paths["train"]), "--out",
                     str(paths["run"]), "--validation", str(paths["test"]),
                     "--max-neighbours", "5", *TINY]) == 0
        paths["submission"] = root / "submission.csv"
        assert main(["track", "reconstruct", "--model", str(paths["run"]), "--events",
                     str(paths["hits_only"]), "--out", str(paths["submission"]),
                     "--quiet"]) == 0
    return paths, printed.getvalue().splitlines()


def _labels(submission, event):
    """The submission's track id of each hit row of `event`, by a pandas merge."""
    rows = submission[submission["event_id"] == event.event_id]
    merged = event.hits[["hit_id"]].merge(rows, on="hit_id", how="left", validate="1:1")
    assert merged["track_id"].notna().all()
    return merged["track_id"].to_numpy(np.int64)


def test_train_saves_the_finder_and_summarises(run):
    paths, printed = run
    assert {"track_finder.json", "classifier.keras", "filter.keras"} <= {
        file.name for file in paths["run"].iterdir()}
    saved = json.loads((paths["run"] / "track_finder.json").read_text())
    history = saved["history"]
    assert saved["config"]["graph_options"] == {"min_pt": 0.5, "max_neighbours": 5}
    summary = printed[0]
    assert summary.startswith("trained a track finder (in-edge) on 3 events (")
    assert "edges after the filter" in summary
    assert f"validation loss {history['val_loss'][-1]:.4f}" in summary


def test_reconstruct_from_hits_alone_lists_every_hit_once(run):
    paths, printed = run
    submission = read_submission(paths["submission"])
    events = list(iter_events(paths["hits_only"], parts=("hits",)))
    assert sorted(submission["event_id"].unique()) == [event.event_id for event in events]
    for event in events:
        rows = submission[submission["event_id"] == event.event_id]
        assert sorted(rows["hit_id"]) == sorted(event.hits["hit_id"])  # each hit once
    assert len(submission) == sum(event.n_hits for event in events)
    n_tracks = len(submission[["event_id", "track_id"]].drop_duplicates())
    assert printed[1].startswith(f"wrote {paths['submission']}: 3 events, {len(submission)} "
                                 f"hits in {n_tracks} tracks")
    # the labels are the finder's own for those hits
    from grapa.tracking.pipeline import TrackFinder

    finder = TrackFinder.load(paths["run"])
    expected = submission_from_track_ids(events[0], finder.reconstruct(events[0]))
    pd.testing.assert_frame_equal(
        submission[submission["event_id"] == events[0].event_id].reset_index(drop=True),
        expected)


def test_evaluate_reports_the_metrics_of_the_submitted_labels(run, tmp_path, capsys):
    paths, _ = run
    out = tmp_path / "report"
    assert main(["track", "evaluate", "--events", str(paths["test"]), "--submission",
                 str(paths["submission"]), "--out", str(out), "--min-pt", "0.8",
                 "--min-hits", "4", "--quiet"]) == 0
    report = json.loads((out / "report.json").read_text())
    submission = read_submission(paths["submission"])
    direct, scores = [], []
    for event, row in zip(iter_events(paths["test"]), report["per_event"], strict=True):
        labels = _labels(submission, event)
        metrics = tracking_metrics(labels, event.truth, event.particles, min_pt=0.8,
                                   min_hits=4)
        assert row["event_id"] == event.event_id and row["n_hits"] == event.n_hits
        for key, value in metrics.items():
            assert row[key] == (None if np.isnan(value) else value), key
        scores.append(trackml_score(event.truth, submission[submission.event_id == event.event_id]))
        assert row["trackml_score"] == pytest.approx(scores[-1], abs=1e-12)
        direct.append(metrics)
    pooled = combine_metrics(direct)
    for key in ("efficiency", "purity"):  # a barely trained finder may keep no track: NaN
        expected = None if np.isnan(pooled[key]) else pytest.approx(pooled[key], abs=1e-12)
        assert report[key] == expected, key
    assert {key: report["counts"][key] for key in pooled if key.startswith("n_")} == {
        key: value for key, value in pooled.items() if key.startswith("n_")}
    assert report["trackml_score"] == pytest.approx(np.mean(scores), abs=1e-12)
    assert (report["n_events"], report["min_pt"], report["min_hits"]) == (3, 0.8, 4)
    for figure in ("efficiency.png", "event_display.png"):
        assert (out / figure).read_bytes().startswith(b"\x89PNG")
        assert f"]({figure})" in (out / "report.md").read_text()
    particles = pd.read_csv(out / "particles.csv")
    assert len(particles) == pooled["n_particles"]
    assert particles["reconstructable"].sum() == pooled["n_reconstructable"]
    assert capsys.readouterr().out.startswith(
        f"tracking efficiency {report['efficiency']:.3f} +- ")


def test_evaluate_a_submission_with_known_answers(run, tmp_path, capsys):
    """Truth labels with the particles of even id shattered into one-hit tracks: the
    efficiency is the odd-id share of the reconstructable particles, the purity 1."""
    paths, _ = run
    frames, n_reconstructable, n_odd = [], 0, 0
    for event in iter_events(paths["test"]):
        particle = event.truth["particle_id"].to_numpy()
        labels = np.unique(particle, return_inverse=True)[1].astype(np.int64)
        labels[(particle == 0) | (particle % 2 == 0)] = -1  # one-hit tracks
        frames.append(submission_from_track_ids(event, labels))
        nhits = pd.Series(particle[particle != 0]).value_counts()
        pt = np.hypot(event.particles["px"], event.particles["py"]).to_numpy()
        ids = event.particles["particle_id"].to_numpy()
        reconstructable = (pt > 1.0) & (nhits.reindex(ids, fill_value=0).to_numpy() >= 5)
        n_reconstructable += int(reconstructable.sum())
        n_odd += int((reconstructable & (ids % 2 == 1)).sum())
    assert 0 < n_odd < n_reconstructable
    write_submission(tmp_path / "half.csv", pd.concat(frames))
    assert main(["track", "evaluate", "--events", str(paths["test"]), "--submission",
                 str(tmp_path / "half.csv"), "--out", str(tmp_path / "report"),
                 "--quiet"]) == 0
    report = json.loads((tmp_path / "report" / "report.json").read_text())
    assert report["counts"]["n_reconstructable"] == n_reconstructable
    assert report["efficiency"] == pytest.approx(n_odd / n_reconstructable, abs=1e-12)
    assert report["purity"] == 1.0


def test_evaluate_a_perfect_submission_scores_one(run, tmp_path, capsys):
    paths, _ = run
    frames = []
    for event in iter_events(paths["test"]):
        particle = event.truth["particle_id"].to_numpy()
        labels = np.unique(particle, return_inverse=True)[1].astype(np.int64)
        labels[particle == 0] = -1  # noise hits: one-hit tracks, weight 0
        frames.append(submission_from_track_ids(event, labels))
    write_submission(tmp_path / "perfect.csv", pd.concat(frames))
    assert main(["track", "evaluate", "--events", str(paths["test"]), "--submission",
                 str(tmp_path / "perfect.csv"), "--out", str(tmp_path / "report"),
                 "--quiet"]) == 0
    report = json.loads((tmp_path / "report" / "report.json").read_text())
    assert report["efficiency"] == report["purity"] == 1.0
    assert report["trackml_score"] == pytest.approx(1.0, abs=1e-6)
    assert report["efficiency_error"] == 0.0
    assert "tracking efficiency 1.000 +- 0.000" in capsys.readouterr().out


def _check_error(argv, message, capsys):
    assert main(argv) == 2
    error = capsys.readouterr().err
    assert message in error, error
    assert error.startswith(f"grapa track {argv[1]}: error:") and "Traceback" not in error
    return error


def test_empty_events_directory_is_named(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    for argv in (["track", "train", "--events", str(tmp_path / "empty"), "--out",
                  str(tmp_path / "run")],
                 ["track", "reconstruct", "--model", str(tmp_path), "--events",
                  str(tmp_path / "empty"), "--out", str(tmp_path / "s.csv")],
                 ["track", "evaluate", "--events", str(tmp_path / "empty"), "--submission",
                  str(tmp_path / "s.csv"), "--out", str(tmp_path / "report")]):
        _check_error(argv, f"--events {tmp_path / 'empty'} holds no TrackML event", capsys)
    _check_error(["track", "train", "--events", str(tmp_path / "nowhere"), "--out",
                  str(tmp_path / "run")], "no such directory", capsys)


def test_training_needs_truth(run, tmp_path, capsys):
    paths, _ = run
    _check_error(["track", "train", "--events", str(paths["hits_only"]), "--out",
                  str(tmp_path / "run"), *TINY],
                 "3 of its 3 events have no truth file, e.g. event000001000-truth.csv",
                 capsys)


def test_model_that_is_not_a_run_is_named(run, tmp_path, capsys):
    paths, _ = run
    argv = ["track", "reconstruct", "--events", str(paths["hits_only"]), "--out",
            str(tmp_path / "s.csv"), "--model"]
    error = _check_error([*argv, str(tmp_path)], f"--model {tmp_path} is not a trained "
                         "track finder (", capsys)
    assert "track_finder.json is missing" in error
    _check_error([*argv, str(tmp_path / "nowhere")], "is not a trained track finder (no such "
                 "directory)", capsys)
    assert not (tmp_path / "s.csv").exists()


def test_submission_missing_an_event_or_with_foreign_hits_is_named(run, tmp_path, capsys):
    paths, _ = run
    submission = read_submission(paths["submission"])
    argv = ["track", "evaluate", "--events", str(paths["test"]), "--out",
            str(tmp_path / "report"), "--quiet", "--submission"]
    write_submission(tmp_path / "short.csv", submission[submission["event_id"] != 1001])
    _check_error([*argv, str(tmp_path / "short.csv")],
                 f"--submission {tmp_path / 'short.csv'} lacks event 1001 of --events", capsys)
    foreign = submission.copy()
    foreign.loc[foreign.index[0], "hit_id"] = 10**9
    write_submission(tmp_path / "foreign.csv", foreign)
    _check_error([*argv, str(tmp_path / "foreign.csv")], "1 unknown hit ids (e.g. 1000000000)",
                 capsys)
    _check_error([*argv, str(tmp_path / "nowhere.csv")], "no such file", capsys)


def test_flags_are_checked_and_verbose_shows_the_back_trace(tmp_path, capsys):
    _check_error(["track", "train", "--events", str(tmp_path), "--out", str(tmp_path / "r"),
                  "--epochs", "0"], "--epochs 0: give a positive number", capsys)
    _check_error(["track", "train", "--events", str(tmp_path), "--out", str(tmp_path / "r"),
                  "--max-neighbours", "-2"], "--max-neighbours -2: give 1 or more", capsys)
    _check_error(["track", "evaluate", "--events", str(tmp_path), "--submission", "s.csv",
                  "--out", str(tmp_path / "r"), "--min-pt", "-1"], "--min-pt -1.0", capsys)
    with pytest.raises(CommandError, match="holds no TrackML event"):
        main(["track", "reconstruct", "--model", str(tmp_path), "--events", str(tmp_path),
              "--out", str(tmp_path / "s.csv"), "--verbose"])


def test_max_neighbours_zero_keeps_the_full_graph(run, tmp_path):
    paths, _ = run
    with contextlib.redirect_stdout(io.StringIO()):
        assert main(["track", "train", "--events", str(paths["train"]), "--out",
                     str(tmp_path / "full"), "--max-events", "1", "--max-neighbours", "0",
                     *TINY]) == 0
    saved = json.loads((tmp_path / "full" / "track_finder.json").read_text())
    assert saved["config"]["graph_options"] == {"min_pt": 0.5, "max_neighbours": None}


def test_train_model_hgnn_bipartite_trains_the_hierarchical_finder(run, tmp_path, capsys,
                                                                    monkeypatch):
    from grapa.tracking.finders import load_finder
    from grapa.tracking.hierarchical import HierarchicalTrackFinder
    from grapa.tracking.pipeline import TrackFinder

    paths, _ = run
    train = ["track", "train", "--events", str(paths["train"]), "--out", str(tmp_path / "h"),
             "--model", "hgnn-bipartite", "--max-events", "2", "--pretrain-epochs", "3",
             *TINY]
    _check_error(train, "--units 8: --model hgnn-bipartite needs more than 8", capsys)
    train += ["--units", "12"]
    _check_error([*train, "--validation", str(paths["test"])], "--validation: --model "
                 "hgnn-bipartite reports no validation loss", capsys)
    # the flags reach HierarchicalTrackFinder.fit (its training is tested on its own, in
    # test_hierarchical.py: here a recording stand-in)
    calls = []

    def fit(finder, events, **options):
        events = list(events)
        calls.append(options)
        assert len(events) == 2 and all(e.particles is not None for e in events)
        finder.history, finder.training_summary = {"loss": [0.25]}, {"filtered_edges": 7}
        finder.config["pooling_cut"] = 1.0
        return finder

    monkeypatch.setattr(HierarchicalTrackFinder, "fit", fit)
    with contextlib.redirect_stdout(io.StringIO()) as printed:
        assert main(train) == 0
    assert calls == [{"epochs": 1, "learning_rate": 3e-3, "pretrain_epochs": 3, "seed": 0,
                      "verbose": 0}]
    assert printed.getvalue().startswith("trained a track finder (hgnn-bipartite) on 2 events "
                                         "(7 edges after the filter)")
    finder = load_finder(tmp_path / "h")
    assert type(finder) is HierarchicalTrackFinder
    assert finder.config["flat_steps"] == 1 and finder.config["units"] == 12
    assert type(load_finder(paths["run"])) is TrackFinder
    # a finder directory naming a model this grapa does not know is named as such
    saved = json.loads((tmp_path / "h" / "track_finder.json").read_text())
    saved["config"]["model"] = "hgnn-embedding"
    (tmp_path / "h" / "track_finder.json").write_text(json.dumps(saved))
    _check_error(["track", "reconstruct", "--model", str(tmp_path / "h"), "--events",
                  str(paths["hits_only"]), "--out", str(tmp_path / "x.csv")],
                 "names the model 'hgnn-embedding'; this grapa reads in-edge, hgnn-bipartite",
                 capsys)
