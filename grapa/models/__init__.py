"""grapa's models: graph autoencoders and oneoff (one-class) networks."""

from grapa.models.autoencoder import (
    PRESETS,
    GraphAutoencoder,
    build_dense_autoencoder,
    build_graph_autoencoder,
)

__all__ = ["PRESETS", "GraphAutoencoder", "build_dense_autoencoder", "build_graph_autoencoder"]
