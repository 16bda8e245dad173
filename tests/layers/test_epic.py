import numpy as np
import pytest
from keras import ops

from grapa.layers import EPiC, MaskLogit
from tests.layer_harness import run_layer_test


def numpy(t):
    return np.asarray(ops.convert_to_numpy(t), "float64")


def leaky(x):
    return np.where(x > 0, x, 0.2 * x)  # keras.ops.leaky_relu's default slope


def dense(layer, x):
    return x @ numpy(layer.kernel) + numpy(layer.bias)


@pytest.fixture
def epic_inputs(node_features):
    """[global (3, 4), particles (3, 8, 5), reference]: padding rows zero everywhere."""
    rng = np.random.default_rng(3)
    global_features = rng.normal(size=(3, 4)).astype("float32")
    return [global_features, node_features, node_features]


def test_epic_harness(epic_inputs, tmp_path):
    run_layer_test(EPiC, {"units": 6, "sum_scale": 0.1}, epic_inputs, tmp_path,
                   input_kinds=("global", "nodes", "nodes"),
                   output_kinds=("global", "nodes"))


@pytest.mark.parametrize("with_reference", [True, False])
def test_epic_matches_numpy(epic_inputs, with_reference):
    """The paper's eq. (2.1)-(2.2) written out in numpy, with and without padding."""
    global_features, particles, reference = epic_inputs
    layer = EPiC(7, sum_scale=0.25)
    inputs = epic_inputs if with_reference else epic_inputs[:2]
    g_out, p_out = (numpy(t) for t in layer(inputs))
    for b in range(len(particles)):
        real = (np.any(reference[b] != 0, axis=-1) if with_reference
                else np.ones(len(particles[b]), bool))
        p, g = particles[b].astype("float64"), global_features[b].astype("float64")
        pooled = np.concatenate([p[real].mean(0), 0.25 * p[real].sum(0), g])
        g_new = leaky(dense(layer.global_out, leaky(dense(layer.global_hidden, pooled))) + g)
        stacked = np.concatenate([p, np.repeat(g_new[None], len(p), 0)], axis=-1)
        p_new = leaky(dense(layer.particle_out, leaky(dense(layer.particle_hidden, stacked))) + p)
        p_new[~real] = 0.0
        np.testing.assert_allclose(g_out[b], g_new, atol=1e-5, rtol=1e-5)
        np.testing.assert_allclose(p_out[b], p_new, atol=1e-5, rtol=1e-5)


def test_epic_sum_carries_the_multiplicity():
    """Two jets of identical particles but different counts: the mean alone could not
    tell them apart, the sum does."""
    particles = np.ones((2, 4, 3), "float32")
    particles[1, 2:] = 0.0
    g, _ = EPiC(5, sum_scale=1.0)([np.zeros((2, 2), "float32"), particles, particles])
    assert not np.allclose(numpy(g)[0], numpy(g)[1])


def test_epic_rejects_bad_units():
    with pytest.raises(ValueError, match="units"):
        EPiC(0)


def test_mask_logit_marks_padding(node_features, tmp_path):
    out = numpy(MaskLogit(5.0)(node_features))
    real = np.any(node_features != 0, axis=-1)
    np.testing.assert_array_equal(out[..., 0], np.where(real, 5.0, -5.0))
    run_layer_test(MaskLogit, {"logit": 5.0}, node_features, tmp_path, padding_nodes=None,
                   permutation="equivariant")
