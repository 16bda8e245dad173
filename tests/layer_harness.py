"""One test helper every grapa layer goes through (after Keras's `run_layer_test`).

`run_layer_test` checks, for one layer configuration and one input:
- `get_config` round trip (and the constructor arguments appear in the config);
- eager and symbolic calls agree in shape, and with `compute_output_shape`;
- a functional model saves to `.keras`, loads under `safe_mode=True`, predicts the same;
- `jit_compile=True` gives the same outputs and trains one step with finite loss;
- graph layers: node-permutation equivariance (or invariance), padding invariance
  (appending zero nodes leaves the real nodes' outputs unchanged and the new ones zero),
  and finite gradients for every weight, non-zero unless the test says otherwise.

Inputs are described by "kinds": `"nodes"` tensors `(batch, n, F)` permute and pad along
axis 1, `"adjacency"` tensors `(batch, n, n)` along axes 1 and 2, `"global"` tensors
`(batch, G)` (one vector per graph, as EPiC's) not at all. Edge lists (grapa.layers.sparse):
`"edges"` `(batch, E, 2)` integer node indices are relabelled when nodes move and padded
with `-1` rows, `"edge_features"` `(batch, E, F)` keep their order and pad with zero rows
(their outputs must stay zero there). An output of kind `"pooled"`
(GlobalPooling, SoftPooling) or `"global"` has no node axis of the input left. A layer that turns
each node into `c` nodes (Decompress) has `expansion=c`; `Compress` has
`permutation="invariant"` and pads in whole groups.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

ATOL = 1e-5


def _as_list(x):
    return list(x) if isinstance(x, (list, tuple)) else [x]


def _numpy(x):
    return [np.asarray(ops.convert_to_numpy(t)) for t in _as_list(x)]


def _call(layer, inputs):
    return _numpy(layer(inputs if len(inputs) > 1 else inputs[0]))


NODELESS = ("pooled", "global")  # kinds without the input's node axis
EDGE_KINDS = ("edges", "edge_features")  # one row per edge, not per node
EDGE_PADDING = 2  # padding edges appended by the padding check


def _n_nodes(inputs, kinds):
    return next(t.shape[1] for t, kind in zip(inputs, kinds)
                if kind not in NODELESS + EDGE_KINDS)


def _relabel(edges, new_index):
    """Edge list with node i renamed new_index[i]; padding (-1) stays -1."""
    return np.where(edges >= 0, np.asarray(new_index)[np.maximum(edges, 0)], -1).astype(edges.dtype)


def _permute(tensors, kinds, order):
    out = []
    for t, kind in zip(tensors, kinds):
        if kind in NODELESS or kind == "edge_features":
            out.append(t)
            continue
        if kind == "edges":  # the node that was at order[k] is now at k
            out.append(_relabel(t, np.argsort(order)))
            continue
        t = t[:, order]
        if kind == "adjacency":
            t = t[:, :, order]
        out.append(t)
    return out


def _pad(tensors, kinds, extra):
    out = []
    for t, kind in zip(tensors, kinds):
        if kind in NODELESS:
            out.append(t)
            continue
        widths = [(0, 0)] * t.ndim
        if kind in EDGE_KINDS:
            widths[1] = (0, EDGE_PADDING)
            out.append(np.pad(t, widths, constant_values=-1 if kind == "edges" else 0))
            continue
        widths[1] = (0, extra)
        if kind == "adjacency":
            widths[2] = (0, extra)
        out.append(np.pad(t, widths))
    return out


def _expanded_order(order, expansion):
    """Output node order when input node i becomes output nodes i*c ... i*c + c - 1."""
    return (np.asarray(order)[:, None] * expansion + np.arange(expansion)).reshape(-1)


def _check_config(layer_cls, init_kwargs):
    layer = layer_cls(**init_kwargs)
    config = layer.get_config()
    missing = [k for k in init_kwargs if k not in config]
    assert not missing, f"{layer_cls.__name__}.get_config() lacks {missing}"
    clone = layer_cls.from_config(config)
    assert clone.get_config() == config
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(layer))
    assert type(restored) is layer_cls and restored.get_config() == config


def _symbolic_model(layer, inputs):
    symbolic = [keras.Input(shape=t.shape[1:], batch_size=None, dtype=t.dtype) for t in inputs]
    outputs = layer(symbolic if len(symbolic) > 1 else symbolic[0])
    return keras.Model(symbolic, outputs), _as_list(outputs)


def _predict(model, inputs):
    return _numpy(model.predict(inputs if len(inputs) > 1 else inputs[0], verbose=0))


def _assert_all_close(actual, expected, what, atol=ATOL):
    assert len(actual) == len(expected), what
    for a, e in zip(actual, expected):
        assert a.shape == e.shape, f"{what}: shape {a.shape} != {e.shape}"
        np.testing.assert_allclose(a, e, atol=atol, rtol=1e-5, err_msg=what)


def _check_calls_and_saving(layer_cls, init_kwargs, inputs, tmp_path):
    layer = layer_cls(**init_kwargs)
    eager = _call(layer, inputs)
    for out in eager:
        assert np.all(np.isfinite(out)), f"{layer_cls.__name__} produced non-finite values"
    model, symbolic = _symbolic_model(layer_cls(**init_kwargs), inputs)
    for sym, out in zip(symbolic, eager):
        assert tuple(sym.shape[1:]) == out.shape[1:], (sym.shape, out.shape)
    shapes = [tuple(t.shape) for t in inputs]
    declared = layer.compute_output_shape(shapes if len(shapes) > 1 else shapes[0])
    declared = declared if isinstance(declared[0], (list, tuple)) else [declared]
    for shape, out in zip(declared, eager):
        assert tuple(shape) == out.shape, f"compute_output_shape {shape} != {out.shape}"

    predictions = _predict(model, inputs)
    path = tmp_path / f"{layer_cls.__name__}.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    _assert_all_close(_predict(loaded, inputs), predictions, "saved and loaded model", atol=1e-6)
    return model, predictions


def _check_jit_and_training(model, inputs, predictions, train=True):
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="mse", jit_compile=True)
    _assert_all_close(_predict(model, inputs), predictions, "jit_compile=True predictions")
    if not train:
        return False
    before = [np.array(w) for w in model.trainable_weights]
    rng = np.random.default_rng(1)
    targets = [rng.normal(size=p.shape).astype("float32") for p in predictions]
    logs = model.train_on_batch(
        inputs if len(inputs) > 1 else inputs[0],
        targets if len(targets) > 1 else targets[0],
        return_dict=True,
    )
    assert np.isfinite(logs["loss"]), logs
    after = [np.array(w) for w in model.trainable_weights]
    for w1 in after:
        assert np.all(np.isfinite(w1)), "a weight became non-finite after one training step"
    return any(not np.array_equal(w0, w1) for w0, w1 in zip(before, after))


def weight_gradients(layer, inputs, seed=0):
    """d/dw of a random projection of the layer's outputs, for every trainable weight."""
    call_inputs = inputs if len(inputs) > 1 else inputs[0]
    outputs = _call(layer, inputs)  # builds the layer
    rng = np.random.default_rng(seed)
    projections = [rng.normal(size=o.shape).astype("float32") for o in outputs]

    def projected(outs):
        return sum(ops.sum(o * p) for o, p in zip(_as_list(outs), projections))

    backend = keras.backend.backend()
    variables = layer.trainable_variables
    if backend == "tensorflow":
        import tensorflow as tf

        with tf.GradientTape() as tape:
            loss = projected(layer(call_inputs))
        grads = tape.gradient(loss, variables)
    elif backend == "jax":
        import jax

        fixed = [v.value for v in layer.non_trainable_variables]

        def loss_fn(trainable):
            outs, _ = layer.stateless_call(trainable, fixed, call_inputs)
            return projected(outs)

        grads = jax.grad(loss_fn)([v.value for v in variables])
    elif backend == "torch":
        loss = projected(layer(call_inputs))
        loss.backward()
        grads = [v.value.grad for v in variables]
    else:  # pragma: no cover
        raise NotImplementedError(backend)
    # TensorFlow says None where no gradient flows (e.g. through stop_gradient): that is 0.
    return {
        v.path.split("/")[-1]: np.zeros(v.shape, "float32") if g is None
        else np.asarray(ops.convert_to_numpy(g))
        for v, g in zip(variables, grads)
    }


def _check_gradients(layer_cls, init_kwargs, inputs, zero_gradient_weights):
    layer = layer_cls(**init_kwargs)
    gradients = weight_gradients(layer, inputs)
    assert gradients or not layer.trainable_weights
    for name, grad in gradients.items():
        assert np.all(np.isfinite(grad)), f"{layer_cls.__name__}.{name}: non-finite gradient"
        if name in zero_gradient_weights:
            continue
        assert np.any(grad != 0), f"{layer_cls.__name__}.{name}: gradient is all zero"


def _check_permutation(layer, inputs, kinds, output_kinds, permutation, expansion, seed):
    outputs = _call(layer, inputs)
    n = _n_nodes(inputs, kinds)
    order = np.random.default_rng(seed).permutation(n)
    permuted = _call(layer, _permute(inputs, kinds, order))
    if permutation == "invariant":
        expected = outputs
    else:
        expected = _permute(outputs, output_kinds, _expanded_order(order, expansion))
    _assert_all_close(permuted, expected, f"node permutation {permutation}")


def _check_padding(layer, inputs, kinds, output_kinds, padding_nodes):
    outputs = _call(layer, inputs)
    padded = _call(layer, _pad(inputs, kinds, padding_nodes))
    _assert_leading_outputs(outputs, padded, output_kinds)


def _assert_leading_outputs(outputs, padded, output_kinds):
    """The real outputs lead the padded ones' node axis; what follows is exactly zero."""
    for out, pad, kind in zip(outputs, padded, output_kinds):
        assert np.all(np.isfinite(pad)), "padding produced non-finite values"
        if kind in NODELESS:  # no node axis of the input left: nothing may move
            np.testing.assert_allclose(pad, out, atol=ATOL, err_msg="padding changed the pooled output")
            continue
        n = out.shape[1]
        real = pad[:, :n] if kind in ("nodes", "edge_features") else pad[:, :n, :n]
        np.testing.assert_allclose(real, out, atol=ATOL, err_msg="padding changed real outputs")
        extra = pad.copy()
        if kind in ("nodes", "edge_features"):
            extra = extra[:, n:]
        else:
            extra[:, :n, :n] = 0
        assert np.all(extra == 0), "padding nodes did not stay zero / got edges"


def _insert_padding(tensors, kinds, positions, total):
    """Place the real nodes at `positions` of `total` nodes; the others are padding."""
    out = []
    for t, kind in zip(tensors, kinds):
        if kind in NODELESS or kind == "edge_features":
            out.append(t)
            continue
        if kind == "edges":
            out.append(_relabel(t, positions))
            continue
        shape = list(t.shape)
        shape[1] = total
        if kind == "adjacency":
            shape[2] = total
        padded = np.zeros(shape, t.dtype)
        if kind == "adjacency":
            padded[:, positions[:, None], positions[None, :]] = t
        else:
            padded[:, positions] = t
        out.append(padded)
    return out


def _check_padding_inside(layer, inputs, kinds, output_kinds, permutation, expansion,
                          padding_nodes, seed=5):
    """Padding nodes anywhere in the node axis, not only at the end, change nothing."""
    outputs = _call(layer, inputs)
    n = _n_nodes(inputs, kinds)
    total = n + padding_nodes
    positions = np.sort(np.random.default_rng(seed).choice(total, n, replace=False))
    padded = _call(layer, _insert_padding(inputs, kinds, positions, total))
    if permutation == "invariant":  # sorted or pooled outputs: real ones lead
        _assert_leading_outputs(outputs, padded, output_kinds)
        return
    out_positions = _expanded_order(positions, expansion)
    for out, pad, kind in zip(outputs, padded, output_kinds):
        assert np.all(np.isfinite(pad)), "padding produced non-finite values"
        if kind in NODELESS + ("edge_features",):
            np.testing.assert_allclose(pad, out, atol=ATOL,
                                       err_msg="padding inside the node axis moved a "
                                               f"{kind} output")
            continue
        mask = np.zeros(pad.shape[1], bool)
        mask[out_positions] = True
        if kind == "adjacency":
            real = pad[:, out_positions[:, None], out_positions[None, :]]
            rest = pad.copy()
            rest[:, out_positions[:, None], out_positions[None, :]] = 0
        else:
            real, rest = pad[:, out_positions], pad[:, ~mask]
        np.testing.assert_allclose(real, out, atol=ATOL,
                                   err_msg="padding inside the node axis changed real outputs")
        assert np.all(rest == 0), "padding inside the node axis did not stay exactly zero"


def reachable(adjacency, hops):
    """`(batch, n, n)` bool: j is within `hops` edges of i (i <- j), i itself included."""
    n = adjacency.shape[-1]
    step = (adjacency != 0) | np.eye(n, dtype=bool)
    reach = np.broadcast_to(np.eye(n, dtype=bool), adjacency.shape)
    for _ in range(hops):
        reach = (reach.astype(int) @ step.astype(int)) > 0
    return reach


def check_locality(layer, x, adjacency, hops, seed=6):
    """A node's output depends only on the nodes within `hops` edges of it in `adjacency`.

    For every node i, the features of all real nodes out of its reach are replaced by
    random non-zero ones; node i's output row must not move.
    """
    outputs = _call(layer, [x, adjacency])[0]
    reach = reachable(adjacency, hops)
    real = np.any(x != 0, axis=-1) | np.any(adjacency != 0, axis=-1)
    rng = np.random.default_rng(seed)
    moved = 0
    for i in range(x.shape[1]):
        far = real & ~reach[:, i]
        if not far.any():
            continue
        changed = np.where(far[..., None], rng.normal(size=x.shape) + 3.0, x).astype(x.dtype)
        out = _call(layer, [changed, adjacency])[0]
        np.testing.assert_allclose(out[:, i], outputs[:, i], atol=ATOL,
                                   err_msg=f"node {i} saw a node beyond {hops} hops")
        moved += int(far.sum())
    assert moved, "the locality check found no node out of reach: use a sparser graph"


def run_layer_test(
    layer_cls,
    init_kwargs,
    inputs,
    tmp_path,
    *,
    input_kinds=("nodes",),
    output_kinds=("nodes",),
    permutation="equivariant",
    expansion=1,
    padding_nodes=3,
    padding_anywhere=True,
    zero_gradient_weights=(),
    expect_training_changes_weights=True,
):
    """Run every generic check on `layer_cls(**init_kwargs)` applied to `inputs`.

    Args:
        layer_cls: the layer class.
        init_kwargs: constructor arguments.
        inputs: one numpy array or a list of them (float32, batch first).
        tmp_path: a directory for the `.keras` file.
        input_kinds: `"nodes"`, `"adjacency"`, `"global"`, `"edges"` or
            `"edge_features"` for each input.
        output_kinds: the same for each output.
        permutation: `"equivariant"`, `"invariant"` or None (not a graph layer).
        expansion: output nodes per input node.
        padding_nodes: how many zero nodes to append in the padding check, or None.
        padding_anywhere: also insert them at random places inside the node axis.
        zero_gradient_weights: weight names allowed an all-zero gradient.
        expect_training_changes_weights: whether one Adam step must move some weight.
    """
    inputs = [np.asarray(t, dtype="int32" if kind == "edges" else "float32")
              for t, kind in zip(_as_list(inputs), input_kinds)]
    _check_config(layer_cls, init_kwargs)
    model, predictions = _check_calls_and_saving(layer_cls, init_kwargs, inputs, tmp_path)
    # A model whose only weights get no gradient (binary TopKGraph's metric) cannot step.
    trainable = {w.path.split("/")[-1] for w in model.trainable_weights}
    changed = _check_jit_and_training(
        model, inputs, predictions, train=bool(trainable - set(zero_gradient_weights))
    )
    if model.trainable_weights and expect_training_changes_weights:
        assert changed, "one training step changed no weight"
    _check_gradients(layer_cls, init_kwargs, inputs, zero_gradient_weights)
    layer = layer_cls(**init_kwargs)
    if permutation is not None:
        _check_permutation(layer, inputs, input_kinds, output_kinds, permutation, expansion, seed=3)
    if padding_nodes:
        _check_padding(layer, inputs, input_kinds, output_kinds, padding_nodes)
    if padding_nodes and padding_anywhere:
        _check_padding_inside(layer, inputs, input_kinds, output_kinds, permutation, expansion,
                              padding_nodes)
