"""UCluster: the mass-bin targets, the soft k-means loss, and the two-phase training."""

import keras
import numpy as np
import pytest

from grapa.evaluation import clustering_accuracy
from grapa.models.cluster import SoftKMeans, UCluster, mass_bin_labels


def two_particle_jet(mass, energy=500.0):
    """Two massless particles of equal energy along x whose pair has the given mass:
    m^2 = 2 E^2 (1 - cos(theta)), split symmetrically in the x-y plane."""
    half_angle = np.arccos(1.0 - mass**2 / (2.0 * energy**2)) / 2.0
    return np.array([[energy, energy * np.cos(half_angle), energy * np.sin(half_angle), 0.0],
                     [energy, energy * np.cos(half_angle), -energy * np.sin(half_angle), 0.0]])


def test_mass_bins_are_twenty_equal_bins_from_10_to_200_gev():
    masses = [5.0, 10.5, 19.4, 19.6, 80.4, 91.2, 173.0, 199.0, 250.0]
    jets = np.stack([np.pad(two_particle_jet(m), ((0, 2), (0, 0))) for m in masses])
    # bin width (200 - 10) / 20 = 9.5 GeV; worked out by hand: 80.4 -> (70.4 / 9.5) = 7.4
    np.testing.assert_array_equal(mass_bin_labels(jets), [0, 0, 0, 1, 7, 8, 17, 19, 19])
    np.testing.assert_array_equal(mass_bin_labels(jets, bins=4, mass_range=(0, 100)),
                                  [0, 0, 0, 0, 3, 3, 3, 3, 3])


def test_mass_bins_reject_an_empty_range():
    with pytest.raises(ValueError, match="low < high"):
        mass_bin_labels(np.zeros((1, 2, 4)), mass_range=(50, 50))


def test_soft_kmeans_is_the_softmax_weighted_squared_distance():
    rng = np.random.default_rng(0)
    embedding = rng.normal(size=(5, 3)).astype("float32")
    centroids = rng.normal(size=(4, 3)).astype("float32")
    layer = SoftKMeans(4)
    layer.build((None, 3))
    layer.centroids.assign(centroids)
    layer.inverse_temperature.assign(3.0)
    distances = ((embedding[:, None] - centroids[None]) ** 2).sum(-1)
    weights = np.exp(-3.0 * distances)
    expected = (weights / weights.sum(1, keepdims=True) * distances).sum(1)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(layer(embedding)), expected,
                               rtol=1e-5)
    # a cold assignment is the distance to the nearest centroid, k-means's own loss
    layer.inverse_temperature.assign(1e4)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(layer(embedding)),
                               distances.min(1), rtol=1e-4)


def narrow_and_wide_jets(n_per_class, seed):
    """Two kinds of 6-particle jets that differ in mass (spread 0.02 vs 0.25 in eta, phi)."""
    rng = np.random.default_rng(seed)
    jets = np.zeros((2 * n_per_class, 8, 4), dtype="float32")
    for j in range(2 * n_per_class):
        spread = 0.02 if j < n_per_class else 0.25
        pt = np.sort(rng.exponential(80.0, size=6))[::-1] + 5.0
        eta, phi = rng.normal(0.0, spread, size=6), rng.normal(0.0, spread, size=6)
        px, py, pz = pt * np.cos(phi), pt * np.sin(phi), pt * np.sinh(eta)
        jets[j, :6] = np.stack([np.sqrt(px**2 + py**2 + pz**2), px, py, pz], axis=-1)
    return jets, np.repeat([0, 1], n_per_class)


def small_ucluster():
    return UCluster(clusters=2, n_constituents=8, embedding_dim=2, k=3, blocks=((8,),),
                    dense=(16,))


def test_fit_finds_two_kinds_of_jets_without_labels_and_survives_saving(tmp_path):
    keras.utils.set_random_seed(1)
    jets, truth = narrow_and_wide_jets(200, seed=0)
    model = small_ucluster()
    # a compiled model keeps its optimizer: a fast rate for 96 steps of a tiny network
    model.compile(optimizer=keras.optimizers.Adam(1e-2),
                  loss=keras.losses.CategoricalFocalCrossentropy(from_logits=True))
    seen = []  # (learning rate, alpha) at the start of every epoch
    record = keras.callbacks.LambdaCallback(on_epoch_begin=lambda epoch, logs: seen.append(
        (float(model.optimizer.learning_rate.numpy()),
         float(model.kmeans.inverse_temperature.numpy()))))
    history = model.fit(jets, epochs=12, pretrain_epochs=9, batch_size=50, verbose=0, seed=0,
                        callbacks=[record])
    assert len(history.history["loss"]) == 12 and history.epoch == list(range(12))
    # clustering: alpha 2, 4, 6; the rate 1e-2 * (1 + cos(pi e / 3)) / 2 = 1, 0.75, 0.25
    # times 1e-2, and 1e-2 again once training ends; beta is on
    np.testing.assert_allclose([rate for rate, _ in seen], [1e-2] * 10 + [7.5e-3, 2.5e-3],
                               rtol=1e-6)
    assert [alpha for _, alpha in seen[9:]] == [2.0, 4.0, 6.0]
    assert float(model.optimizer.learning_rate.numpy()) == pytest.approx(1e-2)
    assert float(model.beta.numpy()) == 10.0
    test_jets, test_truth = narrow_and_wide_jets(100, seed=1)
    clusters = model.predict_clusters(test_jets)
    assert clustering_accuracy(test_truth, clusters) >= 0.93
    assert model.embed(test_jets).shape == (200, 2)
    path = tmp_path / "ucluster.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    np.testing.assert_allclose(loaded.distances(test_jets), model.distances(test_jets),
                               rtol=1e-5, atol=1e-6)
    assert loaded.clusters == 2 and loaded.blocks == ((8,),)


def test_fit_refuses_labels_and_a_schedule_without_clustering_epochs():
    model = small_ucluster()
    jets, truth = narrow_and_wide_jets(5, seed=0)
    with pytest.raises(ValueError, match="Leave y out"):
        model.fit(jets, truth)
    with pytest.raises(ValueError, match="pretrain_epochs < epochs"):
        model.fit(jets, epochs=3, pretrain_epochs=3)
    with pytest.raises(ValueError, match="n_constituents >= 1"):
        UCluster(n_constituents=0)
    with pytest.raises(ValueError, match=r"shape \(n_jets, n_constituents, 4\)"):
        model.embed(jets[..., :3])


def test_network_input_pads_and_cuts_to_the_constituents_the_network_sees():
    model = small_ucluster()  # 8 constituents
    jets, _ = narrow_and_wide_jets(3, seed=0)  # 8 slots, 6 particles
    short = model.network_input(jets[:, :5])
    assert short.shape == (6, 8, 4) and short.dtype == np.float32
    np.testing.assert_array_equal(short[:, :5], jets[:, :5])
    assert not short[:, 5:].any()
    wide = np.pad(jets, ((0, 0), (0, 4), (0, 0)))
    np.testing.assert_array_equal(model.network_input(wide), jets)


def elongated_and_small_blobs(seed=0):
    """An embedding where k-means and a Gaussian mixture disagree: 900 points spread
    along x (sd 3, 0.3 in y) and 100 tight points (sd 0.2) two units above them. K-means
    gains far more by cutting the long blob in half than by separating the small one."""
    rng = np.random.default_rng(seed)
    long_blob = rng.normal(0.0, (3.0, 0.3), size=(900, 2))
    small_blob = rng.normal((0.0, 2.0), 0.2, size=(100, 2))
    return (np.concatenate([long_blob, small_blob]).astype("float32"),
            np.repeat([0, 1], [900, 100]))


def test_centroids_start_at_a_gaussian_mixtures_means_or_at_kmeans_centres(monkeypatch):
    from sklearn.cluster import KMeans
    from sklearn.mixture import GaussianMixture

    model = small_ucluster()
    embedding, truth = elongated_and_small_blobs()
    monkeypatch.setattr(model, "embed", lambda jets, batch_size=1024: embedding)
    jets = np.zeros((len(embedding), 8, 4), "float32")  # not looked at: embed is patched

    start = model.init_centroids(jets, seed=3)  # the default: the mixture
    mixture = GaussianMixture(2, covariance_type="full", n_init=5, random_state=3)
    np.testing.assert_allclose(model.kmeans.centroids.numpy(), mixture.fit(embedding).means_,
                               rtol=1e-5, atol=1e-6)
    assert isinstance(start, GaussianMixture)
    # the means sit in the two blobs, so the nearest centroid separates them
    assert clustering_accuracy(truth, model.nearest_centroid(embedding)) > 0.97

    start = model.init_centroids(jets, seed=3, start="kmeans")
    centres = KMeans(2, n_init=10, random_state=3).fit(embedding).cluster_centers_
    np.testing.assert_allclose(model.kmeans.centroids.numpy(), centres, rtol=1e-5, atol=1e-6)
    # k-means halves the long blob instead: the small one never gets a centroid
    assert clustering_accuracy(truth, model.nearest_centroid(embedding)) < 0.8

    with pytest.raises(ValueError, match="unknown centroid start 'gmm'.*mixture, kmeans"):
        model.init_centroids(jets, start="gmm")
    with pytest.raises(ValueError, match="unknown centroid start"):
        model.fit(jets, start="gmm")
