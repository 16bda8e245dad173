"""``grapa train`` and ``grapa evaluate``: fit a model on background jets, then report on it."""

from __future__ import annotations

import sys

from grapa.cli.common import CommandError, cli_words, presets


def add_train(subparsers) -> None:
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
    parser.add_argument("--preset", default="jets4", choices=presets(),
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
    _add_devices_flag(parser, "autoencoder: train")
    parser.add_argument("--no-resume", action="store_true", help="start afresh even if a backup exists")
    parser.add_argument("--quiet", action="store_true", help="one line per epoch instead of a bar")
    parser.set_defaults(func=_run_train)


def _density_fit_defaults():
    import inspect

    from grapa.models.density import JetDensity

    parameters = inspect.signature(JetDensity.fit).parameters
    return {name: parameters[name].default
            for name in ("epochs", "batch_size", "learning_rate", "patience")}


def _add_devices_flag(parser, what):
    parser.add_argument(
        "--devices", default=None, metavar="all|N",
        help=f"{what} data parallel on every local accelerator (all) or on the first N "
        "(keras.distribution; each batch is split across them); default one device")


def _distribution(args):
    """`--devices` as `grapa.devices.resolve` takes it, checked, in CLI words."""
    if args.devices is None:
        return None
    if args.devices != "all" and not args.devices.isdigit():
        raise CommandError(f"--devices takes 'all' or a number of devices, got {args.devices!r}.")
    from grapa import devices

    try:
        return devices.resolve("all" if args.devices == "all" else int(args.devices))
    except ValueError as error:
        raise CommandError(f"--devices {args.devices}: {error}") from None


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
    distribution = _distribution(args)
    if distribution is not None and args.model == "density":
        raise CommandError("--devices trains an autoencoder preset on several devices; the "
                           "density scorer is small and trains on one: leave --devices out.")
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
                verbose=2 if args.quiet else "auto", distribution=distribution, **schedule,
                **overrides,
            )
            what = args.preset
    except (FileNotFoundError, ValueError) as error:
        raise CommandError(cli_words(error)) from error
    print(f"trained {what} for {len(history['loss'])} epochs, best val_loss "
          f"{min(history['val_loss']):.5f}; wrote {args.out}/model.keras")
    return 0


def add_evaluate(subparsers) -> None:
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
    _add_devices_flag(parser, "score")
    parser.set_defaults(func=_run_evaluate)


def _run_evaluate(args) -> int:
    from pathlib import Path

    import keras
    import pandas as pd

    from grapa import devices
    from grapa.data import read_jets
    from grapa.report import write_report
    from grapa.training import load_background, reference_jets

    distribution = _distribution(args)
    try:
        if not Path(args.model).exists():
            raise FileNotFoundError(f"--model {args.model} does not exist; pass the model.keras "
                                    "that grapa train wrote.")
        with devices.scope(distribution):
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
        raise CommandError(cli_words(error, label_flag="--reference-label")) from error
    history_file = Path(args.model).with_name("history.csv")
    history = pd.read_csv(history_file) if history_file.exists() else None
    with devices.scope(distribution):
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
