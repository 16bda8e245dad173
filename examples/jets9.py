"""
Title: A 9-node graph autoencoder finds top jets
Description: train the thesis's 9-node graph autoencoder on QCD jets only and
find top jets as anomalies.

grapa's `jets9` preset (Klüttermann 2021, sec. 4.4, 4.8.2): 9 constituents, a learnable topK graph, compressed 9 -> 3 -> 1 nodes into a
latent space of 20 features, and back.
It is trained on background (QCD) jets with the thesis's recipe (Adam 0.003, batch 100,
at least `MIN_EPOCHS` epochs, then early stopping with `PATIENCE`), and every jet's
reconstruction loss is its anomaly score. The AUC says how well the loss separates
held-out QCD jets from top jets (signal = anomaly, 0.5 = no separation).

Data: the sample bundled with grapa (Pythia 8 + FastJet jets in the top-tagging format),
or your own files with `--background qcd.h5 --signal top.h5`.

    python examples/jets9.py            # the recipe, about 10 minutes on a 2-core CPU
    python examples/jets9.py --quick    # a few epochs, for CI
"""

import argparse
import os

os.environ.setdefault("KERAS_BACKEND", "jax")

import keras  # noqa: E402

import grapa  # noqa: E402
from grapa.data import anomaly_split, sample_path  # noqa: E402
from grapa.evaluation import auc  # noqa: E402

PRESET = "jets9"
N_NODES = 9
N_TRAIN = 8000  # background jets for training and validation
MIN_EPOCHS = 500
PATIENCE = 100
MAX_EPOCHS = 2000
QUICK = dict(n_train=1000, min_epochs=2, patience=1, max_epochs=2)


def main():
    parser = argparse.ArgumentParser(description="A 9-node graph autoencoder finds top jets")
    parser.add_argument("--quick", action="store_true", help="a few epochs on few jets (CI)")
    parser.add_argument("--background", default=str(sample_path()), help="QCD jets file")
    parser.add_argument("--signal", default=None, help="top jets file (default: from the sample)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=None, help="directory for model.keras and the history")
    args = parser.parse_args()

    schedule = dict(n_train=N_TRAIN, min_epochs=MIN_EPOCHS, patience=PATIENCE,
                    max_epochs=MAX_EPOCHS)
    if args.quick:
        schedule.update(QUICK)
    keras.utils.set_random_seed(args.seed)
    jets = anomaly_split(args.background, args.signal, n_constituents=N_NODES)
    model, history = grapa.train(PRESET, jets.train, out=args.out, seed=args.seed,
                                 verbose=2, **schedule)
    background_scores = model.score(jets.background_test)
    signal_scores = model.score(jets.signal_test)
    print(f"{PRESET}: {len(history['loss'])} epochs, best val_loss "
          f"{min(history['val_loss']):.4f}")
    print(f"{PRESET}: AUC QCD vs top = {auc(background_scores, signal_scores):.3f} "
          f"({len(background_scores)} QCD, {len(signal_scores)} top test jets)")


if __name__ == "__main__":
    main()
