"""A model made of every grapa layer saves to `.keras` and loads in a new process."""

import os
import subprocess
import sys
import textwrap

import keras
import numpy as np

from grapa import layers as gl
from tests.conftest import make_jets


def all_layers_model(n=8):
    jets = keras.Input(shape=(n, 4))
    feats = gl.JetFeatures()(jets)
    feats = gl.SortNodes()(feats)
    normed = gl.JetNorm("mixed")(feats)
    x, adj = gl.TopKGraph(k=3, edge_weights="gaussian", extra_features=1)(normed)
    x = gl.GraphUpdate(6, activation="relu", aggregation="mean")([x, adj])
    x, adj = gl.CompressGraph(2, 6, reduction="max")([x, adj])
    x = gl.GraphUpdate(5)([x, gl.FullyConnectedGraph()(x)])
    z = gl.Compress(4, 9)(x)
    x, adj = gl.Decompress(2, 6)([z, gl.FullyConnectedGraph()(z)])
    x, adj = gl.GraphLikeDecompress(2, 6)([x, adj])
    x, adj = gl.ParamLikeDecompress(2, 6)([x, adj])
    x = gl.GraphUpdate(5, activation="tanh")([x, adj])
    x = gl.PadFeatures(1)(gl.CutFeatures(4)(x))
    x = gl.SortNodes(feature=3)(x)
    return keras.Model(jets, x)


def test_all_layers_model_loads_in_a_new_process(tmp_path):
    model = all_layers_model()
    jets = make_jets(n_jets=5)
    np.save(tmp_path / "jets.npy", jets)
    expected = model.predict(jets, verbose=0)
    assert expected.shape == (5, 8, 5) and np.all(np.isfinite(expected))
    model.save(tmp_path / "model.keras")
    script = textwrap.dedent(
        f"""
        import numpy as np, keras
        import grapa  # registers the layers
        model = keras.saving.load_model({str(tmp_path / "model.keras")!r}, safe_mode=True)
        np.save({str(tmp_path / "out.npy")!r}, model.predict(np.load({str(tmp_path / "jets.npy")!r}), verbose=0))
        """
    )
    env = {**os.environ, "KERAS_BACKEND": keras.backend.backend()}
    subprocess.run([sys.executable, "-c", script], check=True, env=env, cwd=tmp_path)
    np.testing.assert_array_equal(np.load(tmp_path / "out.npy"), expected)
