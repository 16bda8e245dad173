"""Density layers: a masked autoregressive flow step and a one-dimensional Gaussian mixture.

Both return log densities, so a model built from them is trained by maximum likelihood
and scores with a negative log-likelihood (`grapa.models.JetDensity`).
"""

from __future__ import annotations

import math

import keras
import numpy as np
from keras import ops

LOG_2PI = math.log(2.0 * math.pi)


def standard_normal_log_density(z):
    """`sum_i log N(z_i; 0, 1)` over the last axis."""
    return -0.5 * ops.sum(ops.square(z), axis=-1) - 0.5 * z.shape[-1] * LOG_2PI


def _made_masks(n_features, n_context, hidden, n_hidden_layers):
    """MADE masks (Germain et al. 2015) for inputs in their natural order.

    Input `i` has degree `i + 1`; a hidden unit of degree `d` (in `1 .. D-1`) sees inputs
    of degree `<= d` and every context input; output `i` sees hidden units of degree
    `< i + 1`. So output `i` depends on inputs `0 .. i-1` (and the context) only.
    """
    input_degrees = np.arange(1, n_features + 1)
    top = max(n_features - 1, 1)
    hidden_degrees = [np.arange(hidden) % top + 1 for _ in range(n_hidden_layers)]
    masks = []
    previous = np.concatenate([input_degrees, np.zeros(n_context, dtype=int)])
    for k, degrees in enumerate(hidden_degrees):
        mask = degrees[None, :] >= previous[:, None]
        if k == 0:
            mask[n_features:] = True  # the context reaches every first-layer unit
        masks.append(mask.astype("float32"))
        previous = degrees
    masks.append((input_degrees[None, :] > previous[:, None]).astype("float32"))
    return masks


@keras.saving.register_keras_serializable(package="grapa")
class AutoregressiveAffine(keras.layers.Layer):
    r"""One step of a masked autoregressive flow (MAF; Papamakarios et al. 2017).

    A MADE network (Germain et al. 2015) gives, for every feature $i$, a shift and a
    log-scale that depend only on the features before it and on the context $c$:

    $$
    z_i = (x_i - \mu_i(x_{<i}, c))\, e^{-\alpha_i(x_{<i}, c)}, \qquad
    \log \left|\det \frac{\partial z}{\partial x}\right| = -\sum_i \alpha_i .
    $$

    The Jacobian is triangular, so the log-determinant is exact. Stack several steps with
    `reverse=True` on every other one (the features' order flipped before the step) so
    each feature can depend on all others. $\alpha$ is soft-clipped to
    $\pm$`max_log_scale` (`a tanh(α / a)`) so a step cannot blow up early in training.

    Args:
        hidden: units of each MADE hidden layer.
        n_hidden_layers: hidden layers of the MADE.
        activation: activation of the hidden layers.
        reverse: flip the features' order before the transform (and flip back after).
        max_log_scale: bound of `|alpha|`.
        seed: seed of the kernel initializers, or None.

    Input shape:
        `x` `(batch, D)`, or `[x, context]` with context `(batch, C)`.

    Output shape:
        `[z, log_det]`: `(batch, D)` and `(batch,)`.

    Example:

    >>> z, log_det = AutoregressiveAffine(hidden=32)(keras.random.normal((5, 3)))
    """

    def __init__(self, hidden=64, n_hidden_layers=2, activation="relu", reverse=False,
                 max_log_scale=5.0, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.hidden = int(hidden)
        self.n_hidden_layers = int(n_hidden_layers)
        self.activation = keras.activations.get(activation)
        self.reverse = bool(reverse)
        self.max_log_scale = float(max_log_scale)
        self.seed = seed

    def build(self, input_shape):
        shapes = input_shape if isinstance(input_shape[0], (list, tuple)) else [input_shape]
        self.n_features = int(shapes[0][-1])
        self.n_context = int(shapes[1][-1]) if len(shapes) > 1 else 0
        masks = _made_masks(self.n_features, self.n_context, self.hidden, self.n_hidden_layers)
        self._masks = [ops.convert_to_tensor(mask) for mask in masks]
        self.kernels, self.biases = [], []
        widths = [self.n_features + self.n_context] + [self.hidden] * self.n_hidden_layers
        for k in range(self.n_hidden_layers):
            self.kernels.append(self._kernel(f"kernel_{k}", (widths[k], widths[k + 1]), k))
            self.biases.append(self.add_weight(name=f"bias_{k}", shape=(widths[k + 1],),
                                               initializer="zeros"))
        # The output layer starts at zero: every step begins as the identity map.
        self.shift_kernel = self.add_weight(name="shift_kernel", shape=(self.hidden, self.n_features),
                                            initializer="zeros")
        self.log_scale_kernel = self.add_weight(name="log_scale_kernel",
                                                shape=(self.hidden, self.n_features),
                                                initializer="zeros")
        self.shift_bias = self.add_weight(name="shift_bias", shape=(self.n_features,),
                                          initializer="zeros")
        self.log_scale_bias = self.add_weight(name="log_scale_bias", shape=(self.n_features,),
                                              initializer="zeros")

    def _kernel(self, name, shape, k):
        seed = None if self.seed is None else self.seed + k
        return self.add_weight(name=name, shape=shape,
                               initializer=keras.initializers.GlorotUniform(seed=seed))

    def shift_and_log_scale(self, x, context=None):
        """`(mu, alpha)`, each `(batch, D)`, in the layer's (possibly flipped) order."""
        h = x if context is None else ops.concatenate([x, context], axis=-1)
        for kernel, bias, mask in zip(self.kernels, self.biases, self._masks):
            h = self.activation(ops.matmul(h, kernel * mask) + bias)
        out_mask = self._masks[-1]
        shift = ops.matmul(h, self.shift_kernel * out_mask) + self.shift_bias
        raw = ops.matmul(h, self.log_scale_kernel * out_mask) + self.log_scale_bias
        log_scale = self.max_log_scale * ops.tanh(raw / self.max_log_scale)
        return shift, log_scale

    def call(self, inputs):
        x, context = (inputs[0], inputs[1]) if isinstance(inputs, (list, tuple)) else (inputs, None)
        if self.reverse:
            x = ops.flip(x, axis=-1)
        shift, log_scale = self.shift_and_log_scale(x, context)
        z = (x - shift) * ops.exp(-log_scale)
        if self.reverse:
            z = ops.flip(z, axis=-1)
        return [z, -ops.sum(log_scale, axis=-1)]

    def compute_output_shape(self, input_shape):
        shape = input_shape[0] if isinstance(input_shape[0], (list, tuple)) else input_shape
        return [tuple(shape), tuple(shape[:-1])]

    def get_config(self):
        return {**super().get_config(), "hidden": self.hidden,
                "n_hidden_layers": self.n_hidden_layers,
                "activation": keras.activations.serialize(self.activation),
                "reverse": self.reverse, "max_log_scale": self.max_log_scale, "seed": self.seed}


@keras.saving.register_keras_serializable(package="grapa")
class GaussianMixtureDensity(keras.layers.Layer):
    r"""Log density of a one-dimensional Gaussian mixture with learned parameters.

    $$
    \log p(x) = \log \sum_{k=1}^{K} \pi_k\, \mathcal{N}(x; m_k, s_k^2), \qquad
    \pi = \operatorname{softmax}(w), \quad s_k = e^{\lambda_k},
    $$

    evaluated with `logsumexp`. The means start spread over `[-2, 2]` (inputs are meant
    to be standardized) and the widths at 0.5.

    Args:
        components: K.

    Input shape:
        `(batch, 1)`.

    Output shape:
        `(batch,)`: `log p(x)`.
    """

    def __init__(self, components=8, **kwargs):
        super().__init__(**kwargs)
        self.components = int(components)

    def build(self, input_shape):
        k = self.components
        self.logits = self.add_weight(name="logits", shape=(k,), initializer="zeros")
        self.means = self.add_weight(
            name="means", shape=(k,),
            initializer=keras.initializers.Constant(np.linspace(-2.0, 2.0, k).tolist()))
        self.log_widths = self.add_weight(
            name="log_widths", shape=(k,),
            initializer=keras.initializers.Constant(math.log(0.5)))

    def call(self, x):
        log_weights = self.logits - ops.logsumexp(self.logits)
        standardized = (x - self.means) * ops.exp(-self.log_widths)
        log_components = (-0.5 * ops.square(standardized) - self.log_widths - 0.5 * LOG_2PI
                          + log_weights)
        return ops.logsumexp(log_components, axis=-1)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1])

    def get_config(self):
        return {**super().get_config(), "components": self.components}
