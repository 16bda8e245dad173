"""grapa's Keras layers. Tensor layout `(batch, nodes, features)`, dense adjacency
`(batch, nodes, nodes)`; a node whose features are all zero is padding. Graphs too large
for a dense adjacency (detector hits) use the edge-list layers of `grapa.layers.sparse`."""

from grapa.layers.attention import GraphAttention
from grapa.layers.conv import ChebConv, GCNConv
from grapa.layers.edgeconv import EdgeConv
from grapa.layers.epic import EPiC, MaskLogit
from grapa.layers.features import (
    FEATURE_NAMES,
    PARTICLE_FEATURE_NAMES,
    JetFeatures,
    ParticleFeatures,
    SortNodes,
)
from grapa.layers.flow import AutoregressiveAffine, GaussianMixtureDensity
from grapa.layers.graph import FullyConnectedGraph, TopKGraph
from grapa.layers.hierarchical import (
    AssignmentPooling,
    AzimuthalEmbedding,
    BipartiteEnds,
    DotProductWeights,
    HierarchicalInteraction,
    PooledMembership,
    SuperNodeCenters,
)
from grapa.layers.norm import JetNorm, MaskedBatchNormalization
from grapa.layers.oneoff import OneOff
from grapa.layers.pooling import (
    Compress,
    CompressGraph,
    Decompress,
    GraphLikeDecompress,
    ParamLikeDecompress,
)
from grapa.layers.readout import GlobalPooling, SoftPooling
from grapa.layers.shape import CutFeatures, PadFeatures
from grapa.layers.sparse import EdgeDistance, EdgeEnds, InteractionNetwork
from grapa.layers.update import GraphUpdate

__all__ = [
    "FEATURE_NAMES",
    "AssignmentPooling",
    "AutoregressiveAffine",
    "AzimuthalEmbedding",
    "BipartiteEnds",
    "ChebConv",
    "Compress",
    "CompressGraph",
    "CutFeatures",
    "Decompress",
    "DotProductWeights",
    "EPiC",
    "EdgeConv",
    "EdgeDistance",
    "EdgeEnds",
    "FullyConnectedGraph",
    "GCNConv",
    "GaussianMixtureDensity",
    "GlobalPooling",
    "GraphAttention",
    "GraphLikeDecompress",
    "GraphUpdate",
    "HierarchicalInteraction",
    "InteractionNetwork",
    "JetFeatures",
    "JetNorm",
    "MaskLogit",
    "MaskedBatchNormalization",
    "OneOff",
    "PARTICLE_FEATURE_NAMES",
    "PadFeatures",
    "PooledMembership",
    "ParticleFeatures",
    "ParamLikeDecompress",
    "SoftPooling",
    "SortNodes",
    "SuperNodeCenters",
    "TopKGraph",
]
