"""
Title: Which jets are in my sample? UCluster on W, Z and top jets
Description: unsupervised clustering of an unlabelled mixture (Mikuni & Canelli 2021),
against k-means on the pretrained embedding, k-means on the jet mass, a kNN on the
embedding with labels and the same graph network trained with labels.

The mixture is equal parts of W, Z and top jets (truth is used only to score). UCluster
(`grapa.models.UCluster`, defaults: 50 constituents, EdgeConv k = 10, an 8-dimensional
embedding, 10 epochs of mass-bin pretraining, centroids at a Gaussian mixture's means,
then 20 epochs of clustering) never sees a label.
Every method is scored on the same held-out jets by the clustering accuracy (Hungarian
matching of clusters to classes, `grapa.evaluation.clustering_accuracy`) with its
binomial standard error.

    grapa simulate --process w   --jets 10000 --seed 1 --pt-min 950 --pt-max 1050 --out w.h5
    grapa simulate --process z   --jets 10000 --seed 2 --pt-min 950 --pt-max 1050 --out z.h5
    grapa simulate --process top --jets 10000 --seed 3 --pt-min 950 --pt-max 1050 --out top.h5
    (the same with --jets 3000 and seeds 11, 12, 13 for w_test.h5, z_test.h5, top_test.h5)
    python examples/ucluster.py --train w.h5 z.h5 top.h5 --test w_test.h5 z_test.h5 top_test.h5
    python examples/ucluster.py --quick      # CI: QCD vs top from the bundled sample, 2 epochs
"""

import argparse
import os
import time
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "jax")

import keras  # noqa: E402
import numpy as np  # noqa: E402
from sklearn.cluster import KMeans  # noqa: E402

from grapa.data import read_jets, sample_path  # noqa: E402
from grapa.evaluation import MassKMeans, clustering_accuracy  # noqa: E402
from grapa.models import UCluster  # noqa: E402
from grapa.models.cluster import build_cluster_encoder, build_cluster_head  # noqa: E402
from grapa.plotting import plot_confusion, plot_embedding  # noqa: E402

N_TRAIN = 10000  # jets per class
N_TEST = 3000  # jets per class
EPOCHS = 30  # UCluster's default: 10 of pretraining, then 20 of clustering
PRETRAIN_EPOCHS = 10
SUPERVISED_EPOCHS = 20
BATCH_SIZE = 256


def load(files, n_per_class, seed):
    """Jets of every file (class = file), shuffled together; `(jets, truth, names)`."""
    if files:
        parts = [read_jets(path, stop=n_per_class)[0] for path in files]
        names = [Path(path).stem.split("_")[0] for path in files]
    else:  # the bundled sample's QCD and top jets
        jets, labels = read_jets(sample_path())
        parts, names = [jets[labels == 0][:n_per_class], jets[labels == 1][:n_per_class]], [
            "QCD", "top"]
    truth = np.concatenate([np.full(len(part), c) for c, part in enumerate(parts)])
    jets = np.concatenate(parts)
    order = np.random.default_rng(seed).permutation(len(jets))
    return jets[order], truth[order], names


def supervised_network(model, classes, train, truth, epochs, seed):
    """UCluster's encoder and head, trained on the truth classes: the supervised bound."""
    keras.utils.set_random_seed(seed)
    network = keras.Sequential([
        build_cluster_encoder(model.n_constituents, model.embedding_dim, model.k, model.blocks),
        build_cluster_head(model.embedding_dim, classes, model.dense)])
    network.compile(optimizer=keras.optimizers.Adam(1e-3),
                    loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    network.fit(model.network_input(train), truth, epochs=epochs, batch_size=BATCH_SIZE,
                verbose=0)
    return network


def row(name, truth, predicted, seconds):
    value = clustering_accuracy(truth, predicted)
    error = np.sqrt(value * (1 - value) / len(truth))
    return f"| {name} | {100 * value:.1f} +- {100 * error:.1f} | {seconds:.0f} |"


def main():
    parser = argparse.ArgumentParser(description="UCluster on a W / Z / top mixture")
    parser.add_argument("--quick", action="store_true", help="tiny run on the sample (CI)")
    parser.add_argument("--train", nargs="+", help="one training file per class")
    parser.add_argument("--test", nargs="+", help="one test file per class, same order")
    parser.add_argument("--jets", type=int, default=N_TRAIN, help="training jets per class")
    parser.add_argument("--test-jets", type=int, default=N_TEST, help="test jets per class")
    parser.add_argument("--epochs", type=int, default=EPOCHS)
    parser.add_argument("--pretrain-epochs", type=int, default=PRETRAIN_EPOCHS)
    parser.add_argument("--supervised-epochs", type=int, default=SUPERVISED_EPOCHS,
                        help="epochs of the supervised network (0: leave it out)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="ucluster-study", help="folder of the figures")
    args = parser.parse_args()
    if bool(args.train) != bool(args.test) or (args.train and len(args.train) != len(args.test)):
        parser.error("give --train and --test together, one file per class in the same order")
    if args.quick:
        args.jets, args.test_jets, args.epochs, args.pretrain_epochs = 300, 100, 2, 1
        args.supervised_epochs = 1
    start_all = time.perf_counter()
    train, train_truth, names = load(args.train, args.jets, args.seed)
    if args.test:
        test, test_truth, _ = load(args.test, args.test_jets, args.seed + 1)
    else:
        held_out = len(names) * args.test_jets
        train, test = train[:-held_out], train[-held_out:]
        train_truth, test_truth = train_truth[:-held_out], train_truth[-held_out:]
    classes = len(names)
    rows = []

    start = time.perf_counter()
    mass = MassKMeans(classes, seed=args.seed).fit(train)
    rows.append(row("k-means on the jet mass", test_truth, mass.predict(test),
                    time.perf_counter() - start))

    keras.utils.set_random_seed(args.seed)
    model = UCluster(clusters=classes)
    start = time.perf_counter()
    model.pretrain(train, epochs=args.pretrain_epochs, batch_size=BATCH_SIZE, verbose=0)
    pretrain_seconds = time.perf_counter() - start
    pretrained_test = model.embed(test)
    kmeans = KMeans(classes, n_init=10, random_state=args.seed).fit(model.embed(train))
    rows.append(row("k-means on the pretrained embedding", test_truth,
                    kmeans.predict(pretrained_test), pretrain_seconds))
    start_partition = model.init_centroids(train, seed=args.seed)
    rows.append(row("Gaussian mixture on the pretrained embedding (UCluster's start)",
                    test_truth, start_partition.predict(pretrained_test),
                    time.perf_counter() - start))
    model.train_clusters(train, epochs=args.epochs - args.pretrain_epochs,
                         batch_size=BATCH_SIZE, verbose=0)
    Path(args.out).mkdir(parents=True, exist_ok=True)
    model.save(Path(args.out) / "ucluster.keras")
    test_embedding = model.embed(test)
    clusters = model.nearest_centroid(test_embedding)
    rows.append(row(f"UCluster ({args.pretrain_epochs} + "
                    f"{args.epochs - args.pretrain_epochs} epochs)", test_truth, clusters,
                    time.perf_counter() - start))

    from sklearn.neighbors import KNeighborsClassifier

    start = time.perf_counter()
    knn = KNeighborsClassifier(30).fit(model.embed(train), train_truth)
    rows.append(row("kNN on the UCluster embedding (labels)", test_truth,
                    knn.predict(test_embedding), time.perf_counter() - start))
    if args.supervised_epochs:
        start = time.perf_counter()
        network = supervised_network(model, classes, train, train_truth,
                                     args.supervised_epochs, args.seed)
        supervised = network.predict(model.network_input(test), verbose=0).argmax(-1)
        rows.append(row(f"same network, supervised ({args.supervised_epochs} epochs)",
                        test_truth, supervised, time.perf_counter() - start))

    out = Path(args.out)
    plot_confusion(test_truth, clusters, out / "confusion.png", class_names=names)
    plot_embedding(test_embedding, clusters, out / "embedding.png", truth=test_truth,
                   class_names=names, seed=args.seed)
    print(f"{len(train)} training jets ({' / '.join(names)}), {len(test)} test jets, "
          f"backend {keras.backend.backend()}, {time.perf_counter() - start_all:.0f} s in all")
    print("| method | clustering accuracy (%) | train s |\n|---|---|---|")
    print("\n".join(rows))
    print(f"ucluster: figures in {out}")


if __name__ == "__main__":
    main()
