"""The oneoff losses: `(y - 1)^2` and the scale-free mean/variance loss (Klüttermann 2021,
appendix E.2.5).

Trained on `(y - 1)^2`, a oneoff network's outputs `a * i` (`i` of mean 1 and relative
width `s`) settle at the biased scale `a = 1 / (1 + s^2) < 1` (see `grapa.models.oneoff`).
T writes its mean/variance loss (`loss="mean_var"`)
`(mean(y) - 1)^2 + var(y)`, but by the bias-variance decomposition that *equals*
`mean((y - 1)^2)` and keeps the bias. grapa divides the variance by the second moment,
`(mean(y) - 1)^2 + var(y) / mean(y^2)`: the width term no longer depends on the scale
`a`, so its optimum is `mean(y) = 1` exactly, and what the network narrows is the
relative width `s`, the quantity that sets the AUC in T E.2.5.
"""

from __future__ import annotations

import keras
from keras import ops

__all__ = ["LOSSES", "MeanVarianceLoss", "oneoff_loss"]

LOSSES = ("ones", "mean_var")


@keras.saving.register_keras_serializable(package="grapa")
class MeanVarianceLoss(keras.losses.Loss):
    r"""Mean-to-1 plus scale-free width: the oneoff loss without the biased mean.

    Klüttermann 2021, appendix E.2.5. Over the events of a batch whose targets are 1
    (background) and all their `m` outputs $y$:

    $$
    L_1 = (\operatorname{mean} y - 1)^2 + \frac{\operatorname{var} y}{\operatorname{mean} y^2},
    \qquad L = f_1 L_1 + (1 - f_1) \operatorname{mean}_{\text{target } 0} y^2,
    $$

    with $f_1$ the fraction of outputs whose target is 1; events with target 0 (random
    negatives, T 7.1.1) are pulled to 0 by the last term. T's literal
    `(mean(y) - 1)^2 + var(y)` equals `mean((y - 1)^2)` and keeps the bias of E.2.5;
    dividing the variance by the second moment makes the width term invariant under
    $y \to a y$, so the minimum sits at $\operatorname{mean} y = 1$.

    The value is one number per batch (a mean and a variance need the whole batch), so
    `sample_weight` has no per-event effect; use batches of at least ~32 events.

    Args:
        epsilon: added to the second moment (an all-zero output gives width 0, not NaN).
        name: the loss's name.
        reduction: Keras loss reduction (the value is already a scalar).
        dtype: Keras dtype of the computation.
    """

    def __init__(self, epsilon=1e-7, name="mean_var", reduction="sum_over_batch_size",
                 dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self.epsilon = float(epsilon)

    def call(self, y_true, y_pred):
        y_pred = ops.convert_to_tensor(y_pred)
        y_true = ops.cast(y_true, y_pred.dtype)
        ones = ops.cast(y_true > 0.5, y_pred.dtype)
        count = ops.sum(ops.ones_like(ones))
        n_ones = ops.sum(ones)
        safe_n = ops.maximum(n_ones, 1.0)
        mean = ops.sum(ones * y_pred) / safe_n
        second_moment = ops.sum(ones * ops.square(y_pred)) / safe_n
        variance = ops.sum(ones * ops.square(y_pred - mean)) / safe_n
        towards_one = ops.square(mean - 1.0) + variance / (second_moment + self.epsilon)
        towards_zero = ops.sum((1.0 - ones) * ops.square(y_pred))
        return (n_ones / count) * towards_one + towards_zero / count

    def get_config(self):
        return {**super().get_config(), "epsilon": self.epsilon}


def oneoff_loss(loss):
    """The Keras loss for `"ones"` (`(y - 1)^2`, i.e. mean squared error towards the
    targets) or `"mean_var"` (`MeanVarianceLoss`); a Keras loss object passes through."""
    if isinstance(loss, str):
        if loss == "ones":
            return keras.losses.MeanSquaredError(name="ones")
        if loss == "mean_var":
            return MeanVarianceLoss()
        raise ValueError(f"oneoff loss must be one of {LOSSES} or a Keras loss, got {loss!r}.")
    return loss
