"""
Title: Supervised top tagging with a ParticleNet-style graph network
Description: grapa's EdgeConv tagger against gradient boosting on jet observables, on the
same simulated QCD and top jets, and three pooling steps compared.

The tagger (`grapa.models.build_particle_net`, ParticleNet-Lite sizes by default: k = 7,
EdgeConv blocks (32, 32, 32) and (64, 64, 64)) takes the 30 leading constituents of each
jet. The baseline is `grapa.evaluation.ObservablesClassifier`: scikit-learn's histogram
gradient boosting on the eight jet observables (mass, multiplicity, width, pT_D, e2,
leading fractions, m/pT), computed from the same 30 constituents and, where the files
hold more, from all of them. All train on the same jets and are scored on the same
held-out jets: AUC with its Hanley-McNeil error, the background rejection 1/eps_B at 30%
signal efficiency, and the tagger's AUC minus each baseline's with DeLong's paired error.

    python examples/top_tagging.py --qcd qcd.h5 --top top.h5 --train 12000 --test 4000
    python examples/top_tagging.py --poolings mean soft compress   # the pooling comparison
    python examples/top_tagging.py --quick                          # CI: the bundled sample, 1 epoch
"""

import argparse
import os
import time

os.environ.setdefault("KERAS_BACKEND", "jax")

import keras  # noqa: E402
import numpy as np  # noqa: E402

import grapa  # noqa: E402
from grapa.data import read_jets, sample_path  # noqa: E402
from grapa.evaluation import (  # noqa: E402
    ObservablesClassifier,
    auc,
    auc_difference,
    auc_standard_error,
    rejection,
)

N_CONSTITUENTS = 30
N_TRAIN = 12000  # per class
N_TEST = 4000  # per class
EPOCHS = 10


def load(qcd, top, n_train, n_test):
    """`(train, test)`: each a (qcd, top) pair; every constituent for the observables."""
    if qcd and top:
        q, _ = read_jets(qcd, stop=n_train + n_test)
        t, _ = read_jets(top, stop=n_train + n_test)
    else:
        jets, labels = read_jets(sample_path())
        q, t = jets[labels == 0], jets[labels == 1]
    for name, jets in (("QCD", q), ("top", t)):
        if len(jets) < n_train + n_test:
            raise SystemExit(f"{name} has {len(jets)} jets, fewer than --train + --test.")
    return (q[:n_train], t[:n_train]), (q[n_train:n_train + n_test], t[n_train:n_train + n_test])


def figures(name, qcd_scores, top_scores, seconds):
    value = auc(qcd_scores, top_scores)
    error = auc_standard_error(value, len(qcd_scores), len(top_scores))
    return (f"| {name} | {value:.4f} +- {error:.4f} | "
            f"{rejection(qcd_scores, top_scores, 0.3):.0f} | {seconds:.0f} |")


def main():
    parser = argparse.ArgumentParser(description="ParticleNet-style tagger vs boosting")
    parser.add_argument("--quick", action="store_true", help="tiny run on the sample (CI)")
    parser.add_argument("--qcd", help="QCD file (default: the bundled sample)")
    parser.add_argument("--top", help="top file (default: the bundled sample)")
    parser.add_argument("--train", type=int, default=N_TRAIN, help="training jets per class")
    parser.add_argument("--test", type=int, default=N_TEST, help="test jets per class")
    parser.add_argument("--epochs", type=int, default=EPOCHS)
    parser.add_argument("--poolings", nargs="+", default=["mean"],
                        help="pooling steps to compare (mean, sum, max, soft, compress)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if args.quick:
        args.train, args.test, args.epochs = 600, 400, 1
    keras.utils.set_random_seed(args.seed)
    (q_train, t_train), (q_test, t_test) = load(args.qcd, args.top, args.train, args.test)
    leading = slice(None), slice(0, N_CONSTITUENTS)

    scores = {}  # name: (QCD test scores, top test scores, training seconds)
    # the baseline on the same 30 constituents the tagger sees, and on every constituent
    inputs = {f"{N_CONSTITUENTS} leading constituents": leading}
    if q_train.shape[1] > N_CONSTITUENTS:
        inputs[f"all {q_train.shape[1]} constituent slots"] = (slice(None), slice(None))
    for description, constituents in inputs.items():
        start = time.perf_counter()
        boosting = ObservablesClassifier(seed=args.seed).fit(q_train[constituents],
                                                             t_train[constituents])
        scores[f"gradient boosting on 8 observables of {description}"] = (
            boosting.score(q_test[constituents]), boosting.score(t_test[constituents]),
            time.perf_counter() - start)
    baselines = list(scores)
    for pooling in args.poolings:
        start = time.perf_counter()
        model, _ = grapa.train_tagger(q_train[leading], t_train[leading], epochs=args.epochs,
                                      pooling=pooling, seed=args.seed, verbose=0)
        seconds = time.perf_counter() - start
        scores[f"ParticleNet-Lite, {pooling} pooling"] = (
            model.predict(q_test[leading], verbose=0).ravel(),
            model.predict(t_test[leading], verbose=0).ravel(), seconds)

    print(f"{len(q_train) + len(t_train)} training jets, {len(q_test) + len(t_test)} test jets, "
          f"{args.epochs} epochs, backend {keras.backend.backend()}")
    print("| tagger | AUC | rejection at 30% | train s |\n|---|---|---|---|")
    for name, (qcd_scores, top_scores, seconds) in scores.items():
        print(figures(name, qcd_scores, top_scores, seconds))
    tagger = f"ParticleNet-Lite, {args.poolings[0]} pooling"
    for baseline in baselines:
        difference, error = auc_difference(*scores[tagger][:2], *scores[baseline][:2])
        print(f"AUC({tagger}) - AUC({baseline}) = {difference:+.4f} +- {error:.4f} "
              "(DeLong, same test jets)")
    print("top tagging: ParticleNet-Lite vs gradient boosting")


if __name__ == "__main__":
    main()
