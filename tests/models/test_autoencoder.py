import keras
import numpy as np
import pytest
from keras import ops

from grapa import layers as gl
from grapa import losses
from grapa.models import GraphAutoencoder, build_dense_autoencoder, build_graph_autoencoder
from grapa.models.autoencoder import PRESETS


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_preset_trains_on_sample_without_nan_and_round_trips(preset, sample_jets, tmp_path):
    keras.utils.set_random_seed(0)
    n = PRESETS[preset]["n_nodes"]
    qcd = sample_jets[0][:600, :n]
    model = build_graph_autoencoder(preset)
    model.compile(optimizer=keras.optimizers.Adam(0.003))
    history = model.fit(qcd, epochs=2, batch_size=100, validation_split=0.2, verbose=0)
    assert np.all(np.isfinite(history.history["loss"] + history.history["val_loss"]))
    assert model.encoder.output_shape == (None, 1, PRESETS[preset]["units"][-1])
    scores = model.score(qcd[:50])
    assert scores.shape == (50,) and np.all(np.isfinite(scores))

    model.save(tmp_path / "model.keras")
    loaded = keras.saving.load_model(tmp_path / "model.keras", safe_mode=True)
    assert isinstance(loaded, GraphAutoencoder)
    np.testing.assert_array_equal(loaded.score(qcd[:50]), scores)
    np.testing.assert_array_equal(loaded.encode(qcd[:5]), model.encode(qcd[:5]))


def test_preset_architecture_follows_spec():
    model = build_graph_autoencoder("jets9")
    names = [layer.name for layer in model.encoder.layers]
    assert names.index("target") < names.index("batch_norm") < names.index("encoder_0_graph")
    compress = [layer for layer in model.encoder.layers if isinstance(layer, gl.Compress)]
    assert [(c.factor, c.units) for c in compress] == [(3, 12), (3, 20)]
    updates = [layer for layer in model.encoder.layers if isinstance(layer, gl.GraphUpdate)]
    assert len(updates) == 6 and not any(u.use_bias for u in updates)
    assert isinstance(model.encoder.get_layer("encoder_0_graph"), gl.TopKGraph)
    fc = build_graph_autoencoder("jets16")
    assert isinstance(fc.encoder.get_layer("encoder_1_graph"), gl.FullyConnectedGraph)
    decompress = [layer for layer in fc.decoder.layers if isinstance(layer, gl.Decompress)]
    assert [(d.factor, d.units) for d in decompress] == [(4, 36), (4, 36)]
    assert fc.decoder.output_shape == (None, 16, 4)


def test_score_equals_loss_from_reconstruct(sample_jets):
    qcd = sample_jets[0][:40, :4]
    for loss in ("l2", "image_like"):
        model = build_graph_autoencoder("jets4", loss=loss)
        target, output = model.reconstruct(qcd)
        if loss == "l2":
            expected = ((target - output) ** 2).mean(axis=(1, 2))
        else:
            d = np.sqrt(((target[..., 1:3] - output[..., 1:3]) ** 2).sum(-1) + 1e-12)
            f = (0.1 + np.exp(-d)) / 1.1
            expected = ((1 - f) + f * (target[..., 3] - output[..., 3]) ** 2).mean(axis=1)
        np.testing.assert_allclose(model.score(qcd), expected, rtol=1e-5)
        np.testing.assert_allclose(model.feature_losses(qcd), (target - output) ** 2, rtol=1e-6)


def test_target_is_sorted_preprocessed_input_and_loss_matches_fit(sample_jets):
    qcd = sample_jets[0][:200, :4]
    model = build_graph_autoencoder("jets4", normalization="mixed")
    target, _ = model.reconstruct(qcd)
    expected = gl.JetNorm("mixed")(gl.SortNodes()(gl.JetFeatures()(qcd)))
    np.testing.assert_allclose(target, ops.convert_to_numpy(expected), atol=1e-6)
    model.compile(optimizer=keras.optimizers.Adam(0.0))  # no step: loss = mean score
    logs = model.evaluate(qcd, batch_size=200, verbose=0, return_dict=True)
    assert logs["loss"] == pytest.approx(model.score(qcd).mean(), rel=1e-4)


def test_dense_autoencoder_has_the_same_interface(sample_jets, tmp_path):
    qcd = sample_jets[0][:300, :4]
    model = build_dense_autoencoder("jets4")
    model.compile(optimizer=keras.optimizers.Adam(0.003))
    model.fit(qcd, epochs=1, verbose=0)
    assert model.encode(qcd[:3]).shape == (3, 9)
    model.save(tmp_path / "dense.keras")
    loaded = keras.saving.load_model(tmp_path / "dense.keras")
    np.testing.assert_array_equal(loaded.score(qcd[:20]), model.score(qcd[:20]))


def test_decoder_and_encoder_work_on_their_own(sample_jets):
    qcd = sample_jets[0][:10, :16]
    model = build_graph_autoencoder("jets16")
    latent = model.encoder.predict(qcd, verbose=0)
    np.testing.assert_allclose(model.decoder.predict(latent, verbose=0),
                               model.predict(qcd, verbose=0), atol=1e-6)


def test_bad_inputs_and_options_name_the_fix(sample_jets):
    model = build_graph_autoencoder("jets4")
    with pytest.raises(ValueError, match=r"n_constituents=4"):
        model.score(sample_jets[0][:5, :9])
    with pytest.raises(ValueError, match="multiply"):
        build_graph_autoencoder("jets16", compression=(4, 2))
    with pytest.raises(ValueError, match="Unknown preset"):
        build_graph_autoencoder("jets5")
    with pytest.raises(ValueError, match="Unknown options"):
        build_graph_autoencoder("jets4", latent=3)


def test_chamfer_loss_trains(sample_jets):
    model = build_graph_autoencoder("jets4", loss="chamfer")
    model.compile(optimizer=keras.optimizers.Adam(0.003))
    history = model.fit(sample_jets[0][:400, :4], epochs=3, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert callable(losses.get(model.reconstruction_loss))


def test_tensorflow_compiles_with_xla_only_where_it_pays(sample_jets):
    from grapa.models.autoencoder import XLA_MIN_STEPS, compiles_with_xla

    tensorflow = keras.backend.backend() == "tensorflow"
    assert XLA_MIN_STEPS == 2000
    # 4,050 jets, 20% for validation: 3,240 train, 33 steps of 100 an epoch (the last short)
    assert compiles_with_xla(4050, 100, 0.2, min_epochs=61)  # 2,013 steps
    assert compiles_with_xla(4050, 100, 0.2, min_epochs=60) is not tensorflow  # 1,980
    assert compiles_with_xla(50_000, 100, 0.2, min_epochs=500)  # the recipe
    model = build_graph_autoencoder("jets4")
    model.fit_recipe(sample_jets[0][:50, :4], min_epochs=1, max_epochs=1, verbose=0)
    assert model.jit_compile is not tensorflow
