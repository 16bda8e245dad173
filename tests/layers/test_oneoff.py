import numpy as np
import pytest
from keras import ops

from grapa.layers.oneoff import OneOff
from tests.layer_harness import run_layer_test


@pytest.fixture
def vectors():
    """(6, 5) input vectors, e.g. flattened latent spaces."""
    return np.random.default_rng(3).normal(size=(6, 5)).astype("float32")


def _numpy(x):
    return np.asarray(ops.convert_to_numpy(x))


@pytest.mark.parametrize("kwargs", [
    {"hidden": (8, 4), "outputs": 3},
    {"hidden": (), "outputs": 1, "seed": 5},
    {"hidden": (6,), "outputs": 2, "activation": "tanh", "kernel_regularizer": "l2"},
])
def test_oneoff_harness(vectors, tmp_path, kwargs):
    run_layer_test(OneOff, kwargs, vectors, tmp_path, permutation=None, padding_nodes=None)


def test_oneoff_matches_numpy(vectors):
    layer = OneOff(hidden=(8, 4), outputs=3)
    out = _numpy(layer(vectors))
    w0, w1, w2 = (_numpy(k) for k in layer.kernels)
    relu = lambda v: np.maximum(v, 0.0)  # noqa: E731
    np.testing.assert_allclose(out, relu(relu(vectors @ w0) @ w1) @ w2, rtol=1e-5, atol=1e-6)


def test_oneoff_has_no_bias_so_it_is_positively_homogeneous(vectors):
    # Without biases, relu(a z) = a relu(z) for a > 0 gives y(a x) = a y(x) and y(0) = 0:
    # the network cannot produce a constant 1 without reading it from the input.
    layer = OneOff(hidden=(8, 4), outputs=3)
    y = _numpy(layer(vectors))
    np.testing.assert_allclose(_numpy(layer(2.5 * vectors)), 2.5 * y, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(_numpy(layer(np.zeros_like(vectors))), 0.0)
    assert [w.name for w in layer.weights] == ["kernel_0", "kernel_1", "kernel_2"]


def test_seed_fixes_the_kernels_and_every_kernel_differs():
    a, b = OneOff(hidden=(4, 4), outputs=4, seed=1), OneOff(hidden=(4, 4), outputs=4, seed=1)
    a.build((None, 4))
    b.build((None, 4))
    kernels = [_numpy(k) for k in a.kernels]
    for ka, kb in zip(kernels, b.kernels):
        np.testing.assert_array_equal(ka, _numpy(kb))
    # All kernels are 4 x 4: one shared seeded initializer would repeat the same matrix.
    assert not np.allclose(kernels[0], kernels[1])
    assert not np.allclose(kernels[1], kernels[2])


def test_bad_widths_and_unknown_features_raise():
    with pytest.raises(ValueError, match="positive layer widths"):
        OneOff(hidden=(4, 0))
    with pytest.raises(ValueError, match="known number of input features"):
        OneOff().build((None, None))
