"""JetGAN: the Decompress generator, the set discriminator, training, saving."""

import keras
import numpy as np
import pytest

from grapa.models.generator import (
    JetGAN,
    build_epic_discriminator,
    build_epic_generator,
    build_jet_discriminator,
    build_jet_generator,
    discriminator_input,
    discriminator_losses,
)

SMALL = dict(n_particles=6, factors=(2, 3), latent_dim=8, particle_noise=2, units=8,
             updates=1, k=3, blocks=((8,),), dense=(8,), generator_layers=1,
             discriminator_layers=1)


def _toy_jets(n_jets, seed=0):
    """(E, px, py, pz) jets of 6 massless particles around eta = 0.3, phi = 1."""
    rng = np.random.default_rng(seed)
    pt = rng.uniform(5, 200, (n_jets, 6))
    eta = 0.3 + rng.normal(0, 0.1, (n_jets, 6))
    phi = 1.0 + rng.normal(0, 0.1, (n_jets, 6))
    jets = np.stack([pt * np.cosh(eta), pt * np.cos(phi), pt * np.sin(phi), pt * np.sinh(eta)],
                    axis=-1)
    jets[::4, 5] = 0.0  # some jets have 5 particles
    return jets


def test_generator_grows_one_node_to_the_jet():
    generator = build_jet_generator(n_particles=30, latent_dim=4, particle_noise=3,
                                    factors=(5, 6), units=8, updates=1)
    out = generator([np.ones((2, 4), "float32"), np.zeros((2, 30, 3), "float32")])
    assert out.shape == (2, 30, 4)
    names = [layer.name for layer in generator.layers]
    assert "decompress_0" in names and "decompress_1" in names
    with pytest.raises(ValueError, match="multiply to n_particles = 30"):
        build_jet_generator(n_particles=30, factors=(4, 6))


def test_discriminator_is_permutation_and_padding_invariant():
    discriminator = build_jet_discriminator(n_particles=6, k=2, blocks=((8,), (8,)), dense=(8,))
    rng = np.random.default_rng(1)
    jet = np.zeros((1, 6, 4), "float32")
    jet[0, :4, :3] = rng.normal(size=(4, 3))
    jet[0, :4, 3] = 1.0
    permuted = jet[:, [5, 2, 0, 4, 3, 1]]
    np.testing.assert_allclose(keras.ops.convert_to_numpy(discriminator(jet)),
                               keras.ops.convert_to_numpy(discriminator(permuted)), rtol=1e-5,
                               atol=1e-6)


def test_epic_generator_particles_differ_through_their_noise():
    generator = build_epic_generator(n_particles=5, latent_dim=4, particle_noise=2, units=8,
                                     layers=2)
    rng = np.random.default_rng(0)
    out = keras.ops.convert_to_numpy(generator(
        [rng.normal(size=(3, 4)).astype("float32"), rng.normal(size=(3, 5, 2)).astype("float32")]))
    assert out.shape == (3, 5, 4)
    assert not np.allclose(out[:, 0], out[:, 1])
    # equivariant: permuting the particles' noise permutes the particles
    noise = [np.ones((1, 4), "float32"), rng.normal(size=(1, 5, 2)).astype("float32")]
    order = [3, 0, 4, 1, 2]
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(generator([noise[0], noise[1][:, order]])),
        keras.ops.convert_to_numpy(generator(noise))[:, order], rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="particle_noise >= 1"):
        build_epic_generator(particle_noise=0)


def test_epic_discriminator_is_permutation_and_padding_invariant():
    """The same four particles score the same in any order and with any number of
    padding slots (a discriminator for 8 slots with the same weights)."""
    six = build_epic_discriminator(n_particles=6, latent_dim=4, units=8, layers=2)
    eight = build_epic_discriminator(n_particles=8, latent_dim=4, units=8, layers=2)
    eight.set_weights(six.get_weights())
    rng = np.random.default_rng(1)
    jet = np.zeros((1, 6, 4), "float32")
    jet[0, :4, :3] = rng.normal(size=(4, 3))
    jet[0, :4, 3] = 1.0
    score = keras.ops.convert_to_numpy(six(jet))
    np.testing.assert_allclose(keras.ops.convert_to_numpy(six(jet[:, [5, 2, 0, 4, 3, 1]])),
                               score, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(eight(np.pad(jet, ((0, 0), (2, 0),
                                                                             (0, 0))))),
                               score, rtol=1e-5, atol=1e-6)


def test_discriminator_input_drops_masked_particles_to_padding():
    outputs = np.array([[[0.5, -0.2, 1.0, 3.0], [0.4, 0.1, -1.0, -2.0]]], "float32")
    seen = keras.ops.convert_to_numpy(discriminator_input(outputs))
    np.testing.assert_allclose(seen[0, 0], [0.5, -0.2, 1.0, 1.0], rtol=1e-6)
    np.testing.assert_array_equal(seen[0, 1], np.zeros(4))


def test_losses_against_numpy():
    real = np.array([[0.9], [0.2]], "float32")
    fake = np.array([[0.1], [-0.3]], "float32")
    d_loss, g_loss = (float(v) for v in discriminator_losses("lsgan", real, fake))
    assert d_loss == pytest.approx(np.mean((real - 1) ** 2) + np.mean(fake**2))
    assert g_loss == pytest.approx(np.mean((fake - 1) ** 2))
    d_loss, g_loss = (float(v) for v in discriminator_losses("wgan-gp", real, fake))
    assert d_loss == pytest.approx(fake.mean() - real.mean())
    assert g_loss == pytest.approx(-fake.mean())


@pytest.mark.parametrize("architecture, objective", [
    ("decompress", "lsgan"), ("decompress", "wgan-gp"), ("epic", "lsgan"), ("epic", "wgan-gp")])
def test_fit_generate_save_and_load(architecture, objective, tmp_path):
    keras.utils.set_random_seed(0)  # the initial weights, too
    jets = _toy_jets(80)
    gan = JetGAN(architecture=architecture, objective=objective,
                 critic_steps=2 if objective == "wgan-gp" else 1, **SMALL)
    before = [w.copy() for w in gan.discriminator.get_weights()]
    history = gan.fit(jets[:64], epochs=2, batch_size=16, validation_data=jets[64:],
                      validation_jets=32, validation_every=1, seed=0, verbose=0)
    assert set(history.history) >= {"d_loss", "g_loss", "w1m", "w1p"}
    assert np.all(np.isfinite(history.history["d_loss"] + history.history["w1m"]))
    # every weight trained, but biases under WGAN: a constant shift of the score cancels
    # in D(fake) - D(real) and in the penalty, so the last bias never gets a gradient, and
    # neither does a bias whose units stay on one side of every leaky-ReLU kink in a batch
    # (the score is then linear in it); the kernels always train
    after = gan.discriminator.get_weights()
    paths = [weight.path for weight in gan.discriminator.weights]
    trained = [(path, a, b) for path, a, b in zip(paths, before, after)
               if objective == "lsgan" or not path.endswith("bias")]
    assert all(not np.allclose(a, b) for _, a, b in trained), \
        [path for path, a, b in trained if np.allclose(a, b)]
    if objective == "wgan-gp":
        np.testing.assert_allclose(after[-1], before[-1])

    particles = gan.generate(50, seed=3)
    assert particles.shape == (50, 6, 3) and np.all(np.isfinite(particles))
    pt = particles[..., 2]
    assert np.all(np.diff(pt, axis=1) <= 0)  # leading particle first
    assert np.all(particles[pt == 0] == 0)  # dropped particles are padding
    assert np.all(pt <= 1.0)
    assert np.all((pt > 0).sum(axis=1) >= 1)  # no empty jet
    from grapa.data.relative import to_relative

    training, _ = to_relative(jets[:64], 6)
    real = training[..., 2] > 0
    for feature in (0, 1):  # inside the range the training particles span
        values = particles[..., feature][pt > 0]
        assert training[..., feature][real].min() - 1e-9 <= values.min()
        assert values.max() <= training[..., feature][real].max() + 1e-9

    if architecture == "epic":  # the multiplicity is drawn from the training jets'
        counts = (gan.generate(800, seed=4)[..., 2] > 0).sum(axis=1)
        assert set(np.unique(counts)) == {5, 6}
        assert 0.19 < np.mean(counts == 5) < 0.31  # a quarter of the training jets

    jets_out = gan.generate_jets(40, seed=3)
    assert jets_out.shape == (40, 6, 4)
    # each jet's pT is drawn from the training jets' pT distribution
    leading = gan.generate(40, seed=3)[:, 0, 2]
    drawn_pt = np.hypot(jets_out[:, 0, 1], jets_out[:, 0, 2])[leading > 0] / leading[leading > 0]
    real_pt = np.hypot(*jets[:64].sum(axis=1)[:, 1:3].T)
    assert real_pt.min() - 1e-6 <= drawn_pt.min() and drawn_pt.max() <= real_pt.max() + 1e-6

    path = tmp_path / "gan.keras"
    gan.save(path)
    loaded = keras.models.load_model(path)
    assert isinstance(loaded, JetGAN) and loaded.objective == objective
    assert loaded.architecture == architecture
    np.testing.assert_allclose(loaded.generate(50, seed=3), particles, rtol=1e-5, atol=1e-6)


def test_errors():
    gan = JetGAN(**SMALL)
    with pytest.raises(ValueError, match="not trained yet"):
        gan.generate(3)
    with pytest.raises(ValueError, match="jets only"):
        gan.fit(_toy_jets(40), np.zeros(40))
    with pytest.raises(ValueError, match="relative features"):
        gan.fit(np.zeros((40, 6, 2)))
    with pytest.raises(ValueError, match="fewer than batch_size"):
        gan.fit(_toy_jets(8), batch_size=16)
    with pytest.raises(ValueError, match="objective"):
        JetGAN(objective="gan", **{k: v for k, v in SMALL.items()})
    with pytest.raises(ValueError, match="architecture must be one of"):
        JetGAN(architecture="mpgan", **SMALL)
