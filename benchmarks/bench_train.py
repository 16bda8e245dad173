"""Training and scoring throughput of the jets4, jets9 and jets16 presets on this CPU.

One line per preset and batch size: training jets/s (`model.fit`, steady state after a
warm-up epoch) and scoring jets/s (`model.score`), with the ratio to the original
library (grapatf 0.6 on TF 2.15, measured on this 2-core machine at batch 100: jets4
11,800 jets/s, jets16 32 jets/s). A last line times the thesis's 16-node run, 500
epochs of 5k jets (4k train, 1k validation) that took 58 hours in the thesis,
extrapolated from `--epochs-16` measured epochs.

    python benchmarks/bench_train.py [--jets 10000] [--batches 100 1000]

Uses KERAS_BACKEND if set, else JAX.
"""

import argparse
import os
import time

os.environ.setdefault("KERAS_BACKEND", "jax")

import keras  # noqa: E402
import numpy as np  # noqa: E402

from grapa.data import read_jets, sample_path  # noqa: E402
from grapa.models import PRESETS, build_graph_autoencoder  # noqa: E402

ORIGINAL_JETS_PER_S = {"jets4": 11_800, "jets16": 32}  # batch 100, same machine


def background(n_jets):
    jets, labels = read_jets(sample_path(), n_constituents=16)
    qcd = jets[labels == 0]
    return np.resize(qcd, (n_jets, 16, 4))  # repeats the sample if more jets are asked


def compiled(preset):
    keras.utils.set_random_seed(0)
    model = build_graph_autoencoder(preset)
    model.compile(optimizer=keras.optimizers.Adam(0.003))
    return model


def train_rate(model, jets, batch):
    model.fit(jets, batch_size=batch, epochs=1, verbose=0)  # compile, warm up
    start = time.perf_counter()
    model.fit(jets, batch_size=batch, epochs=2, verbose=0)
    return 2 * len(jets) / (time.perf_counter() - start)


def score_rate(model, jets, batch):
    model.score(jets[:batch], batch_size=batch)
    start = time.perf_counter()
    model.score(jets, batch_size=batch)
    return len(jets) / (time.perf_counter() - start)


def thesis_run_seconds(epochs):
    """Seconds for 500 epochs of 5k jets with validation, from `epochs` timed epochs."""
    model = compiled("jets16")
    jets = background(5000)
    model.fit(jets, batch_size=100, epochs=1, validation_split=0.2, verbose=0)
    start = time.perf_counter()
    model.fit(jets, batch_size=100, epochs=epochs, validation_split=0.2, verbose=0)
    return 500 * (time.perf_counter() - start) / epochs


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jets", type=int, default=10_000)
    parser.add_argument("--batches", type=int, nargs="+", default=[100, 1000])
    parser.add_argument("--presets", nargs="+", default=sorted(PRESETS))
    parser.add_argument("--epochs-16", type=int, default=5)
    args = parser.parse_args()
    jets = background(args.jets)
    for preset in args.presets:
        n = PRESETS[preset]["n_nodes"]
        for batch in args.batches:
            model = compiled(preset)
            train = train_rate(model, jets[:, :n], batch)
            score = score_rate(model, jets[:, :n], batch)
            ratio = ""
            if preset in ORIGINAL_JETS_PER_S:
                ratio = f" x_original_batch100={train / ORIGINAL_JETS_PER_S[preset]:.1f}"
            print(
                f"bench_train: backend={keras.backend.backend()} preset={preset} batch={batch} "
                f"train_jets_per_s={train:.0f} score_jets_per_s={score:.0f}{ratio}",
                flush=True,
            )
    seconds = thesis_run_seconds(args.epochs_16)
    print(f"bench_train: jets16_thesis_run_500_epochs_5k_jets_s={seconds:.0f} "
          f"(thesis: 58 h = 208800 s; target < 300 s) speedup={208800 / seconds:.0f}")


if __name__ == "__main__":
    main()
