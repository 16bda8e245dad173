"""
Title: A 16-node graph autoencoder finds top jets
Description: train the thesis's `jets16` graph autoencoder on QCD jets only and find
top jets as anomalies (sec. 7.4.2).

16 constituents, a fixed fully connected graph (fewer NaNs), compressed
16 -> 4 -> 1 nodes into a latent space of 36 features, and back. Trained with the thesis's recipe (at least `MIN_EPOCHS` epochs, then early
stopping with `PATIENCE`); each jet's reconstruction loss is its anomaly score. The
shared run (data, training, scoring) is in `jet_autoencoder.py` beside this file.
Result: the thesis's run of this model took 58 hours on a CPU.

    python examples/jets16.py            # the recipe, about 5 minutes on a 2-core CPU
    python examples/jets16.py --quick    # a few epochs, for CI
    python examples/jets16.py --background qcd.h5 --signal top.h5 --seed 1
"""

from jet_autoencoder import run

PRESET = "jets16"
N_TRAIN = 5000  # background jets for training and validation
MIN_EPOCHS = 500
PATIENCE = 100
MAX_EPOCHS = 2000

if __name__ == "__main__":
    run(PRESET, dict(n_train=N_TRAIN, min_epochs=MIN_EPOCHS, patience=PATIENCE,
                     max_epochs=MAX_EPOCHS), description="A 16-node graph autoencoder finds top jets")
