"""
Title: Generating jets with a graph GAN
Description: train grapa's JetGAN on real jets, generate new ones, write them in the
top-tagging format, read them back, and judge them as the field does (Kansal et al.
2021, 2023): W1 of the jet mass and of the particle features, W1-EFP, FPD and KPD, each
beside the real-vs-real floor on the same number of jets; an anomaly model trained on
real jets then scores real against generated ones (AUC 0.5 = indistinguishable).

    grapa simulate --process gluon --jets 100000 --seed 101 --pt-min 950 --pt-max 1050 \\
        --constituents 30 --workers 2 --out gluon_a.h5
    grapa simulate --process gluon --jets 50000 --seed 201 --pt-min 950 --pt-max 1050 \\
        --constituents 30 --workers 2 --out gluon_b.h5
    python examples/generate_jets.py --train gluon_a.h5 --reference gluon_b.h5 --out gluon_gan
    python examples/generate_jets.py --quick   # CI: the bundled QCD jets, 1 epoch

The first file trains (the first --train-jets jets, 10% of them held out to pick the
epoch) and its remaining jets are the floor's second real sample; the second file is
the reference every generated set is compared with.
"""

import argparse
import json
import os
import time
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "jax")

import numpy as np  # noqa: E402

from grapa.data import read_jets, sample_path, write_jets  # noqa: E402
from grapa.data.relative import to_relative  # noqa: E402
from grapa.evaluation import auc, auc_standard_error  # noqa: E402
from grapa.evaluation.baselines import MassScorer, ObservablesScorer  # noqa: E402
from grapa.evaluation.generative import generation_metrics  # noqa: E402
from grapa.models import JetGAN  # noqa: E402
from grapa.models.generator import ARCHITECTURES, OBJECTIVES  # noqa: E402
from grapa.plotting import plot_generated  # noqa: E402

N_PARTICLES = 30


def load(args):
    """(training jets, held-out real jets for the floor, reference real jets)."""
    if args.quick:
        jets, labels = read_jets(sample_path())
        jets = jets[labels == 0]
        return jets[:1200], jets[1200:2200], jets[2200:3200]
    jets, _ = read_jets(args.train)
    reference, _ = read_jets(args.reference, stop=args.eval_jets)
    train = jets[:args.train_jets]
    floor = jets[args.train_jets:args.train_jets + args.eval_jets]
    if len(floor) == 0:
        raise SystemExit(f"{args.train} has no jets beyond --train-jets {args.train_jets} "
                         "for the real-vs-real floor: simulate more or lower --train-jets")
    return train, floor, reference


def anomaly_aucs(train, reference, generated):
    """AUC of real (reference) vs generated jets under anomaly scorers fitted on `train`."""
    out = {}
    for scorer in (MassScorer(), ObservablesScorer()):
        scorer.fit(train)
        real_scores, fake_scores = scorer.score(reference), scorer.score(generated)
        value = auc(real_scores, fake_scores)
        out[scorer.name] = (value, auc_standard_error(value, len(reference), len(generated)))
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--train", help="top-tagging file of real jets to learn")
    parser.add_argument("--reference", help="an independent file of the same real jets")
    parser.add_argument("--out", default="generate_jets_out")
    parser.add_argument("--train-jets", type=int, default=50_000)
    parser.add_argument("--eval-jets", type=int, default=50_000,
                        help="jets per set in the metrics (JetNet: 50,000)")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--architecture", default="epic", choices=ARCHITECTURES)
    parser.add_argument("--objective", default=None, choices=OBJECTIVES,
                        help="default: the architecture's (JetGAN's default)")
    parser.add_argument("--validate-every", type=int, default=2,
                        help="epochs between the validations that pick the kept epoch")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="CI: bundled sample, 1 epoch")
    args = parser.parse_args()
    if not args.quick and not (args.train and args.reference):
        parser.error("give --train and --reference files, or --quick")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    train, floor_jets, reference_jets = load(args)
    epochs = 1 if args.quick else args.epochs
    n_validation = max(len(train) // 10, 1)

    gan = JetGAN(n_particles=N_PARTICLES, architecture=args.architecture,
                 objective=args.objective)
    start = time.perf_counter()
    history = gan.fit(train[n_validation:], epochs=epochs, batch_size=128,
                      validation_data=train[:n_validation],
                      validation_jets=min(5000, n_validation), validation_every=args.validate_every,
                      seed=args.seed, verbose=2)
    train_seconds = time.perf_counter() - start
    gan.save(out / "generator.keras")

    # what `grapa generate` does: generate, write in the top-tagging format, read back
    n_generated = len(reference_jets)
    start = time.perf_counter()
    generated_jets = gan.generate_jets(n_generated, seed=args.seed)
    generation_seconds = time.perf_counter() - start
    write_jets(out / "generated.h5", generated_jets)
    generated_jets, _ = read_jets(out / "generated.h5")
    generated_jets = generated_jets[np.any(generated_jets != 0, axis=(1, 2))]

    reference, _ = to_relative(reference_jets, N_PARTICLES)
    floor, _ = to_relative(floor_jets, N_PARTICLES)
    generated, _ = to_relative(generated_jets, N_PARTICLES)
    n_eval = min(args.eval_jets, len(reference), len(floor), len(generated))
    settings = {"num_eval_samples": n_eval, "seed": args.seed,
                "fpd_samples": (max(n_eval * 2 // 5, 10), n_eval),
                "kpd_batch_size": min(5000, n_eval)}
    table = generation_metrics(reference, generated, **settings)
    table_floor = generation_metrics(reference, floor, **settings)
    table = table.join(table_floor, rsuffix="_floor")
    table["ratio"] = table["value"] / table["value_floor"]
    aucs = anomaly_aucs(train, reference_jets, generated_jets)

    plot_generated(reference, generated, out / "distributions.png",
                   title=f"{len(generated)} generated vs {len(reference)} real jets")
    report = {
        "architecture": gan.architecture, "objective": gan.objective,
        "train_jets": len(train) - n_validation, "epochs": epochs,
        "train_seconds": round(train_seconds, 1),
        "generated_jets_per_second": round(n_generated / generation_seconds, 1),
        "metrics": table.reset_index().to_dict(orient="records"),
        "anomaly_auc_real_vs_generated": aucs,
        "history": history.history,
    }
    (out / "report.json").write_text(json.dumps(report, indent=1, default=float))
    print(table.to_string(float_format=lambda v: f"{v:.3g}"))
    for name, (value, error) in aucs.items():
        print(f"AUC real vs generated under the {name} anomaly scorer: {value:.3f} +- {error:.3f}")
    print(f"generation: {n_generated / generation_seconds:.0f} jets/s")
    print(f"generate_jets: figures in {out}")


if __name__ == "__main__":
    main()
