"""Oneoff networks: training towards 1, the biased and the readjusted mean (T E.2.5),
random negatives (T 7.1.1), ensembles (T E.3.1), saving."""

import keras
import numpy as np
import pytest
from keras import ops

from grapa.evaluation import auc
from grapa.models.oneoff import (
    MeanVarianceLoss,
    OneOffEnsemble,
    OneOffNetwork,
    build_oneoff,
    random_negatives,
)


def _gaussian(n, dim, center=0.0, width=1.0, seed=0):
    return np.random.default_rng(seed).normal(center, width, size=(n, dim)).astype("float32")


def _numpy(x):
    return np.asarray(ops.convert_to_numpy(x))


def _mu(model):
    return float(_numpy(model.background_mean))


# ---------------------------------------------------------------------------------------
# One network
# ---------------------------------------------------------------------------------------


def test_outputs_approach_one_on_background():
    keras.utils.set_random_seed(0)
    background = _gaussian(1000, 5, center=3.0, seed=0)
    model = build_oneoff(5, hidden=(16, 8), outputs=4, learning_rate=3e-3, seed=0)
    history = model.fit(background, epochs=50, batch_size=128, verbose=0)
    held_out = model.predict(_gaussian(1000, 5, center=3.0, seed=1), verbose=0)
    assert held_out.shape == (1000, 4)
    # Every output, not only their mean, is close to 1 on unseen background.
    np.testing.assert_allclose(held_out.mean(axis=0), 1.0, atol=0.05)
    assert history.history["loss"][-1] < 0.2 * history.history["loss"][0]
    # fit stored the readjusted mean: the mean output on the training background.
    assert _mu(model) == pytest.approx(model.mean_output(background).mean(), abs=1e-5)


def test_oneoff_network_has_no_bias_weights():
    model = build_oneoff(6, hidden=(8, 4), outputs=3)
    names = [w.path for w in model.weights]
    assert not any("bias" in name for name in names), names
    assert [w.path for w in model.trainable_weights] == [
        f"{model.name}/oneoff/kernel_{i}" for i in range(3)
    ]
    # Without a bias an all-zero event gives all-zero outputs: no constant 1 for free.
    np.testing.assert_array_equal(model.predict(np.zeros((2, 6), "float32"), verbose=0), 0.0)


def test_fit_takes_background_only_and_checks_shapes():
    model = build_oneoff(3)
    with pytest.raises(ValueError, match="background only"):
        model.fit(np.ones((4, 3)), np.ones((4, 4)))
    with pytest.raises(ValueError, match="input_dim=3"):
        model.score(np.ones((4, 5)))
    with pytest.raises(ValueError, match=r"\(events, features\)"):
        model.score(np.ones((4, 3, 1)))
    with pytest.raises(ValueError, match="non-finite"):
        model.fit(np.full((4, 3), np.nan))


def test_uncompiled_network_trains_with_the_defaults():
    keras.utils.set_random_seed(0)
    model = OneOffNetwork(4, hidden=(8,), outputs=2)
    model.fit(_gaussian(200, 4, center=2.0), epochs=2, verbose=0)
    assert model.compiled and model.loss.name == "ones"


def test_save_and_load_give_identical_scores(tmp_path):
    keras.utils.set_random_seed(0)
    background = _gaussian(300, 4, center=1.0)
    model = build_oneoff(4, hidden=(8,), outputs=3, loss="mean_var", seed=2)
    model.fit(background, epochs=3, verbose=0)
    model.readjust(background[:50])  # a mu that no initializer would give
    events = _gaussian(50, 4, width=2.0, seed=1)
    path = tmp_path / "oneoff.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    assert type(loaded) is OneOffNetwork
    assert _mu(loaded) == _mu(model) != 1.0
    np.testing.assert_array_equal(loaded.score(events), model.score(events))
    assert isinstance(loaded.loss, MeanVarianceLoss)


# ---------------------------------------------------------------------------------------
# The biased mean (T E.2.5)
# ---------------------------------------------------------------------------------------


def test_literal_mean_var_loss_equals_mse_so_grapa_divides_the_variance():
    # T's (mean(y) - 1)^2 + var(y) is the bias-variance decomposition of mean((y - 1)^2):
    # it is the same loss and keeps the bias. grapa's version divides var by mean(y^2).
    y = np.random.default_rng(0).gamma(4.0, 0.2, size=(64, 4))
    literal = (y.mean() - 1) ** 2 + y.var()
    assert literal == pytest.approx(np.mean((y - 1) ** 2), rel=1e-12)
    loss = MeanVarianceLoss()
    ones = np.ones_like(y, dtype="float32")
    value = float(_numpy(loss(ones, y.astype("float32"))))
    assert value == pytest.approx((y.mean() - 1) ** 2 + y.var() / np.mean(y**2), rel=1e-5)
    # The width term is scale free: rescaling y changes only the (mean - 1)^2 part.
    scaled = float(_numpy(loss(ones, (2.0 * y).astype("float32"))))
    assert scaled - value == pytest.approx((2 * y.mean() - 1) ** 2 - (y.mean() - 1) ** 2, rel=1e-4)


def test_mean_var_loss_by_hand_with_random_negatives():
    # Background row (1, 3): mean 2, var 1, mean(y^2) 5 -> 1 + 1/5 = 1.2, half the outputs.
    # Negative row (2, 0) with targets 0: sum y^2 = 4 over all 4 outputs -> 1.
    y_true = np.array([[1, 1], [0, 0]], "float32")
    y_pred = np.array([[1, 3], [2, 0]], "float32")
    assert float(_numpy(MeanVarianceLoss()(y_true, y_pred))) == pytest.approx(0.5 * 1.2 + 1.0)


def test_plain_loss_has_the_biased_mean_and_the_readjusted_mean_fixes_it():
    # A centred 2-D Gaussian: a bias-free relu net is homogeneous, y(a x) = a y(x), so it
    # cannot be constant here and its outputs stay wide (relative width s ~ 0.5).
    keras.utils.set_random_seed(0)
    background = _gaussian(1000, 2, seed=0)
    model = build_oneoff(2, hidden=(16, 8), loss="ones", learning_rate=3e-3, seed=0)
    model.fit(background, epochs=30, batch_size=128, verbose=0)
    outputs = model.predict(background, verbose=0)
    # T eq. E.2: (y - 1)^2 is smallest at mean(y) = 1 / (1 + s^2), not at 1. This holds for
    # each output separately, since each column of the last kernel rescales one output.
    relative_width = outputs.std(axis=0) / outputs.mean(axis=0)
    np.testing.assert_allclose(outputs.mean(axis=0), 1 / (1 + relative_width**2), atol=0.03)
    assert _mu(model) < 0.9
    # Anomalies on both sides of the background peak: a wider Gaussian. |y - 1| measures
    # from the wrong centre; |y - mu| from the background's own.
    background_test, signal = _gaussian(2000, 2, seed=1), _gaussian(2000, 2, width=1.5, seed=2)
    plain = auc(model.score(background_test, readjusted=False),
                model.score(signal, readjusted=False))
    readjusted = auc(model.score(background_test), model.score(signal))
    assert readjusted > plain + 0.03, (plain, readjusted)
    assert readjusted > 0.58


def test_mean_var_loss_brings_the_mean_to_one():
    keras.utils.set_random_seed(0)
    background = _gaussian(1000, 2, seed=0)
    model = build_oneoff(2, hidden=(16, 8), loss="mean_var", learning_rate=3e-3, seed=0)
    model.fit(background, epochs=30, batch_size=128, verbose=0)
    # Same data and net as above, where plain (y - 1)^2 settles near 0.8.
    assert _mu(model) == pytest.approx(1.0, abs=0.04)


# ---------------------------------------------------------------------------------------
# Random negatives (T 7.1.1)
# ---------------------------------------------------------------------------------------


def test_random_negatives_share_the_per_feature_mean_and_std():
    background = np.random.default_rng(0).normal([1.0, -2.0, 5.0], [0.5, 2.0, 1.0],
                                                 size=(5000, 3)).astype("float32")
    negatives = random_negatives(background, n=20000, seed=1)
    assert negatives.shape == (20000, 3) and negatives.dtype == np.float32
    np.testing.assert_allclose(negatives.mean(axis=0), background.mean(axis=0), atol=0.05)
    np.testing.assert_allclose(negatives.std(axis=0), background.std(axis=0), rtol=0.03)


def test_training_towards_zero_on_random_negatives_helps_to_find_them():
    # Background along the diagonal x2 = x1 (+ noise): the random negatives have the same
    # per-feature mean and std but no correlation, so they point in other directions,
    # which is what a homogeneous (bias-free relu) network can tell apart.
    rng = np.random.default_rng(0)
    x1 = rng.normal(2.0, 1.0, size=2000)
    background = np.stack([x1, x1 + rng.normal(0, 0.1, size=2000)], axis=1).astype("float32")
    negatives = random_negatives(background, seed=5)
    aucs = {}
    for with_negatives in (False, True):
        keras.utils.set_random_seed(0)
        model = build_oneoff(2, hidden=(16, 8), learning_rate=3e-3, seed=0)
        model.fit(background, random_negatives=with_negatives, epochs=30, batch_size=128,
                  verbose=0, seed=0)
        aucs[with_negatives] = auc(model.score(background), model.score(negatives))
    assert np.median(np.abs(model.mean_output(negatives))) < 0.1  # pulled to 0
    assert _mu(model) > 0.5  # the background stays near its peak
    assert aucs[True] > 0.8 and aucs[True] > aucs[False] + 0.1, aucs


# ---------------------------------------------------------------------------------------
# Ensembles (T E.3.1)
# ---------------------------------------------------------------------------------------


def _one_class_task(seed=0):
    """Small training set from a centred 2-D Gaussian; anomalies from a wider one."""
    return (_gaussian(300, 2, seed=seed), _gaussian(2000, 2, seed=seed + 1),
            _gaussian(2000, 2, width=1.5, seed=seed + 2))


def test_ensemble_beats_its_mean_member():
    train, background, signal = _one_class_task()
    ensemble = OneOffEnsemble(n=4, hidden=(16, 8), learning_rate=3e-3, seed=0)
    ensemble.fit(train, epochs=15, batch_size=64, validation_split=0.0)
    background_members = ensemble.member_scores(background)
    signal_members = ensemble.member_scores(signal)
    member_aucs = [auc(background_members[:, i], signal_members[:, i]) for i in range(4)]
    ensemble_auc = auc(ensemble.score(background), ensemble.score(signal))
    assert ensemble_auc >= np.mean(member_aucs), (ensemble_auc, member_aucs)
    assert len(set(np.round(member_aucs, 6))) == 4  # independently initialized members
    # c = 1: the ensemble score is the plain sum of the members' readjusted-mean scores.
    for i, member in enumerate(ensemble.members):
        np.testing.assert_allclose(background_members[:, i], member.score(background),
                                   rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(ensemble.score(background), background_members.sum(axis=1),
                               rtol=1e-6)


def test_ensemble_saves_and_loads_as_one_keras_file(tmp_path):
    train, background, _ = _one_class_task()
    ensemble = OneOffEnsemble(n=2, hidden=(4,), outputs=2, loss="mean_var", seed=7)
    ensemble.fit(train, epochs=2)
    path = tmp_path / "ensemble.keras"
    ensemble.save(path)
    loaded = OneOffEnsemble.load(path)
    assert loaded.get_config() == ensemble.get_config()
    assert [_mu(m) for m in loaded.members] == [_mu(m) for m in ensemble.members]
    np.testing.assert_array_equal(loaded.score(background), ensemble.score(background))
    keras.saving.load_model(path, safe_mode=True)  # the plain Keras way works too
    OneOffNetwork(2).save(tmp_path / "single.keras")
    with pytest.raises(TypeError, match="not a OneOffEnsemble"):
        OneOffEnsemble.load(tmp_path / "single.keras")


def test_ensemble_rejects_bad_arguments():
    with pytest.raises(ValueError, match="n >= 1"):
        OneOffEnsemble(n=0)
    with pytest.raises(ValueError, match="loss must be one of"):
        OneOffEnsemble(loss="mse")


@pytest.mark.parametrize("loss, negatives", [("ones", False), ("mean_var", False),
                                             ("ones", True)])
def test_stacked_training_equals_training_each_member_alone(loss, negatives):
    # The ensemble trains its members as one stacked model on the sum of their losses:
    # member i's gradient and Adam update are those of member i alone, so with the same
    # batches (no shuffling) its weights equal a separately trained OneOffNetwork's.
    train, background, _ = _one_class_task()
    ensemble = OneOffEnsemble(n=3, hidden=(8,), loss=loss, learning_rate=3e-3, seed=3)
    ensemble.fit(train, epochs=4, batch_size=50, validation_split=0.0,
                 random_negatives=negatives, shuffle=False)
    for i, member in enumerate(ensemble.members):
        alone = build_oneoff(2, hidden=(8,), loss=loss, learning_rate=3e-3,
                             seed=ensemble.member_seed(i))
        alone.fit(train, epochs=4, batch_size=50, validation_split=0.0,
                  random_negatives=negatives, seed=ensemble.member_seed(i), shuffle=False)
        for ours, reference in zip(member.get_weights(), alone.get_weights()):
            np.testing.assert_allclose(ours, reference, rtol=2e-4, atol=1e-6)
        np.testing.assert_allclose(ensemble.member_scores(background)[:, i],
                                   alone.score(background), rtol=1e-3, atol=1e-5)


def test_each_member_stops_early_on_its_own_and_keeps_its_best_epoch():
    train, _, _ = _one_class_task()
    patience, split = 3, 0.3
    ensemble = OneOffEnsemble(n=4, hidden=(8,), learning_rate=3e-2, seed=0)
    ensemble.fit(train, epochs=200, batch_size=32, validation_split=split, patience=patience)
    validation = train[len(train) - int(len(train) * split):]
    lengths = []
    for member, history in zip(ensemble.members, ensemble.histories):
        losses, best = history["val_loss"], history["best_epoch"]
        assert best == int(np.argmin(losses))
        assert len(losses) == best + 1 + patience  # stopped `patience` epochs after its best
        lengths.append(len(losses))
        # its best weights were restored: its validation loss is the best one recorded
        outputs = member.predict(validation, verbose=0)
        np.testing.assert_allclose(np.mean((outputs - 1.0) ** 2), losses[best], rtol=1e-4)
    assert len(set(lengths)) > 1, lengths  # members stop at different epochs


def test_a_diverging_member_keeps_its_best_weights_or_fails_loudly():
    # Inputs of 1e20 overflow float32 in the squared error: the training diverges.
    huge = np.full((200, 2), 1e20, "float32")
    ensemble = OneOffEnsemble(n=2, hidden=(4,), seed=0)
    with pytest.raises(FloatingPointError, match="non-finite weights"):
        ensemble.fit(huge, epochs=2, validation_split=0.0)
    # With early stopping, each member keeps its best (here: initial, finite) weights.
    ensemble.fit(huge, epochs=3, validation_split=0.2, patience=1)
    assert all(np.isfinite(w).all() for w in ensemble.get_weights())
