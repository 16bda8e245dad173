"""
Title: Find top jets with a graph autoencoder trained on QCD only
Description: the shared run of examples/jets4.py, jets9.py and jets16.py; each of those
names its preset (and training-set size) and calls `run` (or run this one with `--preset`).

The preset is trained on background (QCD) jets with the thesis's recipe (Adam 0.003,
batch 100, at least `min_epochs` epochs, then early stopping with `patience`), and every
jet's reconstruction loss is its anomaly score. The AUC says how well the loss separates
held-out QCD jets from top jets (signal = anomaly, 0.5 = no separation).

Data: the sample bundled with grapa (Pythia 8 + FastJet jets in the top-tagging format),
or your own files with `--background qcd.h5 --signal top.h5`.

    python examples/jet_autoencoder.py --preset jets4 [--quick]
"""

import argparse
import os

os.environ.setdefault("KERAS_BACKEND", "jax")

import keras  # noqa: E402

import grapa  # noqa: E402
from grapa.data import anomaly_split, sample_path  # noqa: E402
from grapa.evaluation import auc  # noqa: E402
from grapa.models import PRESETS  # noqa: E402

RECIPE = dict(min_epochs=500, patience=100, max_epochs=2000)  # the thesis's 500 / 100
QUICK = dict(n_train=1000, min_epochs=2, patience=1, max_epochs=2)


def run(preset, n_train=8000, description=None):
    """Parse the command line, train `preset` on `n_train` QCD jets (training and
    validation) with `RECIPE`, print the QCD-vs-top AUC."""
    parser = argparse.ArgumentParser(description=description or f"{preset} finds top jets")
    parser.add_argument("--quick", action="store_true", help="a few epochs on few jets (CI)")
    parser.add_argument("--background", default=str(sample_path()), help="QCD jets file")
    parser.add_argument("--signal", default=None, help="top jets file (default: from the sample)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=None, help="directory for model.keras and the history")
    args, _ = parser.parse_known_args()

    schedule = {**RECIPE, "n_train": n_train, **(QUICK if args.quick else {})}
    keras.utils.set_random_seed(args.seed)
    jets = anomaly_split(args.background, args.signal,
                         n_constituents=PRESETS[preset]["n_nodes"])
    model, history = grapa.train(preset, jets.train, out=args.out, seed=args.seed, verbose=2,
                                 **schedule)
    background_scores = model.score(jets.background_test)
    signal_scores = model.score(jets.signal_test)
    print(f"{preset}: {len(history['loss'])} epochs, best val_loss "
          f"{min(history['val_loss']):.4f}")
    print(f"{preset}: AUC QCD vs top = {auc(background_scores, signal_scores):.3f} "
          f"({len(background_scores)} QCD, {len(signal_scores)} top test jets)")


if __name__ == "__main__":
    preset_parser = argparse.ArgumentParser(add_help=False)
    preset_parser.add_argument("--preset", choices=sorted(PRESETS), default="jets4")
    run(preset_parser.parse_known_args()[0].preset)
