"""A scan's config: reading and checking it, and the options of every trial it makes."""

from __future__ import annotations

import itertools
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from grapa.models.autoencoder import PRESETS, RECIPE, resolve_config

# `grapa.train`'s recipe options with a scan's defaults: a short run, not the thesis's
# 500 epochs; `epochs` sets `min_epochs` and `max_epochs` both.
TRAINING_DEFAULTS = dict(
    n_train=5000, min_epochs=10, patience=5, max_epochs=50,
    batch_size=RECIPE["batch_size"], learning_rate=RECIPE["learning_rate"],
    validation_split=RECIPE["validation_split"], seed=0,
)
CONFIG_KEYS = ("preset", "background", "signal", "n_test", "fixed", "grid", "random")
RANDOM_KEYS = ("samples", "seed", "options")
DISTRIBUTIONS = ("choice", "uniform", "loguniform", "randint")


@dataclass(frozen=True)
class ScanConfig:
    """A validated scan config (see the module docstring); `read_scan_config` makes one.

    Attributes:
        preset: the autoencoder preset every trial starts from.
        background: background jets file.
        signal: signal jets file, or None.
        n_test: background (and at most as many signal) jets held out for scoring.
        fixed: options every trial takes.
        grid: option -> list of values; every combination is a trial.
        random: option -> `{distribution: arguments}`, drawn `samples` times per grid
            point from a numpy generator seeded with `random_seed`.
        samples: random draws per grid point.
        random_seed: seed of the random draws (not of the training: that is `seed`).
    """

    preset: str
    background: str
    signal: str | None = None
    n_test: int = 2000
    fixed: dict = field(default_factory=dict)
    grid: dict = field(default_factory=dict)
    random: dict = field(default_factory=dict)
    samples: int = 1
    random_seed: int = 0

    @property
    def scanned(self) -> list[str]:
        """The options that change between trials: the grid's, then the random part's."""
        return [*self.grid, *self.random]


def scan_options(preset: str) -> list[str]:
    """Every option a scan may set: the preset's architecture and the training recipe."""
    return sorted({*resolve_config(preset), *TRAINING_DEFAULTS, "epochs"})


def read_scan_config(source) -> ScanConfig:
    """A `ScanConfig` from a JSON or YAML file, a mapping, or a `ScanConfig`.

    Raises:
        ValueError: naming the bad key or value and the valid ones.
    """
    if isinstance(source, ScanConfig):
        return source
    folder = None
    if isinstance(source, (str, os.PathLike)):
        folder, source = Path(source).parent, _load_file(Path(source))
    if not isinstance(source, Mapping):
        raise ValueError(f"a scan config must be a mapping of {', '.join(CONFIG_KEYS)}; "
                         f"got a {type(source).__name__}.")
    _check_keys(source, CONFIG_KEYS, "key")
    for key in ("preset", "background"):
        if key not in source:
            raise ValueError(f"scan config: '{key}' is missing (needed: preset, background).")
    if source["preset"] not in PRESETS:
        raise ValueError(f"scan config: unknown preset {source['preset']!r}; valid: "
                         f"{', '.join(sorted(PRESETS))}.")
    random = dict(source.get("random") or {})
    _check_keys(random, RANDOM_KEYS, "key of 'random'")
    config = ScanConfig(
        preset=source["preset"], background=_path(source["background"], folder),
        signal=_path(source["signal"], folder) if source.get("signal") else None,
        n_test=_positive_int(source.get("n_test", 2000), "n_test"),
        fixed=dict(source.get("fixed") or {}), grid=dict(source.get("grid") or {}),
        random=dict(random.get("options") or {}),
        samples=_positive_int(random.get("samples", 1), "random samples"),
        random_seed=int(random.get("seed", 0)),
    )
    _check_options(config)
    return config


def trials(config) -> list[dict]:
    """The options of every trial: each grid point, `samples` random draws each.

    Trial `i` is grid point `i // samples` (the last grid option changing fastest) with
    draw `i % samples`. The draws come from `numpy.random.default_rng(random_seed)`,
    option by option in the config's order, trial by trial.

    Returns:
        a list of `{option: value}`, the fixed options included.
    """
    config = read_scan_config(config)
    rng = np.random.default_rng(config.random_seed)
    points = []
    for values in itertools.product(*config.grid.values()):
        for _ in range(config.samples):
            drawn = {name: _draw(rng, spec) for name, spec in config.random.items()}
            points.append({**config.fixed, **dict(zip(config.grid, values)), **drawn})
    for k, options in enumerate(points):
        try:
            split_options(config.preset, options)
        except ValueError as error:
            raise ValueError(f"scan trial {k} ({_describe(options, config.scanned)}): "
                             f"{error}") from None
    return points


def _load_file(path: Path):
    if not path.exists():
        raise FileNotFoundError(f"scan config {path} does not exist.")
    text = path.read_text()
    if path.suffix.lower() in (".yaml", ".yml"):
        try:
            import yaml
        except ImportError:
            raise ValueError(f"reading the YAML config {path} needs PyYAML (pip install "
                             "pyyaml; Ray brings it): install it, or write the config as "
                             "JSON.") from None
        return yaml.safe_load(text)
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(f"scan config {path} is not valid JSON: {error} (a .yaml or .yml "
                         "file is read as YAML).") from None


def _check_keys(mapping, valid, what):
    for key in mapping:
        if key not in valid:
            raise ValueError(f"scan config: unknown {what} {key!r}; valid: {', '.join(valid)}.")


def _check_options(config: ScanConfig):
    valid = scan_options(config.preset)
    seen = {}
    for part in ("fixed", "grid", "random"):
        for name, value in getattr(config, part).items():
            if name not in valid:
                raise ValueError(f"scan config: unknown option {name!r} in '{part}'; valid "
                                 f"options of {config.preset}: {', '.join(valid)}.")
            if name in seen:
                raise ValueError(f"scan config: option {name!r} is in both '{seen[name]}' "
                                 f"and '{part}'; give it in one.")
            seen[name] = part
            if part == "grid" and (not isinstance(value, list) or not value):
                raise ValueError(f"scan config: grid option {name!r} must be a non-empty "
                                 f"list of values, got {value!r}.")
            if part == "random":
                _check_distribution(name, value)


_DISTRIBUTION_FORMS = ('{"choice": [values]}, {"uniform": [low, high]}, '
                       '{"loguniform": [low, high]}, {"randint": [low, high]} (high excluded)')


def _check_distribution(name, spec):
    if not (isinstance(spec, Mapping) and len(spec) == 1 and next(iter(spec)) in DISTRIBUTIONS):
        raise ValueError(f"scan config: random option {name!r} must be one of "
                         f"{_DISTRIBUTION_FORMS}; got {spec!r}.")
    (kind, arguments), = spec.items()
    if not isinstance(arguments, list) or not arguments or (
            kind != "choice" and (len(arguments) != 2 or not arguments[0] < arguments[1])):
        raise ValueError(f"scan config: random option {name!r}: {kind} needs "
                         f"{'a non-empty list of values' if kind == 'choice' else '[low, high] with low < high'}"
                         f", got {arguments!r}.")
    if kind == "loguniform" and arguments[0] <= 0:
        raise ValueError(f"scan config: random option {name!r}: loguniform needs low > 0, "
                         f"got {arguments!r}.")


def _draw(rng, spec):
    """One value of a random option, from numpy's generator (so the same without Ray)."""
    (kind, arguments), = spec.items()
    if kind == "choice":
        return arguments[int(rng.integers(len(arguments)))]
    low, high = arguments
    if kind == "randint":
        return int(rng.integers(low, high))
    if kind == "loguniform":
        return float(np.exp(rng.uniform(np.log(low), np.log(high))))
    return float(rng.uniform(low, high))


def split_options(preset, options):
    """`(architecture, recipe)` of one trial, the recipe with the scan's defaults; checked."""
    architecture = {k: v for k, v in options.items() if k not in (*TRAINING_DEFAULTS, "epochs")}
    recipe = {**TRAINING_DEFAULTS, **{k: v for k, v in options.items() if k in TRAINING_DEFAULTS}}
    if "epochs" in options:
        both = [k for k in ("min_epochs", "max_epochs") if k in options]
        if both:
            raise ValueError(f"epochs sets min_epochs and max_epochs; drop {' and '.join(both)} "
                             "or epochs.")
        recipe["min_epochs"] = recipe["max_epochs"] = options["epochs"]
    if not 0 < recipe["validation_split"] < 1:
        raise ValueError("a scan tables the best val_loss: validation_split must be in (0, 1), "
                         f"got {recipe['validation_split']}.")
    resolve_config(preset, **architecture)  # names a bad combination of compression and n_nodes
    return architecture, recipe


def _path(name, folder):
    path = Path(name)
    return str(path if folder is None or path.is_absolute() else folder / path)


def _positive_int(value, name):
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"scan config: {name} must be a positive integer, got {value!r}.")
    return value


def _describe(options, names):
    return ", ".join(f"{name}={options[name]!r}" for name in names) or "no scanned option"
