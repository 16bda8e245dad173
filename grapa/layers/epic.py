"""Equivariant point-cloud layers: per-particle features beside one global vector."""

from __future__ import annotations

import keras
from keras import ops

from grapa.layers._nodes import node_mask


@keras.saving.register_keras_serializable(package="grapa")
class EPiC(keras.layers.Layer):
    r"""One equivariant point-cloud (EPiC) layer: the global vector reads the particles'
    masked mean and sum, then every particle reads the updated global vector.

    Buhmann, Kasieczka and Thaler, "EPiC-GAN: Equivariant point cloud generation for
    particle jets", SciPost Phys. 15, 130 (2023), arXiv:2301.08128, eq. (2.1)-(2.2).
    With `m` the mask (1 for a particle, 0 for padding), `n = \sum_i m_i` and `s` the
    sum's scale:

    $$ g' = \sigma\Big(W_2\,\sigma\big(W_1[\tfrac{1}{n}\textstyle\sum_i m_i p_i,\
           s\textstyle\sum_i m_i p_i,\ g]\big) + g\Big), \qquad
       p_i' = m_i\,\sigma\Big(W_4\,\sigma\big(W_3[p_i,\ g']\big) + p_i\Big) $$

    with biases and the leaky ReLU `sigma`. The sum carries the multiplicity; the paper's
    is unscaled, the authors' later code scales it by 10^-2 to 10^-3 so that it stays of
    order one for large jets. Without the paper's weight normalisation, which Keras does
    not provide. Padding (mask 0) is never pooled and stays all zero, so the layer is
    permutation equivariant in the particles and invariant to padding.

    Args:
        units: width of the hidden layers `W_1`, `W_3`.
        sum_scale: the factor `s` of the summed particles.

    Input shape:
        `[global (batch, G), particles (batch, nodes, F)]`, or with a third tensor
        `reference (batch, nodes, ...)` that marks the real particles (those whose row is
        not all zero, e.g. the network's input; without it, every slot is a particle).

    Output shape:
        `[global (batch, G), particles (batch, nodes, F)]`.

    Example:
        >>> g, p = EPiC(64)([keras.ops.ones((2, 10)), keras.ops.ones((2, 30, 64))])
    """

    def __init__(self, units, sum_scale=0.01, **kwargs):
        super().__init__(**kwargs)
        self.units = int(units)
        self.sum_scale = float(sum_scale)
        if self.units < 1:
            raise ValueError(f"units must be >= 1, got {units}")

    def build(self, input_shape):
        global_dim, features = int(input_shape[0][-1]), int(input_shape[1][-1])
        pooled_dim = 2 * features + global_dim
        self.global_hidden = keras.layers.Dense(self.units, name="global_hidden")
        self.global_hidden.build((None, pooled_dim))
        self.global_out = keras.layers.Dense(global_dim, name="global_out")
        self.global_out.build((None, self.units))
        self.particle_hidden = keras.layers.Dense(self.units, name="particle_hidden")
        self.particle_hidden.build((None, None, features + global_dim))
        self.particle_out = keras.layers.Dense(features, name="particle_out")
        self.particle_out.build((None, None, self.units))

    def call(self, inputs):
        global_features, particles = inputs[0], inputs[1]
        if len(inputs) > 2:  # real where the reference row is not all zero
            mask = ops.cast(ops.expand_dims(node_mask(inputs[2]), -1), particles.dtype)
        else:
            mask = ops.ones_like(particles[..., :1])
        summed = ops.sum(particles * mask, axis=1)
        mean = summed / ops.maximum(ops.sum(mask, axis=1), 1.0)
        pooled = ops.concatenate(
            [mean, summed * self.sum_scale, global_features], axis=-1)
        hidden = ops.leaky_relu(self.global_hidden(pooled))
        global_features = ops.leaky_relu(self.global_out(hidden) + global_features)
        # (B, 1, G) + (B, N, 1): the global vector on every slot
        broadcast = global_features[:, None, :] + ops.zeros_like(particles[..., :1])
        hidden = ops.leaky_relu(self.particle_hidden(
            ops.concatenate([particles, broadcast], axis=-1)))
        particles = ops.leaky_relu(self.particle_out(hidden) + particles) * mask
        return [global_features, particles]

    def compute_output_shape(self, input_shape):
        return [tuple(input_shape[0]), tuple(input_shape[1])]

    def get_config(self):
        return {**super().get_config(), "units": self.units, "sum_scale": self.sum_scale}


@keras.saving.register_keras_serializable(package="grapa")
class MaskLogit(keras.layers.Layer):
    r"""A fixed mask logit per slot: `+logit` where the reference row is a particle (not
    all zero), `-logit` where it is padding.

    For generators whose multiplicity is drawn, not learned (EPiC-GAN, Buhmann et al.
    2023, sec. 2.2: the number of particles is sampled from the training jets'
    distribution): the drawn padding slots get all-zero noise, and this layer turns that
    into the mask channel that JetGAN's generators emit, with no weight and no gradient.

    Args:
        logit: the magnitude of the logit (sigmoid(20) = 1 - 2e-9).

    Input shape:
        `(batch, nodes, F)`.

    Output shape:
        `(batch, nodes, 1)`.
    """

    def __init__(self, logit=20.0, **kwargs):
        super().__init__(**kwargs)
        self.logit = float(logit)

    def call(self, reference):
        real = ops.expand_dims(node_mask(reference), -1)
        return ops.cast(ops.where(real, self.logit, -self.logit), reference.dtype)

    def compute_output_shape(self, input_shape):
        return (*tuple(input_shape)[:-1], 1)

    def get_config(self):
        return {**super().get_config(), "logit": self.logit}
