"""``grapa demo``: the main job, offline, on the sample bundled with grapa."""

from __future__ import annotations

# A short schedule for the demo: well under 3 minutes on a 2-core CPU.
DEMO_SCHEDULE = dict(min_epochs=100, patience=20, max_epochs=250)


def add_demo(subparsers) -> None:
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
    from grapa.evaluation import baseline_scorers
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
    compared = {"density (recommended)": JetDensity(seed=args.seed), **baseline_scorers()}
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
