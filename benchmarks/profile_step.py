"""Where one training step of an autoencoder preset spends its time.

For each layer of the encoder and the decoder: microseconds for its forward pass and
gradient on one batch of the values it sees in the model, compiled by XLA alone (JAX
`jit`, or TensorFlow `tf.function(jit_compile=True)`). Then the whole step three ways:
the model's loss and gradient compiled alone, Keras's `fit` with one step per call,
and with grapa's default steps per execution; the differences are Keras's per-step
work and the optimizer update. One line per layer, then one summary line.

    KERAS_BACKEND=jax python benchmarks/profile_step.py jets16 [--batch 100]
    KERAS_BACKEND=tensorflow python benchmarks/profile_step.py jets16
"""

import argparse
import os
import time

os.environ.setdefault("KERAS_BACKEND", "jax")

import keras  # noqa: E402
import numpy as np  # noqa: E402

from grapa.data import read_jets, sample_path  # noqa: E402
from grapa.models import PRESETS, build_graph_autoencoder  # noqa: E402
from grapa.models.autoencoder import STEPS_PER_EXECUTION  # noqa: E402


def compile_gradient(function, n_args):
    """`function(*args)` -> a scalar, as a compiled function returning its gradients."""
    if keras.backend.backend() == "jax":
        import jax

        return jax.jit(jax.grad(function, argnums=tuple(range(n_args))))
    import tensorflow as tf

    @tf.function(jit_compile=True)
    def gradient(*args):
        with tf.GradientTape() as tape:
            tape.watch(args)
            value = function(*args)
        return tape.gradient(value, args)

    return gradient


def microseconds(function, *args, repeats=200):
    """Best of three timings of `repeats` calls, in us a call."""
    keras.tree.map_structure(np.asarray, function(*args))
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        for _ in range(repeats):
            out = function(*args)
        keras.tree.map_structure(np.asarray, out)
        best = min(best, (time.perf_counter() - start) / repeats * 1e6)
    return best


def layer_inputs(model, feed):
    """Each layer of a functional `model` with the values it is called on for `feed`."""
    probe = keras.Model(model.inputs, {layer.name: layer.output for layer in model.layers[1:]})
    values = {**probe(feed, training=True), model.layers[0].name: feed}
    for layer in model.layers[1:]:
        arguments = keras.tree.flatten(layer._inbound_nodes[0].arguments.args)
        inputs = []
        for tensor in arguments:
            history = tensor._keras_history
            value = values[history.operation.name]
            inputs.append(value[history.tensor_index] if isinstance(value, (list, tuple)) else value)
        yield layer, inputs[0] if len(inputs) == 1 else inputs


def layer_microseconds(layer, inputs):
    kwargs = {"training": True} if "training" in layer._call_signature.parameters else {}
    trainable = [v.value for v in layer.trainable_variables]
    fixed = [v.value for v in layer.non_trainable_variables]

    def loss(trainable, inputs):
        outputs, _ = layer.stateless_call(trainable, fixed, inputs, **kwargs)
        return sum(keras.ops.sum(keras.ops.sin(t)) for t in keras.tree.flatten(outputs))

    inputs = keras.tree.map_structure(lambda t: keras.ops.cast(t, "float32"), inputs)
    return microseconds(compile_gradient(loss, 2), trainable, inputs)


def model_gradient_microseconds(model, jets):
    trainable = [v.value for v in model.trainable_variables]
    fixed = [v.value for v in model.non_trainable_variables]

    def loss(trainable, jets):
        output, _ = model.stateless_call(trainable, fixed, jets, training=True)
        return keras.ops.mean(model._loss_function(model.preprocessing(jets), output))

    return microseconds(compile_gradient(loss, 2), trainable, jets, repeats=100)


def fit_microseconds(preset, jets, batch, steps_per_execution):
    keras.utils.set_random_seed(0)
    model = build_graph_autoencoder(preset)
    model.compile(optimizer=keras.optimizers.Adam(0.003), steps_per_execution=steps_per_execution,
                  jit_compile=True)  # as fit_recipe: XLA on TensorFlow's CPU too
    model.fit(jets, batch_size=batch, epochs=1, verbose=0)
    start = time.perf_counter()
    model.fit(jets, batch_size=batch, epochs=2, verbose=0)
    return (time.perf_counter() - start) / (2 * len(jets) / batch) * 1e6


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("preset", choices=sorted(PRESETS))
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--jets", type=int, default=5000)
    args = parser.parse_args()
    n = PRESETS[args.preset]["n_nodes"]
    jets, labels = read_jets(sample_path(), n_constituents=n)
    jets = np.resize(jets[labels == 0], (args.jets, n, 4)).astype("float32")
    batch = keras.ops.convert_to_tensor(jets[:args.batch])
    keras.utils.set_random_seed(0)
    model = build_graph_autoencoder(args.preset)
    total = 0.0
    for part, feed in (("encoder", batch), ("decoder", model.encoder(batch))):
        for layer, inputs in layer_inputs(getattr(model, part), feed):
            cost = layer_microseconds(layer, inputs)
            total += cost
            print(f"profile_step: {part} {layer.name} ({type(layer).__name__}) {cost:.0f} us")
    gradient = model_gradient_microseconds(model, batch)
    one = fit_microseconds(args.preset, jets, args.batch, 1)
    default = fit_microseconds(args.preset, jets, args.batch, STEPS_PER_EXECUTION)
    print(f"profile_step: backend={keras.backend.backend()} preset={args.preset} "
          f"batch={args.batch} layers_alone_us={total:.0f} model_gradient_us={gradient:.0f} "
          f"fit_step_us={one:.0f} (steps_per_execution=1) {default:.0f} "
          f"(steps_per_execution={STEPS_PER_EXECUTION}) keras_and_optimizer_share="
          f"{1 - gradient / one:.0%}")


if __name__ == "__main__":
    main()
