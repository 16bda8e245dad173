"""grapa's models: graph autoencoders, oneoff (one-class) networks, the mixed model and
the density (likelihood) scorer."""

from grapa.models.autoencoder import (
    PRESETS,
    GraphAutoencoder,
    build_dense_autoencoder,
    build_graph_autoencoder,
)
from grapa.models.density import JetDensity
from grapa.models.mixed import MixedModel, build_mixed_model
from grapa.models.oneoff import (
    MeanVarianceLoss,
    OneOffEnsemble,
    OneOffNetwork,
    build_oneoff,
    oneoff_loss,
    random_negatives,
)

__all__ = [
    "PRESETS",
    "GraphAutoencoder",
    "JetDensity",
    "MeanVarianceLoss",
    "MixedModel",
    "OneOffEnsemble",
    "OneOffNetwork",
    "build_dense_autoencoder",
    "build_graph_autoencoder",
    "build_mixed_model",
    "build_oneoff",
    "oneoff_loss",
    "random_negatives",
]
