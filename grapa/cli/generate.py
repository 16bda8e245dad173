"""``grapa train-generator`` and ``grapa generate``: a graph GAN for jets (`JetGAN`)."""

from __future__ import annotations

from pathlib import Path

from grapa.cli.common import CommandError


def add_train_generator(subparsers) -> None:
    parser = subparsers.add_parser(
        "train-generator",
        help="train a GAN (JetGAN) on the jets of a file and save it",
        description="Train grapa's jet GAN (by default EPiC-GAN's equivariant point-cloud "
        "networks; --architecture decompress: a generator grown by Decompress stages and "
        "an EdgeConv discriminator) on the leading --constituents particles of the jets in "
        "FILE, as JetNet's relative features (eta_rel, phi_rel, pT_rel). A held-out "
        "--validation-fraction of the jets picks the epoch whose generated jets are "
        "closest to them (W1 of the jet mass plus W1 of the particle features). Saves the "
        "model to --out (a .keras file) for `grapa generate`.",
    )
    parser.add_argument("file", help="top-tagging HDF5 file of real jets")
    parser.add_argument("--out", required=True, help="where to save the model (.keras)")
    parser.add_argument("--jets", type=int, default=None, help="jets read (default: all)")
    parser.add_argument("--constituents", type=int, default=30,
                        help="particles per generated jet (default %(default)s)")
    parser.add_argument("--factors", default="5,6",
                        help="decompression factors, multiplying to --constituents "
                        "(decompress only; default %(default)s)")
    parser.add_argument("--architecture", default="epic",
                        choices=("decompress", "epic"),
                        help="decompress: the thesis's graph grown from one node; epic: "
                             "EPiC-GAN's equivariant point-cloud networks (default "
                             "%(default)s)")
    parser.add_argument("--objective", default=None, choices=("wgan-gp", "lsgan"),
                        help="GAN objective (default: wgan-gp for decompress, lsgan for "
                             "epic)")
    parser.add_argument("--epochs", type=int, default=100, help="default %(default)s")
    parser.add_argument("--batch-size", type=int, default=128, help="default %(default)s")
    parser.add_argument("--validation-fraction", type=float, default=0.1,
                        help="share of the jets held out to pick the best epoch "
                        "(default %(default)s)")
    parser.add_argument("--validate-every", type=int, default=5,
                        help="epochs between validations (default %(default)s)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    parser.set_defaults(func=_run_train_generator)


def add_generate(subparsers) -> None:
    parser = subparsers.add_parser(
        "generate",
        help="generate jets with a trained graph GAN and write them in the top-tagging format",
        description="Generate --jets jets with a model saved by `grapa train-generator` and "
        "write their (E, px, py, pz) constituents (massless; jet pT and eta drawn from the "
        "training jets' distributions, azimuth uniform) in the top-tagging schema, so "
        "`grapa inspect`, `grapa evaluate` and read_jets take them like real jets.",
    )
    parser.add_argument("--model", required=True, help="a .keras file from train-generator")
    parser.add_argument("--jets", type=int, required=True, help="number of jets")
    parser.add_argument("--out", required=True, help="output HDF5 file (overwritten)")
    parser.add_argument("--label", type=int, default=None,
                        help="is_signal_new value written for every jet (default: no label "
                        "column)")
    parser.add_argument("--seed", type=int, default=None, help="noise seed (default: fresh)")
    parser.set_defaults(func=_run_generate)


def _factors(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(part) for part in text.split(","))
    except ValueError:
        raise CommandError(f"--factors {text!r}: give integers separated by commas, e.g. 5,6"
                           ) from None


def _run_train_generator(args) -> int:
    import numpy as np

    from grapa.data import read_jets
    from grapa.models.generator import JetGAN

    if not str(args.out).endswith(".keras"):
        raise CommandError(f"--out {args.out}: the model is saved as a .keras file; give a "
                           "name ending in .keras")
    if not 0 < args.validation_fraction < 1:
        raise CommandError(f"--validation-fraction {args.validation_fraction}: give a share "
                           "between 0 and 1, e.g. 0.1")
    for flag, value in (("--epochs", args.epochs), ("--batch-size", args.batch_size),
                        ("--validate-every", args.validate_every),
                        ("--constituents", args.constituents)):
        if value < 1:
            raise CommandError(f"{flag} {value}: give a positive number")
    factors = _factors(args.factors)
    if args.architecture == "decompress" and int(np.prod(factors)) != args.constituents:
        raise CommandError(f"--factors {args.factors} multiply to {int(np.prod(factors))}, "
                           f"not --constituents {args.constituents}: give factors whose "
                           "product is the number of particles, e.g. 5,6 for 30")
    jets, _ = read_jets(args.file, stop=args.jets)
    order = np.random.default_rng(args.seed).permutation(len(jets))
    n_validation = max(1, int(round(args.validation_fraction * len(jets))))
    validation, train = jets[order[:n_validation]], jets[order[n_validation:]]
    if len(train) < args.batch_size:
        raise CommandError(f"{len(train)} training jets are fewer than --batch-size "
                           f"{args.batch_size}: give more jets or a smaller --batch-size")
    gan = JetGAN(n_particles=args.constituents, architecture=args.architecture,
                 factors=factors, objective=args.objective)
    history = gan.fit(train, epochs=args.epochs, batch_size=args.batch_size,
                      validation_data=validation,
                      validation_jets=min(10_000, len(validation)),
                      validation_every=args.validate_every, seed=args.seed,
                      verbose=0 if args.quiet else 1)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    gan.save(args.out)
    w1m = [v for v in history.history["w1m"] if v == v]
    w1p = [v for v in history.history["w1p"] if v == v]
    best = int(np.argmin(np.add(w1m, w1p)))
    print(f"trained on {len(train)} jets for {args.epochs} epochs; best validation: "
          f"W1-M {w1m[best]:.2e}, W1-P {w1p[best]:.2e}; wrote {args.out}")
    return 0


def _run_generate(args) -> int:
    import keras

    from grapa.data import write_jets
    from grapa.models.generator import JetGAN

    if args.jets < 1:
        raise CommandError(f"--jets {args.jets}: give a positive number of jets")
    if not Path(args.model).is_file():
        raise CommandError(f"--model {args.model}: no such file")
    model = keras.models.load_model(args.model)
    if not isinstance(model, JetGAN):
        raise CommandError(f"--model {args.model} holds a {type(model).__name__}, not a "
                           "generator: give a model saved by grapa train-generator")
    jets = model.generate_jets(args.jets, seed=args.seed)
    labels = None if args.label is None else [args.label] * len(jets)
    write_jets(args.out, jets, labels)
    print(f"wrote {len(jets)} generated jets to {args.out}")
    return 0
