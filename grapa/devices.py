"""Training and scoring on every local device: data parallelism through `keras.distribution`.

`grapa.train(..., distribution="all")` (and `grapa train --devices all`) builds, fits
and scores the model under a `keras.distribution.DataParallel` over the local
accelerators: the weights are replicated, each batch is split across the devices and
the gradients are summed over the whole batch, so a step is the same step as on one
device (up to the order of floating-point sums). Keras implements this on the JAX
backend only.

Each batch must split evenly: the batch size must be a multiple of the device count,
training drops a handful of jets so that the last, partial batch of the training
and of the validation part also splits, and scoring pads its input with
all-zero jets (padding, which changes nothing else) and drops their scores.
"""

from __future__ import annotations

import contextlib
import math

import keras
import numpy as np


def resolve(distribution):
    """A `keras.distribution` distribution, or None for the default single device.

    Args:
        distribution: None (one device), `"all"` (data parallel over every local
            device of the default type: the GPUs or TPUs if there are any, else the
            CPUs), an int `n` (the first `n` of them), or a `keras.distribution`
            distribution (`DataParallel`, `ModelParallel`: used as given).
    """
    if distribution is None or _is_distribution(distribution):
        return distribution
    if keras.backend.backend() != "jax":
        raise ValueError(
            f"training on several devices (distribution={distribution!r}) needs the JAX "
            f"backend, this process runs {keras.backend.backend()!r}: set KERAS_BACKEND=jax "
            "before Keras is imported (the grapa command does)."
        )
    devices = keras.distribution.list_devices()
    if distribution == "all":
        count = len(devices)
    elif isinstance(distribution, (int, np.integer)) and not isinstance(distribution, bool):
        count = int(distribution)
        if not 1 <= count <= len(devices):
            raise ValueError(
                f"asked for {count} devices, this machine has {len(devices)} "
                f"({', '.join(devices)}); ask for 1 to {len(devices)}, or 'all'."
            )
    else:
        raise ValueError(
            f"distribution must be None, 'all', a number of devices or a "
            f"keras.distribution.DataParallel, got {distribution!r}."
        )
    return keras.distribution.DataParallel(devices=devices[:count])


def _is_distribution(value):
    # keras.distribution exports DataParallel and ModelParallel but not their base class.
    return hasattr(value, "device_mesh") and hasattr(value, "scope")


def scope(distribution):
    """The context to build, fit and score a model in: `distribution.scope()` or nothing."""
    return distribution.scope() if distribution is not None else contextlib.nullcontext()


def device_count(distribution=None):
    """Devices a batch is split over under `distribution` (default: the active one)."""
    distribution = distribution or keras.distribution.distribution()
    if distribution is None:
        return 1
    mesh = distribution.device_mesh
    return int(mesh.shape[list(mesh.axis_names).index(distribution.batch_dim_name)])


def check_batch_size(batch_size, devices):
    """Raise unless `batch_size` splits evenly over `devices`."""
    if batch_size % devices:
        raise ValueError(
            f"batch size {batch_size} does not split over {devices} devices; choose a "
            f"multiple of {devices}, e.g. {devices * max(1, round(batch_size / devices))}."
        )


def even_training_jets(n_jets, batch_size, validation_split, devices):
    """The most jets, at most `n_jets`, whose training and validation batches all split.

    Keras trains on the first `floor(n (1 - validation_split))` jets and validates on
    the rest; every full batch splits over `devices` once `batch_size` does, and this
    drops the fewest jets (a handful) that make both partial last batches split too.
    """
    check_batch_size(batch_size, devices)
    for n in range(n_jets, max(n_jets - batch_size * devices, 0), -1):
        n_train = math.floor(n * (1.0 - validation_split)) if validation_split else n
        if all((part % batch_size) % devices == 0 for part in (n_train, n - n_train)):
            return n
    raise ValueError(
        f"{n_jets} jets cannot be split into training and validation batches of "
        f"{batch_size} over {devices} devices; pass more jets."
    )


def predict(model, x, batch_size):
    """`model.predict(x)`, with the input padded to split over the active devices.

    The padding jets are all zero (padding constituents) and their outputs are dropped.
    """
    devices = device_count()
    if devices == 1:
        return model.predict(x, batch_size=batch_size, verbose=0)
    batch_size = max(devices, batch_size - batch_size % devices)
    missing = -len(x) % devices
    padded = np.concatenate([x, np.zeros((missing, *x.shape[1:]), x.dtype)]) if missing else x
    output = model.predict(padded, batch_size=batch_size, verbose=0)
    return keras.tree.map_structure(lambda value: value[:len(x)], output)
