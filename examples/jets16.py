"""
Title: A 16-node graph autoencoder finds top jets
Description: train the thesis's `jets16` graph autoencoder on QCD jets only and find
top jets as anomalies (sec. 7.4.2).

16 constituents, a fixed fully connected graph (fewer NaNs), compressed
16 -> 4 -> 1 nodes into a latent space of 36 features, and back. Trained with the thesis's recipe (at least 500 epochs, then early
stopping with patience 100); each jet's reconstruction loss is its anomaly score. The
shared run (data, training, scoring) is in `jet_autoencoder.py` beside this file.
Result: the thesis's run of this model took 58 hours on a CPU.

    python examples/jets16.py            # the recipe, about 5 minutes on a 2-core CPU
    python examples/jets16.py --quick    # a few epochs, for CI
    python examples/jets16.py --background qcd.h5 --signal top.h5 --seed 1
"""

from jet_autoencoder import run

if __name__ == "__main__":
    # 5k training jets suffice (T B.5), as in the thesis's 16-node runs
    run("jets16", n_train=5000, description="A 16-node graph autoencoder finds top jets")
