"""``grapa track``: find particle tracks in TrackML events (train, reconstruct, evaluate).

Three steps, each a subcommand of ``grapa track``, as in the TrackML challenge: ``train``
a `grapa.tracking.pipeline.TrackFinder` on events with truth; ``reconstruct`` the events
of a directory (hits alone, as in a test set) into one submission CSV; ``evaluate`` a
submission against the truth: tracking efficiency and purity (`grapa.tracking.metrics`,
pooled over the events), the TrackML score, a report and figures.
"""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path

from grapa.cli.common import CommandError

MIN_CANDIDATE_HITS = 3
"""Candidates with fewer hits are left out of the purity (`tracking_metrics`'s default)."""


def add_track(subparsers) -> None:
    parser = subparsers.add_parser(
        "track",
        help="find particle tracks in TrackML events: train, reconstruct, evaluate",
        description="Track finding on tracker hits in the TrackML format (a directory of "
        "event<id>-hits.csv, -truth.csv, -particles.csv files, e.g. from grapa simulate "
        "--process tracks): `train` an edge-classifier track finder (Exa.TrkX: candidate "
        "graph, edge filter, Interaction Network, track building) on events with truth, "
        "`reconstruct` events from their hits alone into one submission CSV, `evaluate` a "
        "submission against the truth.",
    )
    steps = parser.add_subparsers(dest="track_step", metavar="STEP", required=True)
    _add_train(steps)
    _add_reconstruct(steps)
    _add_evaluate(steps)


def _add_train(steps) -> None:
    from grapa.tracking.finders import FINDERS
    from grapa.tracking.pipeline import GRAPH_DEFAULTS

    parser = steps.add_parser(
        "train",
        help="train a track finder on events with truth and save it",
        description="Train a TrackFinder (grapa.tracking.pipeline) on the events of "
        "--events, which need their -truth.csv files: first the edge filter, then the "
        "Interaction-Network edge classifier on the edges it keeps. With --validation, the "
        "classifier's loss on those events is reported after every epoch. --model "
        "hgnn-bipartite trains the hierarchical GNN's bipartite classifier instead "
        "(grapa.tracking.hierarchical: the same graph and filter, then hits pooled into "
        "super-nodes and each hit-super-node assignment scored). Saves the finder into the "
        "directory --out for `grapa track reconstruct --model`.",
    )
    parser.add_argument("--model", default="in-edge", choices=list(FINDERS),
                        help="in-edge: the Interaction-Network edge classifier (Exa.TrkX); "
                        "hgnn-bipartite: the hierarchical GNN (Liu et al. 2023) "
                        "(default %(default)s)")
    parser.add_argument("--events", required=True, metavar="DIR",
                        help="directory of training events (hits and truth)")
    parser.add_argument("--out", required=True, metavar="RUN",
                        help="directory the trained finder is saved into")
    parser.add_argument("--validation", default=None, metavar="DIR",
                        help="directory of validation events (hits and truth)")
    parser.add_argument("--epochs", type=int, default=10,
                        help="passes of the edge classifier over the events (default %(default)s)")
    parser.add_argument("--units", type=int, default=64,
                        help="width of the edge classifier (default %(default)s)")
    parser.add_argument("--steps", type=int, default=4,
                        help="message-passing steps of the edge classifier, or of the "
                        "hierarchical GNN's flat part (default %(default)s)")
    parser.add_argument("--pretrain-epochs", type=int, default=30, metavar="N",
                        help="--model hgnn-bipartite: passes of the hit embedding's training "
                        "alone, before the end-to-end epochs (default %(default)s)")
    parser.add_argument("--learning-rate", type=float, default=3e-3,
                        help="Adam's initial learning rate (default %(default)s)")
    parser.add_argument("--max-neighbours", type=int, default=None, metavar="K",
                        help="candidate edges from each hit to at most its K nearest hits on "
                        "each of the next layers, so the edges grow linearly with the hits; "
                        "0 keeps every pair a track could join (default "
                        f"{GRAPH_DEFAULTS['max_neighbours']})")
    parser.add_argument("--max-events", type=int, default=None, metavar="N",
                        help="read at most the first N events of --events and of --validation "
                        "(default: all)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    parser.set_defaults(func=_run_train, command="track train")


def _add_reconstruct(steps) -> None:
    parser = steps.add_parser(
        "reconstruct",
        help="find the tracks of events with a trained finder and write a submission CSV",
        description="Reconstruct the tracks of every event of --events with the finder of "
        "--model, reading only the events' hits (truth is not needed: test events work), "
        "and write one submission CSV, event_id,hit_id,track_id, listing every hit once.",
    )
    parser.add_argument("--model", required=True, metavar="RUN",
                        help="directory written by grapa track train")
    parser.add_argument("--events", required=True, metavar="DIR",
                        help="directory of events (their hits files are enough)")
    parser.add_argument("--out", required=True, metavar="FILE",
                        help="submission CSV (overwritten; .csv.gz to compress)")
    parser.add_argument("--max-events", type=int, default=None, metavar="N",
                        help="reconstruct at most the first N events (default: all)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(func=_run_reconstruct, command="track reconstruct")


def _add_evaluate(steps) -> None:
    parser = steps.add_parser(
        "evaluate",
        help="score a submission against the truth: efficiency, purity, TrackML score",
        description="Score a submission CSV against the truth of the events of --events: "
        "per event and pooled over them, the tracking efficiency (matched reconstructable "
        "particles over reconstructable ones: pT above --min-pt, at least --min-hits "
        "hits; matched = a track candidate holds more than half of the particle's hits and "
        "the particle more than half of the candidate's), the purity (of candidates of "
        f"at least {MIN_CANDIDATE_HITS} hits) and the TrackML score. Writes report.json, "
        "report.md, particles.csv (every particle: pT, eta, hits, reconstructable, "
        "matched), efficiency.png and event_display.png into --out.",
    )
    parser.add_argument("--events", required=True, metavar="DIR",
                        help="directory of events with truth and particles")
    parser.add_argument("--submission", required=True, metavar="FILE",
                        help="submission CSV (event_id,hit_id,track_id), e.g. from grapa "
                        "track reconstruct")
    parser.add_argument("--out", required=True, metavar="REPORT", help="report directory")
    parser.add_argument("--min-pt", type=float, default=1.0,
                        help="pT above which a particle is reconstructable, GeV "
                        "(default %(default)s)")
    parser.add_argument("--min-hits", type=int, default=5,
                        help="hits a reconstructable particle left at least "
                        "(default %(default)s)")
    parser.add_argument("--max-events", type=int, default=None, metavar="N",
                        help="evaluate at most the first N events of --events, as "
                        "reconstruct --max-events N (default: all)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(func=_run_evaluate, command="track evaluate")


# ---------------------------------------------------------------------------------------
# Checks in the command line's words
# ---------------------------------------------------------------------------------------


def _check_positive(*flags_values) -> None:
    for flag, value in flags_values:
        if value is not None and value < 1:
            raise CommandError(f"{flag} {value}: give a positive number")


def _event_ids(directory, flag: str, max_events: int | None, parts=("hits",)) -> list[int]:
    """The event ids of `directory` (the first `max_events`), each with the files of
    `parts`, or a CommandError naming `flag`."""
    from grapa.tracking.events import TrackMLFormatError, event_prefix, list_events

    if not Path(directory).is_dir():
        raise CommandError(f"{flag} {directory}: no such directory; give a directory of "
                           "TrackML events (event000001000-hits.csv, ...)")
    try:
        ids = list_events(directory)[:max_events]
    except TrackMLFormatError:
        raise CommandError(
            f"{flag} {directory} holds no TrackML event (no event*-hits.csv): give a "
            "directory of files event<9-digit id>-hits.csv (.csv.gz), e.g. written by "
            "grapa simulate --process tracks") from None
    for part in parts:
        lacking = [event_id for event_id in ids if not any(
            Path(f"{event_prefix(directory, event_id)}-{part}{ending}").is_file()
            for ending in (".csv", ".csv.gz"))]
        if lacking:
            raise CommandError(
                f"{flag} {directory}: {len(lacking)} of its {len(ids)} events have no {part} "
                f"file, e.g. {event_prefix(directory, lacking[0]).name}-{part}.csv; this step "
                f"needs the {' and '.join(parts)} of every event")
    return ids


def _progress(items, what: str, quiet: bool):
    from tqdm import tqdm

    return tqdm(items, unit="event", desc=what, disable=quiet, leave=False)


# ---------------------------------------------------------------------------------------
# grapa track train
# ---------------------------------------------------------------------------------------


def _run_train(args) -> int:
    from grapa.tracking.events import iter_events
    from grapa.tracking.finders import FINDERS

    _check_positive(("--epochs", args.epochs), ("--units", args.units),
                    ("--max-events", args.max_events))
    hierarchical = args.model == "hgnn-bipartite"
    if args.steps < (1 if hierarchical else 0):
        raise CommandError(f"--steps {args.steps}: give {1 if hierarchical else 0} or more "
                           "message-passing steps")
    if args.pretrain_epochs < 0:
        raise CommandError(f"--pretrain-epochs {args.pretrain_epochs}: give 0 or more")
    if hierarchical and args.units <= 8:
        raise CommandError(f"--units {args.units}: --model hgnn-bipartite needs more than 8 "
                           "(a super-node's features are its 8-dimensional embedding and "
                           "units - 8 more), e.g. 32")
    if hierarchical and args.validation is not None:
        raise CommandError("--validation: --model hgnn-bipartite reports no validation "
                           "loss; drop --validation (or train --model in-edge)")
    if not args.learning_rate > 0:
        raise CommandError(f"--learning-rate {args.learning_rate}: give a positive rate, "
                           "e.g. 1e-3")
    if Path(args.out).is_file():
        raise CommandError(f"--out {args.out} is a file: give a directory for the track finder")
    graph_options = {}
    if args.max_neighbours is not None:
        if args.max_neighbours < 0:
            raise CommandError(f"--max-neighbours {args.max_neighbours}: give 1 or more "
                               "neighbours per hit and layer, or 0 for no cap")
        graph_options["max_neighbours"] = args.max_neighbours or None
    # the HGNN weighs its losses by the particles' pT
    parts = ("hits", "truth", "particles") if hierarchical else ("hits", "truth")
    ids = _event_ids(args.events, "--events", args.max_events, parts)
    validation = None
    if args.validation is not None:
        validation_ids = _event_ids(args.validation, "--validation", args.max_events, parts)
        validation = iter_events(args.validation, parts, validation_ids)
    events = iter_events(args.events, parts, ids)
    verbose = 0 if args.quiet else 1
    if hierarchical:
        finder = FINDERS[args.model](units=args.units, flat_steps=args.steps,
                                     graph_options=graph_options)
        finder.fit(events, epochs=args.epochs, learning_rate=args.learning_rate,
                   pretrain_epochs=args.pretrain_epochs, seed=args.seed, verbose=verbose)
    else:
        finder = FINDERS[args.model](units=args.units, steps=args.steps,
                                     graph_options=graph_options)
        finder.fit(events, validation, epochs=args.epochs, learning_rate=args.learning_rate,
                   seed=args.seed, verbose=verbose)
    finder.save(args.out)
    n_edges = finder.training_summary["filtered_edges"]
    losses = f"final loss {finder.history['loss'][-1]:.4f}"
    if "val_loss" in finder.history:
        losses += f", validation loss {finder.history['val_loss'][-1]:.4f}"
    print(f"trained a track finder ({args.model}) on {len(ids)} events ({n_edges} edges "
          "after the filter) "
          f"for {args.epochs} epochs; {losses}; wrote {args.out}")
    return 0


# ---------------------------------------------------------------------------------------
# grapa track reconstruct
# ---------------------------------------------------------------------------------------


def _load_finder(run: str):
    from grapa.tracking.finders import load_finder

    if not Path(run).is_dir():
        raise CommandError(f"--model {run} is not a trained track finder (no such directory): "
                           "give the --out directory of grapa track train")
    try:
        return load_finder(run)
    except (FileNotFoundError, ValueError) as error:
        raise CommandError(f"--model {run} is not a trained track finder ({error})") from None


def _run_reconstruct(args) -> int:
    import numpy as np
    import pandas as pd

    from grapa.tracking.events import (
        iter_events,
        submission_from_track_ids,
        validate_submission,
        write_submission,
    )

    _check_positive(("--max-events", args.max_events))
    if Path(args.out).is_dir():
        raise CommandError(f"--out {args.out} is a directory: give the submission's file "
                           "name, e.g. submission.csv")
    ids = _event_ids(args.events, "--events", args.max_events)
    finder = _load_finder(args.model)
    frames, n_candidates = [], 0
    for event in _progress(iter_events(args.events, ("hits",), ids), "reconstruct", args.quiet):
        frame = submission_from_track_ids(event, finder.reconstruct(event))
        validate_submission(frame, event)
        frames.append(frame)
        sizes = np.unique(frame["track_id"].to_numpy(), return_counts=True)[1]
        n_candidates += int((sizes >= MIN_CANDIDATE_HITS).sum())
    submission = pd.concat(frames, ignore_index=True)
    write_submission(args.out, submission)
    n_tracks = len(submission[["event_id", "track_id"]].drop_duplicates())
    print(f"wrote {args.out}: {len(ids)} events, {len(submission)} hits in {n_tracks} tracks "
          f"({n_candidates} of at least {MIN_CANDIDATE_HITS} hits)")
    return 0


# ---------------------------------------------------------------------------------------
# grapa track evaluate
# ---------------------------------------------------------------------------------------


def _event_labels(submission, event, path: str):
    """The submission's track label of each hit row of `event`, after checking that it
    lists every hit of the event once."""
    from grapa.tracking.events import TrackMLFormatError, validate_submission

    rows = submission[submission["event_id"].to_numpy() == event.event_id]
    if rows.empty:
        raise CommandError(
            f"--submission {path} lacks event {event.event_id} of --events: reconstruct "
            "every event of the directory (grapa track reconstruct), or pass the same "
            "--max-events to both steps")
    try:
        validate_submission(rows, event)
    except TrackMLFormatError as error:
        message = str(error).replace("Build it with submission_from_track_ids(event, "
                                     "track_ids)", "Write it with grapa track reconstruct")
        raise CommandError(f"--submission {path} does not fit --events: {message}") from None
    return rows.set_index("hit_id")["track_id"].reindex(event.hits["hit_id"]).to_numpy()


def _note_other_events(submission, ids: list[int], path: str) -> None:
    """Say on stderr when the submission holds events that are not evaluated."""
    import sys

    others = sorted(set(submission["event_id"].unique().tolist()) - set(ids))
    if others:
        print(f"grapa track evaluate: --submission {path} holds {len(others)} events not "
              f"evaluated (not among those of --events read), e.g. {others[0]}; left out",
              file=sys.stderr)


def _binomial_error(value: float, n: int) -> float:
    return math.sqrt(value * (1 - value) / n) if n and not math.isnan(value) else math.nan


def _without_nan(value):
    """`value` with every NaN as None (null): JSON has no NaN."""
    if isinstance(value, dict):
        return {key: _without_nan(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_without_nan(item) for item in value]
    return None if isinstance(value, float) and math.isnan(value) else value


def _with_error(report: dict, key: str) -> str:
    value, error = report[key], report[f"{key}_error"]
    if value is None:
        return "undefined (0/0)"
    return f"{value:.3f}" + ("" if error is None else f" +- {error:.3f}")


def _run_evaluate(args) -> int:
    import numpy as np
    import pandas as pd

    from grapa.tracking.events import iter_events, read_submission
    from grapa.tracking.metrics import (
        UndefinedMetricWarning,
        combine_metrics,
        particle_table,
        tracking_metrics,
        trackml_score,
    )

    _check_positive(("--min-hits", args.min_hits), ("--max-events", args.max_events))
    if not args.min_pt >= 0:
        raise CommandError(f"--min-pt {args.min_pt}: give a pT cut of 0 GeV or more")
    if Path(args.out).is_file():
        raise CommandError(f"--out {args.out} is a file: give a directory for the report")
    parts = ("hits", "truth", "particles")
    ids = _event_ids(args.events, "--events", args.max_events, parts)
    if not Path(args.submission).is_file():
        raise CommandError(f"--submission {args.submission}: no such file; write one with "
                           "grapa track reconstruct")
    submission = read_submission(args.submission)  # a TrackMLFormatError names the problem
    cuts = {"min_hits": args.min_hits, "min_pt": args.min_pt}
    results, tables, first = [], [], None
    for event in _progress(iter_events(args.events, parts, ids), "evaluate", args.quiet):
        labels = _event_labels(submission, event, args.submission)
        with warnings.catch_warnings():  # one event's 0/0 is NaN; the pooled numbers count
            warnings.simplefilter("ignore", UndefinedMetricWarning)
            metrics = tracking_metrics(labels, event.truth, event.particles,
                                       min_candidate_hits=MIN_CANDIDATE_HITS, **cuts)
        rows = pd.DataFrame({"hit_id": event.hits["hit_id"], "track_id": labels})
        results.append({"event_id": event.event_id, "n_hits": event.n_hits, **metrics,
                        "trackml_score": trackml_score(event.truth, rows)})
        tables.append(particle_table(labels, event.truth, event.particles, **cuts)
                      .assign(event_id=event.event_id))
        if first is None:
            first = (event, labels)
    with warnings.catch_warnings():  # a pooled 0/0 is printed as "undefined (0/0)"
        warnings.simplefilter("ignore", UndefinedMetricWarning)
        pooled = combine_metrics(results)
    _note_other_events(submission, ids, args.submission)
    scores = np.array([result["trackml_score"] for result in results])
    report = {
        "events_dir": str(args.events), "submission": str(args.submission), "n_events": len(ids),
        **cuts, "min_candidate_hits": MIN_CANDIDATE_HITS,
        "efficiency": pooled["efficiency"],
        "efficiency_error": _binomial_error(pooled["efficiency"], pooled["n_reconstructable"]),
        "purity": pooled["purity"],
        "purity_error": _binomial_error(pooled["purity"], pooled["n_candidates_counted"]),
        "trackml_score": float(scores.mean()),
        "trackml_score_error": float(scores.std(ddof=1) / math.sqrt(len(scores)))
        if len(scores) > 1 else math.nan,
        "counts": {key: value for key, value in pooled.items() if key.startswith("n_")},
        "per_event": results,
    }
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    figures = _write_figures(out, tables, pooled, *first, args.min_pt)
    report["figures"] = sorted(figures)
    particles = pd.concat(tables, ignore_index=True)
    particles[["event_id", *particles.columns[:-1]]].to_csv(out / "particles.csv", index=False)
    report = _without_nan(report)
    (out / "report.json").write_text(json.dumps(report, indent=2, allow_nan=False) + "\n")
    (out / "report.md").write_text(_markdown(report, figures))
    print(f"tracking efficiency {_with_error(report, 'efficiency')} "
          f"({pooled['n_matched']} of {pooled['n_reconstructable']} reconstructable particles), "
          f"purity {_with_error(report, 'purity')}, TrackML score "
          f"{_with_error(report, 'trackml_score')} over {len(ids)} events; "
          f"report: {out / 'report.md'}")
    return 0


def _write_figures(out: Path, tables, pooled: dict, event, labels, min_pt: float) -> dict:
    """The report's figures: `{file name: title}`."""
    from grapa.plotting import plot_event_display, plot_tracking_efficiency

    figures = {}
    if pooled["n_reconstructable"]:  # else there is no efficiency to draw
        plot_tracking_efficiency(tables, out / "efficiency.png")
        figures["efficiency.png"] = "Tracking efficiency"
    plot_event_display(event.hits, labels, out / "event_display.png", truth=event.truth,
                       min_pt=min_pt)
    figures["event_display.png"] = f"Event {event.event_id}, transverse view"
    return figures


def _markdown(report: dict, figures: dict) -> str:
    counts = report["counts"]
    lines = [
        f"# Tracking report: {report['n_events']} events",
        "",
        f"Events `{report['events_dir']}`, submission `{report['submission']}`. A particle is "
        f"reconstructable with pT > {report['min_pt']:g} GeV and at least "
        f"{report['min_hits']} hits; a track candidate matches a particle when each holds "
        "more than half of the other's hits. Efficiency and purity pool the events' "
        "counts (binomial errors); the TrackML score is the mean over events (error: its "
        "standard error).",
        "",
        "| quantity | value | counts |",
        "|---|---|---|",
        f"| tracking efficiency | {_with_error(report, 'efficiency')} | "
        f"{counts['n_matched']} matched of {counts['n_reconstructable']} reconstructable |",
        f"| tracking purity | {_with_error(report, 'purity')} | "
        f"{counts['n_candidates_matched']} matched of {counts['n_candidates_counted']} "
        f"candidates of >= {report['min_candidate_hits']} hits |",
        f"| TrackML score | {_with_error(report, 'trackml_score')} | |",
        "",
        "| event | hits | reconstructable | matched | efficiency | purity | TrackML score |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in report["per_event"]:
        ratios = " | ".join("-" if row[key] is None else f"{row[key]:.3f}"
                            for key in ("efficiency", "purity", "trackml_score"))
        lines.append(f"| {row['event_id']} | {row['n_hits']} | {row['n_reconstructable']} | "
                     f"{row['n_matched']} | {ratios} |")
    lines.append("")
    for filename, title in figures.items():
        lines += [f"## {title}", "", f"![{title}]({filename})", ""]
    return "\n".join(lines)
