"""
Title: Invertibility: does a model find QCD when trained on top, too?
Description: the thesis's central test (Klüttermann 2021, sec. 5.2.2, ch. 6-7) on
simulated QCD and top jets, for four scorers.

A plain autoencoder trained on QCD finds top jets well, but mostly because top jets are
wider (sec. 5.2.1): trained on top, the same network then finds QCD jets *less*
anomalous than top jets, an AUC below 0.5. Such a model is not invertible: it measures
a trivial feature, not "unlike the training data". The test trains each scorer on
dataset A and scores held-out B against A (AUC_AB), then the other way (AUC_BA);
invertible = both above 0.5.

Scorers: the trivial angular scorer (sec. 5.2.1), the plain 4-node graph autoencoder,
the autoencoder with JetNorm "mixed" (ch. 6), and the mixed model: that normalized
autoencoder with a oneoff ensemble on its latent space (ch. 7; the thesis: 0.635 / 0.823).

    python examples/oneoff_invertibility.py            # minutes on a 2-core CPU
    python examples/oneoff_invertibility.py --quick    # CI
    python examples/oneoff_invertibility.py --a qcd.h5 --b top.h5 --jets 10000
"""

import argparse
import os

os.environ.setdefault("KERAS_BACKEND", "jax")

import keras  # noqa: E402

from grapa.crosscheck import ModelFactory  # noqa: E402
from grapa.data import anomaly_split, read_jets, sample_path  # noqa: E402
from grapa.evaluation import invertibility  # noqa: E402

N_NODES = 4
N_JETS = 2800  # per dataset: half trains, half tests (the sample has 2,800 top jets)
EPOCHS = 100  # autoencoders: at least this many, then patience EPOCHS // 5
N_ONEOFFS = 25
ONEOFF_EPOCHS = 200
SCORERS = ("angular", "autoencoder", "normalized", "mixed")
QUICK = dict(epochs=2, n_oneoffs=2, oneoff_epochs=2, n_jets=600)


def datasets(path_a, path_b, n_jets):
    if path_a and path_b:
        return (read_jets(path_a, n_constituents=N_NODES, stop=n_jets)[0],
                read_jets(path_b, n_constituents=N_NODES, stop=n_jets)[0])
    jets = anomaly_split(sample_path(), n_constituents=N_NODES)
    return jets.train[:n_jets], jets.signal_test[:n_jets]


def main():
    parser = argparse.ArgumentParser(description="QCD <-> top invertibility of four scorers")
    parser.add_argument("--quick", action="store_true", help="tiny schedule (CI)")
    parser.add_argument("--a", default=None, help="dataset A file (default: the sample's QCD)")
    parser.add_argument("--b", default=None, help="dataset B file (default: the sample's top)")
    parser.add_argument("--jets", type=int, default=N_JETS, help="jets per dataset")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    settings = dict(epochs=EPOCHS, n_oneoffs=N_ONEOFFS, oneoff_epochs=ONEOFF_EPOCHS,
                    n_jets=args.jets)
    if args.quick:
        settings.update(QUICK)
    keras.utils.set_random_seed(args.seed)
    a, b = datasets(args.a, args.b, settings.pop("n_jets"))
    print(f"A: {len(a)} jets, B: {len(b)} jets (half of each trains)")
    print(f"{'scorer':<12} {'AUC A->B':>9} {'AUC B->A':>9}  invertible")
    for kind in SCORERS:
        result = invertibility(ModelFactory(kind=kind, seed=args.seed, **settings), a, b)
        print(f"{kind:<12} {result.auc_ab:9.3f} {result.auc_ba:9.3f}  {result.invertible}",
              flush=True)


if __name__ == "__main__":
    main()
