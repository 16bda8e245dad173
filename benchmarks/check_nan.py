"""Does a preset train without NaN? Several seeds, a fixed number of epochs each.

The thesis saw frequent NaNs when training its 16-node models. This trains `--preset`
(default jets16) with the recipe's optimizer and batch size for `--epochs` epochs (no
early stopping) on `--jets` QCD jets of the bundled sample, once per seed, and prints one
line: how many seeds ended with finite losses and weights, and the final losses.

    python benchmarks/check_nan.py                      # jets16, 10 seeds x 50 epochs
    python benchmarks/check_nan.py --preset jets9 --seeds 3
"""

import argparse
import os
import time

os.environ.setdefault("KERAS_BACKEND", "jax")

import numpy as np  # noqa: E402

import grapa  # noqa: E402
from grapa.callbacks import non_finite_weights  # noqa: E402
from grapa.data import read_jets, sample_path  # noqa: E402
from grapa.models import PRESETS  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="jets16", choices=sorted(PRESETS))
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--epochs", type=int, default=50)
    parser.add_argument("--jets", type=int, default=5000)
    args = parser.parse_args()
    n_nodes = PRESETS[args.preset]["n_nodes"]
    jets, labels = read_jets(sample_path(), n_constituents=n_nodes)
    qcd = jets[labels == 0][: args.jets]
    finals, finite, start = [], 0, time.perf_counter()
    for seed in range(args.seeds):
        try:
            model, history = grapa.train(args.preset, qcd, n_train=len(qcd), seed=seed,
                                         min_epochs=args.epochs, max_epochs=args.epochs,
                                         patience=args.epochs, verbose=0)
        except FloatingPointError:  # NaNGuard: the run diverged
            finals.append(float("nan"))
            continue
        losses = np.r_[history["loss"], history["val_loss"]]
        ok = np.all(np.isfinite(losses)) and not non_finite_weights(model)
        finite += int(ok)
        finals.append(history["loss"][-1])
    print(f"check_nan: {args.preset} {finite} of {args.seeds} seeds finite after {args.epochs} "
          f"epochs on {len(qcd)} jets; final losses "
          + " ".join(f"{loss:.4g}" for loss in finals)
          + f"; {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
