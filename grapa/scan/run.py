"""Running a scan: the jets, one trial, all trials (here, in processes or on Ray Tune)."""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from unittest import mock

import numpy as np
import pandas as pd

from grapa import plotting
from grapa.evaluation import auc
from grapa.models.autoencoder import resolve_config
from grapa.scan.config import read_scan_config, split_options, trials
from grapa.training import train

METRICS = ("val_loss", "auc", "epochs", "seconds")


@dataclass(frozen=True)
class ScanData:
    """The jets every trial sees: training pool, held-out background, signal (or None)."""

    train: np.ndarray
    test: np.ndarray
    signal: np.ndarray | None


def load_scan_data(config, n_constituents: int, n_train: int) -> ScanData:
    """Read the config's files: the last `n_test` background jets test, the rest train.

    Raises:
        ValueError: when the background file has too few jets for `n_train` + `n_test`.
    """
    from grapa.data import read_jets

    config = read_scan_config(config)
    jets, labels = read_jets(config.background, n_constituents=n_constituents)
    signal = None
    if labels is not None:
        jets, others = jets[labels == 0], jets[labels != 0]
        signal = others if len(others) else None
    if config.signal is not None:
        signal = read_jets(config.signal, n_constituents=n_constituents)[0]
    if len(jets) < n_train + config.n_test:
        raise ValueError(
            f"{config.background} has {len(jets)} background jets, fewer than n_train "
            f"{n_train} + n_test {config.n_test}; lower them in the scan config.")
    return ScanData(train=jets[:-config.n_test][:n_train], test=jets[-config.n_test:],
                    signal=None if signal is None else signal[:config.n_test])


def run_trial(preset: str, data: ScanData, options: dict) -> dict:
    """Train one trial and measure it: what `scan` tables per trial.

    A trial whose training met NaN (e.g. a learning rate too large) is a result, not a
    failure of the scan; its `error` says what happened. When NaN stopped training, the
    best epoch before it counts (its weights are the ones restored); when NaN was left
    in the weights (`FloatingPointError`) or no epoch had a finite validation loss, the
    metrics are NaN.

    Returns:
        `{"val_loss": best finite validation loss, "auc": ... (with signal jets),
        "epochs": epochs run, "seconds": wall time of training and scoring}`, and
        `"error"` as said.
    """
    architecture, recipe = split_options(preset, options)
    n_nodes = resolve_config(preset, **architecture)["n_nodes"]
    start = time.perf_counter()
    result = {"val_loss": np.nan, "epochs": np.nan}
    if data.signal is not None:
        result["auc"] = np.nan
    try:
        model, history = train(preset, data.train[:, :n_nodes], verbose=0, **recipe,
                               **architecture)
    except FloatingPointError as error:
        result["error"] = " ".join(str(error).split())
    else:
        losses = np.asarray(history["val_loss"], dtype=float)
        result["epochs"] = len(losses)
        if not np.isfinite(losses).any():
            result["error"] = "no epoch had a finite validation loss"
        else:
            result["val_loss"] = float(np.min(losses[np.isfinite(losses)]))
            if not np.isfinite(history["loss"]).all() or not np.isfinite(losses).all():
                result["error"] = (f"a NaN or inf loss stopped training after {len(losses)} "
                                   "epochs; the best epoch before it is kept")
            if data.signal is not None:
                result["auc"] = auc(model.score(data.test[:, :n_nodes]),
                                    model.score(data.signal[:, :n_nodes]))
    result["seconds"] = time.perf_counter() - start
    return result


def scan(config, out, *, workers: int = 1, ray=None) -> pd.DataFrame:
    """Run a scan and write `scan.csv`, `scan.parquet` (with pyarrow) and `scan.png`.

    Args:
        config: a JSON or YAML file, a mapping or a `ScanConfig` (module docstring).
        out: output directory.
        workers: trials trained in parallel spawned processes (`grapa.parallel`).
        ray: None to run without Ray; True (or `"local"`) for a local Ray instance, or a
            Ray cluster address: the trials run as a Ray Tune experiment (its logs in
            `out/ray`), one CPU each.

    Returns:
        the table, one row per trial: `trial`, the scanned options, `val_loss`, `auc`
        (with signal jets), `epochs`, `seconds` (and `error` when a trial diverged).
    """
    from grapa.parallel import map_tasks

    if ray and workers > 1:
        raise ValueError(f"pass workers (got {workers}) or ray (got {ray!r}), not both.")
    if ray:
        from grapa.parallel import import_ray

        import_ray()  # before reading any jets
    config = read_scan_config(config)
    points = trials(config)
    splits = [split_options(config.preset, options) for options in points]
    data = load_scan_data(
        config, n_constituents=max(resolve_config(config.preset, **a)["n_nodes"]
                                   for a, _ in splits),
        n_train=max(recipe["n_train"] for _, recipe in splits))
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    if ray:
        results = _tune(config.preset, data, points, out, ray)
    else:
        results = map_tasks(run_trial, points, shared=(config.preset, data), workers=workers)
    table = _table(config, points, results)
    _write(table, config, out)
    return table


def _tune(preset, data, points, out, address) -> list[dict]:
    """The trials as a Ray Tune experiment: a grid over the trial numbers, one CPU each."""
    from grapa.parallel import start_ray

    ray = start_ray(address)
    from ray import tune

    # tune.RunConfig since Ray 2.41 or so; before, ray.train.RunConfig (grapa tests Ray 2.60)
    run_config = getattr(tune, "RunConfig", None) or ray.train.RunConfig
    trainable = tune.with_resources(
        tune.with_parameters(_tune_trial, preset=preset, data=data, points=points), {"cpu": 1})
    # Tune's new output engine prints its tables even at verbose=0; the legacy one is silent.
    with mock.patch.dict(os.environ, {"RAY_AIR_NEW_OUTPUT": "0"}):
        tuner = tune.Tuner(
            trainable,
            param_space={"trial": tune.grid_search(list(range(len(points))))},
            tune_config=tune.TuneConfig(reuse_actors=True),
            run_config=run_config(name="scan", storage_path=str((out / "ray").resolve()),
                                      verbose=0),
        )
        results = tuner.fit()
    by_trial = {}
    for result in results:
        if result.error is not None:
            raise RuntimeError(f"scan trial {result.config['trial']} failed on Ray: "
                               f"{result.error}") from result.error
        by_trial[result.config["trial"]] = {key: result.metrics[key]
                                            for key in (*METRICS, "error") if key in result.metrics}
    return [by_trial[k] for k in range(len(points))]


def _tune_trial(config, preset, data, points):
    """Tune's function trainable: its returned dict is the trial's one, final result."""
    return run_trial(preset, data, points[config["trial"]])


def _table(config, points, results) -> pd.DataFrame:
    rows = []
    for k, (options, result) in enumerate(zip(points, results)):
        row = {"trial": k, **{name: _cell(options[name]) for name in config.scanned}}
        row.update({metric: result[metric] for metric in METRICS if metric in result})
        if "error" in result:
            row["error"] = result["error"]
        rows.append(row)
    return pd.DataFrame(rows).set_index("trial")


def _write(table, config, out):
    table.to_csv(out / "scan.csv")
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        pass
    else:
        table.to_parquet(out / "scan.parquet")
    plotting.plot_scan(table, config.scanned,
                       [m for m in ("val_loss", "auc") if m in table], path=out / "scan.png")


def _cell(value):
    """An option's value as a table cell: lists (e.g. `units`) as their JSON text."""
    return json.dumps(value) if isinstance(value, (list, tuple, dict)) else value
