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


def graph_convolutions_model(n=8):
    """Every layer of the standard graph convolutions: ParticleFeatures, GCNConv, ChebConv,
    GraphAttention, EdgeConv (on given coordinates and dynamic), SoftPooling, GlobalPooling."""
    jets = keras.Input(shape=(n, 4))
    particles = gl.ParticleFeatures()(jets)
    adj = gl.TopKGraph(k=3)(gl.CutFeatures(2)(particles))
    x = gl.GCNConv(6, activation="relu")([particles, adj])
    x = gl.ChebConv(5, order=3, activation="tanh")([x, adj])
    x = gl.GraphAttention(3, heads=2, activation="elu")([x, adj])
    x = gl.EdgeConv((6, 4), k=3)([gl.CutFeatures(2)(particles), x])
    x = gl.EdgeConv((5,), k=2, aggregation="max")(x)
    pooled, pooled_adj = gl.SoftPooling(nodes=3)([x, adj])
    pooled = gl.GCNConv(4)([pooled, pooled_adj])
    return keras.Model(jets, [gl.GlobalPooling("max")([pooled, pooled_adj]),
                              gl.GlobalPooling("mean")([x, particles])])


def assert_loads_in_a_new_process(model, jets, tmp_path):
    """`model` saved to `.keras` loads in a fresh Python with `safe_mode=True` and
    predicts exactly what it predicted before saving."""
    np.save(tmp_path / "jets.npy", jets)
    expected = model.predict(jets, verbose=0)
    expected = expected if isinstance(expected, list) else [expected]
    assert all(np.all(np.isfinite(e)) for e in expected)
    model.save(tmp_path / "model.keras")
    script = textwrap.dedent(
        f"""
        import numpy as np, keras
        import grapa  # registers the layers
        model = keras.saving.load_model({str(tmp_path / "model.keras")!r}, safe_mode=True)
        out = model.predict(np.load({str(tmp_path / "jets.npy")!r}), verbose=0)
        np.savez({str(tmp_path / "out.npz")!r}, *(out if isinstance(out, list) else [out]))
        """
    )
    env = {**os.environ, "KERAS_BACKEND": keras.backend.backend()}
    subprocess.run([sys.executable, "-c", script], check=True, env=env, cwd=tmp_path)
    loaded = np.load(tmp_path / "out.npz")
    assert len(loaded.files) == len(expected)
    for i, e in enumerate(expected):
        np.testing.assert_array_equal(loaded[f"arr_{i}"], e)
    return expected


def test_all_layers_model_loads_in_a_new_process(tmp_path):
    expected = assert_loads_in_a_new_process(all_layers_model(), make_jets(n_jets=5), tmp_path)
    assert expected[0].shape == (5, 8, 5)


def test_graph_convolutions_model_loads_in_a_new_process(tmp_path):
    expected = assert_loads_in_a_new_process(
        graph_convolutions_model(), make_jets(n_jets=5), tmp_path)
    assert [e.shape for e in expected] == [(5, 4), (5, 5)]


def test_particle_net_loads_in_a_new_process(tmp_path):
    from grapa.models import build_particle_net

    model = build_particle_net(8, k=3, blocks=((8, 8), (8,)), dense=(8,), pooling="soft")
    expected = assert_loads_in_a_new_process(model, make_jets(n_jets=5), tmp_path)
    assert expected[0].shape == (5, 1)
