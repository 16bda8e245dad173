"""``grapa simulate`` and ``grapa inspect``: make jet files (or TrackML events of
tracker hits) and look into jet files."""

from __future__ import annotations


def add_simulate(subparsers) -> None:
    parser = subparsers.add_parser(
        "simulate",
        help="simulate jets with Pythia 8 + FastJet into a top-tagging HDF5 file, or "
        "tracker hits (--process tracks) into TrackML CSV files",
        description="Simulate jets with Pythia 8 + FastJet (14 TeV, anti-kT R=0.8, "
        "jet pT 550-650 GeV unless --pt-min / --pt-max say otherwise, |eta| < 2) and "
        "write them in the top-tagging schema. With --process tracks, simulate --events "
        "events of --particles charged pions each through TrackML's barrel detector "
        "(2 T, 10 layers; helices, multiple scattering, smeared hits, 1% lost hits, 10% "
        "noise; pT 0.5-20 GeV, dN/dpT ~ pT^-3, |eta| < 1) and write TrackML CSV files "
        "(event<id>-hits.csv, -truth.csv, -particles.csv) into the --out directory.",
    )
    parser.add_argument(
        "--process",
        required=True,
        help="qcd, top, w, z, quark, gluon, custom (a process defined by --set), or tracks "
        "(tracker hits in the TrackML format)",
    )
    parser.add_argument("--pt-min", type=float, default=None,
                        help="lower end of the pT window in GeV (default 550 for jets, "
                        "0.5 for tracks)")
    parser.add_argument("--pt-max", type=float, default=None,
                        help="upper end of the pT window in GeV (default 650 for jets, "
                        "20 for tracks)")
    parser.add_argument("--jets", type=int, default=None,
                        help="number of jets to write (jet processes)")
    parser.add_argument("--events", type=int, default=None,
                        help="number of events to write (--process tracks)")
    parser.add_argument("--particles", type=int, default=None,
                        help="particles per event (--process tracks)")
    parser.add_argument("--out", required=True,
                        help="output HDF5 file (overwritten); for tracks, the output "
                        "directory")
    parser.add_argument("--seed", type=int, default=0, help="master seed (default 0)")
    parser.add_argument("--workers", type=int, default=1, help="worker processes (default 1)")
    parser.add_argument(
        "--constituents", type=int, default=200, help="constituent slots per jet (default 200)"
    )
    parser.add_argument(
        "--set",
        dest="settings",
        action="append",
        default=[],
        metavar="'KEY = VALUE'",
        help="extra Pythia setting, read after the process's own; repeatable",
    )
    parser.add_argument(
        "--label", type=int, default=None, help="is_signal_new value (default: 1 for top, else 0)"
    )
    parser.set_defaults(func=_run_simulate)


def _run_simulate(args) -> int:
    from grapa.cli.common import CommandError

    tracks = args.process == "tracks"
    counts = {"jets": "the number of jets to write", "events": "the number of events",
              "particles": "the number of particles per event"}
    needed = ("events", "particles") if tracks else ("jets",)
    what = "--process tracks" if tracks else f"the jet process {args.process!r}"
    for name, meaning in counts.items():
        given = getattr(args, name) is not None
        if name in needed and not given:
            raise CommandError(f"{what} needs --{name} ({meaning}).")
        if name not in needed and given:
            raise CommandError(f"--{name} is not used by {what}; it takes "
                               f"{' and '.join('--' + flag for flag in needed)}.")
    if tracks:
        from grapa.tracking.simulate import PT_MAX as default_max
        from grapa.tracking.simulate import PT_MIN as default_min
    else:
        from grapa.data.jet_selection import JET_PT_MAX as default_max
        from grapa.data.jet_selection import JET_PT_MIN as default_min
    pt_min = default_min if args.pt_min is None else args.pt_min
    pt_max = default_max if args.pt_max is None else args.pt_max
    # a power law in pT needs pt_min > 0; a jet window may start at 0
    low_ok, low = (pt_min > 0, "0 <") if tracks else (pt_min >= 0, "0 <=")
    if not (low_ok and pt_min < pt_max):
        raise CommandError(f"--pt-min {pt_min:g} --pt-max {pt_max:g}: the "
                           f"{'track' if tracks else 'jet'} pT window needs {low} --pt-min "
                           "< --pt-max (GeV)")
    if tracks:
        return _simulate_tracks(args, pt_min, pt_max)

    from grapa.data import simulate

    # an unknown process, a rejected Pythia setting or a bad count raise ValueError,
    # which grapa.cli.main prints as one line
    path = simulate(
        args.process,
        args.jets,
        args.out,
        seed=args.seed,
        workers=args.workers,
        settings=args.settings,
        n_constituents=args.constituents,
        label=args.label,
        pt_min=pt_min,
        pt_max=pt_max,
    )
    print(f"wrote {args.jets} {args.process} jets to {path}")
    return 0


def _simulate_tracks(args, pt_min: float, pt_max: float) -> int:
    from grapa.cli.common import CommandError
    from grapa.tracking.simulate import simulate_events

    for flag, value in (("--events", args.events), ("--particles", args.particles)):
        if value < 1:
            raise CommandError(f"{flag} {value}: give at least 1.")
    prefixes = simulate_events(args.out, args.events, args.particles, seed=args.seed,
                               pt_min=pt_min, pt_max=pt_max)
    print(f"wrote {len(prefixes)} events of {args.particles} particles to {args.out} "
          f"({prefixes[0].name} to {prefixes[-1].name})")
    return 0


def add_inspect(subparsers) -> None:
    parser = subparsers.add_parser(
        "inspect",
        help="summarize a top-tagging HDF5 file: jets, labels, multiplicity, mass, pT",
        description="Read a jet file chunk by chunk, validate it and print its jet count, "
        "signal fraction, empty and unsorted jets, and quantiles of the constituent "
        "multiplicity, jet pT, mass and eta.",
    )
    parser.add_argument("file", help="HDF5 file in the top-tagging schema")
    parser.add_argument("--key", default="table", help="pandas key (default 'table')")
    parser.set_defaults(func=_run_inspect)


def _run_inspect(args) -> int:
    import pandas as pd

    from grapa.data import describe_jets

    summary = describe_jets(args.file, key=args.key)  # a JetDataError is a ValueError
    n_jets = summary["n_jets"]
    print(
        f"{args.file} (key '{args.key}', pandas {summary['format']} format): {n_jets} jets, "
        f"{summary['n_constituents']} constituent slots"
    )
    if summary["n_signal"] is None:
        print("labels: none (no column is_signal_new)")
    else:
        fraction = summary["n_signal"] / n_jets if n_jets else 0.0
        print(f"signal (is_signal_new = 1): {summary['n_signal']} jets, {fraction:.1%}")
    print(
        f"all-zero jets: {summary['n_empty']}; jets not sorted by pT with padding last: "
        f"{summary['n_unsorted']}"
    )
    with pd.option_context("display.width", 120, "display.float_format", "{:.1f}".format):
        print(summary["quantiles"].to_string())
    return 0
