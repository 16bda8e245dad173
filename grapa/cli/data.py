"""``grapa simulate`` and ``grapa inspect``: make jet files and look into them."""

from __future__ import annotations


def add_simulate(subparsers) -> None:
    parser = subparsers.add_parser(
        "simulate",
        help="simulate jets with Pythia 8 + FastJet into a top-tagging HDF5 file",
        description="Simulate jets with Pythia 8 + FastJet (14 TeV, anti-kT R=0.8, "
        "jet pT 550-650 GeV unless --pt-min / --pt-max say otherwise, |eta| < 2) and "
        "write them in the top-tagging schema.",
    )
    parser.add_argument(
        "--process",
        required=True,
        help="qcd, top, w, z, quark, gluon, or custom (a process defined by --set)",
    )
    parser.add_argument("--pt-min", type=float, default=550.0,
                        help="lower end of the jet pT window in GeV (default 550)")
    parser.add_argument("--pt-max", type=float, default=650.0,
                        help="upper end of the jet pT window in GeV (default 650)")
    parser.add_argument("--jets", type=int, required=True, help="number of jets to write")
    parser.add_argument("--out", required=True, help="output HDF5 file (overwritten)")
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
    from grapa.data import simulate

    from grapa.cli.common import CommandError

    if not 0 <= args.pt_min < args.pt_max:
        raise CommandError(f"--pt-min {args.pt_min:g} --pt-max {args.pt_max:g}: the jet pT "
                           "window needs 0 <= --pt-min < --pt-max (GeV)")
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
        pt_min=args.pt_min,
        pt_max=args.pt_max,
    )
    print(f"wrote {args.jets} {args.process} jets to {path}")
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
