"""grapa's models: graph autoencoders, oneoff (one-class) networks, the mixed model, the
density (likelihood) scorer, the ParticleNet-style supervised tagger, UCluster
(unsupervised clustering) and JetGAN (a graph GAN generating jets)."""

from grapa.models.autoencoder import (
    PRESETS,
    GraphAutoencoder,
    build_dense_autoencoder,
    build_graph_autoencoder,
)
from grapa.models.cluster import UCluster
from grapa.models.density import JetDensity
from grapa.models.ensemble import OneOffEnsemble
from grapa.models.generator import JetGAN, build_jet_discriminator, build_jet_generator
from grapa.models.mixed import MixedModel, build_mixed_model
from grapa.models.oneoff import OneOffNetwork, build_oneoff
from grapa.models.oneoff_data import random_negatives
from grapa.models.oneoff_loss import MeanVarianceLoss, oneoff_loss
from grapa.models.tagger import PARTICLE_NET, PARTICLE_NET_LITE, build_particle_net

__all__ = [
    "PRESETS",
    "GraphAutoencoder",
    "JetDensity",
    "JetGAN",
    "MeanVarianceLoss",
    "MixedModel",
    "OneOffEnsemble",
    "OneOffNetwork",
    "PARTICLE_NET",
    "PARTICLE_NET_LITE",
    "UCluster",
    "build_dense_autoencoder",
    "build_graph_autoencoder",
    "build_jet_discriminator",
    "build_jet_generator",
    "build_mixed_model",
    "build_oneoff",
    "build_particle_net",
    "oneoff_loss",
    "random_negatives",
]
