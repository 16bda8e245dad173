"""The ``grapa`` command line.

Each subcommand lives in one ``_add_<name>`` function that registers its parser and
points ``func`` at the function doing the work. The installed ``grapa`` command starts
in ``grapa_cli`` (outside this package), which picks the JAX backend before Keras loads.
"""

from __future__ import annotations

import argparse
import sys


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="grapa",
        description="Graph autoencoders and oneoff anomaly detection for particle jets.",
    )
    parser.add_argument("--version", action="store_true", help="print grapa's version and exit")
    parser.add_argument("--verbose", action="store_true", help=_VERBOSE_HELP)
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for add in _SUBCOMMANDS:
        add(subparsers)
    for subparser in subparsers.choices.values():  # `grapa train ... --verbose` works too
        subparser.add_argument("--verbose", action="store_true", default=argparse.SUPPRESS,
                               help=_VERBOSE_HELP)
    return parser


_VERBOSE_HELP = "on an error, print Python's full back trace, not only grapa's message"


class CommandError(Exception):
    """An error whose message is in the command line's terms (its flags, not Python's)."""


def _add_simulate(subparsers) -> None:
    parser = subparsers.add_parser(
        "simulate",
        help="simulate jets with Pythia 8 + FastJet into a top-tagging HDF5 file",
        description="Simulate jets with Pythia 8 + FastJet (14 TeV, anti-kT R=0.8, "
        "jet pT 550-650 GeV, |eta| < 2) and write them in the top-tagging schema.",
    )
    parser.add_argument(
        "--process",
        required=True,
        help="qcd, top, quark, gluon, or custom (a process defined by --set)",
    )
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

    try:
        path = simulate(
            args.process,
            args.jets,
            args.out,
            seed=args.seed,
            workers=args.workers,
            settings=args.settings,
            n_constituents=args.constituents,
            label=args.label,
        )
    except ValueError as error:  # unknown process, rejected Pythia setting, bad count
        raise CommandError(error) from error
    print(f"wrote {args.jets} {args.process} jets to {path}")
    return 0


def _add_inspect(subparsers) -> None:
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

    try:
        summary = describe_jets(args.file, key=args.key)
    except (FileNotFoundError, ValueError) as error:  # JetDataError is a ValueError
        raise CommandError(error) from error
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


def _presets() -> list[str]:
    from grapa.models import PRESETS

    return sorted(PRESETS)


# Errors whose message names the problem and its fix: printed alone, as one line.
_EXPLAINED = (CommandError, FileNotFoundError, ValueError, FloatingPointError)


def _add_train(subparsers) -> None:
    from grapa.training import RECIPE

    parser = subparsers.add_parser(
        "train",
        help="train a model on background jets: a jet autoencoder preset or the density scorer",
        description="Train on background jets and write model.keras, history.csv and "
        "config.json into --out. --model autoencoder (default) trains a graph autoencoder "
        "preset with the thesis's recipe (Adam 0.003, batch 100, at least 500 epochs then "
        "patience 100, best weights restored; rerunning an interrupted command resumes it). "
        "--model density fits the mass-anchored likelihood of the jets' observables "
        "(grapa.models.JetDensity, the recommended anomaly score).",
    )
    parser.add_argument("--model", choices=["autoencoder", "density"], default="autoencoder",
                        help="what to train (default %(default)s)")
    parser.add_argument("--preset", default="jets4", choices=_presets(),
                        help="autoencoder preset (default %(default)s)")
    parser.add_argument("--data", required=True, help="top-tagging HDF5 file with background jets")
    parser.add_argument("--out", required=True, help="run directory")
    parser.add_argument("--n-train", type=int, default=RECIPE["n_train"],
                        help="jets used, validation included (default %(default)s)")
    parser.add_argument("--min-epochs", type=int, default=RECIPE["min_epochs"],
                        help="autoencoder only (default %(default)s)")
    for dest, (recipe_key, density_key, kind, what) in _SCHEDULE.items():
        parser.add_argument(f"--{dest.replace('_', '-')}", type=kind, default=None,
                            help=f"{what} (default: autoencoder {RECIPE[recipe_key]}, "
                            f"density {_DENSITY_FIT[density_key]})")
    parser.add_argument("--validation-split", type=float, default=RECIPE["validation_split"])
    parser.add_argument("--label", type=int, default=0,
                        help="train on jets with this is_signal_new (default 0, QCD); -1 for all")
    parser.add_argument("--normalization", choices=["max", "mixed"], default=None,
                        help="autoencoder: JetNorm variant (thesis ch. 6); default none")
    parser.add_argument("--loss", default=None,
                        help="autoencoder: l2 (default), ln, image_like or chamfer")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-resume", action="store_true", help="start afresh even if a backup exists")
    parser.add_argument("--quiet", action="store_true", help="one line per epoch instead of a bar")
    parser.set_defaults(func=_run_train)


def _density_fit_defaults():
    import inspect

    from grapa.models.density import JetDensity

    parameters = inspect.signature(JetDensity.fit).parameters
    return {name: parameters[name].default
            for name in ("epochs", "batch_size", "learning_rate", "patience")}


_DENSITY_FIT = _density_fit_defaults()
# CLI flag -> (its key in training.RECIPE, its JetDensity.fit argument, type, meaning)
_SCHEDULE = {
    "patience": ("patience", "patience", int, "epochs without improvement before stopping"),
    "max_epochs": ("max_epochs", "epochs", int, "most epochs"),
    "batch_size": ("batch_size", "batch_size", int, "jets per step"),
    "learning_rate": ("learning_rate", "learning_rate", float, "Adam's learning rate"),
}


def _run_train(args) -> int:
    import grapa
    from grapa.training import RECIPE

    label = None if args.label < 0 else args.label
    try:
        if args.model == "density":
            chosen = {density_key: getattr(args, dest)
                      for dest, (_, density_key, _, _) in _SCHEDULE.items()
                      if getattr(args, dest) is not None}
            model, history = grapa.train_density(
                args.data, out=args.out, n_train=args.n_train, label=label, seed=args.seed,
                validation_split=args.validation_split, verbose=2 if args.quiet else "auto",
                **chosen)
            what = "the density scorer"
        else:
            overrides = {"normalization": args.normalization}
            if args.loss:
                overrides["loss"] = args.loss
            schedule = {recipe_key: RECIPE[recipe_key] if getattr(args, dest) is None
                        else getattr(args, dest)
                        for dest, (recipe_key, _, _, _) in _SCHEDULE.items()}
            model, history = grapa.train(
                args.preset, args.data, out=args.out, n_train=args.n_train,
                min_epochs=args.min_epochs, validation_split=args.validation_split,
                label=label, seed=args.seed, resume=not args.no_resume,
                verbose=2 if args.quiet else "auto", **schedule, **overrides,
            )
            what = args.preset
    except (FileNotFoundError, ValueError) as error:
        raise CommandError(_cli_words(error)) from error
    print(f"trained {what} for {len(history['loss'])} epochs, best val_loss "
          f"{min(history['val_loss']):.5f}; wrote {args.out}/model.keras")
    return 0


def _cli_words(error: Exception, label_flag: str = "--label") -> str:
    """A library error's message with its Python argument names as the CLI's flags."""
    return str(error).replace("pass label=None", f"pass {label_flag} -1")


def _add_evaluate(subparsers) -> None:
    parser = subparsers.add_parser(
        "evaluate",
        help="score background and signal jets with a trained model and write a report",
        description="Score held-out background and signal jets with a trained model (grapa "
        "train's model.keras) and, on the same jets, with the mass and observables "
        "baselines fitted on the model's own training jets; write report.json, report.md, "
        "scores.npz and the figures into --out.",
    )
    parser.add_argument("--model", required=True, help="model.keras written by grapa train")
    parser.add_argument("--background", required=True, help="background (QCD) jets file")
    parser.add_argument("--signal", default=None,
                        help="signal jets file; without it, --background's is_signal_new splits")
    parser.add_argument("--out", required=True, help="report directory")
    parser.add_argument("--max-jets", type=int, default=None, help="read at most this many jets per file")
    parser.add_argument("--reference", default=None,
                        help="background jets file the baselines are fitted on (default: the "
                        "training file and jets recorded in the run's config.json)")
    parser.add_argument("--reference-label", type=int, default=0,
                        help="with --reference: fit on jets with this is_signal_new (default 0); "
                        "-1 for all")
    parser.set_defaults(func=_run_evaluate)


def _run_evaluate(args) -> int:
    from pathlib import Path

    import keras
    import pandas as pd

    from grapa.data import read_jets
    from grapa.report import write_report
    from grapa.training import load_background, reference_jets

    try:
        if not Path(args.model).exists():
            raise FileNotFoundError(f"--model {args.model} does not exist; pass the model.keras "
                                    "that grapa train wrote.")
        model = keras.saving.load_model(args.model)
        background, labels = read_jets(args.background, stop=args.max_jets)
        if args.signal is not None:
            signal, _ = read_jets(args.signal, stop=args.max_jets)
        elif labels is not None:
            background, signal = background[labels == 0], background[labels != 0]
        else:
            raise ValueError(f"{args.background} has no is_signal_new column: pass --signal.")
        if args.reference is not None:
            label = None if args.reference_label < 0 else args.reference_label
            reference = load_background(args.reference, None, label=label)
        else:
            reference = reference_jets(args.model)
    except (FileNotFoundError, ValueError) as error:
        raise CommandError(_cli_words(error, label_flag="--reference-label")) from error
    history_file = Path(args.model).with_name("history.csv")
    history = pd.read_csv(history_file) if history_file.exists() else None
    report = write_report(model, background, signal, args.out, history=history,
                          model_name=str(args.model), reference=reference)
    print(f"AUC {report['auc']:.4f} +- {report['auc_error']:.4f}, rejection at eps_S = 0.3: "
          f"{report['rejection_at_0.3']:.2f}")
    for name, row in report["compared"].items():
        print(f"  baseline {name}: AUC {row['auc']:.4f} +- {row['auc_error']:.4f}, "
              f"rejection {row['rejection_at_0.3']:.2f}")
    if reference is None:
        print("grapa evaluate: baselines left out: the run records no training file that "
              "still exists; pass --reference FILE to compare with them", file=sys.stderr)
    print(f"report: {Path(args.out) / 'report.md'}")
    return 0


# A short schedule for the demo: well under 3 minutes on a 2-core CPU.
DEMO_SCHEDULE = dict(min_epochs=100, patience=20, max_epochs=250)


def _add_demo(subparsers) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="the main job: train jets4 on the bundled sample, evaluate QCD vs top, write a report",
        description="Train the 4-node graph autoencoder on the QCD jets of the sample bundled "
        "with grapa (offline), score held-out QCD and top jets, and write the report.",
    )
    parser.add_argument("--out", default="grapa-demo", help="output directory (default %(default)s)")
    parser.add_argument("--min-epochs", type=int, default=DEMO_SCHEDULE["min_epochs"])
    parser.add_argument("--patience", type=int, default=DEMO_SCHEDULE["patience"])
    parser.add_argument("--max-epochs", type=int, default=DEMO_SCHEDULE["max_epochs"])
    parser.add_argument("--seed", type=int, default=0)
    parser.set_defaults(func=_run_demo)


def _run_demo(args) -> int:
    from pathlib import Path

    import keras

    import grapa
    from grapa.data import anomaly_split, sample_path
    from grapa.evaluation.baselines import BASELINES, DEFAULT_BASELINES
    from grapa.models import JetDensity
    from grapa.report import write_report

    def every_20_epochs(epoch, logs):
        if (epoch + 1) % 20 == 0:
            print(f"  epoch {epoch + 1}: loss {logs['loss']:.5f}, val_loss {logs['val_loss']:.5f}",
                  flush=True)

    out = Path(args.out)
    jets = anomaly_split(sample_path(), n_constituents=None)  # all 30: the observables need them
    print(f"grapa demo: training jets4 on {len(jets.train)} simulated QCD jets "
          f"(at least {args.min_epochs} epochs, patience {args.patience})", flush=True)
    model, history = grapa.train(
        "jets4", jets.train[:, :4], out=out / "run", n_train=len(jets.train),
        min_epochs=args.min_epochs, patience=args.patience, max_epochs=args.max_epochs,
        seed=args.seed, resume=False, verbose=0,
        callbacks=[keras.callbacks.LambdaCallback(on_epoch_end=every_20_epochs)],
    )
    print("grapa demo: fitting the density scorer and the baselines on the same QCD jets",
          flush=True)
    compared = {"density (recommended)": JetDensity(seed=args.seed),
                **{name: BASELINES[name]() for name in DEFAULT_BASELINES}}
    report = write_report(model, jets.background_test, jets.signal_test, out / "report",
                          history=history, model_name="jets4 (grapa demo)",
                          reference=jets.train, compared=compared)
    print(f"grapa demo: AUC QCD vs top on {report['n_background']} QCD and {report['n_signal']} "
          "top test jets:")
    rows = {"jets4 autoencoder": report, **report["compared"]}
    for name, row in rows.items():
        print(f"  {name:24s} {row['auc']:.3f} +- {row['auc_error']:.3f}")
    print(f"grapa demo: report written to {out / 'report' / 'report.md'}")
    return 0


def _add_crosscheck(subparsers) -> None:
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
    parser.add_argument("--preset", choices=_presets(), default=defaults.preset,
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
    parser.add_argument("--workers", type=int, default=1, help="rows trained in parallel")
    parser.set_defaults(func=_run_crosscheck)


def _run_crosscheck(args) -> int:
    from pathlib import Path

    from grapa.crosscheck import ModelFactory, crosscheck

    factory = ModelFactory(kind=args.model, preset=args.preset, epochs=args.epochs,
                           n_oneoffs=args.oneoffs, oneoff_epochs=args.oneoff_epochs,
                           seed=args.seed, repeats=args.repeats)
    try:
        table = crosscheck(args.data, args.out, factory, n_jets=args.jets, workers=args.workers,
                           baselines=tuple(args.baselines))
    except (FileNotFoundError, ValueError) as error:
        raise CommandError(error) from error
    print(table.round(3).to_string())
    print(f"wrote {Path(args.out) / 'crosscheck.md'}")
    return 0


# Subcommand registration functions, in the order `grapa --help` lists them.
_SUBCOMMANDS: list = [
    _add_demo, _add_simulate, _add_inspect, _add_train, _add_evaluate, _add_crosscheck,
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
