"""The ParticleNet-style tagger: sizes of the paper, padding and order invariance, the
pooling variants, training on labelled jets, saving."""

import json

import keras
import numpy as np
import pytest

import grapa
from grapa.evaluation import auc
from grapa.models import PARTICLE_NET, PARTICLE_NET_LITE, build_particle_net
from tests.conftest import make_jets


def edge_conv_weights(features, widths):
    """Trainable weights of one EdgeConv block: the bias-free MLP on [x_i, x_j - x_i],
    each layer batch-normalized (gamma, beta), and a bias-free shortcut with its batch
    norm."""
    count, width_in = 0, 2 * features
    for width in widths:
        count += width_in * width + 2 * width
        width_in = width
    return count + features * widths[-1] + 2 * widths[-1]


@pytest.mark.parametrize("preset, size", [(PARTICLE_NET_LITE, "lite"), (PARTICLE_NET, "full")])
def test_sizes_are_the_papers(preset, size):
    """Qu & Gouskos 2020 table II: ParticleNet-Lite 26k weights, ParticleNet 366k."""
    features, expected = 7, 2 * 7  # the input batch norm
    for widths in preset["blocks"]:
        expected += edge_conv_weights(features, widths)
        features = widths[-1]
    for width in preset["dense"]:
        expected += features * width + width
        features = width
    expected += features + 1
    model = build_particle_net(30, size)
    trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    assert trainable == expected
    assert round(expected, -3) == {"lite": 26_000, "full": 366_000}[size]
    assert model.get_layer("edge_conv_0").k == preset["k"]


@pytest.fixture(scope="module")
def tagger():
    keras.utils.set_random_seed(0)
    return build_particle_net(12, k=3, blocks=((8, 8), (8,)), dense=(8,))


def test_output_is_a_probability_per_jet(tagger):
    jets = make_jets(n_jets=4, n_nodes=12, n_real=(12, 9, 4, 2))
    p = tagger.predict(jets, verbose=0)
    assert p.shape == (4, 1) and np.all((p > 0) & (p < 1))


def test_padding_anywhere_and_constituent_order_change_nothing(tagger):
    jets = make_jets(n_jets=3, n_nodes=12, n_real=(8, 6, 5))
    expected = tagger.predict(jets, verbose=0)
    rng = np.random.default_rng(1)
    shuffled = np.stack([jet[rng.permutation(12)] for jet in jets])  # padding moves inside
    np.testing.assert_allclose(tagger.predict(shuffled, verbose=0), expected, atol=1e-5)


@pytest.mark.parametrize("pooling", ["sum", "max", "soft", "compress"])
def test_every_pooling_gives_a_probability_whatever_the_constituent_order(pooling):
    """Compress too: it sorts the nodes by a learned value (padding last) before merging."""
    keras.utils.set_random_seed(2)
    model = build_particle_net(12, k=3, blocks=((8,),), dense=(8,), pooling=pooling)
    jets = make_jets(n_jets=3, n_nodes=12, n_real=(8, 6, 5))
    p = model.predict(jets, verbose=0)
    assert p.shape == (3, 1) and np.all((p >= 0) & (p <= 1))
    reversed_order = model.predict(jets[:, ::-1], verbose=0)  # padding first
    np.testing.assert_allclose(reversed_order, p, atol=1e-5)


def test_bad_arguments_name_the_choices():
    with pytest.raises(ValueError, match="size must be one of"):
        build_particle_net(30, "huge")
    with pytest.raises(ValueError, match="pooling must be one of"):
        build_particle_net(30, pooling="median")


def test_train_tagger_learns_top_from_qcd_and_writes_a_loadable_run(sample_jets, tmp_path):
    qcd, top = sample_jets
    model, history = grapa.train_tagger(
        qcd[:1200, :20], top[:1200, :20], out=tmp_path, n_constituents=20, epochs=3, verbose=0,
        k=5, blocks=((16, 16), (16, 16)), dense=(16,))
    assert len(history["val_loss"]) == 3 and history["val_loss"][-1] < history["val_loss"][0]
    test_qcd, test_top = qcd[-600:, :20], top[-600:, :20]
    scores = model.predict(np.concatenate([test_qcd, test_top]), verbose=0).ravel()
    assert auc(scores[:600], scores[600:]) > 0.8
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["model"] == "particle_net" and config["n_jets"] == 2400
    assert config["architecture"]["k"] == 5
    loaded = keras.saving.load_model(tmp_path / "model.keras", safe_mode=True)
    np.testing.assert_allclose(loaded.predict(test_top[:50], verbose=0),
                               model.predict(test_top[:50], verbose=0), atol=1e-6)


def test_labelled_jets_from_one_labelled_file_or_two_files(sample_jets, tmp_path):
    from grapa.data import write_jets
    from grapa.training import labelled_jets

    qcd, top = sample_jets
    write_jets(tmp_path / "mixed.h5", np.concatenate([qcd[:30], top[:20]]),
               np.repeat([0, 1], [30, 20]))
    write_jets(tmp_path / "qcd.h5", qcd[:30])
    write_jets(tmp_path / "top.h5", top[:20])
    jets, labels = labelled_jets(tmp_path / "mixed.h5", n_constituents=30, n_jets=25, seed=4)
    assert labels.tolist().count(0.0) == 25 and labels.tolist().count(1.0) == 20
    background = jets[labels == 0]
    assert {tuple(j.ravel()) for j in background} == {tuple(j.ravel()) for j in qcd[:25]}
    from_files, file_labels = labelled_jets(tmp_path / "qcd.h5", tmp_path / "top.h5",
                                            n_constituents=30, n_jets=25, seed=4)
    np.testing.assert_array_equal(from_files, jets)
    np.testing.assert_array_equal(file_labels, labels)
    model, _ = grapa.train_tagger(tmp_path / "mixed.h5", out=tmp_path / "run", epochs=1,
                                  verbose=0, k=3, blocks=((4,),), dense=(4,))
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["n_jets"] == 50 and config["signal"] is None
    assert config["background"] == str((tmp_path / "mixed.h5").resolve())
    with pytest.raises(ValueError, match="no is_signal_new column"):
        labelled_jets(tmp_path / "qcd.h5", n_constituents=30)
    with pytest.raises(ValueError, match="Pass the signal jets too"):
        labelled_jets(qcd[:10], n_constituents=30)
