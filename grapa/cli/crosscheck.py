"""``grapa crosscheck``: the AUC cross table of many datasets (thesis sec. 8.3)."""

from __future__ import annotations

from grapa.cli.common import add_ray_flag, presets, ray_address


def add_crosscheck(subparsers) -> None:
    parser = subparsers.add_parser(
        "crosscheck",
        help="train on each dataset, score every other: the AUC cross table (thesis 8.3)",
        description="For every dataset, train a model on half of its jets and score the other "
        "datasets' held-out halves against its own; write crosscheck.json, crosscheck.md and "
        "a heat map marking non-invertible pairs.",
    )
    parser.add_argument("data", nargs="+", help="top-tagging files, one dataset each")
    from grapa.crosscheck import BASELINES, MODELS, ModelFactory

    defaults = ModelFactory()  # the CLI defaults are the factory's

    parser.add_argument("--model", choices=MODELS, default=defaults.kind,
                        help="scorer trained on each dataset (default %(default)s: the "
                        "mass-anchored likelihood; the thesis's models stay available)")
    parser.add_argument("--preset", choices=presets(), default=defaults.preset,
                        help="autoencoder preset of mixed / autoencoder / normalized / angular")
    parser.add_argument("--out", required=True, help="output directory")
    parser.add_argument("--jets", type=int, default=None, help="jets read per file (half train)")
    parser.add_argument("--epochs", type=int, default=defaults.epochs,
                        help="autoencoder: at least this many epochs, then patience epochs/5")
    parser.add_argument("--oneoffs", type=int, default=defaults.n_oneoffs,
                        help="oneoffs in each ensemble")
    parser.add_argument("--oneoff-epochs", type=int, default=defaults.oneoff_epochs,
                        help="most epochs of each oneoff (early stopping, patience 20)")
    parser.add_argument("--repeats", type=int, default=defaults.repeats,
                        help="models per row (seeds seed, seed+1, ...): likelihoods averaged, "
                        "losses added scaled by their training means")
    parser.add_argument("--baselines", nargs="*", choices=MODELS, default=list(BASELINES),
                        metavar="KIND", help="scorers tabled beside the model on the same jets "
                        "(default: %(default)s); give none to skip")
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--workers", type=int, default=1,
                        help="models (rows, and repeats within a row) trained in parallel "
                        "processes")
    add_ray_flag(parser, "every model (each row, each repeat) as a task")
    parser.set_defaults(func=_run_crosscheck)


def _run_crosscheck(args) -> int:
    from pathlib import Path

    from grapa.crosscheck import ModelFactory, crosscheck

    ray = ray_address(args)
    factory = ModelFactory(kind=args.model, preset=args.preset, epochs=args.epochs,
                           n_oneoffs=args.oneoffs, oneoff_epochs=args.oneoff_epochs,
                           seed=args.seed, repeats=args.repeats)
    table = crosscheck(args.data, args.out, factory, n_jets=args.jets, workers=args.workers,
                       baselines=tuple(args.baselines), ray=ray)
    print(table.round(3).to_string())
    print(f"wrote {Path(args.out) / 'crosscheck.md'}")
    return 0
