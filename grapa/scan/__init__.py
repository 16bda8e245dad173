"""Hyperparameter scans: one autoencoder per point of a grid or of random draws.

`scan(config, out)` trains a preset once per trial with `grapa.train`, each trial's
options taken from the config's `grid` (every combination) and `random` part (`samples`
draws per grid point), and tables what each trial reached: the best validation loss,
the AUC of held-out background against signal jets (when there are signal jets), the
epochs it ran and its seconds. It writes `scan.csv` (and `scan.parquet` when pyarrow is
installed) and the figure `scan.png` (`grapa.plotting.plot_scan`).

The trials run in this process, in spawned processes (`workers`), or with Ray Tune
(`ray`): the same trials with the same seeds, so the same table, whichever runs them.
grapa draws the random points itself (numpy, seeded by the config) and hands Tune the
list, so a scan without Ray installed draws exactly the points Tune trains.

A config, as JSON (or YAML when PyYAML is installed, as it is with Ray):

```json
{
  "preset": "jets4",
  "background": "qcd.h5",
  "signal": "top.h5",
  "n_test": 2000,
  "fixed": {"n_train": 10000, "min_epochs": 10, "patience": 5, "max_epochs": 50},
  "grid": {"k": [2, 3, 4], "learning_rate": [0.001, 0.003]},
  "random": {"samples": 2, "seed": 0,
             "options": {"batch_size": {"choice": [50, 100, 200]},
                         "units": {"choice": [[9], [12]]}}}
}
```

Relative file names are relative to the config file. With a labelled `background` file
(`is_signal_new`), its label-0 jets are the background and, without a `signal` file, its
other jets the signal (as `grapa evaluate` does). The last `n_test` background jets are
held out for scoring; training uses the first `n_train` of the others (of which the
recipe's last `validation_split` validate).
"""

from grapa.scan.config import (
    TRAINING_DEFAULTS,
    ScanConfig,
    read_scan_config,
    scan_options,
    trials,
)
from grapa.scan.run import METRICS, ScanData, load_scan_data, run_trial, scan

__all__ = [
    "METRICS",
    "TRAINING_DEFAULTS",
    "ScanConfig",
    "ScanData",
    "load_scan_data",
    "read_scan_config",
    "run_trial",
    "scan",
    "scan_options",
    "trials",
]
