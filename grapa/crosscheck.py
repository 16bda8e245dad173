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

MODELS = ("density", "mass", "observables", "angular", "mixed", "autoencoder", "normalized")
# The trivial scorers every cross table is compared with, on the same test jets.
BASELINES = evaluation.DEFAULT_BASELINES
# Kinds whose scores are log-likelihoods: on one scale across seeds, and possibly negative.
LIKELIHOOD_MODELS = ("density", "observables")


@dataclass(frozen=True)
class ModelFactory:
    """A picklable recipe for the fresh model of one cross-table row.

    `kind` is one of `MODELS`:

    - `"density"` (default): `grapa.models.JetDensity`, the mass-anchored likelihood of
      the jet's observables;
    - `"mass"`, `"observables"`, `"angular"`: the baselines of
      `grapa.evaluation.baselines` (distance from the median mass, a Gaussian mixture on
      eight observables, the trivial angular scorer of sec. 5.2.1);
    - `"mixed"` (normalized autoencoder + oneoff ensemble), `"autoencoder"` (the plain
      graph autoencoder), `"normalized"` (the autoencoder with JetNorm "mixed", ch. 6):
      the thesis's models on the preset's first `n_nodes` constituents. The autoencoders
      train for at least `epochs` epochs, then stop after `epochs // 5` without
      improvement (the thesis's 500 / 100), at most `4 * epochs`.

    With `repeats > 1` each row trains `repeats` models (seeds `seed`, `seed + 1`, ...)
    and combines their scores: likelihoods are averaged, losses are c-added (power 1).
    """

    kind: str = "density"
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

    @property
    def n_nodes(self):
        """Constituents the thesis's models and the angular scorer take: the preset's."""
        from grapa.models.autoencoder import PRESETS

        return PRESETS[self.preset]["n_nodes"]

    def __call__(self):
        if self.repeats > 1:
            return _Repeated(self)
        return {"density": _Scorer, "mass": _Scorer, "observables": _Scorer,
                "angular": _Angular, "mixed": _Mixed, "autoencoder": _Autoencoder,
                "normalized": _Autoencoder}[self.kind](self)

    def members(self):
        """One factory per repeat (seeds `seed`, `seed + 1`, ...): each trains on its own,
        one task each in `grapa.evaluation.cross_table`."""
        return [replace(self, seed=self.seed + k, repeats=1) for k in range(self.repeats)]

    @property
    def scales_by_training(self):
        """Whether `combine` needs the repeats' scores of the training jets: losses do,
        likelihoods (one scale, nats) do not."""
        return self.kind not in LIKELIHOOD_MODELS

    def combine(self, scores, training_scores=None):
        """The repeats' `(n_jets, repeats)` scores as one per jet.

        Likelihoods are averaged; losses are c-added (power 1), each divided by its mean
        on the training jets (`training_scores`, `(n_train, repeats)`).
        """
        if not self.scales_by_training:  # log-likelihoods share one scale, may be < 0
            return scores.mean(axis=1)
        return evaluation.c_addition(scores, evaluation.part_means(training_scores), power=1)


class _Repeated:
    """`repeats` models trained one after another in this process, combined by the
    factory's `combine`."""

    def __init__(self, factory):
        self.factory = factory
        self.models = [member() for member in factory.members()]

    def fit(self, jets):
        for model in self.models:
            model.fit(jets)
        self.training_scores = self._scores(jets) if self.factory.scales_by_training else None

    def _scores(self, jets):
        return np.stack([model.score(jets) for model in self.models], axis=1)

    def score(self, jets):
        return self.factory.combine(self._scores(jets), self.training_scores)


class _Scorer:
    """`JetDensity` or a baseline of `grapa.evaluation.baselines`, on whole jets."""

    def __init__(self, factory):
        if factory.kind == "density":
            from grapa.models.density import JetDensity

            self.scorer = JetDensity(seed=factory.seed)
        elif factory.kind == "observables":
            from grapa.evaluation.baselines import ObservablesScorer

            self.scorer = ObservablesScorer(seed=factory.seed)
        else:
            from grapa.evaluation.baselines import MassScorer

            self.scorer = MassScorer()

    def fit(self, jets):
        self.scorer.fit(jets)

    def score(self, jets):
        return self.scorer.score(jets)


class _Angular:
    def __init__(self, factory):
        from grapa.evaluation.baselines import AngularScorer

        self.n_nodes = factory.n_nodes
        self.scorer = AngularScorer()

    def fit(self, jets):
        self.scorer.fit(jets[:, :self.n_nodes])

    def score(self, jets):
        return self.scorer.score(jets[:, :self.n_nodes])


class _Autoencoder:
    def __init__(self, factory):
        self.factory = factory

    def fit(self, jets):
        from grapa.training import train

        normalization = "mixed" if self.factory.kind == "normalized" else None
        jets = jets[:, :self.factory.n_nodes]
        self.model, _ = train(self.factory.preset, jets, n_train=len(jets), seed=self.factory.seed,
                              verbose=0, normalization=normalization, **self.factory.schedule())

    def score(self, jets):
        return self.model.score(jets[:, :self.factory.n_nodes])


class _Mixed:
    def __init__(self, factory):
        import keras

        from grapa.models.mixed import build_mixed_model

        self.factory = factory
        keras.utils.set_random_seed(factory.seed)  # the autoencoder's initial weights
        self.model = build_mixed_model(factory.preset, n=factory.n_oneoffs, seed=factory.seed)

    def fit(self, jets):
        self.model.fit(jets[:, :self.factory.n_nodes], oneoff_epochs=self.factory.oneoff_epochs, seed=self.factory.seed,
                       random_negatives=self.factory.random_negatives, **self.factory.schedule())

    def score(self, jets):
        return self.model.score(jets[:, :self.factory.n_nodes])


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
               workers=1, baselines=BASELINES, ray=None):
    """Build the cross table of `paths` and write `crosscheck.json`, `.md` and `.png`.

    Every baseline in `baselines` gets its own table on the same train / test split, so
    the report shows where the model beats the trivial scorers (Klüttermann 2021,
    sec. 5.2.1: a model is only interesting where it does).

    Args:
        paths: top-tagging files, one dataset each (at least two).
        out: output directory.
        factory: the `ModelFactory` of every row's model.
        n_jets: jets read per file (half train, half test).
        n_constituents: constituents read per jet; default all the file has. The thesis's
            models and the angular scorer use the preset's first `n_nodes` of them.
        workers: models (rows, and repeats within a row) trained in parallel spawned
            processes.
        baselines: kinds of `MODELS` compared with the model (default mass and
            observables); `()` for none.
        ray: None to compute without Ray; True (or `"local"`) to train every model
            (row and repeat) as a task of a local Ray instance, or a Ray cluster address
            (`grapa.parallel.map_tasks`). The table is the same as without Ray.

    Returns:
        the model's table as a `pandas.DataFrame` (rows = trained on, columns = scored).
    """
    from grapa.data import read_jets

    if len(paths) < 2:
        raise ValueError(f"crosscheck needs at least two datasets, got {len(paths)}.")
    for kind in baselines:
        if kind not in MODELS:
            raise ValueError(f"baselines must be kinds of {MODELS}, got {kind!r}.")
    names = dataset_names(paths)
    datasets = {name: read_jets(path, n_constituents=n_constituents, stop=n_jets)[0]
                for name, path in zip(names, paths)}
    table = evaluation.cross_table(factory, datasets, workers=workers, ray=ray)
    compared = {kind: evaluation.cross_table(replace(factory, kind=kind, repeats=1), datasets,
                                             workers=workers, ray=ray)
                for kind in baselines if kind != factory.kind}
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    pairs = evaluation.non_invertible_pairs(table)
    n_test = min(len(jets) - len(jets) // 2 for jets in datasets.values())
    (out / "crosscheck.json").write_text(json.dumps({
        "datasets": names,
        "auc": table.to_numpy().tolist(),
        "model": factory.kind,
        "non_invertible_pairs": [list(pair) for pair in pairs],
        "n_jets": {name: int(len(jets)) for name, jets in datasets.items()},
        "summary": {kind: table_summary(t) for kind, t in {factory.kind: table, **compared}.items()},
        "baselines": {kind: t.to_numpy().tolist() for kind, t in compared.items()},
    }, indent=2) + "\n")
    plotting.plot_cross_table(table, path=out / "crosscheck.png")
    (out / "crosscheck.md").write_text(_markdown(table, pairs, factory, n_test, compared))
    return table


def table_summary(table):
    """Mean AUC over the ordered pairs, how many exceed 0.5, and the invertible pairs."""
    names = list(table.index)
    off_diagonal = [table.loc[a, b] for a in names for b in names if a != b]
    n_pairs = len(names) * (len(names) - 1) // 2
    return {"mean_auc": float(np.mean(off_diagonal)),
            "ordered_pairs_above_half": int(np.sum(np.array(off_diagonal) > 0.5)),
            "ordered_pairs": len(off_diagonal),
            "invertible_pairs": n_pairs - len(evaluation.non_invertible_pairs(table)),
            "pairs": n_pairs}


def _undecided_pairs(table, n_test):
    """Pairs whose invertibility turns on an AUC within 2 standard errors of 0.5."""
    sigma = evaluation.auc_standard_error(0.5, n_test, n_test)
    names = list(table.index)
    return [(a, b) for k, a in enumerate(names) for b in names[k + 1:]
            if min(abs(table.loc[a, b] - 0.5), abs(table.loc[b, a] - 0.5)) < 2 * sigma], sigma


def _table_lines(table):
    names = list(table.index)
    lines = ["| trained on \\ scored | " + " | ".join(names) + " |",
             "|---|" + "---|" * len(names)]
    for row in names:
        lines.append(f"| {row} | " + " | ".join(f"{table.loc[row, c]:.4f}" for c in names) + " |")
    return lines


def _markdown(table, pairs, factory, n_test, compared=None):
    names = list(table.index)
    n_pairs = len(names) * (len(names) - 1) // 2
    detail = [factory.preset] if factory.kind in ("mixed", "autoencoder", "normalized",
                                                  "angular") else []
    if factory.repeats > 1:
        detail.append(f"{factory.repeats} repeats")
    lines = [
        f"# Cross table: {factory.kind} model" + (f" ({', '.join(detail)})" if detail else ""),
        "",
        "Rows: the dataset a model was trained on; columns: the dataset scored as signal "
        "against the row's own test jets. AUC > 0.5: the column looks more anomalous.",
        "",
        *_table_lines(table),
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
    if compared:
        lines += _comparison_lines(table, factory.kind, compared)
    return "\n".join(lines)


def _comparison_lines(table, kind, compared):
    """The model next to the baselines: summary figures, then each baseline's table."""
    lines = [
        "## Compared with the baselines, on the same test jets",
        "",
        "| scorer | mean AUC (ordered pairs) | ordered pairs > 0.5 | invertible pairs |",
        "|---|---|---|---|",
    ]
    for name, t in {kind: table, **compared}.items():
        summary = table_summary(t)
        lines.append(f"| {name} | {summary['mean_auc']:.4f} | "
                     f"{summary['ordered_pairs_above_half']} of {summary['ordered_pairs']} | "
                     f"{summary['invertible_pairs']} of {summary['pairs']} |")
    for name, t in compared.items():
        lines += ["", f"### {name}", "", *_table_lines(t)]
    return lines + [""]
