"""A ParticleNet-style supervised jet tagger built from grapa's EdgeConv.

Qu & Gouskos, "ParticleNet: Jet Tagging via Particle Clouds", Phys. Rev. D 101 (2020)
056019: particles as a point cloud, EdgeConv blocks on the k nearest neighbours (first
in (d_eta, d_phi), then dynamically in the learned features), a shortcut per block,
global average pooling and a dense classifier.
"""

from __future__ import annotations

import keras

from grapa.layers import (
    Compress,
    CutFeatures,
    EdgeConv,
    FullyConnectedGraph,
    GlobalPooling,
    MaskedBatchNormalization,
    ParticleFeatures,
    SoftPooling,
)

# ParticleNet-Lite and ParticleNet (Qu & Gouskos 2020, sec. III.B and table II).
PARTICLE_NET_LITE = {"k": 7, "blocks": ((32, 32, 32), (64, 64, 64)), "dense": (128,),
                     "dropout": 0.1}
PARTICLE_NET = {"k": 16, "blocks": ((64, 64, 64), (128, 128, 128), (256, 256, 256)),
                "dense": (256,), "dropout": 0.1}
TAGGER_SIZES = {"lite": PARTICLE_NET_LITE, "full": PARTICLE_NET}
POOLINGS = ("mean", "sum", "max", "soft", "compress")
# Keras's default 0.99 lags behind the weights over a short run of ~100-step epochs
# (measured: validation loss 2x the training loss after 5 epochs); ParticleNet's
# PyTorch batch norm uses 0.9 in Keras's convention.
BATCH_NORM_MOMENTUM = 0.9


def build_particle_net(
    n_constituents=30,
    size="lite",
    *,
    k=None,
    blocks=None,
    dense=None,
    dropout=None,
    pooling="mean",
    soft_nodes=4,
    batch_norm=True,
    name="particle_net",
):
    """A ParticleNet-style tagger: raw jets `(batch, n, 4)` -> `(batch, 1)` P(signal).

    Per constituent, `ParticleFeatures` (ParticleNet's seven features) are batch-normalized
    over the real constituents. Each block is an `EdgeConv` (mean over the `k` nearest
    neighbours; the first block's graph on (d_eta, d_phi), later ones on the previous
    block's output; every dense layer of its MLP batch-normalized over the real edges
    before its ReLU) plus a shortcut (a bias-free dense map, batch-normalized), then a
    ReLU, as ParticleNet's EdgeConv block. The pooled features pass the dense layers
    (ReLU, dropout) to one sigmoid unit. Padding constituents change nothing.

    Args:
        n_constituents: constituents per jet (leading in pT, zero padded).
        size: `"lite"` (ParticleNet-Lite: k = 7, blocks (32, 32, 32) and (64, 64, 64),
            dense 128, 26k trainable weights) or `"full"` (ParticleNet: k = 16, blocks of 64 /
            128 / 256, dense 256, 366k). The keyword arguments below override it.
        k: neighbours per EdgeConv.
        blocks: one tuple of MLP widths per EdgeConv block.
        dense: widths of the dense layers after pooling.
        dropout: dropout rate after each dense layer.
        pooling: `"mean"` (ParticleNet), `"sum"` or `"max"` (`GlobalPooling` over the real
            constituents), `"soft"` (`SoftPooling` into `soft_nodes` super-nodes on the
            fully connected graph, then their mean) or `"compress"` (grapa's `Compress` of
            all constituents into one node, Klüttermann 2021 sec. 4.2).
        soft_nodes: super-nodes of `pooling="soft"`.
        batch_norm: batch-normalize the EdgeConv MLPs' layers (ParticleNet); False
            gives plain dense + ReLU layers with biases.
        name: the model's name.

    Returns:
        An uncompiled `keras.Model`; compile it with binary cross-entropy, or train it
        with `grapa.train_tagger`.
    """
    if size not in TAGGER_SIZES:
        raise ValueError(f"size must be one of {tuple(TAGGER_SIZES)}, got {size!r}.")
    if pooling not in POOLINGS:
        raise ValueError(f"pooling must be one of {POOLINGS}, got {pooling!r}.")
    preset = TAGGER_SIZES[size]
    k = preset["k"] if k is None else int(k)
    blocks = preset["blocks"] if blocks is None else tuple(tuple(b) for b in blocks)
    dense = preset["dense"] if dense is None else tuple(dense)
    dropout = preset["dropout"] if dropout is None else float(dropout)

    jets = keras.Input(shape=(n_constituents, 4), name="jets")
    particles = ParticleFeatures()(jets)
    x = edge_conv_blocks(particles, blocks, k, batch_norm)[-1]
    pooled = _pool(x, particles, pooling, soft_nodes, n_constituents)
    for width in dense:
        pooled = keras.layers.Dense(width, activation="relu")(pooled)
        pooled = keras.layers.Dropout(dropout)(pooled)
    probability = keras.layers.Dense(1, activation="sigmoid", name="p_signal")(pooled)
    return keras.Model(jets, probability, name=name)


def edge_conv_blocks(particles, blocks, k, batch_norm=True):
    """ParticleNet's EdgeConv blocks on `ParticleFeatures`; returns each block's output.

    The particle features are batch-normalized over the real constituents; each block is
    an `EdgeConv` (mean over the `k` nearest neighbours, the first block's graph on
    (d_eta, d_phi), later ones on the previous block's output) plus a batch-normalized,
    bias-free dense shortcut, then a ReLU.

    Args:
        particles: symbolic `ParticleFeatures` output, `(batch, n, 7)`.
        blocks: one tuple of MLP widths per block.
        k: neighbours per EdgeConv.
        batch_norm: batch-normalize the EdgeConv MLPs' layers.

    Returns:
        A list of `(batch, n, blocks[b][-1])` tensors, one per block.
    """
    coordinates = CutFeatures(2)(particles)  # (d_eta, d_phi)
    x = MaskedBatchNormalization(momentum=BATCH_NORM_MOMENTUM)(particles)
    outputs = []
    for block, widths in enumerate(blocks):
        edges = EdgeConv(widths, k=k, batch_norm=batch_norm, momentum=BATCH_NORM_MOMENTUM,
                         name=f"edge_conv_{block}")([coordinates, x])
        shortcut = keras.layers.Dense(widths[-1], use_bias=False)(x)
        shortcut = MaskedBatchNormalization(momentum=BATCH_NORM_MOMENTUM)(shortcut)
        x = keras.layers.ReLU()(keras.layers.Add()([edges, shortcut]))
        coordinates = x
        outputs.append(x)
    return outputs


def _pool(x, particles, pooling, soft_nodes, n_constituents):
    if pooling in ("mean", "sum", "max"):
        return GlobalPooling(pooling)([x, particles])
    if pooling == "soft":
        super_nodes, _ = SoftPooling(soft_nodes)([x, FullyConnectedGraph()(particles)])
        return GlobalPooling("mean")(super_nodes)
    merged = Compress(n_constituents, x.shape[-1])(x)
    return GlobalPooling("sum")(merged)
