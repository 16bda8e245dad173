"""Training and scoring throughput of the autoencoder presets, against two yardsticks.

One line per preset and batch size: training jets/s (`model.fit`, steady state after a
warm-up epoch) with grapa's default steps per execution and with one step per call,
and scoring jets/s (`model.score`). Yardsticks, measured in the same run:

- the original library (grapatf 0.6 on TF 2.15, measured on this 2-core machine at
  batch 100 beside grapa: jets4 20.2k jets/s, jets16 238 jets/s): `x_original`;
- for jets16, the hand-written JAX model of `jax_reference.py` (the same network in
  plain `jax.numpy`, one jitted step a batch): trained alternately with grapa
  `--repeats` times, medians compared, `reference_over_grapa` (1 = as fast).

A last line times the thesis's 16-node run, 500 epochs of 5k jets (4k train, 1k
validation) that took 58 hours in the thesis, extrapolated from `--epochs-16` epochs.

    python benchmarks/bench_train.py [--jets 5000] [--batches 100 1000] [--repeats 3]

Uses KERAS_BACKEND if set, else JAX.
"""

import argparse
import os
import statistics
import sys
import time

os.environ.setdefault("KERAS_BACKEND", "jax")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import keras  # noqa: E402
import numpy as np  # noqa: E402

from grapa.data import read_jets, sample_path  # noqa: E402
from grapa.models import PRESETS, build_graph_autoencoder  # noqa: E402
from grapa.models.autoencoder import STEPS_PER_EXECUTION  # noqa: E402

ORIGINAL_JETS_PER_S = {"jets4": 20_200, "jets16": 238}  # batch 100, same machine


def background(n_jets):
    jets, labels = read_jets(sample_path(), n_constituents=16)
    qcd = jets[labels == 0]
    return np.resize(qcd, (n_jets, 16, 4))  # repeats the sample if more jets are asked


def compiled(preset, steps_per_execution=STEPS_PER_EXECUTION):
    keras.utils.set_random_seed(0)
    model = build_graph_autoencoder(preset)
    model.compile(optimizer=keras.optimizers.Adam(0.003),
                  steps_per_execution=steps_per_execution)
    return model


def train_rate(model, jets, batch, epochs=2):
    model.fit(jets, batch_size=batch, epochs=1, verbose=0)  # compile, warm up
    start = time.perf_counter()
    model.fit(jets, batch_size=batch, epochs=epochs, verbose=0)
    return epochs * len(jets) / (time.perf_counter() - start)


def score_rate(model, jets, batch):
    model.score(jets[:batch], batch_size=batch)
    start = time.perf_counter()
    model.score(jets, batch_size=batch)
    return len(jets) / (time.perf_counter() - start)


def reference_comparison(jets, batch, repeats):
    """Median jets/s of the hand-written JAX reference and of grapa, trained alternately."""
    import jax_reference

    reference, grapa = [], []
    for _ in range(repeats):
        reference.append(jax_reference.train(jets, batch, epochs=3)[0])
        grapa.append(train_rate(compiled("jets16"), jets, batch))
    return statistics.median(reference), statistics.median(grapa)


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
    parser.add_argument("--jets", type=int, default=5000)
    parser.add_argument("--batches", type=int, nargs="+", default=[100, 1000])
    parser.add_argument("--presets", nargs="+", default=sorted(PRESETS))
    parser.add_argument("--repeats", type=int, default=3,
                        help="alternate runs of grapa and the reference (jets16)")
    parser.add_argument("--epochs-16", type=int, default=5)
    args = parser.parse_args()
    jets = background(args.jets)
    backend = keras.backend.backend()
    for preset in args.presets:
        n = PRESETS[preset]["n_nodes"]
        for batch in args.batches:
            model = compiled(preset)
            train = train_rate(model, jets[:, :n], batch)
            one_step = train_rate(compiled(preset, steps_per_execution=1), jets[:, :n], batch)
            score = score_rate(model, jets[:, :n], batch)
            line = (f"bench_train: backend={backend} preset={preset} batch={batch} "
                    f"train_jets_per_s={train:.0f} (steps_per_execution={STEPS_PER_EXECUTION}; "
                    f"1: {one_step:.0f}) score_jets_per_s={score:.0f}")
            if preset in ORIGINAL_JETS_PER_S:
                line += f" x_original_batch100={train / ORIGINAL_JETS_PER_S[preset]:.1f}"
            if preset == "jets16":
                reference, grapa = reference_comparison(jets, batch, args.repeats)
                line += (f" | alternating x{args.repeats}: grapa={grapa:.0f} "
                         f"jax_reference={reference:.0f} reference_over_grapa="
                         f"{reference / grapa:.2f}")
            print(line, flush=True)
    seconds = thesis_run_seconds(args.epochs_16)
    print(f"bench_train: jets16_thesis_run_500_epochs_5k_jets_s={seconds:.0f} "
          f"(thesis: 58 h = 208800 s; target < 300 s) speedup={208800 / seconds:.0f}")


if __name__ == "__main__":
    main()
