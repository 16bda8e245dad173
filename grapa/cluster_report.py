"""Cluster the jets of one or more files with UCluster and write what was found.

`cluster_files` is what `grapa cluster` runs: read the jets (truth, where it exists,
only for scoring), hold out a share, train `grapa.models.UCluster` on the rest without
labels, and write the model, every jet's cluster, the cluster sizes and, with truth, the
clustering accuracy beside k-means on the jet mass, with the figures.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from grapa import plotting
from grapa.data import read_jets
from grapa.evaluation import MassKMeans, clustering_accuracy, confusion_matrix


def read_classes(files, jets_per_file=None):
    """Jets of every file with their truth class where there is one.

    With several files a jet's class is its file (named by the file's stem); with one
    file it is its `is_signal_new` label when the file holds two or more labels.

    Returns:
        `(jets, truth or None, class names or None, frame)`, `frame` naming each jet's
        file and row.
    """
    parts, labels, sources = [], [], []
    for path in files:
        jets, label = read_jets(path, stop=jets_per_file)
        parts.append(jets)
        labels.append(label)
        sources.append(pd.DataFrame({"file": str(path), "row": np.arange(len(jets))}))
    width = max(part.shape[1] for part in parts)
    jets = np.concatenate([np.pad(part, ((0, 0), (0, width - part.shape[1]), (0, 0)))
                           for part in parts])
    frame = pd.concat(sources, ignore_index=True)
    if len(files) > 1:
        names = [Path(path).stem for path in files]
        truth = np.concatenate([np.full(len(part), c) for c, part in enumerate(parts)])
        return jets, truth, names, frame
    if labels[0] is not None and len(np.unique(labels[0])) > 1:
        values = np.unique(labels[0])
        return jets, np.searchsorted(values, labels[0]), [f"is_signal_new={v}" for v in values], frame
    return jets, None, None, frame


def cluster_files(files, clusters, out, *, jets_per_file=None, test_fraction=0.25, epochs=30,
                  pretrain_epochs=10, n_constituents=None, batch_size=256, seed=0,
                  start="mixture", verbose="auto"):
    """Train UCluster on the jets of `files` and write the report into `out`.

    Args:
        files: top-tagging HDF5 files (one per class where the classes are known).
        clusters: number of clusters.
        out: output directory (created).
        jets_per_file: jets read from each file (None: all).
        test_fraction: share of the jets held out of training and scored.
        epochs, pretrain_epochs, batch_size: UCluster's schedule (`UCluster.fit`).
        n_constituents: leading constituents the network sees (None: UCluster's
            default).
        seed: seed of the split, the weights and the centroids' start.
        start: where the centroids start, "mixture" or "kmeans" (`UCluster.init_centroids`).
        verbose: Keras verbosity.

    Returns:
        The `report.json` content as a dict.
    """
    import keras

    from grapa.models import UCluster

    jets, truth, names, frame = read_classes(files, jets_per_file)
    rng = np.random.default_rng(seed)
    is_test = np.zeros(len(jets), dtype=bool)
    is_test[rng.permutation(len(jets))[: int(round(test_fraction * len(jets)))]] = True
    if is_test.all() or not is_test.any() or (~is_test).sum() < clusters:
        raise ValueError(f"{len(jets)} jets split by test_fraction={test_fraction} leave too "
                         f"few to train {clusters} clusters on or to test: read more jets")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    keras.utils.set_random_seed(seed)
    options = {} if n_constituents is None else {"n_constituents": n_constituents}
    model = UCluster(clusters, **options)
    history = model.fit(jets[~is_test], epochs=epochs, pretrain_epochs=pretrain_epochs,
                        batch_size=batch_size, verbose=verbose, seed=seed, start=start)
    model.save(out / "model.keras")
    pd.DataFrame(history.history).rename_axis("epoch").to_csv(out / "history.csv")
    frame["split"] = np.where(is_test, "test", "train")
    embedding = model.embed(jets)
    frame["cluster"] = model.nearest_centroid(embedding)
    frame.to_csv(out / "clusters.csv", index=False)

    report = {"jets": int(len(jets)), "train_jets": int((~is_test).sum()),
              "test_jets": int(is_test.sum()), "clusters": int(clusters),
              "cluster_sizes": np.bincount(frame["cluster"], minlength=clusters).tolist(),
              "files": [str(path) for path in files], "epochs": epochs,
              "pretrain_epochs": pretrain_epochs, "n_constituents": model.n_constituents,
              "centroid_start": start}
    figures = {"history.png": "Training history", "embedding.png": "Embedding (test jets)"}
    plotting.plot_history(history.history, path=out / "history.png")
    test_clusters = frame["cluster"].to_numpy()[is_test]
    plotting.plot_embedding(embedding[is_test], test_clusters, out / "embedding.png",
                            truth=None if truth is None else truth[is_test],
                            class_names=names, seed=seed)
    if truth is not None:
        mass = MassKMeans(clusters, seed=seed).fit(jets[~is_test])
        report["classes"] = names
        report["accuracy"] = {
            "ucluster": clustering_accuracy(truth[is_test], test_clusters),
            "mass_kmeans": clustering_accuracy(truth[is_test], mass.predict(jets[is_test]))}
        report["confusion"] = confusion_matrix(truth[is_test], test_clusters).to_dict()
        plotting.plot_confusion(truth[is_test], test_clusters, out / "confusion.png",
                                class_names=names)
        figures["confusion.png"] = "Confusion matrix (test jets)"
    report["figures"] = sorted(figures)
    (out / "report.json").write_text(json.dumps(report, indent=2, default=str) + "\n")
    (out / "report.md").write_text(_markdown(report, figures))
    return report


START_WORDS = {"mixture": "a Gaussian mixture's means", "kmeans": "k-means centres"}


def _markdown(report, figures):
    sizes = ", ".join(f"{c}: {n}" for c, n in enumerate(report["cluster_sizes"]))
    lines = [f"# Clustering report: UCluster, {report['clusters']} clusters", "",
             f"{report['jets']} jets from {len(report['files'])} file(s); trained on "
             f"{report['train_jets']} without labels ({report['pretrain_epochs']} epochs of "
             f"mass-bin pretraining, centroids started at "
             f"{START_WORDS[report['centroid_start']]}, "
             f"{report['epochs'] - report['pretrain_epochs']} of clustering), "
             f"{report['test_jets']} held out.", "",
             f"Cluster sizes (all jets): {sizes}. Every jet's cluster is in `clusters.csv`.", ""]
    if "accuracy" in report:
        n = report["test_jets"]
        lines += ["| method | clustering accuracy on the held-out jets |", "|---|---|"]
        for name, label in (("ucluster", "UCluster"), ("mass_kmeans", "k-means on the jet mass")):
            value = report["accuracy"][name]
            error = np.sqrt(value * (1 - value) / n)
            lines.append(f"| {label} | {value:.3f} +- {error:.3f} |")
        lines += ["", "Accuracy: the share of jets whose cluster is matched to their class by "
                  "the best one-to-one matching (Hungarian algorithm); classes: "
                  f"{', '.join(report['classes'])}. Errors are binomial.", ""]
    else:
        lines += ["No truth in the input (one file with one label): no accuracy.", ""]
    for filename, title in figures.items():
        lines += [f"## {title}", "", f"![{title}]({filename})", ""]
    return "\n".join(lines)
