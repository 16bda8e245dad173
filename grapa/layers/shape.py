"""Feature-axis reshaping layers."""

from __future__ import annotations

import keras
from keras import ops


def pad_features(x, extra):
    """Append `extra` zero features to `x` `(batch, nodes, features)`."""
    return ops.pad(x, [[0, 0], [0, 0], [0, extra]])


@keras.saving.register_keras_serializable(package="grapa")
class CutFeatures(keras.layers.Layer):
    r"""Keep the first `features` features of every node: $x'_{if} = x_{if},\ f < m$.

    Klüttermann 2021, sec. 4.4: the decoder's last update may carry more features than
    the 4 it must reproduce; the excess is cut before the comparison.

    Args:
        features: number of features `m` to keep.

    Input shape:
        `(batch, nodes, F)` with `F >= features`.

    Output shape:
        `(batch, nodes, features)`.
    """

    def __init__(self, features, **kwargs):
        super().__init__(**kwargs)
        self.features = int(features)

    def build(self, input_shape):
        if input_shape[-1] is not None and input_shape[-1] < self.features:
            raise ValueError(
                f"CutFeatures({self.features}) cannot keep more features than the input has "
                f"({input_shape[-1]}, shape {tuple(input_shape)})."
            )

    def call(self, x):
        return x[..., : self.features]

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.features)

    def get_config(self):
        return {**super().get_config(), "features": self.features}


@keras.saving.register_keras_serializable(package="grapa")
class PadFeatures(keras.layers.Layer):
    r"""Append `features` zero features to every node: $x' = [x, 0, \dots, 0]$.

    Klüttermann 2021, appendix C.2.1: room for values a later layer learns (e.g. the
    sorting value of a compression). Padding nodes stay all zero.

    Args:
        features: number of zero features to append.

    Input shape:
        `(batch, nodes, F)`.

    Output shape:
        `(batch, nodes, F + features)`.
    """

    def __init__(self, features, **kwargs):
        super().__init__(**kwargs)
        self.features = int(features)

    def call(self, x):
        return pad_features(x, self.features)

    def compute_output_shape(self, input_shape):
        last = None if input_shape[-1] is None else input_shape[-1] + self.features
        return (*input_shape[:-1], last)

    def get_config(self):
        return {**super().get_config(), "features": self.features}
