import keras
import numpy as np
import pytest

from grapa.layers import JetNorm
from grapa.models import MixedModel, OneOffEnsemble, build_graph_autoencoder, build_mixed_model


def test_mixed_model_fits_scores_and_round_trips(sample_jets, tmp_path):
    keras.utils.set_random_seed(0)
    qcd, top = sample_jets[0][:400, :4], sample_jets[1][:100, :4]
    model = build_mixed_model("jets4", n=2, hidden=(8,), outputs=2)
    assert model.autoencoder.encoder.get_layer("target").__class__ is JetNorm
    assert model.ensemble.input_dim == 9  # the jets4 latent space: 1 node x 9 features
    model.fit(qcd, min_epochs=2, patience=1, max_epochs=2, oneoff_epochs=3)
    scores = model.score(top)
    assert scores.shape == (100,) and np.all(np.isfinite(scores)) and np.all(scores >= 0)
    # score = the ensemble's score of the flattened latent vectors
    np.testing.assert_allclose(scores, model.ensemble.score(model.latent(top)), rtol=1e-6)
    model.save(tmp_path / "mixed.keras")
    loaded = keras.saving.load_model(tmp_path / "mixed.keras", safe_mode=True)
    assert isinstance(loaded, MixedModel)
    np.testing.assert_array_equal(loaded.score(top), scores)


def test_mixed_model_rejects_a_mismatched_ensemble():
    with pytest.raises(ValueError, match="input_dim=9"):
        MixedModel(build_graph_autoencoder("jets4"), OneOffEnsemble(n=1, input_dim=5))
