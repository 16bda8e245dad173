"""Forward + backward throughput of a 3-layer GraphUpdate stack at 4, 16 and 64 nodes.

Prints one line per node count (jets/s of `model.fit` at batch 100, steady state after a
warm-up epoch) and a last line with the fitted growth exponent of the cost per jet in
the node count. The original library built the n^2 F^2 Kronecker operator; grapa's
GraphUpdate costs O(n^2 F + n F^2), so the exponent must stay at or below 2.

    python benchmarks/bench_layers.py [--jets 20000] [--features 8] [--batch 100]

Uses KERAS_BACKEND if set, else JAX (grapa's default for scripts).
"""

import argparse
import math
import os
import time

os.environ.setdefault("KERAS_BACKEND", "jax")

import keras  # noqa: E402
import numpy as np  # noqa: E402

from grapa.layers import GraphUpdate, TopKGraph  # noqa: E402


def stack(n, features):
    x_in = keras.Input(shape=(n, features))
    adjacency = TopKGraph(k=min(4, n))(x_in)
    x = x_in
    for _ in range(3):
        x = GraphUpdate(features, activation="relu")([x, adjacency])
    return keras.Model(x_in, x)


def jets_per_second(n, features, n_jets, batch):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n_jets, n, features)).astype("float32")
    model = stack(n, features)
    model.compile(optimizer="adam", loss="mse", jit_compile=True)
    model.fit(x, x, batch_size=batch, epochs=1, verbose=0)  # compile + warm up
    start = time.perf_counter()
    model.fit(x, x, batch_size=batch, epochs=2, verbose=0)
    return 2 * n_jets / (time.perf_counter() - start)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jets", type=int, default=20000)
    parser.add_argument("--features", type=int, default=8)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--nodes", type=int, nargs="+", default=[4, 16, 64])
    args = parser.parse_args()
    rates = {}
    for n in args.nodes:
        rates[n] = jets_per_second(n, args.features, args.jets, args.batch)
        print(
            f"bench_layers: backend={keras.backend.backend()} nodes={n} features={args.features} "
            f"batch={args.batch} train_jets_per_s={rates[n]:.0f} us_per_jet={1e6 / rates[n]:.1f}",
            flush=True,
        )
    small, large = min(rates), max(rates)
    exponent = math.log(rates[small] / rates[large]) / math.log(large / small)
    print(f"bench_layers: cost_growth_exponent_{small}_to_{large}_nodes={exponent:.2f} (must be <= 2)")


if __name__ == "__main__":
    main()
