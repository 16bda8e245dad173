"""Oneoff ensemble benchmark: training 25 oneoffs on a jets16-sized latent space.

Trains `OneOffEnsemble(n=25)` (stacked: all members in one Keras `fit`) for a fixed
number of epochs, without early stopping so that both ways do the same work, on random
36-dimensional "latent vectors"; then trains `--separate` members the old way, one
`OneOffNetwork.fit` each, and scales that time to the whole ensemble. Prints one line.

    KERAS_BACKEND=jax python benchmarks/bench_oneoff.py [--events 5000] [--epochs 50]
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("KERAS_BACKEND", "jax")

import keras  # noqa: E402
import numpy as np  # noqa: E402

from grapa.models import OneOffEnsemble, build_oneoff  # noqa: E402

MEMBERS = 25
LATENT = 36  # jets16: 36 latent features on one node
BATCH_SIZE = 64


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=5000)
    parser.add_argument("--epochs", type=int, default=50)
    parser.add_argument("--separate", type=int, default=3,
                        help="members trained one by one, to scale to the ensemble")
    args = parser.parse_args()
    background = np.random.default_rng(0).normal(1.0, 0.5, (args.events, LATENT)).astype("float32")
    schedule = dict(epochs=args.epochs, batch_size=BATCH_SIZE, validation_split=0.0)

    # Warm-up: compile once, so both timings are of training, not tracing.
    OneOffEnsemble(n=MEMBERS, input_dim=LATENT).fit(background[:256], epochs=1)
    start = time.perf_counter()
    OneOffEnsemble(n=MEMBERS, input_dim=LATENT, seed=1).fit(background, **schedule)
    stacked = time.perf_counter() - start

    start = time.perf_counter()
    for i in range(args.separate):
        keras.utils.set_random_seed(i)
        build_oneoff(LATENT, seed=i).fit(background, verbose=0, **schedule)
    separate = (time.perf_counter() - start) * MEMBERS / args.separate

    print(f"bench_oneoff: backend={keras.backend.backend()} members={MEMBERS} "
          f"events={args.events} epochs={args.epochs} stacked_s={stacked:.1f} "
          f"separate_s={separate:.1f} speedup={separate / stacked:.1f}x")


if __name__ == "__main__":
    main()
