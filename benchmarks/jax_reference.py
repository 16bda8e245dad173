"""A hand-written JAX version of grapa's jets16 autoencoder: the speed to aim for.

The same model as `grapa.models.build_graph_autoencoder("jets16")`, written directly in
`jax.numpy` with no framework: raw `(E, px, py, pz)` -> `(flag, d_eta, d_phi, lpt)`
about the jet axis -> sorted by lpt (padding last) -> batch norm over the real nodes ->
fully connected graph -> 3 mean-aggregation graph updates -> sort-and-merge compression
16 -> 4 -> (graph, 3 updates) -> 4 -> 1 node of 36 features -> Kronecker-product
decompression 1 -> 4 -> 16 with 3 updates after each -> first 4 features, sorted by lpt
-> mean squared error against the sorted input features. Adam (Kingma & Ba 2015) with
the thesis's learning rate 0.003. One jitted step per batch, the batches cut from a
device-resident shuffled array, as a minimal training loop would.

It is a benchmark yardstick, not part of grapa: `bench_train.py` trains it beside grapa
on the same jets in the same run and prints the ratio.

    python benchmarks/jax_reference.py [--jets 5000] [--batch 100] [--epochs 3]
"""

from __future__ import annotations

import argparse
import time

import jax
import jax.numpy as jnp
import numpy as np

N_NODES, STAGES, UNITS, UPDATES = 16, (4, 4), (16, 36), 3
LEARNING_RATE, BETAS, EPS = 0.003, (0.9, 0.999), 1e-7
BN_MOMENTUM, BN_EPSILON = 0.99, 1e-3


def jet_features(jets):
    """`(B, n, 4)` 4-vectors -> `(flag, d_eta, d_phi, lpt)`, zero for padding."""
    real = jnp.any(jets != 0, axis=-1)
    px, py, pz = jets[..., 1], jets[..., 2], jets[..., 3]
    pt = jnp.maximum(jnp.sqrt(jnp.where(real, px * px + py * py, 1.0)), 1e-6)
    ax, ay, az = px.sum(1, keepdims=True), py.sum(1, keepdims=True), pz.sum(1, keepdims=True)
    axis_pt = jnp.maximum(jnp.sqrt(ax * ax + ay * ay), 1e-6)
    d_eta = jnp.arcsinh(pz / pt) - jnp.arcsinh(az / axis_pt)
    d_phi = jnp.arctan2(py * ax - px * ay, px * ax + py * ay)
    lpt = jnp.log(jnp.sum(jnp.where(real, pt, 0.0), 1, keepdims=True)) - jnp.log(pt)
    features = jnp.stack([jnp.ones_like(pt), d_eta, d_phi, lpt], axis=-1)
    return jnp.where(real[..., None], features, 0.0), real


def sort_nodes(x, key, real):
    """Nodes ordered by `key` ascending (stable), padding last."""
    order = jnp.argsort(jnp.where(real, key, jnp.inf), axis=1, stable=True)
    return jnp.take_along_axis(x, order[..., None], axis=1), jnp.take_along_axis(real, order, 1)


def mean_adjacency(adjacency):
    degree = adjacency.sum(-1, keepdims=True)
    return adjacency / jnp.where(degree == 0, 1.0, degree)


def updates(x, adjacency, real, kernels, last_linear=False):
    """`UPDATES` graph updates x S + (A_mean x) N, relu except a linear last one."""
    adjacency = mean_adjacency(adjacency)
    for i, (s, n) in enumerate(kernels):
        x = x @ s + (adjacency @ x) @ n
        if not (last_linear and i == len(kernels) - 1):
            x = jax.nn.relu(x)
        x = jnp.where(real[..., None], x, 0.0)
    return x


def compress(x, real, kernel, factor):
    x, real = sort_nodes(x, x[..., -1], real)
    groups = x.reshape(x.shape[0], x.shape[1] // factor, -1)
    return groups @ kernel, real.reshape(real.shape[0], -1, factor).any(-1)


def decompress(x, adjacency, kernel, graph, factor):
    batch, n, _ = x.shape
    nodes = (x @ kernel).reshape(batch, n * factor, -1)
    grown = adjacency[:, :, None, :, None] * graph[None, None, :, None, :]
    return nodes, grown.reshape(batch, n * factor, n * factor)


def init_params(key):
    glorot = jax.nn.initializers.glorot_uniform()
    keys = iter(jax.random.split(key, 64))

    def stage_kernels(width_in, width):
        return [(glorot(next(keys), (w, width)), glorot(next(keys), (w, width)))
                for w in [width_in] + [width] * (UPDATES - 1)]

    params = {"bn_scale": jnp.ones(4), "bn_offset": jnp.zeros(4), "encoder": [], "decoder": []}
    width = 4
    for factor, units in zip(STAGES, UNITS):
        params["encoder"].append({"updates": stage_kernels(width, width),
                                  "compress": glorot(next(keys), (factor * width, units))})
        width = units
    for factor in reversed(STAGES):
        params["decoder"].append({"kernel": glorot(next(keys), (width, factor * width)),
                                  "graph": jnp.ones((factor, factor)),
                                  "updates": stage_kernels(width, width)})
    return params


def loss_fn(params, moments, jets):
    target, real = jet_features(jets)
    target, real = sort_nodes(target, target[..., 3], real)
    weight = real[..., None].astype(target.dtype)
    count = jnp.maximum(weight.sum((0, 1)), 1.0)
    mean = (target * weight).sum((0, 1)) / count
    variance = (jnp.square(target - mean) * weight).sum((0, 1)) / count
    x = (target - mean) * jax.lax.rsqrt(variance + BN_EPSILON) * params["bn_scale"]
    x = jnp.where(real[..., None], x + params["bn_offset"], 0.0)
    for stage, factor in zip(params["encoder"], STAGES):
        adjacency = (real[:, :, None] & real[:, None, :]).astype(x.dtype)
        x = updates(x, adjacency, real, stage["updates"])
        x, real = compress(x, real, stage["compress"], factor)
    adjacency = jnp.ones((x.shape[0], 1, 1), x.dtype)  # the latent node's graph
    for s, (stage, factor) in enumerate(zip(params["decoder"], reversed(STAGES))):
        x, adjacency = decompress(x, adjacency, stage["kernel"], stage["graph"], factor)
        real = jnp.ones(x.shape[:2], bool)
        x = updates(x, adjacency, real, stage["updates"],
                    last_linear=s == len(STAGES) - 1)
    output = x[..., :4]
    output, _ = sort_nodes(output, output[..., 3], jnp.any(output != 0, axis=-1))
    loss = jnp.mean(jnp.square(target - output))
    new_moments = jax.tree_util.tree_map(
        lambda old, new: BN_MOMENTUM * old + (1 - BN_MOMENTUM) * new, moments, (mean, variance))
    return loss, new_moments


def make_train_step(loss=loss_fn):
    """The jitted step: loss and gradients, then an Adam update."""
    return jax.jit(lambda params, adam, moments, jets: _step(loss, params, adam, moments, jets))


def _step(loss, params, adam, moments, jets):
    (value, moments), grads = jax.value_and_grad(loss, has_aux=True)(params, moments, jets)
    step, first, second = adam
    step = step + 1
    first = jax.tree_util.tree_map(lambda m, g: BETAS[0] * m + (1 - BETAS[0]) * g, first, grads)
    second = jax.tree_util.tree_map(lambda v, g: BETAS[1] * v + (1 - BETAS[1]) * g * g,
                                    second, grads)
    rate = LEARNING_RATE * jnp.sqrt(1 - BETAS[1] ** step) / (1 - BETAS[0] ** step)
    params = jax.tree_util.tree_map(lambda p, m, v: p - rate * m / (jnp.sqrt(v) + EPS),
                                    params, first, second)
    return params, (step, first, second), moments, value


def train(jets, batch_size=100, epochs=3, seed=0, loss=loss_fn):
    """Train on `jets` `(n_jets, 16, 4)`; returns `(jets/s after epoch 1, epoch losses)`."""
    train_step = make_train_step(loss)
    key = jax.random.PRNGKey(seed)
    params = init_params(key)
    zeros = jax.tree_util.tree_map(jnp.zeros_like, params)
    adam = (jnp.zeros(()), zeros, zeros)
    moments = (jnp.zeros(4), jnp.ones(4))
    data = jnp.asarray(jets, jnp.float32)
    steps = len(jets) // batch_size
    rng = np.random.default_rng(seed)
    start, losses = None, []
    for epoch in range(epochs):
        if epoch == 1:  # the first epoch compiles
            jax.block_until_ready(params)
            start = time.perf_counter()
        shuffled = data[rng.permutation(len(jets))]
        for i in range(steps):
            params, adam, moments, value = train_step(
                params, adam, moments, shuffled[i * batch_size:(i + 1) * batch_size])
        losses.append(float(value))
    jax.block_until_ready(params)
    rate = (epochs - 1) * steps * batch_size / (time.perf_counter() - start)
    return rate, losses


def step_flops(batch_size=100):
    """Floating-point operations of one training step, by XLA's cost analysis."""
    params = init_params(jax.random.PRNGKey(0))
    zeros = jax.tree_util.tree_map(jnp.zeros_like, params)
    jets = jnp.ones((batch_size, N_NODES, 4), jnp.float32)
    compiled = make_train_step().lower(params, (jnp.zeros(()), zeros, zeros),
                                       (jnp.zeros(4), jnp.ones(4)), jets).compile()
    cost = compiled.cost_analysis()
    return (cost[0] if isinstance(cost, list) else cost)["flops"]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jets", type=int, default=5000)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--epochs", type=int, default=3)
    args = parser.parse_args()
    from grapa.data import read_jets, sample_path

    jets, labels = read_jets(sample_path(), n_constituents=N_NODES)
    jets = np.resize(jets[labels == 0], (args.jets, N_NODES, 4))
    rate, losses = train(jets, args.batch, args.epochs)
    flops = step_flops(args.batch)
    print(f"jax_reference: batch={args.batch} train_jets_per_s={rate:.0f} "
          f"step_GFLOP={flops / 1e9:.3f} GFLOP_per_s={flops * rate / args.batch / 1e9:.0f} "
          f"losses={' '.join(f'{v:.4f}' for v in losses)}")


if __name__ == "__main__":
    main()
