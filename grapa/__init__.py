"""grapa: Keras 3 layers for graph autoencoders and oneoff anomaly detection on jets."""

__version__ = "0.1.0"

from grapa import layers  # noqa: E402,F401
