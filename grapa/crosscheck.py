"""Cross tables over many datasets (Klüttermann 2021, sec. 8.3, table 8.1, fig. 8.7).

Train one model per dataset, score every other dataset's held-out jets against the
training set's own, and collect the AUCs: `T[i][j] > 0.5` means dataset j looks more
anomalous than i to a model of i. A pair is invertible when both `T[i][j]` and
`T[j][i]` exceed 0.5; a model that only measures a trivial feature (e.g. jet width)
finds one direction and fails the other.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from grapa import evaluation, plotting

MODELS = ("mixed", "autoencoder", "normalized", "angular")


@dataclass(frozen=True)
class ModelFactory:
    """A picklable recipe for the fresh model of one cross-table row.

    `kind` is `"mixed"` (normalized autoencoder + oneoff ensemble), `"autoencoder"`
    (the plain graph autoencoder), `"normalized"` (the autoencoder with JetNorm
    "mixed", ch. 6) or `"angular"` (the trivial angular scorer, sec. 5.2.1). The autoencoders train for at least `epochs` epochs, then stop after
    `epochs // 5` without improvement (the thesis's 500 / 100), at most `4 * epochs`.
    """

    kind: str = "mixed"
    preset: str = "jets4"
    epochs: int = 100
    n_oneoffs: int = 25
    oneoff_epochs: int = 200
    random_negatives: bool = False
    seed: int = 0
    repeats: int = 1

    def __post_init__(self):
        if self.kind not in MODELS:
            raise ValueError(f"model must be one of {MODELS}, got {self.kind!r}.")
        if self.repeats < 1:
            raise ValueError(f"repeats must be at least 1, got {self.repeats}.")

    def schedule(self):
        return dict(min_epochs=self.epochs, patience=max(1, self.epochs // 5),
                    max_epochs=4 * self.epochs)

    def __call__(self):
        if self.repeats > 1:
            return _Repeated(self)
        return {"mixed": _Mixed, "autoencoder": _Autoencoder, "normalized": _Autoencoder,
                "angular": _Angular}[self.kind](self)


class _Repeated:
    def __init__(self, factory):
        self.models = [replace(factory, seed=factory.seed + k, repeats=1)()
                       for k in range(factory.repeats)]

    def fit(self, jets):
        for model in self.models:
            model.fit(jets)
        self.reference_means = evaluation.part_means(self._scores(jets))

    def _scores(self, jets):
        return np.stack([model.score(jets) for model in self.models], axis=1)

    def score(self, jets):
        # c addition (sec. 5.1.4) over the models, each scaled by its training mean
        return evaluation.c_addition(self._scores(jets), self.reference_means, power=1)


class _Angular:
    def __init__(self, factory):
        self.reference_means = None

    def fit(self, jets):
        self.reference_means = evaluation.part_means(evaluation.angular_distances(jets))

    def score(self, jets):
        return evaluation.angular_scores(jets, self.reference_means)


class _Autoencoder:
    def __init__(self, factory):
        self.factory = factory

    def fit(self, jets):
        from grapa.training import train

        normalization = "mixed" if self.factory.kind == "normalized" else None
        self.model, _ = train(self.factory.preset, jets, n_train=len(jets), seed=self.factory.seed,
                              verbose=0, normalization=normalization, **self.factory.schedule())

    def score(self, jets):
        return self.model.score(jets)


class _Mixed:
    def __init__(self, factory):
        import keras

        from grapa.models.mixed import build_mixed_model

        self.factory = factory
        keras.utils.set_random_seed(factory.seed)  # the autoencoder's initial weights
        self.model = build_mixed_model(factory.preset, n=factory.n_oneoffs, seed=factory.seed)

    def fit(self, jets):
        self.model.fit(jets, oneoff_epochs=self.factory.oneoff_epochs, seed=self.factory.seed,
                       random_negatives=self.factory.random_negatives, **self.factory.schedule())

    def score(self, jets):
        return self.model.score(jets)


def dataset_names(paths):
    """Display names: file stems, made unique with a counter when two files share one."""
    names = []
    for path in paths:
        name, k = Path(path).stem, 2
        while name in names:
            name, k = f"{Path(path).stem}_{k}", k + 1
        names.append(name)
    return names


def crosscheck(paths, out, factory=ModelFactory(), n_jets=None, n_constituents=None,
               workers=1):
    """Build the cross table of `paths` and write `crosscheck.json`, `.md` and `.png`.

    Args:
        paths: top-tagging files, one dataset each (at least two).
        out: output directory.
        factory: the `ModelFactory` of every row's model.
        n_jets: jets read per file (half train, half test).
        n_constituents: constituents per jet; default the preset's node count.
        workers: rows computed in parallel processes.

    Returns:
        the table as a `pandas.DataFrame` (rows = trained on, columns = scored).
    """
    from grapa.data import read_jets
    from grapa.models.autoencoder import PRESETS

    if len(paths) < 2:
        raise ValueError(f"crosscheck needs at least two datasets, got {len(paths)}.")
    n_constituents = n_constituents or PRESETS[factory.preset]["n_nodes"]
    names = dataset_names(paths)
    datasets = {name: read_jets(path, n_constituents=n_constituents, stop=n_jets)[0]
                for name, path in zip(names, paths)}
    table = evaluation.cross_table(factory, datasets, workers=workers)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    pairs = evaluation.non_invertible_pairs(table)
    (out / "crosscheck.json").write_text(json.dumps({
        "datasets": names,
        "auc": table.to_numpy().tolist(),
        "model": factory.kind,
        "non_invertible_pairs": [list(pair) for pair in pairs],
        "n_jets": {name: int(len(jets)) for name, jets in datasets.items()},
    }, indent=2) + "\n")
    plotting.plot_cross_table(table, path=out / "crosscheck.png")
    n_test = min(len(jets) - len(jets) // 2 for jets in datasets.values())
    (out / "crosscheck.md").write_text(_markdown(table, pairs, factory, n_test))
    return table


def _undecided_pairs(table, n_test):
    """Pairs whose invertibility turns on an AUC within 2 standard errors of 0.5."""
    sigma = evaluation.auc_standard_error(0.5, n_test, n_test)
    names = list(table.index)
    return [(a, b) for k, a in enumerate(names) for b in names[k + 1:]
            if min(abs(table.loc[a, b] - 0.5), abs(table.loc[b, a] - 0.5)) < 2 * sigma], sigma


def _markdown(table, pairs, factory, n_test):
    names = list(table.index)
    n_pairs = len(names) * (len(names) - 1) // 2
    lines = [
        f"# Cross table: {factory.kind} model ({factory.preset}"
        + (f", {factory.repeats} repeats" if factory.repeats > 1 else "") + ")",
        "",
        "Rows: the dataset a model was trained on; columns: the dataset scored as signal "
        "against the row's own test jets. AUC > 0.5: the column looks more anomalous.",
        "",
        "| trained on \\ scored | " + " | ".join(names) + " |",
        "|---|" + "---|" * len(names),
    ]
    for row in names:
        lines.append(f"| {row} | " + " | ".join(f"{table.loc[row, c]:.4f}" for c in names) + " |")
    lines += [
        "",
        f"Invertible pairs: {n_pairs - len(pairs)} of {n_pairs} "
        f"({2 * (n_pairs - len(pairs))} of {2 * n_pairs} ordered pairs).",
    ]
    if pairs:
        lines.append("Not invertible: " + ", ".join(f"{a} <-> {b}" for a, b in pairs) + ".")
    undecided, sigma = _undecided_pairs(table, n_test)
    lines.append(
        f"Statistical error of one AUC near 0.5: {sigma:.4f} ({n_test} test jets per set, "
        "Hanley-McNeil). "
        + ("Within 2 errors of 0.5, so not significant either way: "
           + ", ".join(f"{a} <-> {b}" for a, b in undecided) + "." if undecided
           else "Every pair is decided by more than 2 errors.")
    )
    lines += ["", "![cross table](crosscheck.png)", ""]
    return "\n".join(lines)
