import numpy as np
import pytest
from keras import ops

from grapa.layers import JetNorm
from tests.layer_harness import run_layer_test


def numpy_jet_norm(x, variant):
    """Eqs. 6.1-6.4 of the thesis, jet by jet and feature by feature over real nodes."""
    out = np.zeros_like(x, dtype="float64")
    for b in range(x.shape[0]):
        real = np.any(x[b] != 0, axis=-1)
        out[b, real, 0] = x[b, real, 0]
        for f in range(1, x.shape[2]):
            v = x[b, real, f].astype("float64")
            y = v - v.mean()
            z = y - np.abs(y).mean()
            if variant == "max":
                n = z / (np.abs(y).max() + 0.001)
            else:
                scale = np.abs(z).max() + np.abs(z).mean()
                n = 2 * z / scale if scale > 0 else np.zeros_like(z)
            out[b, real, f] = n
    return out


@pytest.mark.parametrize("variant", ["max", "mixed"])
def test_jet_norm_harness(node_features, tmp_path, variant):
    run_layer_test(JetNorm, {"variant": variant}, node_features, tmp_path)


@pytest.mark.parametrize("variant", ["max", "mixed"])
def test_jet_norm_matches_numpy(node_features, variant):
    out = np.asarray(ops.convert_to_numpy(JetNorm(variant)(node_features)))
    np.testing.assert_allclose(out, numpy_jet_norm(node_features, variant), rtol=1e-5, atol=1e-6)


def test_mixed_norm_is_translation_and_scale_invariant(node_features):
    x = node_features.copy()
    real = np.any(x != 0, axis=-1)
    moved = x.copy()
    moved[..., 1:] = np.where(real[..., None], 3.0 * x[..., 1:] + 7.0, 0.0)
    a = np.asarray(ops.convert_to_numpy(JetNorm("mixed")(x)))
    b = np.asarray(ops.convert_to_numpy(JetNorm("mixed")(moved)))
    np.testing.assert_allclose(a, b, atol=1e-5)


def test_constant_feature_and_single_node_give_zero_not_nan():
    x = np.array([[[1, 2.0, 5.0], [1, 3.0, 5.0], [0, 0, 0]], [[1, 4.0, 2.0], [0, 0, 0], [0, 0, 0]]],
                 "float32")
    for variant in ("max", "mixed"):
        out = np.asarray(ops.convert_to_numpy(JetNorm(variant)(x)))
        assert np.all(np.isfinite(out))
        np.testing.assert_array_equal(out[0, :, 2], 0)
        np.testing.assert_array_equal(out[1, :, 1:], 0)
        np.testing.assert_array_equal(out[..., 0], x[..., 0])


def test_hand_computed_mixed_norm():
    # Feature values 0, 1, 5 on three real nodes: mean 2, y = (-2, -1, 3), mean|y| = 2,
    # z = (-4, -3, 1), max|z| = 4, mean|z| = 8/3, n = 2 z / (20/3) = (-1.2, -0.9, 0.3).
    x = np.array([[[1, 0.0], [1, 1.0], [1, 5.0]]], "float32")
    out = np.asarray(ops.convert_to_numpy(JetNorm("mixed")(x)))
    np.testing.assert_allclose(out[0, :, 1], [-1.2, -0.9, 0.3], rtol=1e-6)


def test_masked_batch_normalization_harness(node_features, tmp_path):
    from grapa.layers import MaskedBatchNormalization

    run_layer_test(MaskedBatchNormalization, {"momentum": 0.9}, node_features, tmp_path)


def test_masked_batch_normalization_uses_real_nodes_only(node_features):
    from grapa.layers import MaskedBatchNormalization

    layer = MaskedBatchNormalization(epsilon=1e-6)
    out = np.asarray(ops.convert_to_numpy(layer(node_features, training=True)))
    real = np.any(node_features != 0, axis=-1)
    values = node_features[real]
    expected = (values - values.mean(0)) / np.sqrt(values.var(0) + 1e-6)
    np.testing.assert_allclose(out[real], expected, rtol=1e-4, atol=1e-4)
    np.testing.assert_array_equal(out[~real], 0)


def test_jet_norm_removes_a_pure_width_difference():
    """Two jet populations that differ only in angular width (T 6.1): after JetNorm a
    width statistic no longer separates them."""
    from grapa.evaluation import auc
    from grapa.layers import JetFeatures

    rng = np.random.default_rng(0)

    def jets(width, n=400):
        u, v = rng.normal(size=(2, n, 6))
        pt = np.sort(rng.exponential(50, (n, 6)), axis=1)[:, ::-1] + 5
        eta, phi = 0.5 + width * u, 1.0 + width * v
        px, py, pz = pt * np.cos(phi), pt * np.sin(phi), pt * np.sinh(eta)
        return np.stack([pt * np.cosh(eta), px, py, pz], -1).astype("float32")

    def width(features):
        return (features[..., 1] ** 2 + features[..., 2] ** 2).mean(axis=1)

    narrow, wide = JetFeatures()(jets(0.05)), JetFeatures()(jets(0.10))
    before = auc(width(ops.convert_to_numpy(narrow)), width(ops.convert_to_numpy(wide)))
    after = auc(width(ops.convert_to_numpy(JetNorm("mixed")(narrow))),
                width(ops.convert_to_numpy(JetNorm("mixed")(wide))))
    assert before > 0.95
    assert abs(after - 0.5) < 0.05
