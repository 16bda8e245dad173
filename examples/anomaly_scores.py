"""
Title: Which anomaly score? The density scorer against the baselines, both directions
Description: train on QCD and find top, train on top and find QCD, for grapa's
recommended likelihood scorer and the two baselines a physicist tries first.

An anomaly score earns trust when it finds the other set whichever set it was trained
on. The scorers, each fitted on one dataset's first half and scoring both datasets'
second halves:

- `density`: `grapa.models.JetDensity`, the mass-anchored likelihood of the jet's
  observables (a Gaussian mixture for the mass, a conditional normalizing flow for the
  seven shape observables);
- `observables`: a Gaussian mixture on the same eight observables (scikit-learn);
- `mass`: the distance from the training jets' median mass.

    python examples/anomaly_scores.py                  # about a minute on a 2-core CPU
    python examples/anomaly_scores.py --quick          # CI
    python examples/anomaly_scores.py --a qcd.h5 --b top.h5 --jets 6000
"""

import argparse
import os

os.environ.setdefault("KERAS_BACKEND", "jax")

from grapa.crosscheck import ModelFactory  # noqa: E402
from grapa.data import anomaly_split, read_jets, sample_path  # noqa: E402
from grapa.evaluation import auc_standard_error, invertibility  # noqa: E402

N_JETS = 2800  # per dataset: half trains, half tests (the sample has 2,800 top jets)
SCORERS = ("density", "observables", "mass")


def datasets(path_a, path_b, n_jets):
    """All constituents of every jet: the observables are sums over the whole jet."""
    if path_a and path_b:
        return read_jets(path_a, stop=n_jets)[0], read_jets(path_b, stop=n_jets)[0]
    jets = anomaly_split(sample_path(), n_constituents=None)
    return jets.train[:n_jets], jets.signal_test[:n_jets]


def main():
    parser = argparse.ArgumentParser(description="QCD <-> top: density scorer vs baselines")
    parser.add_argument("--quick", action="store_true", help="600 jets per dataset (CI)")
    parser.add_argument("--a", default=None, help="dataset A file (default: the sample's QCD)")
    parser.add_argument("--b", default=None, help="dataset B file (default: the sample's top)")
    parser.add_argument("--jets", type=int, default=N_JETS, help="jets per dataset")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    a, b = datasets(args.a, args.b, 600 if args.quick else args.jets)
    n_test = len(a) - len(a) // 2
    print(f"A: {len(a)} jets, B: {len(b)} jets (half of each trains)")
    print(f"{'scorer':<12} {'AUC A->B':>9} {'AUC B->A':>9}  invertible")
    for kind in SCORERS:
        result = invertibility(ModelFactory(kind=kind, seed=args.seed), a, b)
        print(f"{kind:<12} {result.auc_ab:9.3f} {result.auc_ba:9.3f}  {result.invertible}",
              flush=True)
    print(f"one AUC's standard error near 0.85: {auc_standard_error(0.85, n_test, n_test):.3f}")


if __name__ == "__main__":
    main()
