"""Per-jet normalization that removes position and scale (thesis ch. 6)."""

from __future__ import annotations

import keras
from keras import ops

from grapa.layers._nodes import node_mask

VARIANTS = ("max", "mixed")


@keras.saving.register_keras_serializable(package="grapa")
class JetNorm(keras.layers.Layer):
    r"""Normalize every feature of each jet over its real nodes: no position, no scale.

    Klüttermann 2021, sec. 6.1.2 (eqs. 6.1-6.3) and 6.1.6 (eq. 6.4). Per jet and feature,
    with means and maxima taken over the real nodes:

    $$
    y = x - \operatorname{mean}(x), \qquad z = y - \operatorname{mean}(|y|),
    $$
    $$
    n_\text{max} = \frac{z}{\max|y| + 0.001}, \qquad
    n_\text{mixed} = \frac{2 z}{\max|z| + \operatorname{mean}|z|}.
    $$

    Both are translation and scale invariant and fix no feature to a constant, so an
    autoencoder cannot learn normalization artefacts. `"mixed"` (the later, better one)
    also keeps the leading constituent's lpt informative. Padding nodes stay 0 and do not
    enter the means; a feature that is constant over the jet gives 0 (never NaN).

    Args:
        variant: `"mixed"` (eq. 6.4) or `"max"` (eq. 6.3).
        keep_flag: pass feature 0 (the flag) through unchanged.
        epsilon: the 0.001 of eq. 6.3 (`"max"` only).

    Input shape:
        `(batch, nodes, features)`.

    Output shape:
        `(batch, nodes, features)`.
    """

    def __init__(self, variant="mixed", keep_flag=True, epsilon=0.001, **kwargs):
        super().__init__(**kwargs)
        if variant not in VARIANTS:
            raise ValueError(f"JetNorm variant must be one of {VARIANTS}, got {variant!r}.")
        self.variant = variant
        self.keep_flag = bool(keep_flag)
        self.epsilon = float(epsilon)

    def call(self, x):
        real = ops.expand_dims(node_mask(x), -1)
        weight = ops.cast(real, x.dtype)
        count = ops.maximum(ops.sum(weight, axis=1, keepdims=True), 1.0)

        def mean(values):
            return ops.sum(values * weight, axis=1, keepdims=True) / count

        def maximum(values):  # of non-negative values, over real nodes
            return ops.max(values * weight, axis=1, keepdims=True)

        y = (x - mean(x)) * weight
        z = (y - mean(ops.abs(y))) * weight
        if self.variant == "max":
            normalized = z / (maximum(ops.abs(y)) + self.epsilon)
        else:
            scale = maximum(ops.abs(z)) + mean(ops.abs(z))
            normalized = 2.0 * z / ops.where(scale > 0, scale, 1.0)
        if self.keep_flag:
            normalized = ops.concatenate([x[..., :1], normalized[..., 1:]], axis=-1)
        return ops.where(real, normalized, 0.0)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        return {
            **super().get_config(),
            "variant": self.variant,
            "keep_flag": self.keep_flag,
            "epsilon": self.epsilon,
        }


@keras.saving.register_keras_serializable(package="grapa")
class MaskedBatchNormalization(keras.layers.BatchNormalization):
    r"""`keras.layers.BatchNormalization` over the real nodes only; padding stays zero.

    Klüttermann 2021, sec. 4.4 and appendix A.4: the autoencoders batch-normalize the
    node features before the first graph. Plain batch normalization would count padding
    nodes in the moments and turn them into non-zero "particles"; here the moments are
    taken over real nodes (features not all zero) and padding nodes are set back to 0,
    so they stay padding for every later layer.

    Args:
        **kwargs: any `keras.layers.BatchNormalization` argument (`momentum`, `epsilon`,
            `center`, `scale`, ...). `axis` is the feature axis, -1.

    Input shape:
        `(batch, nodes, features)`.

    Output shape:
        `(batch, nodes, features)`.
    """

    def call(self, inputs, training=None, mask=None):
        real = node_mask(inputs)
        normalized = super().call(inputs, training=training, mask=real)
        return ops.where(ops.expand_dims(real, -1), normalized, 0.0)
