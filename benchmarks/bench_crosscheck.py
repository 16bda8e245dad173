"""Wall time of one cross-table row for each scorer: fit on 3,000 jets, score 4 x 3,000.

Uses the QCD jets of the sample bundled with grapa (30 constituents), or of a file of
your own with all its constituents (`grapa simulate` writes 200 slots; the observables'
pair sum grows with the multiplicity). Prints one line: seconds per row for each scorer
of `grapa crosscheck --model` that needs no autoencoder.

    python benchmarks/bench_crosscheck.py
    python benchmarks/bench_crosscheck.py --data qcd.h5     # at least 6,000 jets
"""

import argparse
import os
import time

os.environ.setdefault("KERAS_BACKEND", "jax")

import numpy as np  # noqa: E402

from grapa.crosscheck import ModelFactory  # noqa: E402
from grapa.data import read_jets, sample_path  # noqa: E402

N_TRAIN, N_SCORED_SETS = 3000, 4


def row_seconds(kind, train, scored):
    start = time.perf_counter()
    model = ModelFactory(kind=kind)()
    model.fit(train)
    for jets in scored:
        model.score(jets)
    return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=None, help="jets file (default: the bundled sample)")
    args = parser.parse_args()
    jets, labels = read_jets(args.data or sample_path(), stop=None if args.data is None else 6000)
    qcd = jets if labels is None else jets[labels == 0]
    train = qcd[:N_TRAIN]
    scored = [np.roll(qcd, 1000 * k, axis=0)[:N_TRAIN] for k in range(N_SCORED_SETS)]
    figures = {kind: row_seconds(kind, train, scored)
               for kind in ("density", "observables", "mass", "angular")}
    print(f"bench_crosscheck: one row (fit 3000, score 4 x 3000; {qcd.shape[1]} constituent slots) "
          + " ".join(f"{kind}_s={seconds:.1f}" for kind, seconds in figures.items()))


if __name__ == "__main__":
    main()
