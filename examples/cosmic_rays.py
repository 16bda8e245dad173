"""
Title: Cosmic-ray skymaps: EdgeConv against the pair statistic
Description: tell isotropic skymaps of 500 ultra-high-energy cosmic rays from skymaps
with a few events from one source, deflected into a multiplet by a coherent magnetic
field (the lecture's practice 3, after Glombitza & Erdmann 2020).

A skymap is 500 arrival directions (unit vectors) with energies. In a source map a
fraction f of the events comes from one random direction, each deflected along one great
circle by an angle proportional to 1/E (a coherent field: an elongated, energy-ordered
"multiplet"), all smeared by 1 degree. Two classifiers, on the same test skymaps:

- the pair statistic: the number of event pairs closer than a fixed angle (scanned on the
  calibration maps, then fixed), cut at a threshold;
- an EdgeConv network: a fixed kNN graph on the sky, a dynamic kNN graph on the learned
  features, mean pooling, a dense head. It sees the energies, the pair count does not.

One network is trained on a mixture of all source fractions, on new skymaps every epoch.
Each classifier gets one threshold per fraction, chosen to maximize the accuracy on
calibration skymaps that the network never trained on. Writes `accuracy.md` (the table)
and `graphs.png` (the graph of each EdgeConv layer on the sky for one source map) to
`--out`, and prints how many of the source events' neighbours in each graph are source
events. The tutorial docs/tutorials/cosmic-rays.md explains the physics and the network.

    python examples/cosmic_rays.py                  # 4-6 minutes on a 2-core CPU
    python examples/cosmic_rays.py --quick          # CI, about 30 seconds
    python examples/cosmic_rays.py --out figures --seed 1
"""

import argparse
import os
import pathlib

os.environ.setdefault("KERAS_BACKEND", "jax")

import keras  # noqa: E402
import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.collections import LineCollection  # noqa: E402

from grapa import layers  # noqa: E402

# the sky
N_EVENTS = 500  # cosmic rays per skymap
E_MIN = 10.0  # EeV, the energy threshold
SPECTRAL_INDEX = 3.0  # dN/dE ~ E^-3 above the threshold
E_REFERENCE = 10.0  # EeV: the deflection is DEFLECTION_DEG at this energy
DEFLECTION_DEG = 40.0  # coherent deflection at 10 EeV, theta = 40 deg / (E / 10 EeV)
SMEARING_DEG = 1.0  # Gaussian angular resolution
FRACTIONS = (0.01, 0.02, 0.03, 0.04, 0.06)  # source fractions: 5 to 30 source events
FIGURE_FRACTION = 0.04  # the source map drawn in graphs.png

# the pair statistic
PAIR_ANGLES_DEG = (2, 4, 6, 8, 12, 16, 24)  # candidates, scanned on the training maps

# the EdgeConv classifier
K_NEIGHBOURS = 8
UNITS = (32, 32)  # the message MLP of each EdgeConv
HEAD_UNITS = 32
LEARNING_RATE = 3e-3  # cosine-decayed to zero over the training
BATCH_SIZE = 32
EPOCHS = 10
N_TRAIN = 2000  # isotropic and as many source maps (fractions mixed), new ones every epoch
N_CALIBRATION = 2000  # isotropic and as many source maps on which both cuts are chosen
N_TEST = 500  # isotropic and source test maps per fraction
QUICK = dict(n_train=150, n_calibration=150, n_test=50, epochs=1)


def isotropic_directions(shape, rng):
    """Unit vectors uniform on the sphere, `(*shape, 3)`."""
    vectors = rng.normal(size=(*shape, 3))
    return vectors / np.linalg.norm(vectors, axis=-1, keepdims=True)


def power_law_energies(shape, rng):
    """Energies in EeV from dN/dE ~ E^-SPECTRAL_INDEX above E_MIN (inverse transform).

    The survival function is `(E / E_MIN)^(1 - SPECTRAL_INDEX)`; set it to u in (0, 1].
    """
    u = 1.0 - rng.uniform(size=shape)  # (0, 1]: u = 0 would be an infinite energy
    return E_MIN * u ** (-1.0 / (SPECTRAL_INDEX - 1.0))


def tangent_directions(directions, rng):
    """A random unit vector perpendicular to each direction: where the field pushes."""
    tangents = isotropic_directions(directions.shape[:-1], rng)
    tangents -= np.sum(tangents * directions, axis=-1, keepdims=True) * directions
    return tangents / np.linalg.norm(tangents, axis=-1, keepdims=True)


def smear(directions, rng):
    """Gaussian angular smearing by SMEARING_DEG (small-angle: a kick, renormalized)."""
    kicked = directions + rng.normal(scale=np.radians(SMEARING_DEG), size=directions.shape)
    return kicked / np.linalg.norm(kicked, axis=-1, keepdims=True)


def simulate_skymaps(n_maps, fraction, rng):
    """`n_maps` skymaps of N_EVENTS cosmic rays, a `fraction` of them from one source.

    `fraction` is a number or one per map (0 = isotropic). Every map has its own source
    direction and field direction; a source event of energy E arrives deflected by
    `DEFLECTION_DEG * E_REFERENCE / E` along the great circle from the source towards the
    field direction, so a source forms an elongated multiplet, most energetic nearest.

    Returns:
        directions `(n_maps, N_EVENTS, 3)` unit vectors, energies `(n_maps, N_EVENTS)` in
        EeV (float32), and `from_source` `(n_maps, N_EVENTS)` bool.
    """
    fraction = np.broadcast_to(np.asarray(fraction, float), (n_maps,))
    directions = isotropic_directions((n_maps, N_EVENTS), rng)
    energies = power_law_energies((n_maps, N_EVENTS), rng)
    sources = isotropic_directions((n_maps, 1), rng)
    field = tangent_directions(sources, rng)
    deflection = np.radians(DEFLECTION_DEG) * E_REFERENCE / energies
    deflected = (np.cos(deflection)[..., None] * sources
                 + np.sin(deflection)[..., None] * field)
    from_source = np.arange(N_EVENTS) < np.rint(fraction * N_EVENTS)[:, None]
    directions = smear(np.where(from_source[..., None], deflected, directions), rng)
    return directions.astype("float32"), energies.astype("float32"), from_source


def pair_counts(directions, angles_deg, chunk=50):
    """Number of event pairs closer than each angle: `(n_maps, len(angles_deg))`."""
    cosines = np.cos(np.radians(angles_deg))
    counts = np.zeros((len(directions), len(cosines)), int)
    for start in range(0, len(directions), chunk):
        block = directions[start:start + chunk]
        dots = np.matmul(block, np.swapaxes(block, 1, 2))
        for a, cosine in enumerate(cosines):
            # every pair twice, and each event with itself
            counts[start:start + chunk, a] = ((dots > cosine).sum((1, 2)) - N_EVENTS) // 2
    return counts


def best_threshold(isotropic_scores, source_scores):
    """The cut `score > t` = source that maximizes the accuracy on a balanced set.

    `t` lies midway between the best score and the next one up: where the given maps
    separate perfectly, the cut sits in the middle of the gap, not on its lower edge.
    """
    candidates = np.unique(np.concatenate([isotropic_scores, source_scores]))
    accuracy = [np.mean(isotropic_scores <= t) + np.mean(source_scores > t)
                for t in candidates]
    best = int(np.argmax(accuracy))
    return (candidates[best] + candidates[min(best + 1, len(candidates) - 1)]) / 2


def build_classifier(n_events=N_EVENTS):
    """Fixed kNN graph on the sky, then a dynamic one on the features; isotropic vs source.

    Inputs: unit vectors `(batch, n, 3)` and `E_REFERENCE / E` `(batch, n, 1)`, which is
    proportional to the deflection. Batch normalization after each EdgeConv and after
    the pooling: a few source events shift a mean over 500 nodes only a little.
    """
    directions = keras.Input((n_events, 3), name="directions")
    inverse_energies = keras.Input((n_events, 1), name="inverse_energies")
    features = keras.layers.Concatenate()([directions, inverse_energies])
    h = layers.EdgeConv(UNITS, k=K_NEIGHBOURS, name="fixed_edgeconv")([directions, features])
    h = keras.layers.BatchNormalization(momentum=0.9)(h)
    h = layers.EdgeConv(UNITS, k=K_NEIGHBOURS, name="dynamic_edgeconv")(h)
    h = keras.layers.BatchNormalization(momentum=0.9)(h)
    # the directions mark every node real: a node whose features are all zero still counts
    pooled = layers.GlobalPooling("mean")([h, directions])
    pooled = keras.layers.BatchNormalization(momentum=0.9)(pooled)
    hidden = keras.layers.Dense(HEAD_UNITS, activation="relu")(pooled)
    source = keras.layers.Dense(1, activation="sigmoid", name="source")(hidden)
    return keras.Model([directions, inverse_energies], source, name="skymap_edgeconv")


def network_inputs(directions, energies):
    return [directions, (E_REFERENCE / energies)[..., None].astype("float32")]


def labelled(isotropic, source):
    """Concatenate isotropic and source maps: (directions, energies, from_source, labels)."""
    parts = [np.concatenate([a, b]) for a, b in zip(isotropic, source)]
    labels = np.r_[np.zeros(len(isotropic[0])), np.ones(len(source[0]))].astype("float32")
    return (*parts, labels)


def accuracy_with_error(correct):
    p = float(np.mean(correct))
    return p, np.sqrt(p * (1 - p) / len(correct))


def sky_coordinates(directions):
    """Longitude in (-pi, pi] and latitude, for matplotlib's Mollweide axes."""
    return (np.arctan2(directions[..., 1], directions[..., 0]),
            np.arcsin(np.clip(directions[..., 2], -1.0, 1.0)))


def edgeconv_graphs(model, directions, energies):
    """The kNN graph each EdgeConv layer of `model` builds on each skymap.

    Returns `{layer name: (indices, valid)}`, each `(maps, N_EVENTS, K_NEIGHBOURS)`: the
    fixed layer's graph on the unit vectors, the dynamic layer's on its input features.
    """
    inputs = network_inputs(directions, energies)
    fixed, dynamic = model.get_layer("fixed_edgeconv"), model.get_layer("dynamic_edgeconv")
    dynamic_input = keras.Model(model.inputs, dynamic.input).predict(inputs, batch_size=100,
                                                                     verbose=0)
    graphs = {fixed.name: fixed.neighbour_indices(inputs[0]),
              dynamic.name: dynamic.neighbour_indices(dynamic_input)}
    return {name: (np.asarray(indices), np.asarray(valid))
            for name, (indices, valid) in graphs.items()}


def source_neighbour_share(indices, valid, from_source):
    """Of the source events' neighbours, the share that are source events too (all maps)."""
    neighbour_is_source = np.take_along_axis(from_source[:, None, :],
                                             indices.reshape(len(indices), 1, -1), axis=2)
    neighbour_is_source = neighbour_is_source.reshape(indices.shape)
    counted = valid & from_source[..., None]
    return float(neighbour_is_source[counted].mean())


def graph_figure(graphs, directions, from_source, path):
    """One Mollweide panel per EdgeConv layer: each event joined to its k neighbours.

    `graphs` as from `edgeconv_graphs` for one skymap (maps = 1).
    """
    titles = {"fixed_edgeconv": "fixed graph: kNN on the sky",
              "dynamic_edgeconv": "dynamic graph: kNN on the learned features"}
    lon, lat = sky_coordinates(directions)
    fig = plt.figure(figsize=(12, 3.7))
    for panel, (name, (indices, valid)) in enumerate(graphs.items()):
        ax = fig.add_subplot(1, len(graphs), panel + 1, projection="mollweide")
        share = source_neighbour_share(indices, valid, from_source[None])
        indices, valid = indices[0], valid[0]
        starts = np.repeat(np.arange(len(indices)), indices.shape[1])[valid.ravel()]
        ends = indices.ravel()[valid.ravel()]
        # a straight segment across the lon = +-180 deg seam would cross the whole map
        drawn = np.abs(lon[starts] - lon[ends]) < np.pi
        for chosen, colour, width in ((~from_source[starts], "0.6", 0.4),
                                      (from_source[starts], "tab:red", 0.9)):
            keep = drawn & chosen
            segments = np.stack([np.stack([lon[starts[keep]], lat[starts[keep]]], -1),
                                 np.stack([lon[ends[keep]], lat[ends[keep]]], -1)], 1)
            ax.add_collection(LineCollection(segments, colors=colour, linewidths=width))
        ax.scatter(lon[~from_source], lat[~from_source], s=3, c="0.3",
                   label=f"isotropic ({(~from_source).sum()} events)")
        ax.scatter(lon[from_source], lat[from_source], s=12, c="tab:red",
                   label=f"source ({from_source.sum()} events) and their edges")
        ax.set_title(f"{titles[name]}\n{share:.0%} of the source events' neighbours "
                     "are source events", pad=12, fontsize=10)
        ax.set_xticklabels([])
        ax.grid(alpha=0.3)
    fig.legend(*fig.axes[0].get_legend_handles_labels(), loc="lower center", ncol=2,
               fontsize=9, frameon=False)
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)


def main():
    parser = argparse.ArgumentParser(description="cosmic-ray skymaps: EdgeConv vs pair count")
    parser.add_argument("--quick", action="store_true", help="few maps, one epoch (CI)")
    parser.add_argument("--out", default=".", help="directory for accuracy.md and graphs.png")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    settings = {**dict(n_train=N_TRAIN, n_calibration=N_CALIBRATION, n_test=N_TEST,
                       epochs=EPOCHS), **(QUICK if args.quick else {})}
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    keras.utils.set_random_seed(args.seed)
    rng = np.random.default_rng(args.seed)

    def mixed_skymaps(n_maps):
        """`n_maps` isotropic and `n_maps` source maps, the fractions cycling through FRACTIONS."""
        fractions = np.resize(np.asarray(FRACTIONS), n_maps)
        maps = labelled(simulate_skymaps(n_maps, 0.0, rng),
                        simulate_skymaps(n_maps, fractions, rng))
        return maps, np.r_[np.zeros(n_maps), fractions]

    # the cuts (and the pair angle) are chosen on calibration maps, which the network never
    # trains on: on its own training maps it would look better than it is
    (directions, energies, _, labels), source_fraction = mixed_skymaps(settings["n_calibration"])
    tests = {f: labelled(simulate_skymaps(settings["n_test"], 0.0, rng),
                         simulate_skymaps(settings["n_test"], f, rng)) for f in FRACTIONS}

    # the pair statistic: the angle with the best mean calibration accuracy over fractions
    calibration_pairs = pair_counts(directions, PAIR_ANGLES_DEG)
    isotropic = labels == 0
    scan = []
    for a, angle in enumerate(PAIR_ANGLES_DEG):
        accuracies = []
        for f in FRACTIONS:
            source = source_fraction == f
            cut = best_threshold(calibration_pairs[isotropic, a], calibration_pairs[source, a])
            accuracies.append((np.mean(calibration_pairs[isotropic, a] <= cut)
                               + np.mean(calibration_pairs[source, a] > cut)) / 2)
        scan.append(np.mean(accuracies))
        print(f"pairs closer than {angle:>2} deg: mean calibration accuracy {scan[-1]:.3f}")
    best = int(np.argmax(scan))
    pair_angle = PAIR_ANGLES_DEG[best]
    print(f"pair statistic: pairs closer than {pair_angle} deg")

    model = build_classifier()
    steps = settings["epochs"] * int(np.ceil(2 * settings["n_train"] / BATCH_SIZE))
    schedule = keras.optimizers.schedules.CosineDecay(LEARNING_RATE, steps)
    model.compile(keras.optimizers.Adam(schedule), loss="binary_crossentropy",
                  metrics=["accuracy"])
    for epoch in range(settings["epochs"]):
        # a simulation can afford new skymaps every epoch: nothing to memorize
        (train_directions, train_energies, _, train_labels), _ = mixed_skymaps(settings["n_train"])
        order = rng.permutation(len(train_labels))
        history = model.fit(network_inputs(train_directions[order], train_energies[order]),
                            train_labels[order], batch_size=BATCH_SIZE, verbose=0)
        print(f"epoch {epoch + 1}/{settings['epochs']} on new skymaps: "
              f"loss {history.history['loss'][0]:.3f}, "
              f"accuracy {history.history['accuracy'][0]:.3f}")
    calibration_scores = model.predict(network_inputs(directions, energies), batch_size=100,
                                       verbose=0)[:, 0]

    rows = ["| source fraction | source events | pair statistic | EdgeConv | EdgeConv - pairs |",
            "|---:|---:|---:|---:|---:|"]
    for f, (test_directions, test_energies, _, test_labels) in tests.items():
        source = source_fraction == f
        test_is_source = test_labels == 1
        pair_cut = best_threshold(calibration_pairs[isotropic, best],
                                  calibration_pairs[source, best])
        test_pairs = pair_counts(test_directions, [pair_angle])[:, 0]
        pair_correct = (test_pairs > pair_cut) == test_is_source
        network_cut = best_threshold(calibration_scores[isotropic], calibration_scores[source])
        test_scores = model.predict(network_inputs(test_directions, test_energies),
                                    batch_size=100, verbose=0)[:, 0]
        network_correct = (test_scores > network_cut) == test_is_source
        pair, pair_error = accuracy_with_error(pair_correct)
        network, network_error = accuracy_with_error(network_correct)
        # paired: both classifiers judge the same maps, so the difference is more precise
        difference = network_correct.astype(float) - pair_correct
        difference_error = difference.std(ddof=1) / np.sqrt(len(difference))
        rows.append(f"| {f:.2f} | {round(f * N_EVENTS)} | {pair:.3f} +- {pair_error:.3f} "
                    f"| {network:.3f} +- {network_error:.3f} "
                    f"| {difference.mean():+.3f} +- {difference_error:.3f} |")
    table = "\n".join(rows)
    (out / "accuracy.md").write_text(
        f"Test accuracy, {2 * settings['n_test']} skymaps per fraction (pairs closer than "
        f"{pair_angle} deg; EdgeConv trained on all fractions mixed):\n\n{table}\n")

    # how far each EdgeConv's graph joins source events to each other, on the test maps
    print("share of the source events' neighbours that are source events (test maps):")
    for f, (test_directions, test_energies, test_source, test_labels) in tests.items():
        graphs = edgeconv_graphs(model, test_directions[test_labels == 1],
                                 test_energies[test_labels == 1])
        shares = [source_neighbour_share(*graph, test_source[test_labels == 1])
                  for graph in graphs.values()]
        print(f"  fraction {f:.2f}: fixed graph {shares[0]:.2f}, dynamic graph {shares[1]:.2f}")

    # one source map at FIGURE_FRACTION, drawn with the graph of each EdgeConv layer
    sky, sky_energies, sky_source = simulate_skymaps(1, FIGURE_FRACTION, rng)
    graph_figure(edgeconv_graphs(model, sky, sky_energies), sky[0], sky_source[0],
                 out / "graphs.png")
    print(table)
    print(f"wrote {out / 'accuracy.md'} and {out / 'graphs.png'}")
    print(f"cosmic rays: test accuracy, EdgeConv vs pair statistic ({pair_angle} deg), "
          f"{2 * settings['n_test']} skymaps per fraction")


if __name__ == "__main__":
    main()
