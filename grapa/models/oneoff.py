"""Oneoff (one-class) networks and ensembles of them (Klüttermann 2021, ch. 7.1 and E).

A oneoff network is trained on background only, to output 1 for every event; the
distance of its output from the background's mean output is the anomaly score:

```python
model = build_oneoff(input_dim=64, hidden=(32, 16), outputs=4)
model.fit(background, epochs=200)       # targets of ones are made internally
scores = model.score(events)            # |mean_m(y) - mu|, higher = more anomalous
model.save("oneoff.keras")              # mu travels with the model

ensemble = OneOffEnsemble(n=25, seed=0)
ensemble.fit(background, epochs=200)
scores = ensemble.score(events)         # sum over members of |mean_m(y_i) - mu_i|
ensemble.save("ensemble.keras")
```

Two details decide whether the score works (T E.2.5):

- **The biased mean.** Trained on `(y - 1)^2`, the network trades the distance of its
  mean output from 1 against the width of its output distribution: with outputs
  `a * i`, `i` of mean 1 and relative width `s`, the loss `(a - 1)^2 + a^2 s^2` is
  smallest at `a = 1 / (1 + s^2) < 1`. Scoring with `|y - 1|` then calls background
  events in the upper half of their peak *more* normal than the peak itself. grapa
  therefore always scores with the **readjusted mean** `|mean_m(y) - mu|`, `mu` the
  mean of `mean_m(y)` over the training background, stored in the model.
- **The mean/variance loss** (`loss="mean_var"`): T writes it
  `(mean(y) - 1)^2 + var(y)`, but by the bias-variance decomposition that *equals*
  `mean((y - 1)^2)` and keeps the bias. grapa divides the variance by the second
  moment, `(mean(y) - 1)^2 + var(y) / mean(y^2)`: the width term no longer depends on
  the scale `a`, so its optimum is `mean(y) = 1` exactly, and what the network narrows
  is the relative width `s`, the quantity that sets the AUC in T E.2.5.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from grapa.data.checks import check_finite
from grapa.layers.oneoff import OneOff

__all__ = [
    "LOSSES",
    "MeanVarianceLoss",
    "OneOffEnsemble",
    "OneOffNetwork",
    "build_oneoff",
    "oneoff_loss",
    "random_negatives",
]

LOSSES = ("ones", "mean_var")
# Member i of an ensemble seeds its kernels from seed + MEMBER_SEED_STRIDE * i (+ layer).
MEMBER_SEED_STRIDE = 1000


# ---------------------------------------------------------------------------------------
# Losses
# ---------------------------------------------------------------------------------------


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


# ---------------------------------------------------------------------------------------
# Training data
# ---------------------------------------------------------------------------------------


def _features(x, input_dim=None, name="x"):
    """`x` as a finite float32 array `(events, features)`, or a ValueError saying why not."""
    array = np.asarray(x, dtype="float32")
    if array.ndim != 2:
        raise ValueError(
            f"{name} must have shape (events, features), got {array.shape}. Flatten jets "
            "or latent spaces first, e.g. x.reshape(len(x), -1)."
        )
    if input_dim is not None and array.shape[1] != input_dim:
        raise ValueError(
            f"{name} has {array.shape[1]} features but the oneoff network was built for "
            f"input_dim={input_dim}."
        )
    if len(array) == 0:
        raise ValueError(f"{name} is empty: pass at least one event.")
    check_finite(array, f"events of {name}", fix=f"{name}[np.isfinite({name}).all(axis=1)]",
                 unit="event")
    return array


def random_negatives(background, n=None, seed=None):
    """Random events to train towards 0 (Klüttermann 2021, sec. 7.1.1, fn. 83).

    Each feature is drawn independently from a Gaussian with the background's mean and
    standard deviation of that feature, so the negatives share the background's
    per-feature ranges but none of its correlations.

    Args:
        background: `(events, features)` training background.
        n: number of negatives (default: as many as background events).
        seed: seed of the numpy generator.

    Returns:
        `(n, features)` float32 array.
    """
    background = _features(background, name="background")
    rng = np.random.default_rng(seed)
    size = (len(background) if n is None else int(n), background.shape[1])
    return rng.normal(background.mean(axis=0), background.std(axis=0), size).astype("float32")


def _training_set(background, outputs, negatives, seed):
    """Inputs and targets (ones for background, zeros for negatives), shuffled together
    so that Keras's `validation_split` (the last events) sees both kinds."""
    targets = np.ones((len(background), outputs), "float32")
    if not negatives:
        return background, targets
    fake = random_negatives(background, seed=seed)
    inputs = np.concatenate([background, fake])
    targets = np.concatenate([targets, np.zeros((len(fake), outputs), "float32")])
    order = np.random.default_rng(seed).permutation(len(inputs))
    return inputs[order], targets[order]


# ---------------------------------------------------------------------------------------
# One network
# ---------------------------------------------------------------------------------------


@keras.saving.register_keras_serializable(package="grapa")
class OneOffNetwork(keras.Model):
    r"""A oneoff network with its readjusted-mean scorer (Klüttermann 2021, sec. 7.1, E.2.5).

    `call(x)` gives the raw outputs `(batch, outputs)` of a `grapa.layers.OneOff` head;
    `fit(background)` trains them towards 1 and then stores the readjusted mean

    $$ \mu = \operatorname{mean}_\text{background}\, \operatorname{mean}_m\, y, $$

    as the non-trainable weight `background_mean`, so that the score
    $|\operatorname{mean}_m y - \mu|$ survives `save` / `keras.saving.load_model`.
    Until `fit` or `readjust` sets it, $\mu = 1$ (T's plain $|y - 1|$).

    Build one with `build_oneoff`, which also compiles it.

    Args:
        input_dim: number of input features.
        hidden: widths of the hidden layers.
        outputs: number of outputs `m`, all trained towards 1 (T fn. 80).
        activation: activation between the kernels.
        seed: seed of the kernel initializers (None: from Python's global `random`).
        **kwargs: `keras.Model` arguments (`name`, ...).
    """

    def __init__(self, input_dim, hidden=(32, 16), outputs=4, activation="relu", seed=None,
                 **kwargs):
        super().__init__(**kwargs)
        self.input_dim = int(input_dim)
        self.head = OneOff(hidden=hidden, outputs=outputs, activation=activation, seed=seed,
                           name="oneoff")
        self.background_mean = self.add_weight(
            name="background_mean", shape=(), initializer="ones", trainable=False
        )
        self.build((None, self.input_dim))

    def build(self, input_shape):
        if not self.head.built:
            self.head.build(input_shape)

    def call(self, x):
        return self.head(x)

    def fit(
        self,
        x=None,
        y=None,
        *,
        random_negatives=False,
        epochs=100,
        batch_size=64,
        validation_split=0.2,
        patience=10,
        callbacks=None,
        verbose="auto",
        seed=None,
        **kwargs,
    ):
        """Train every output towards 1 on the background `x`, then readjust the mean.

        Args:
            x: `(events, input_dim)` background; no targets (they are all 1).
            y: must be None.
            random_negatives: also train towards 0 on as many Gaussian events with the
                background's per-feature mean and std (T 7.1.1).
            epochs: maximum number of epochs.
            batch_size: events per step.
            validation_split: fraction held out for early stopping (the last events).
            patience: epochs without a better validation loss before stopping and
                restoring the best weights; None trains all `epochs`.
            callbacks: further Keras callbacks.
            verbose: Keras verbosity.
            seed: seed of the random negatives and their shuffling.
            **kwargs: passed to `keras.Model.fit` (`shuffle`, `initial_epoch`, ...).

        Returns:
            The Keras `History`.
        """
        if y is not None:
            raise ValueError(
                "OneOffNetwork.fit takes background only: its targets are all 1. Pass the "
                "background as x and leave y out (anomalies are never trained on)."
            )
        background = _features(x, self.input_dim)
        if not self.compiled:
            self.compile(optimizer=keras.optimizers.Adam(1e-3), loss=oneoff_loss("ones"))
        inputs, targets = _training_set(
            background, self.head.outputs, random_negatives, seed
        )
        callbacks = [*(callbacks or []), keras.callbacks.TerminateOnNaN()]
        if patience is not None and validation_split:
            callbacks.append(keras.callbacks.EarlyStopping(
                monitor="val_loss", patience=patience, restore_best_weights=True
            ))
        history = super().fit(
            inputs, targets, epochs=epochs, batch_size=batch_size,
            validation_split=validation_split, callbacks=callbacks, verbose=verbose, **kwargs
        )
        self.readjust(background)
        return history

    def mean_output(self, x, batch_size=1024):
        """`mean_m(y)` per event, `(events,)`."""
        x = _features(x, self.input_dim)
        return self.predict(x, batch_size=batch_size, verbose=0).mean(axis=-1)

    def readjust(self, background, batch_size=1024):
        """Set `background_mean` to the mean of `mean_m(y)` over `background`; returns it."""
        mu = float(np.mean(self.mean_output(background, batch_size)))
        self.background_mean.assign(mu)
        return mu

    def score(self, x, readjusted=True, batch_size=1024):
        """Anomaly score per event, higher = more anomalous: `|mean_m(y) - mu|`, or
        `|mean_m(y) - 1|` with `readjusted=False` (biased, T E.2.5)."""
        reference = float(ops.convert_to_numpy(self.background_mean)) if readjusted else 1.0
        return np.abs(self.mean_output(x, batch_size) - reference)

    def get_config(self):
        return {
            **super().get_config(),
            "input_dim": self.input_dim,
            "hidden": list(self.head.hidden),
            "outputs": self.head.outputs,
            "activation": keras.activations.serialize(self.head.activation),
            "seed": self.head.seed,
        }


def build_oneoff(input_dim, hidden=(32, 16), outputs=4, activation="relu", loss="ones",
                 learning_rate=1e-3, seed=None, name=None):
    """A compiled `OneOffNetwork`: `(batch, input_dim) -> (batch, outputs)`, no biases.

    Klüttermann 2021, sec. 7.1. Call `fit(background)` on it (targets of ones are made
    internally), then `score(events)`.

    Args:
        input_dim: number of input features (e.g. a flattened latent space).
        hidden: widths of the bias-free hidden layers (relu).
        outputs: number of outputs `m`, all trained towards 1 (T fn. 80: several train
            better than one).
        activation: activation between the kernels.
        loss: `"ones"` (`(y - 1)^2`) or `"mean_var"` (`MeanVarianceLoss`, no biased mean),
            or any Keras loss.
        learning_rate: Adam's learning rate.
        seed: seed of the kernel initializers.
        name: the model's name.

    Returns:
        The compiled `OneOffNetwork`.
    """
    model = OneOffNetwork(input_dim, hidden=hidden, outputs=outputs, activation=activation,
                          seed=seed, name=name)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss=oneoff_loss(loss))
    return model


# ---------------------------------------------------------------------------------------
# Ensembles
# ---------------------------------------------------------------------------------------


class _StackedOneOffs(keras.Model):
    """An ensemble's members side by side, for training all of them in one Keras `fit`.

    Layer l's kernels of the n members are stacked into one `(n, in, out)` weight, so
    `(batch, features)` (one input for all members) or `(batch, n, features)` (one per
    member) maps to `(batch, n, outputs)` with one batched matmul per layer.
    """

    def __init__(self, members, activation, **kwargs):
        super().__init__(**kwargs)
        self.activation = keras.activations.get(activation)
        self.stacked = []
        for index, kernel in enumerate(members[0].head.kernels):
            weight = self.add_weight(name=f"kernel_{index}", shape=(len(members), *kernel.shape),
                                     initializer="zeros")
            weight.assign(np.stack([ops.convert_to_numpy(m.head.kernels[index]) for m in members]))
            self.stacked.append(weight)

    def call(self, x):
        x = ops.einsum("bi,nio->bno" if len(x.shape) == 2 else "bni,nio->bno", x, self.stacked[0])
        for kernel in self.stacked[1:]:
            x = ops.einsum("bni,nio->bno", self.activation(x), kernel)
        return x

    def kernel_arrays(self):
        """The stacked kernels as numpy arrays, `[(n, in, out), ...]`."""
        return [ops.convert_to_numpy(kernel) for kernel in self.stacked]


def _summed_member_losses(loss, n):
    """The sum over members of each member's own loss, on `(batch, n, outputs)` outputs.

    Member i's parameters only enter its own term, so their gradient (and with it Adam's
    per-parameter update) is exactly that of training member i alone on the same batches.
    """

    def summed(y_true, y_pred):
        return sum(loss(y_true[:, i], y_pred[:, i]) for i in range(n))

    return summed


class _MemberEarlyStopping(keras.callbacks.Callback):
    """Keras's `EarlyStopping(restore_best_weights=True)`, kept for every member on its own.

    After each epoch every member's loss on its validation events is computed; a member
    whose loss has not improved for `patience` epochs is done, and keeps the kernels of
    its best epoch even though the stacked model trains on until every member is done.
    """

    def __init__(self, loss, n, x_val, y_val, patience):
        super().__init__()
        self.loss, self.n, self.x_val, self.y_val = loss, n, x_val, y_val
        self.patience = patience

    def on_train_begin(self, logs=None):
        self.best = np.full(self.n, np.inf)
        self.wait = np.zeros(self.n, int)
        self.done = np.zeros(self.n, bool)
        self.best_epoch = np.zeros(self.n, int)
        initial = self.model.kernel_arrays()
        self.best_kernels = [[kernel[i] for kernel in initial] for i in range(self.n)]
        self.val_losses = [[] for _ in range(self.n)]

    def on_epoch_end(self, epoch, logs=None):
        predictions = self.model.predict(self.x_val, batch_size=4096, verbose=0)
        current = None
        for i in np.flatnonzero(~self.done):
            value = float(self.loss(self.y_val[:, i], predictions[:, i]))
            self.val_losses[i].append(value)
            self.wait[i] += 1
            if value < self.best[i]:
                self.best[i], self.best_epoch[i], self.wait[i] = value, epoch, 0
                current = current if current is not None else self.model.kernel_arrays()
                self.best_kernels[i] = [kernel[i] for kernel in current]
            elif self.patience is not None and self.wait[i] >= self.patience:
                self.done[i] = True
        if self.done.all():
            self.model.stop_training = True


@keras.saving.register_keras_serializable(package="grapa")
class OneOffEnsemble(keras.Model):
    r"""`n` independently initialized and trained oneoffs, scores summed (T E.3.1).

    Klüttermann 2021, appendix E.3.1: retrained oneoffs do not predict the same thing
    (correlation about 0.6), and since every member reaches a similar quality the
    c addition of sec. 5.1.4 needs no weights (c = 1):

    $$ s(x) = \sum_{i=1}^{n} \big|\operatorname{mean}_m y_i(x) - \mu_i\big| , $$

    with $\mu_i$ member i's readjusted mean. T reached AUC 0.981 on MNIST 7-vs-rest
    with 25 members (one member: 0.914).

    Member i's kernels are seeded from `seed + 1000 i`, so the members start
    independently. `fit` trains all of them at once: their kernels are stacked into one
    Keras model whose loss is the sum of the members' losses, so each member's gradient
    and Adam update are exactly those of training it alone; only the order of the
    batches is shared (Keras's global seed is set to `seed` first, so runs repeat).
    Every member keeps its own early stopping (`patience` epochs without a better
    validation loss) and its own best weights. On 2 CPU cores (JAX) 25 members train
    5x faster this way than in 25 separate `fit` calls (TensorFlow: 8.5x; see
    `benchmarks/bench_oneoff.py`).

    The ensemble is one Keras model: `ensemble.save("e.keras")` and
    `OneOffEnsemble.load("e.keras")` (or `keras.saving.load_model`) round-trip every
    member and its `mu`; `call(x)` gives the member scores `(batch, n)`.

    Args:
        n: number of members (T: 25).
        input_dim: number of input features; None builds the members at the first `fit`.
        hidden: hidden widths of every member.
        outputs: outputs per member.
        activation: activation between the kernels.
        loss: `"ones"` or `"mean_var"` (see `build_oneoff`).
        learning_rate: Adam's learning rate.
        seed: base seed.
        **kwargs: `keras.Model` arguments (`name`, ...).
    """

    def __init__(self, n=25, input_dim=None, hidden=(32, 16), outputs=4, activation="relu",
                 loss="ones", learning_rate=1e-3, seed=0, **kwargs):
        super().__init__(**kwargs)
        if int(n) < 1:
            raise ValueError(f"OneOffEnsemble needs n >= 1 members, got {n}.")
        if loss not in LOSSES:
            raise ValueError(f"OneOffEnsemble loss must be one of {LOSSES}, got {loss!r}.")
        self.n = int(n)
        self.input_dim = None if input_dim is None else int(input_dim)
        self.hidden = tuple(int(units) for units in hidden)
        self.outputs_per_event = int(outputs)
        self.activation = keras.activations.serialize(keras.activations.get(activation))
        self.loss_name = loss
        self.learning_rate = float(learning_rate)
        self.seed = int(seed)
        self.histories = []
        if self.input_dim is not None:
            self.build((None, self.input_dim))

    def member_seed(self, index):
        return self.seed + MEMBER_SEED_STRIDE * index

    def _member_config(self, index):
        return dict(input_dim=self.input_dim, hidden=self.hidden, outputs=self.outputs_per_event,
                    activation=self.activation, seed=self.member_seed(index))

    def build(self, input_shape):
        if getattr(self, "members", None):
            return
        self.input_dim = int(input_shape[-1])
        self.members = [
            OneOffNetwork(**self._member_config(index), name=f"member_{index}")
            for index in range(self.n)
        ]

    def call(self, x):
        scores = [
            ops.abs(ops.mean(member(x), axis=-1) - member.background_mean)
            for member in self.members
        ]
        return ops.stack(scores, axis=-1)

    def fit(self, x=None, *, epochs=100, batch_size=64, validation_split=0.2, patience=10,
            random_negatives=False, shuffle=True, verbose=0):
        """Train every member on the background `x`, all at once; returns self.

        The same training as `OneOffNetwork.fit` for each member: targets 1 (and 0 on
        the member's own random negatives, drawn with its seed), the last
        `validation_split` of its events held out, early stopping after `patience`
        epochs without a better validation loss with the best weights restored (None:
        train all `epochs`), then the readjusted mean `mu`.

        `self.histories[i]` holds member i's `{"val_loss": [...], "best_epoch": e}`
        afterwards (empty without validation or patience).
        """
        background = _features(x, self.input_dim)
        if not self.built:
            self.build((None, background.shape[1]))
        keras.utils.set_random_seed(self.seed)
        outputs = self.outputs_per_event
        if random_negatives:
            sets = [_training_set(background, outputs, True, self.member_seed(i))
                    for i in range(self.n)]
            inputs = np.stack([inputs for inputs, _ in sets], axis=1)
            targets = np.stack([targets for _, targets in sets], axis=1)
        else:  # one input for every member
            inputs = background
            targets = np.ones((len(background), self.n, outputs), "float32")
        n_val = int(len(inputs) * validation_split) if patience is not None else 0
        n_fit = len(inputs) - n_val
        stacked = _StackedOneOffs(self.members, self.activation, name="stacked_oneoffs")
        loss = oneoff_loss(self.loss_name)
        stacked.compile(optimizer=keras.optimizers.Adam(self.learning_rate),
                        loss=_summed_member_losses(loss, self.n))
        # No TerminateOnNaN: a member that diverges never improves its validation loss,
        # so it stops with its best weights while the others train on.
        callbacks = []
        if n_val:
            stopping = _MemberEarlyStopping(loss, self.n, inputs[n_fit:], targets[n_fit:],
                                            patience)
            callbacks.append(stopping)
        stacked.fit(inputs[:n_fit], targets[:n_fit], epochs=epochs, batch_size=batch_size,
                    shuffle=shuffle, callbacks=callbacks, verbose=verbose)
        final = stacked.kernel_arrays()
        kernels = [stopping.best_kernels[i] if n_val else [kernel[i] for kernel in final]
                   for i in range(self.n)]
        diverged = [i for i in range(self.n) if not all(np.isfinite(k).all() for k in kernels[i])]
        if diverged:
            raise FloatingPointError(
                f"oneoff members {diverged} of {self.n} have non-finite weights after training; "
                "lower learning_rate, or train with validation_split > 0 and a patience so "
                "that each member keeps its best finite weights."
            )
        for member, member_kernels in zip(self.members, kernels):
            for variable, value in zip(member.head.kernels, member_kernels):
                variable.assign(value)
            member.readjust(background)
        self.histories = [
            {"val_loss": stopping.val_losses[i], "best_epoch": int(stopping.best_epoch[i])}
            if n_val else {} for i in range(self.n)
        ]
        return self

    def member_scores(self, x, batch_size=1024):
        """Each member's readjusted-mean score `|mean_m(y_i) - mu_i|`, `(events, n)`."""
        x = _features(x, self.input_dim)
        return self.predict(x, batch_size=batch_size, verbose=0)

    def score(self, x, batch_size=1024):
        """Ensemble anomaly score per event (sum of the member scores, c = 1), `(events,)`."""
        return self.member_scores(x, batch_size).sum(axis=-1)

    @classmethod
    def load(cls, path):
        """Load an ensemble written by `save` (`keras.saving.load_model`, safe mode)."""
        model = keras.saving.load_model(path, safe_mode=True)
        if not isinstance(model, cls):
            raise TypeError(f"{path} holds a {type(model).__name__}, not a {cls.__name__}.")
        return model

    def get_config(self):
        return {
            **super().get_config(),
            "n": self.n,
            "input_dim": self.input_dim,
            "hidden": list(self.hidden),
            "outputs": self.outputs_per_event,
            "activation": self.activation,
            "loss": self.loss_name,
            "learning_rate": self.learning_rate,
            "seed": self.seed,
        }
