"""The oneoff head: a bias-free dense network whose outputs are trained towards 1."""

from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="grapa")
class OneOff(keras.layers.Layer):
    r"""Bias-free dense layers, `relu` inside and linear out, ending in `outputs` units.

    Klüttermann 2021, sec. 7.1 (oneoff networks), footnote 80 (several outputs) and
    footnote 82 (no biases). With kernels $W_1, \dots, W_L$ and activation $\sigma$:

    $$
    h_0 = x, \qquad h_l = \sigma(h_{l-1} W_l) \ (l < L), \qquad y = h_{L-1} W_L .
    $$

    Trained on background so that every output is 1 (see `grapa.models.OneOffNetwork`),
    the distance of $\operatorname{mean}_m(y)$ from the background's mean output is an
    anomaly score. There is no bias anywhere: a bias would learn the constant 1 and
    ignore the input. Without biases and with `relu`, $y(\alpha x) = \alpha\, y(x)$ for
    $\alpha > 0$, so the network has to find a 1 in the structure of its inputs. Several
    outputs, all trained towards 1, are highly correlated but train more reliably than
    one (fn. 80).

    Args:
        hidden: widths of the hidden layers, e.g. `(32, 16)`; `()` gives one linear map.
        outputs: number of outputs `m`, all trained towards 1.
        activation: Keras activation between the kernels (not after the last).
        kernel_initializer: initializer of every kernel; each kernel gets its own copy.
        kernel_regularizer: regularizer of every kernel.
        seed: integer seed of the kernel initializers (kernel `l` uses `seed + l`), or
            None to draw them from Python's global `random` (as
            `keras.utils.set_random_seed` seeds it).

    Input shape:
        `(batch, features)` (any leading axes: `(..., features)`).

    Output shape:
        `(batch, outputs)` (`(..., outputs)`).

    Example:

    >>> x = keras.random.normal((2, 5))   # e.g. a latent space, flattened
    >>> OneOff(hidden=(16, 8), outputs=4)(x).shape
    (2, 4)
    """

    def __init__(
        self,
        hidden=(32, 16),
        outputs=4,
        activation="relu",
        kernel_initializer="glorot_uniform",
        kernel_regularizer=None,
        seed=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.hidden = tuple(int(units) for units in hidden)
        self.outputs = int(outputs)
        if self.outputs < 1 or any(units < 1 for units in self.hidden):
            raise ValueError(
                f"OneOff needs positive layer widths, got hidden={self.hidden}, "
                f"outputs={self.outputs}."
            )
        self.activation = keras.activations.get(activation)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)
        self.seed = None if seed is None else int(seed)

    def _initializer(self, index):
        """A fresh initializer per kernel: one shared seeded instance repeats its values."""
        config = keras.initializers.serialize(self.kernel_initializer)
        if self.seed is not None and "seed" in config.get("config", {}):
            config["config"]["seed"] = self.seed + index
        return keras.initializers.deserialize(config)

    def build(self, input_shape):
        features = input_shape[-1]
        if features is None:
            raise ValueError(
                f"OneOff needs a known number of input features, got shape {tuple(input_shape)}; "
                "flatten latent spaces or jets to (batch, features) first."
            )
        widths = (int(features), *self.hidden, self.outputs)
        self.kernels = [
            self.add_weight(
                name=f"kernel_{index}",
                shape=(n_in, n_out),
                initializer=self._initializer(index),
                regularizer=self.kernel_regularizer,
            )
            for index, (n_in, n_out) in enumerate(zip(widths[:-1], widths[1:]))
        ]

    def call(self, x):
        for kernel in self.kernels[:-1]:
            x = self.activation(ops.matmul(x, kernel))
        return ops.matmul(x, self.kernels[-1])

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.outputs)

    def get_config(self):
        return {
            **super().get_config(),
            "hidden": list(self.hidden),
            "outputs": self.outputs,
            "activation": keras.activations.serialize(self.activation),
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
            "kernel_regularizer": keras.regularizers.serialize(self.kernel_regularizer),
            "seed": self.seed,
        }
