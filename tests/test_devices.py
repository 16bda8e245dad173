"""grapa.devices: data-parallel training and scoring on several devices.

The two-device run needs a process whose JAX sees two CPU devices
(XLA_FLAGS=--xla_force_host_platform_device_count=2, set before JAX starts), so it runs
in a subprocess; the rest is plain arithmetic.
"""

import json
import math
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from grapa import devices

TWO_DEVICES = textwrap.dedent("""
    import json
    import keras
    import numpy as np

    import grapa
    from grapa import devices
    from grapa.data import read_jets, sample_path

    assert len(keras.distribution.list_devices()) == 2, keras.distribution.list_devices()
    jets, labels = read_jets(sample_path(), n_constituents=16)
    jets = jets[labels == 0][:1001]          # two devices: 800 + 200 of 800 + 201
    result = {}
    for distribution in (None, "all"):
        model, history = grapa.train("jets16", jets, n_train=len(jets), min_epochs=3,
                                     max_epochs=3, patience=1, batch_size=100,
                                     distribution=distribution, verbose=0, seed=3)
        result[str(distribution)] = history
    with devices.scope(devices.resolve("all")):
        on_two = model.score(jets[:333])     # odd: scoring pads and drops
    result["on_two"] = on_two.tolist()
    result["on_one"] = model.score(jets[:333]).tolist()
    print("RESULT" + json.dumps(result))
""")


@pytest.mark.slow
def test_two_devices_give_the_same_loss_curve_as_one():
    env = {**os.environ, "KERAS_BACKEND": "jax",
           "XLA_FLAGS": "--xla_force_host_platform_device_count=2"}
    run = subprocess.run([sys.executable, "-c", TWO_DEVICES], env=env, capture_output=True,
                         text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    result = json.loads(run.stdout.split("RESULT")[-1])
    one, two = result["None"], result["all"]
    # The same steps on the same 800 training jets, summed in another order; two devices
    # validate on 200 of the 201 jets (a last validation batch of 1 would not split).
    np.testing.assert_allclose(two["loss"], one["loss"], rtol=2e-3)
    np.testing.assert_allclose(two["val_loss"], one["val_loss"], rtol=2e-2)
    # One model scored on two devices and on one: the same numbers.
    np.testing.assert_allclose(result["on_two"], result["on_one"], rtol=1e-4)
    assert len(result["on_two"]) == 333


def _parts_split(n, batch, split, count):
    n_train = math.floor(n * (1.0 - split))  # as Keras's validation_split
    return all((part % batch) % count == 0 for part in (n_train, n - n_train))


@pytest.mark.parametrize("n_jets, batch, split, count, expected", [
    (1000, 100, 0.2, 2, 1000),  # 800 + 200: every batch full
    (1003, 100, 0.2, 2, None),  # 802 + 201, 801 + 201, 800 + 201 fail; 1000 -> 800 + 200
    (1001, 100, 0.0, 2, 1000),
    (1001, 100, 0.0, 4, 1000),
    (1000, 100, 0.0, 1, 1000),
    (5003, 128, 0.1, 4, None),
])
def test_even_training_jets_drops_the_fewest_jets(n_jets, batch, split, count, expected):
    kept = devices.even_training_jets(n_jets, batch, split, count)
    if expected is not None:
        assert kept == expected
    assert _parts_split(kept, batch, split, count)
    assert not any(_parts_split(n, batch, split, count) for n in range(kept + 1, n_jets + 1))


def test_batch_size_must_split_over_the_devices():
    with pytest.raises(ValueError, match="batch size 101 does not split over 2 devices"):
        devices.even_training_jets(1000, 101, 0.2, 2)


def test_one_device_is_the_default_and_bad_requests_are_named():
    assert devices.resolve(None) is None
    assert devices.device_count(None) == 1
    import keras

    if keras.backend.backend() != "jax":
        with pytest.raises(ValueError, match="needs the JAX backend"):
            devices.resolve("all")
    else:
        with pytest.raises(ValueError, match="asked for 99 devices"):
            devices.resolve(99)
        with pytest.raises(ValueError, match="distribution must be None, 'all'"):
            devices.resolve("every")


def test_cli_devices_flag_is_checked_in_cli_words(tmp_path, capsys):
    from grapa.cli import main

    assert main(["train", "--data", str(tmp_path / "qcd.h5"), "--out", str(tmp_path),
                 "--devices", "two"]) == 2
    assert "--devices takes 'all' or a number of devices, got 'two'" in capsys.readouterr().err
