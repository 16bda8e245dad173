"""
Title: A 9-node graph autoencoder finds top jets
Description: train the thesis's `jets9` graph autoencoder on QCD jets only and find
top jets as anomalies (sec. 4.4, 4.8.2).

9 constituents, a learnable topK graph, compressed 9 -> 3 -> 1 nodes into a
latent space of 20 features, and back. Trained with the thesis's recipe (at least 500 epochs, then early
stopping with patience 100); each jet's reconstruction loss is its anomaly score. The
shared run (data, training, scoring) is in `jet_autoencoder.py` beside this file.
Result: thesis, Delphes: AUC 0.72.

    python examples/jets9.py            # the recipe, about 5 minutes on a 2-core CPU
    python examples/jets9.py --quick    # a few epochs, for CI
    python examples/jets9.py --background qcd.h5 --signal top.h5 --seed 1
"""

from jet_autoencoder import run

if __name__ == "__main__":
    run("jets9", description="A 9-node graph autoencoder finds top jets")
