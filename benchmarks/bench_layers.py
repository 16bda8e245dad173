"""Forward + backward throughput of grapa's layers, and of k3-node's GCNConv beside grapa's.

Every figure is jets/s of `model.fit` (adam, mse, `jit_compile=True`) at batch 100 in
steady state, after a warm-up that compiles; the machine may be shared and noisy, so
compare figures of one run. One line per figure:

1. A 3-layer GraphUpdate stack at 4, 16 and 64 nodes (graph built in the model by
   `TopKGraph(k=4)`), and the fitted growth exponent of the cost per jet in the node
   count. The original library built the n^2 F^2 Kronecker operator; grapa's
   GraphUpdate costs O(n^2 F + n F^2), so the exponent must stay at or below 2.
2. One line per layer at 30 and 100 nodes: GCNConv(32), ChebConv(32, order=3),
   EdgeConv((32, 32, 32), k=7) on the (d_eta, d_phi) columns, GraphAttention(16,
   heads=4), SoftPooling(nodes=4) and GlobalPooling("mean") (behind a bias-free Dense, so
   the model has weights). Jets have 50-100% real nodes, zero padding last. The graph
   layers get a `TopKGraph(k=8)` adjacency on (d_eta, d_phi), computed once outside the
   model: building it inside would cost more than most layers and hide their own cost.
   Each figure is the best of `--repeats` timed fits of about `--seconds`. Then
   EdgeConv's cost exponent from 30 to 100 nodes (between 1 and 2: n^2 distances, n k
   messages).
3. grapa's GCNConv against k3-node's on the same graphs: k3-node gets them as edge lists
   `(2, E)` of the batch flattened into one disjoint graph (PyTorch Geometric's
   batching), the self-loops left out because k3-node adds one to every node even where
   one exists (grapa keeps an existing one). With the same weights in both, prints the
   largest output difference on real nodes (and the one k3-node gives if the
   adjacency's own self-loops are kept in its edge list), both throughputs and
   `ratio = grapa / k3-node` (the two models' fits take turns, best of `--repeats`;
   each model gets its graph as an input). Skipped, with one line saying so, if k3-node
   is not installed.

    python benchmarks/bench_layers.py [--quick] [--layers GCNConv EdgeConv ...]
        [--nodes 4 16 64] [--layer-nodes 30 100] [--jets 20000] [--layer-jets 2000]

`--layers` picks among GraphUpdate, the layer names above and k3node (default all);
`--nodes` are the GraphUpdate stack's node counts, `--layer-nodes` everyone else's.
Uses KERAS_BACKEND if set, else JAX (grapa's default for scripts).
"""

import argparse
import math
import os
import time

os.environ.setdefault("KERAS_BACKEND", "jax")

import keras  # noqa: E402
import numpy as np  # noqa: E402
from keras import ops  # noqa: E402

from grapa.layers import (  # noqa: E402
    ChebConv,
    EdgeConv,
    GCNConv,
    GlobalPooling,
    GraphAttention,
    GraphUpdate,
    SoftPooling,
    TopKGraph,
)

GRAPH_NEIGHBOURS = 8  # TopKGraph's k for the layers that take an adjacency (self included)
GCN_UNITS = 32

# name: (label, uses the adjacency, x, adjacency -> model output)
LAYERS = {
    "GCNConv": ("GCNConv(32)", True, lambda x, a: GCNConv(GCN_UNITS)([x, a])),
    "ChebConv": ("ChebConv(32,order=3)", True, lambda x, a: ChebConv(32, order=3)([x, a])),
    "EdgeConv": (
        "EdgeConv((32,32,32),k=7)", False,
        lambda x, a: EdgeConv((32, 32, 32), k=7)([x[..., :2], x]),
    ),
    "GraphAttention": (
        "GraphAttention(16,heads=4)", True, lambda x, a: GraphAttention(16, heads=4)([x, a])
    ),
    "SoftPooling": ("SoftPooling(nodes=4)", True, lambda x, a: SoftPooling(nodes=4)([x, a])),
    "GlobalPooling": (
        "Dense+GlobalPooling(mean)", False,
        lambda x, a: GlobalPooling("mean")([keras.layers.Dense(x.shape[-1], use_bias=False)(x), x]),
    ),
}
SECTIONS = ("GraphUpdate", *LAYERS, "k3node")


def train_jets_per_second(model, inputs, targets, batch, epochs=2):
    """Jets/s of `epochs` epochs of `model.fit`, after a warm-up epoch that compiles."""
    model.compile(optimizer="adam", loss="mse", jit_compile=True)
    model.fit(inputs, targets, batch_size=batch, epochs=1, verbose=0)  # compile + warm up
    start = time.perf_counter()
    model.fit(inputs, targets, batch_size=batch, epochs=epochs, verbose=0)
    return epochs * len(first(inputs)) / (time.perf_counter() - start)


def first(inputs):
    return inputs[0] if isinstance(inputs, list) else inputs


def jets(inputs, count):
    """The first `count` jets of every input (or target) array."""
    return [a[:count] for a in inputs] if isinstance(inputs, list) else inputs[:count]


def best_jets_per_second(runs, batch, min_seconds, repeats):
    """Best jets/s of each `(model, inputs, targets)` in `runs` over `repeats` timed fits.

    Each model compiles on two batches, then times two batches to size a fit that lasts
    about `min_seconds` (at least two batches; epochs over the data when it needs more).
    The models' fits take turns, so a burst of load on the shared machine slows one
    round of all of them rather than one model; the best round is the least disturbed.
    """
    plans = []
    for model, inputs, targets in runs:
        model.compile(optimizer="adam", loss="mse", jit_compile=True)
        model.fit(jets(inputs, 2 * batch), jets(targets, 2 * batch), batch_size=batch, verbose=0)
        start = time.perf_counter()
        model.fit(jets(inputs, 2 * batch), jets(targets, 2 * batch), batch_size=batch, verbose=0)
        seconds_per_jet = (time.perf_counter() - start) / (2 * batch)
        wanted = max(2, math.ceil(min_seconds / seconds_per_jet / batch)) * batch
        available = len(first(inputs)) // batch * batch
        if wanted <= available:
            count, epochs = wanted, 1
        else:
            count, epochs = available, math.ceil(wanted / available)
        plans.append((model, jets(inputs, count), jets(targets, count), epochs, count))
    best = [0.0] * len(plans)
    for _ in range(repeats):
        for index, (model, inputs, targets, epochs, count) in enumerate(plans):
            start = time.perf_counter()
            model.fit(inputs, targets, batch_size=batch, epochs=epochs, verbose=0)
            best[index] = max(best[index], epochs * count / (time.perf_counter() - start))
    return best


def growth_exponent(rates):
    """`(small, large, p)`: cost per jet ~ n^p between the smallest and largest node count
    of `rates` {nodes: jets/s}."""
    small, large = min(rates), max(rates)
    return small, large, math.log(rates[small] / rates[large]) / math.log(large / small)


def random_targets(model, n_jets, rng):
    shapes = model.output_shape if isinstance(model.output_shape, list) else [model.output_shape]
    targets = [rng.normal(size=(n_jets, *shape[1:])).astype("float32") for shape in shapes]
    return targets if len(targets) > 1 else targets[0]


# --- 1. GraphUpdate stack -------------------------------------------------------------


def stack(n, features):
    x_in = keras.Input(shape=(n, features))
    adjacency = TopKGraph(k=min(4, n))(x_in)
    x = x_in
    for _ in range(3):
        x = GraphUpdate(features, activation="relu")([x, adjacency])
    return keras.Model(x_in, x)


def bench_stack(args):
    rates = {}
    for n in args.nodes:
        x = np.random.default_rng(0).normal(size=(args.jets, n, args.features)).astype("float32")
        rates[n] = train_jets_per_second(stack(n, args.features), x, x, args.batch, epochs=2)
        print(
            f"bench_layers: backend={keras.backend.backend()} nodes={n} features={args.features} "
            f"batch={args.batch} train_jets_per_s={rates[n]:.0f} us_per_jet={1e6 / rates[n]:.1f}",
            flush=True,
        )
    if len(rates) > 1:
        small, large, exponent = growth_exponent(rates)
        print(
            f"bench_layers: cost_growth_exponent_{small}_to_{large}_nodes={exponent:.2f} "
            "(must be <= 2)"
        )


# --- 2. one line per layer ------------------------------------------------------------


def padded_jets(n_jets, n, features, rng):
    """Random jets `(n_jets, n, features)`: columns 0, 1 are (d_eta, d_phi)-like (spread
    0.4), each jet has between n/2 and n real nodes, the rest is zero padding."""
    x = rng.normal(size=(n_jets, n, features)).astype("float32")
    x[..., :2] *= 0.4
    multiplicity = rng.integers(n // 2, n + 1, size=n_jets)
    x[np.arange(n) >= multiplicity[:, None]] = 0.0
    return x


def topk_adjacency(x, k=GRAPH_NEIGHBOURS, chunk=500):
    """TopKGraph(k)'s binary adjacency on (d_eta, d_phi), self-loops included."""
    graph = TopKGraph(k=k)
    return np.concatenate([
        ops.convert_to_numpy(graph(x[start:start + chunk, :, :2]))
        for start in range(0, len(x), chunk)
    ])


def layer_model(name, n, features):
    _, uses_graph, build = LAYERS[name]
    x = keras.Input(shape=(n, features))
    adjacency = keras.Input(shape=(n, n))
    inputs = [x, adjacency] if uses_graph else x
    return keras.Model(inputs, build(x, adjacency))


def bench_layers(names, graphs, args):
    rng = np.random.default_rng(1)
    rates = {}
    for name in names:
        label, uses_graph, _ = LAYERS[name]
        for n, (x, adjacency) in graphs.items():
            model = layer_model(name, n, args.features)
            inputs = [x, adjacency] if uses_graph else x
            [rate] = best_jets_per_second(
                [(model, inputs, random_targets(model, len(x), rng))],
                args.batch, args.seconds, args.repeats,
            )
            rates[name, n] = rate
            graph = f"topk{GRAPH_NEIGHBOURS}_input" if uses_graph else "none"
            print(
                f"bench_layers: layer={label} nodes={n} features={args.features} "
                f"batch={args.batch} graph={graph} train_jets_per_s={rate:.0f} "
                f"us_per_jet={1e6 / rate:.1f}",
                flush=True,
            )
    edge_conv = {n: rate for (layer, n), rate in rates.items() if layer == "EdgeConv"}
    if len(edge_conv) > 1:
        small, large, exponent = growth_exponent(edge_conv)
        print(
            f"bench_layers: EdgeConv cost_growth_exponent_{small}_to_{large}_nodes={exponent:.2f} "
            "(expected between 1 and 2: n^2 distances + n k messages)",
            flush=True,
        )


# --- 3. grapa's GCNConv against k3-node's ----------------------------------------------


def edge_lists(adjacency, self_loops=False):
    """Each jet's edges `(sources, targets, weights)`, each `(n_jets, E)` with local node
    indices: `adjacency[b, i, j]` is the edge j -> i. Jets with fewer edges than the
    largest are filled with weight-0 edges 0 -> 0, which change no degree and no message."""
    n = adjacency.shape[-1]
    if not self_loops:
        adjacency = adjacency * (1.0 - np.eye(n, dtype=adjacency.dtype))
    per_jet = (adjacency != 0).reshape(len(adjacency), -1)
    width = int(per_jet.sum(axis=1).max())
    sources = np.zeros((len(adjacency), width), dtype="int32")
    targets = np.zeros_like(sources)
    weights = np.zeros((len(adjacency), width), dtype=adjacency.dtype)
    for jet, edges in enumerate(per_jet):
        flat = np.flatnonzero(edges)
        targets[jet, :len(flat)], sources[jet, :len(flat)] = np.divmod(flat, n)
        weights[jet, :len(flat)] = adjacency[jet].reshape(-1)[flat]
    return sources, targets, weights


def k3node_gcn_layer(features, units):
    """k3-node's GCNConv on `[x, sources, targets, weights]` of a batch of jets, flattened
    into one disjoint graph of `batch * n` nodes as PyTorch Geometric batches graphs."""
    from k3_node.layers import GCNConv as K3NodeGCNConv

    class FlattenedGCNConv(keras.layers.Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.conv = K3NodeGCNConv(features, units)

        def build(self, input_shape):
            self.conv.build((None, features))

        def call(self, inputs):
            x, sources, targets, weights = inputs
            n = x.shape[1]
            offsets = ops.expand_dims(ops.arange(ops.shape(x)[0], dtype="int32") * n, 1)
            edge_index = ops.stack([
                ops.reshape(sources + offsets, (-1,)), ops.reshape(targets + offsets, (-1,))
            ])
            flat = self.conv(
                ops.reshape(x, (-1, features)), edge_index, edge_weight=ops.reshape(weights, (-1,))
            )
            return ops.reshape(flat, (-1, n, units))

        def compute_output_shape(self, input_shape):
            return (*input_shape[0][:2], units)

    return FlattenedGCNConv()


def gcn_pair(n, features, edges_per_jet):
    """grapa's GCNConv on `[x, adjacency]` and k3-node's on `[x, sources, targets,
    weights]`, with the same kernel and the same (random, so compared too) bias."""
    x = keras.Input(shape=(n, features))
    adjacency = keras.Input(shape=(n, n))
    grapa_gcn = GCNConv(GCN_UNITS, bias_initializer=keras.initializers.RandomNormal(seed=3))
    grapa = keras.Model([x, adjacency], grapa_gcn([x, adjacency]))
    edges = [
        keras.Input(shape=(edges_per_jet,), dtype=dtype) for dtype in ("int32", "int32", "float32")
    ]
    k3node_gcn = k3node_gcn_layer(features, GCN_UNITS)
    k3node = keras.Model([x, *edges], k3node_gcn([x, *edges]))
    # numpy copies: a jax buffer shared by two models would be deleted when one donates it
    k3node_gcn.conv.lin.kernel.assign(ops.convert_to_numpy(grapa_gcn.kernel_weights))
    k3node_gcn.conv.bias.assign(ops.convert_to_numpy(grapa_gcn.bias))
    return grapa, k3node


def max_abs_difference(k3node, grapa, x, adjacency, edges):
    """Largest |k3-node - grapa| over the real nodes (k3-node's padding rows are its bias)."""
    real = np.any(x != 0, axis=-1)
    expected = grapa.predict([x, adjacency], verbose=0)[real]
    return float(np.abs(k3node.predict([x, *edges], verbose=0)[real] - expected).max())


def bench_k3node(graphs, args):
    try:
        import k3_node  # noqa: F401
    except ImportError as error:
        print(f"bench_layers: gcn_vs_k3node skipped: k3-node not importable ({error})", flush=True)
        return
    rng = np.random.default_rng(2)
    for n, (x, adjacency) in graphs.items():
        edges = edge_lists(adjacency)
        grapa, k3node = gcn_pair(n, args.features, edges[0].shape[1])
        check = slice(0, args.batch)
        difference = max_abs_difference(
            k3node, grapa, x[check], adjacency[check], [e[check] for e in edges]
        )
        edges_with_loops = edge_lists(adjacency[check], self_loops=True)
        _, k3node_with_loops = gcn_pair(n, args.features, edges_with_loops[0].shape[1])
        k3node_with_loops.set_weights(k3node.get_weights())
        difference_with_loops = max_abs_difference(
            k3node_with_loops, grapa, x[check], adjacency[check], edges_with_loops
        )
        targets = rng.normal(size=(len(x), n, GCN_UNITS)).astype("float32")
        grapa_rate, k3node_rate = best_jets_per_second(
            [(grapa, [x, adjacency], targets), (k3node, [x, *edges], targets)],
            args.batch, args.seconds, args.repeats,
        )
        print(
            f"bench_layers: gcn_vs_k3node nodes={n} features={args.features} batch={args.batch} "
            f"graph=topk{GRAPH_NEIGHBOURS} grapa_jets_per_s={grapa_rate:.0f} "
            f"k3node_jets_per_s={k3node_rate:.0f} ratio={grapa_rate / k3node_rate:.2f} "
            f"max_abs_diff={difference:.1e} "
            f"max_abs_diff_self_loops_in_edge_list={difference_with_loops:.1e}",
            flush=True,
        )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jets", type=int, default=20000, help="GraphUpdate stack's jets")
    parser.add_argument("--features", type=int, default=8)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--nodes", type=int, nargs="+", default=[4, 16, 64],
                        help="GraphUpdate stack's node counts")
    parser.add_argument("--layers", nargs="+", choices=SECTIONS, default=list(SECTIONS),
                        metavar="NAME", help=f"what to run, of {', '.join(SECTIONS)} (default all)")
    parser.add_argument("--layer-nodes", type=int, nargs="+", default=[30, 100],
                        help="node counts of the other layers and of the k3-node comparison")
    parser.add_argument("--layer-jets", type=int, default=2000,
                        help="jets per layer figure (whole batches are used)")
    parser.add_argument("--seconds", type=float, default=0.7,
                        help="about how long one timed fit of a layer figure lasts")
    parser.add_argument("--repeats", type=int, default=3,
                        help="timed fits per layer figure, the best counts")
    parser.add_argument("--quick", action="store_true",
                        help="2,000 stack jets, 1,000 layer jets, 2 fits of 0.3 s per figure")
    args = parser.parse_args()
    if args.quick:
        args.jets, args.layer_jets, args.seconds, args.repeats = 2000, 1000, 0.3, 2
    start = time.perf_counter()
    if "GraphUpdate" in args.layers:
        bench_stack(args)
    names = [name for name in LAYERS if name in args.layers]
    if names or "k3node" in args.layers:
        rng = np.random.default_rng(0)
        graphs = {}
        for n in args.layer_nodes:
            x = padded_jets(args.layer_jets, n, args.features, rng)
            graphs[n] = x, topk_adjacency(x)
        bench_layers(names, graphs, args)
        if "k3node" in args.layers:
            bench_k3node(graphs, args)
    print(f"bench_layers: total_seconds={time.perf_counter() - start:.0f}", flush=True)


if __name__ == "__main__":
    main()
