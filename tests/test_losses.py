import math

import numpy as np
import pytest
from keras import ops

from grapa import losses


def per_jet(loss, target, output):
    return np.asarray(ops.convert_to_numpy(loss(np.float32(target), np.float32(output))))


@pytest.fixture
def pair():
    rng = np.random.default_rng(3)
    return rng.normal(size=(4, 5, 4)), rng.normal(size=(4, 5, 4))


def test_l2_against_numpy(pair):
    target, output = pair
    np.testing.assert_allclose(per_jet(losses.l2, target, output),
                               ((target - output) ** 2).mean(axis=(1, 2)), rtol=1e-5)


@pytest.mark.parametrize("power", [0.5, 1.0, 3.0])
def test_ln_against_numpy(pair, power):
    target, output = pair
    d = np.abs(target - output)
    expected = ((d + 1) ** power - 1) if power < 1 else d**power
    np.testing.assert_allclose(per_jet(losses.get({"name": "ln", "power": power}), target, output),
                               expected.mean(axis=(1, 2)), rtol=1e-5)


def test_ln_half_is_sqrt_plus_one_minus_one():
    # footnote 39: sqrt(|d| + 1) - 1; |d| = 3 gives 1 exactly
    target = np.zeros((1, 1, 4))
    output = np.array([[[0, 3.0, 0, 0]]])
    assert per_jet(losses.get({"name": "ln", "power": 0.5}), target, output)[0] == pytest.approx(0.25)


def test_image_like_by_hand():
    # One node: angular distance d = 5 (3-4-5), lpt error 2.
    target = np.array([[[1, 0.0, 0.0, 1.0]]])
    output = np.array([[[1, 3.0, 4.0, 3.0]]])
    f = (0.1 + math.exp(-5.0)) / 1.1
    assert per_jet(losses.image_like, target, output)[0] == pytest.approx((1 - f) + f * 4, rel=1e-5)
    # Perfect angles: f = 1, only the lpt error counts.
    output[0, 0, 1:3] = 0
    assert per_jet(losses.image_like, target, output)[0] == pytest.approx(4.0, rel=1e-5)


def test_chamfer_is_permutation_invariant_and_zero_on_perfect_sets(pair):
    target, _ = pair
    shuffled = target[:, np.random.default_rng(0).permutation(5)]
    np.testing.assert_allclose(per_jet(losses.chamfer, target, shuffled), 0, atol=1e-6)
    other = target + 0.5
    np.testing.assert_allclose(per_jet(losses.chamfer, target, other),
                               per_jet(losses.chamfer, target, other[:, ::-1]), rtol=1e-6)


def test_chamfer_by_hand():
    # Targets {0, 2}, outputs {1, 1} on one feature: each target's nearest costs 1; each
    # output's nearest costs 1 -> 1 + 1.
    target = np.array([[[0.0, 0, 0, 0], [2.0, 0, 0, 0]]])
    output = np.array([[[1.0, 0, 0, 0], [1.0, 0, 0, 0]]])
    assert per_jet(losses.chamfer, target, output)[0] == pytest.approx(2.0)


def test_get_rejects_unknown_names():
    with pytest.raises(ValueError, match="l2"):
        losses.get("l3")
