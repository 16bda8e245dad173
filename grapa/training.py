"""Training a jet model on background jets and writing the run.

`train` reads (or takes) background jets, builds an autoencoder preset, fits it with the
thesis's recipe (Klüttermann 2021, sec. 4.4: Adam 0.003, batch 100, at least
`min_epochs` epochs then early stopping with `patience`, restoring the best weights),
stops on NaN and checks every weight after training. `train_density` fits the
likelihood scorer `grapa.models.JetDensity` on the whole jets. Both write `model.keras`,
`history.csv` and `config.json` into `out`; `reference_jets` reads a run's training jets
back, for the baselines a report compares the model with.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import keras
import numpy as np

from grapa import devices
from grapa.data.checks import check_jets
from grapa.models.autoencoder import (
    RECIPE,
    STEPS_PER_EXECUTION,
    GraphAutoencoder,
    build_graph_autoencoder,
    resolve_config,
)
from grapa.models.density import JetDensity


def load_background(data, n_constituents, n_jets=None, label=0):
    """Background jets from an array or a top-tagging file.

    Args:
        data: `(n_jets, n, 4)` array, or a path to a top-tagging HDF5 file.
        n_constituents: constituents per jet the model takes; None: all there are.
        n_jets: keep at most this many jets (the first ones).
        label: with a file that has `is_signal_new`, keep only jets with this label
            (0 = QCD, the thesis's background); None keeps all.

    Returns:
        float32 array `(n_jets, n_constituents, 4)`.
    """
    if isinstance(data, (str, os.PathLike)):
        from grapa.data import read_jets

        jets, labels = read_jets(data, n_constituents=n_constituents)
        if labels is not None and label is not None:
            jets = jets[np.asarray(labels) == label]
            if len(jets) == 0:
                raise ValueError(
                    f"{data} holds no jets with is_signal_new == {label}; pass label=None "
                    "to train on every jet, or another file."
                )
    else:
        jets = np.asarray(data)
    jets = jets if n_jets is None else jets[:n_jets]
    return check_jets(jets, n_constituents, training=True, what="training jets")


def train(
    model="jets4",
    data=None,
    *,
    out=None,
    n_train=RECIPE["n_train"],
    max_epochs=RECIPE["max_epochs"],
    min_epochs=RECIPE["min_epochs"],
    patience=RECIPE["patience"],
    batch_size=RECIPE["batch_size"],
    learning_rate=RECIPE["learning_rate"],
    validation_split=RECIPE["validation_split"],
    label=0,
    seed=0,
    resume=True,
    verbose="auto",
    callbacks=(),
    distribution=None,
    steps_per_execution=STEPS_PER_EXECUTION,
    **overrides,
):
    """Train a jet autoencoder on background jets with the thesis's recipe.

    Defaults are the thesis's (SPEC §3): Adam 0.003, batch 100, at least 500 epochs
    then patience 100 on `val_loss`, best weights restored, 50k training jets. Shorten
    with `min_epochs`, `patience`, `max_epochs`, `n_train`.

    Args:
        model: a preset name (`"jets4"`, `"jets9"`, `"jets16"`) or a `GraphAutoencoder`.
        data: background jets `(n_jets, n, 4)` or a top-tagging file path.
        out: directory for `model.keras`, `history.csv`, `config.json` and the resume
            backup; None trains in memory only (no resume).
        n_train: jets used (the last `validation_split` of them validate).
        max_epochs: upper bound on epochs.
        min_epochs: never stop earlier than this.
        patience: epochs without `val_loss` improvement before stopping.
        batch_size: jets per step.
        learning_rate: Adam's learning rate.
        validation_split: fraction of the `n_train` jets used for validation.
        label: with a file, train on jets with this `is_signal_new` (None: all).
        seed: seeds weights and shuffling (`keras.utils.set_random_seed`).
        resume: continue an interrupted run found in `out` (Keras `BackupAndRestore`).
        verbose: Keras progress bar setting.
        callbacks: extra Keras callbacks, run before the recipe's.
        distribution: None (one device), `"all"` (data parallel over every local
            accelerator, JAX backend), a number of devices, or a `keras.distribution`
            distribution; see `grapa.devices`. The model is built and trained under it;
            score under `grapa.devices.scope(...)` to split the scoring too.
        steps_per_execution: training steps per call into the compiled step (the same
            updates; fewer Python round trips).
        **overrides: architecture options of `build_graph_autoencoder`.

    Returns:
        `(model, history)`: the trained `GraphAutoencoder` (best weights) and a dict of
        per-epoch logs.
    """
    keras.utils.set_random_seed(seed)
    distribution = devices.resolve(distribution)
    if isinstance(model, GraphAutoencoder):
        if overrides:
            raise ValueError("architecture overrides apply to presets only, not to a built model.")
        if distribution is not None:
            raise ValueError("a built model keeps the devices it was built on; pass a preset "
                             "name to train on several devices.")
        preset, architecture = None, None
    else:
        preset, architecture = model, resolve_config(model, **overrides)
        with devices.scope(distribution):
            model = build_graph_autoencoder(model, **overrides)
    n_nodes = model.encoder.input_shape[1]
    jets = load_background(data, n_nodes, n_train, label)
    start = time.perf_counter()
    with devices.scope(distribution):
        fit = model.fit_recipe(
            jets, min_epochs=min_epochs, patience=patience, max_epochs=max_epochs,
            batch_size=batch_size, learning_rate=learning_rate,
            validation_split=validation_split, out=out, resume=resume, callbacks=callbacks,
            verbose=verbose, steps_per_execution=steps_per_execution,
        )
    seconds = time.perf_counter() - start
    history = _history(fit)
    if out:
        _write_run(out, model, history, dict(
            preset=preset, architecture=architecture, data=_data_name(data),
            n_jets=int(len(jets)), n_train=n_train, max_epochs=max_epochs, min_epochs=min_epochs,
            patience=patience, batch_size=batch_size, learning_rate=learning_rate,
            validation_split=validation_split, label=label, seed=seed,
            backend=keras.backend.backend(), devices=devices.device_count(distribution),
            train_seconds=round(seconds, 2), epochs_run=len(history.get("loss", [])),
        ))
    return model, history


def train_density(data, *, out=None, n_train=RECIPE["n_train"], label=0, seed=0, verbose=0,
                  **fit_options):
    """Fit the likelihood scorer `grapa.models.JetDensity` on background jets.

    Its observables are sums over the whole jet, so every constituent there is is read.

    Args:
        data: background jets `(n_jets, n, 4)` or a top-tagging file path.
        out: directory for `model.keras`, `history.csv` and `config.json`; None keeps
            the model in memory only.
        n_train: jets used (the fit holds out its own validation part).
        label: with a file, fit on jets with this `is_signal_new` (None: all).
        seed: `JetDensity`'s seed (initial weights and shuffle).
        verbose: Keras progress bar setting.
        **fit_options: `JetDensity.fit` options (`epochs`, `batch_size`,
            `learning_rate`, `validation_split`, `patience`).

    Returns:
        `(model, history)`: the fitted `JetDensity` and a dict of per-epoch logs.
    """
    jets = load_background(data, None, n_train, label)
    model = JetDensity(seed=seed)
    start = time.perf_counter()
    fit = model.fit(jets, verbose=verbose, **fit_options)
    seconds = time.perf_counter() - start
    history = _history(fit)
    if out:
        _write_run(out, model, history, dict(
            model="density", data=_data_name(data), n_jets=int(len(jets)), n_train=n_train,
            label=label, seed=seed, fit_options=fit_options, backend=keras.backend.backend(),
            train_seconds=round(seconds, 2), epochs_run=len(history.get("loss", [])),
        ), history_csv=True)  # no CSVLogger: the density's fit is not resumable
    return model, history


TAGGER_RECIPE = {"epochs": 10, "batch_size": 128, "learning_rate": 3e-3, "validation_split": 0.1}


def labelled_jets(background, signal=None, n_constituents=30, n_jets=None, seed=0):
    """Background (label 0) and signal (label 1) jets, shuffled together.

    Args:
        background: `(n_jets, n, 4)` array or top-tagging file path of background jets;
            with `signal=None`, a top-tagging file holding both classes, labelled by its
            `is_signal_new` column (as the public dataset's train.h5).
        signal: signal jets, array or file path (every jet of a file is taken, whatever
            its `is_signal_new`), or None (see `background`).
        n_constituents: constituents per jet.
        n_jets: at most this many jets of each class (the first ones).
        seed: seeds the shuffle.

    Returns:
        `(jets, labels)`: float32 `(n, n_constituents, 4)` and float32 `(n,)` of 0 and 1.
    """
    if signal is None:
        sets = _classes_of_file(background, n_constituents)
        sets = [check_jets(s[:n_jets], n_constituents, training=True, what=f"{name} jets")
                for name, s in zip(("background", "signal"), sets)]
    else:
        sets = [load_background(data, n_constituents, n_jets, label=None)
                for data in (background, signal)]
    jets = np.concatenate(sets)
    labels = np.repeat(np.array([0.0, 1.0], "float32"), [len(s) for s in sets])
    order = np.random.default_rng(seed).permutation(len(jets))
    return jets[order], labels[order]


def _classes_of_file(data, n_constituents):
    """`(background, signal)` jets of one labelled top-tagging file."""
    if not isinstance(data, (str, os.PathLike)):
        raise ValueError(
            "Without signal jets, pass one top-tagging file whose is_signal_new column "
            f"labels both classes; got a {type(data).__name__}. Pass the signal jets too.")
    from grapa.data import read_jets

    jets, labels = read_jets(data, n_constituents=n_constituents)
    if labels is None:
        raise ValueError(f"{data} has no is_signal_new column to tell signal from "
                         "background; pass the signal jets (a file or an array) as well.")
    labels = np.asarray(labels)
    sets = jets[labels == 0], jets[labels == 1]
    for name, value, s in (("background", 0, sets[0]), ("signal", 1, sets[1])):
        if len(s) == 0:
            raise ValueError(f"{data} holds no {name} jets (is_signal_new == {value}); "
                             "pass the other class's jets as well.")
    return sets


def train_tagger(background, signal=None, *, out=None, n_constituents=30, n_train=None,
                 epochs=TAGGER_RECIPE["epochs"], batch_size=TAGGER_RECIPE["batch_size"],
                 learning_rate=TAGGER_RECIPE["learning_rate"],
                 validation_split=TAGGER_RECIPE["validation_split"], seed=0, verbose="auto",
                 callbacks=(), distribution=None, **architecture):
    """Train the ParticleNet-style tagger (`grapa.models.build_particle_net`) on labelled jets.

    Binary cross-entropy, Adam with a cosine-decaying learning rate (from
    `learning_rate` to 0 over the run, a simple stand-in for ParticleNet's one-cycle
    schedule), the last `validation_split` of the shuffled jets held out, and the
    weights of the epoch with the lowest validation loss restored.

    Args:
        background, signal: jets `(n_jets, n, 4)` or top-tagging file paths, labelled 0
            and 1; or one file holding both classes and `signal=None`, labelled by its
            `is_signal_new` (as the public dataset's files). See `labelled_jets`.
        out: directory for `model.keras`, `history.csv` and `config.json`; None keeps
            the model in memory only.
        n_constituents: constituents per jet the tagger takes (arrays must have exactly
            this many; files are read to this many).
        n_train: at most this many jets of each class.
        epochs, batch_size, learning_rate, validation_split: the schedule.
        seed: seeds weights and shuffling.
        verbose: Keras progress bar setting.
        callbacks: extra Keras callbacks.
        distribution: None, `"all"`, a number of devices or a `keras.distribution`
            distribution: data parallel training, as in `train`.
        **architecture: `build_particle_net` options (`size`, `k`, `blocks`, `pooling`, ...).

    Returns:
        `(model, history)`: the trained tagger, `model.predict(jets)` = P(signal), and a
        dict of per-epoch logs.
    """
    from grapa.models.tagger import build_particle_net

    keras.utils.set_random_seed(seed)
    distribution = devices.resolve(distribution)
    jets, labels = labelled_jets(background, signal, n_constituents, n_train, seed)
    parallel = devices.device_count(distribution)
    if parallel > 1:
        keep = devices.even_training_jets(len(jets), batch_size, validation_split, parallel)
        jets, labels = jets[:keep], labels[:keep]
    steps = int(np.ceil(len(jets) * (1 - validation_split) / batch_size)) * epochs
    recipe = list(callbacks)
    if validation_split:
        recipe.append(keras.callbacks.EarlyStopping(
            monitor="val_loss", patience=epochs, restore_best_weights=True))
    start = time.perf_counter()
    with devices.scope(distribution):
        model = build_particle_net(n_constituents, **architecture)
        schedule = keras.optimizers.schedules.CosineDecay(learning_rate, max(steps, 1))
        model.compile(optimizer=keras.optimizers.Adam(schedule), loss="binary_crossentropy",
                      metrics=[keras.metrics.AUC(name="auc")])
        fit = model.fit(jets, labels, epochs=epochs, batch_size=batch_size,
                        validation_split=validation_split, callbacks=recipe, verbose=verbose)
    seconds = time.perf_counter() - start
    history = _history(fit)
    if out:
        _write_run(out, model, history, dict(
            model="particle_net", background=_data_name(background),
            signal=_data_name(signal), n_jets=int(len(jets)), n_constituents=n_constituents,
            n_train=n_train, epochs=epochs, batch_size=batch_size, learning_rate=learning_rate,
            validation_split=validation_split, seed=seed, architecture=architecture,
            backend=keras.backend.backend(), devices=parallel, train_seconds=round(seconds, 2),
        ), history_csv=True)
    return model, history


def reference_jets(run):
    """The background jets a run was trained on, every constituent, read back from its file.

    Args:
        run: the run directory (or its `model.keras`) written by `train` or
            `train_density`.

    Returns:
        float32 `(n_jets, n, 4)` jets, or None when the run did not record a file
        (trained on an array) or the file is gone.
    """
    run = Path(run)
    config_file = (run.parent if run.suffix == ".keras" else run) / "config.json"
    if not config_file.exists():
        return None
    config = json.loads(config_file.read_text())
    data = config.get("data")
    if not data or data == "array" or not Path(data).exists():
        return None
    return load_background(data, None, config.get("n_jets"), config.get("label", 0))


def _history(fit):
    """A Keras `History`'s logs as plain floats, one list per metric."""
    return {key: [float(value) for value in values] for key, values in fit.history.items()}


def _write_history(out, history):
    import pandas as pd

    frame = pd.DataFrame(history)
    frame.insert(0, "epoch", range(len(frame)))
    frame.to_csv(Path(out) / "history.csv", index=False)


def _data_name(data):
    if data is None:
        return None
    return str(Path(data).resolve()) if isinstance(data, (str, os.PathLike)) else "array"


def _write_run(out, model, history, config, *, history_csv=False):
    """`model.keras` and `config.json` (with the best validation loss) in `out`, and
    `history.csv` with `history_csv`; a recipe run's CSVLogger writes that epoch by
    epoch instead (resumed runs append to it)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    model.save(out / "model.keras")
    losses = history.get("val_loss")
    config = {**config, "best_val_loss": min(losses) if losses else None}
    (out / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    if history_csv:
        _write_history(out, history)
