"""The ``grapa`` command line.

Each subcommand lives in one ``add_<name>`` function that registers its parser and
points ``func`` at the function doing the work, in a module of this package by what it
works on (``data``: simulate, inspect; ``train``: train, evaluate; ``demo``;
``crosscheck``; ``scan``; ``cluster``; ``generate``: train-generator, generate; ``track``:
track finding on TrackML events, with steps of its own: ``grapa track train``,
``reconstruct``, ``evaluate``). The installed ``grapa`` command starts in ``grapa_cli``
(outside this package), which picks the JAX backend before Keras loads.
"""

from __future__ import annotations

import argparse
import sys

from grapa.cli.cluster import add_cluster
from grapa.cli.common import CommandError
from grapa.cli.crosscheck import add_crosscheck
from grapa.cli.data import add_inspect, add_simulate
from grapa.cli.demo import add_demo
from grapa.cli.generate import add_generate, add_train_generator
from grapa.cli.scan import add_scan
from grapa.cli.track import add_track
from grapa.cli.train import add_evaluate, add_train


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="grapa",
        description="Anomaly detection on particle jets: graph autoencoders, oneoff networks and a learned jet likelihood.",
    )
    parser.add_argument("--version", action="store_true", help="print grapa's version and exit")
    parser.add_argument("--verbose", action="store_true", help=_VERBOSE_HELP)
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for add in _SUBCOMMANDS:
        add(subparsers)
    _add_verbose_flag(subparsers)
    return parser


def _add_verbose_flag(subparsers) -> None:
    """`--verbose` after every subcommand (`grapa train ... --verbose`), and after the steps
    of one with steps of its own (`grapa track train ... --verbose`)."""
    for subparser in subparsers.choices.values():
        subparser.add_argument("--verbose", action="store_true", default=argparse.SUPPRESS,
                               help=_VERBOSE_HELP)
        for action in subparser._actions:  # argparse lists a parser's subparsers nowhere public
            if isinstance(action, argparse._SubParsersAction):
                _add_verbose_flag(action)


_VERBOSE_HELP = "on an error, print Python's full back trace, not only grapa's message"


# Errors whose message names the problem and its fix: printed alone, as one line.
_EXPLAINED = (CommandError, FileNotFoundError, ValueError, FloatingPointError)


# Subcommand registration functions, in the order `grapa --help` lists them.
_SUBCOMMANDS: list = [
    add_demo, add_simulate, add_inspect, add_train, add_evaluate, add_crosscheck, add_scan,
    add_cluster, add_train_generator, add_generate, add_track,
]


def main(argv: list[str] | None = None) -> int:
    parser = _build_parser()
    args = parser.parse_args(argv)
    if args.version:
        from grapa import __version__

        print(__version__)
        return 0
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    try:
        return int(args.func(args) or 0)
    except Exception as error:
        if args.verbose:
            raise
        explained = isinstance(error, _EXPLAINED)
        message = " ".join(str(error).split()) if explained else (
            f"{type(error).__name__}: {' '.join(str(error).split())} (run again with --verbose "
            "for the full back trace)")
        print(f"grapa {args.command}: error: {message}", file=sys.stderr)
        return 2 if explained else 1


if __name__ == "__main__":
    sys.exit(main())
