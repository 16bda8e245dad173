import numpy as np
import pytest
from keras import ops

from grapa.layers import CutFeatures, PadFeatures
from tests.layer_harness import run_layer_test


def test_cut_features(node_features, tmp_path):
    run_layer_test(CutFeatures, {"features": 3}, node_features, tmp_path)
    out = np.asarray(ops.convert_to_numpy(CutFeatures(3)(node_features)))
    np.testing.assert_array_equal(out, node_features[..., :3])
    with pytest.raises(ValueError, match="more features"):
        CutFeatures(9)(node_features)


def test_pad_features(node_features, tmp_path):
    run_layer_test(PadFeatures, {"features": 2}, node_features, tmp_path)
    out = np.asarray(ops.convert_to_numpy(PadFeatures(2)(node_features)))
    np.testing.assert_array_equal(out[..., :5], node_features)
    np.testing.assert_array_equal(out[..., 5:], 0)
