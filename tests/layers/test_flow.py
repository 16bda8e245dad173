"""The flow step and the mixture density against numerical Jacobians and direct sums."""

import keras
import numpy as np
import pytest
from keras import ops
from scipy.stats import norm

from grapa.layers.flow import (
    AutoregressiveAffine,
    GaussianMixtureDensity,
    standard_normal_log_density,
)


def randomized_step(n_features=3, n_context=1, reverse=False, seed=0, scale=0.5):
    """A built step whose output kernels are random (a fresh step is the identity)."""
    step = AutoregressiveAffine(hidden=16, reverse=reverse, seed=seed)
    shapes = [(None, n_features), (None, n_context)] if n_context else (None, n_features)
    step.build(shapes)
    rng = np.random.default_rng(seed)
    for weight in step.weights:
        weight.assign(rng.normal(scale=scale, size=weight.shape).astype("float32"))
    return step


def transform(step, x, context):
    z, log_det = step([x, context])
    return ops.convert_to_numpy(z).astype(np.float64), ops.convert_to_numpy(log_det)


@pytest.mark.parametrize("reverse", [False, True])
def test_jacobian_is_triangular_and_log_det_exact(reverse):
    step = randomized_step(reverse=reverse)
    x = np.array([[0.3, -0.7, 1.1]], "float32")
    context = np.array([[0.4]], "float32")
    z, log_det = transform(step, x, context)
    eps = 1e-2
    jacobian = np.zeros((3, 3))
    for j in range(3):
        shifted = x.copy()
        shifted[0, j] += eps
        z_plus, _ = transform(step, shifted, context)
        shifted[0, j] -= 2 * eps
        z_minus, _ = transform(step, shifted, context)
        jacobian[:, j] = (z_plus[0] - z_minus[0]) / (2 * eps)
    # z_i depends on x_j only for j <= i (natural order) or j >= i (reversed)
    upper = np.triu(jacobian, 1) if not reverse else np.tril(jacobian, -1)
    np.testing.assert_allclose(upper, 0.0, atol=1e-6)
    sign, log_abs_det = np.linalg.slogdet(jacobian)
    assert log_det[0] == pytest.approx(log_abs_det, abs=2e-3)


def test_conditional_density_integrates_to_one():
    steps = [randomized_step(2, reverse=k % 2 == 1, seed=k, scale=0.3) for k in range(2)]
    grid = np.linspace(-12, 12, 401)
    xx, yy = np.meshgrid(grid, grid)
    x = np.stack([xx.ravel(), yy.ravel()], axis=-1).astype("float32")
    for c in (-1.0, 0.5):
        context = np.full((len(x), 1), c, "float32")
        z, total = x, 0.0
        for step in steps:
            z, log_det = step([z, context])
            total = total + log_det
        log_p = ops.convert_to_numpy(standard_normal_log_density(z) + total)
        integral = np.exp(log_p).sum() * (grid[1] - grid[0]) ** 2
        assert integral == pytest.approx(1.0, abs=0.01)


def test_fresh_step_is_the_identity():
    x = np.random.default_rng(1).normal(size=(4, 3)).astype("float32")
    z, log_det = AutoregressiveAffine(hidden=8)(x)
    np.testing.assert_allclose(ops.convert_to_numpy(z), x, atol=1e-6)
    np.testing.assert_allclose(ops.convert_to_numpy(log_det), 0.0, atol=1e-6)


def test_mixture_density_equals_scipy():
    layer = GaussianMixtureDensity(components=3)
    layer.build((None, 1))
    layer.logits.assign(np.array([0.2, -1.0, 0.5], "float32"))
    layer.means.assign(np.array([-1.0, 0.0, 2.0], "float32"))
    layer.log_widths.assign(np.log(np.array([0.5, 1.0, 0.3], "float32")))
    x = np.linspace(-3, 4, 11, dtype="float32")[:, None]
    weights = np.exp([0.2, -1.0, 0.5]) / np.exp([0.2, -1.0, 0.5]).sum()
    expected = np.log(sum(w * norm.pdf(x[:, 0], m, s)
                          for w, m, s in zip(weights, [-1.0, 0.0, 2.0], [0.5, 1.0, 0.3])))
    np.testing.assert_allclose(ops.convert_to_numpy(layer(x)), expected, rtol=1e-5)


def test_layers_save_and_load(tmp_path):
    x = keras.Input((3,))
    context = keras.Input((1,))
    z, log_det = AutoregressiveAffine(hidden=8, reverse=True, seed=3)([x, context])
    density = GaussianMixtureDensity(4)(context)
    model = keras.Model([x, context], [z, log_det, density])
    inputs = [np.random.default_rng(0).normal(size=(5, 3)).astype("float32"),
              np.ones((5, 1), "float32")]
    expected = model.predict(inputs, verbose=0)
    model.save(tmp_path / "flow.keras")
    loaded = keras.saving.load_model(tmp_path / "flow.keras", safe_mode=True)
    for a, b in zip(loaded.predict(inputs, verbose=0), expected):
        np.testing.assert_allclose(a, b, rtol=1e-6)
    config = loaded.layers[2].get_config()
    assert config["reverse"] and config["hidden"] == 8 and config["seed"] == 3
