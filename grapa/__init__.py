"""grapa: Keras 3 layers for graph autoencoders and oneoff anomaly detection on jets."""

__version__ = "0.1.0"

from grapa import callbacks, layers, losses, models  # noqa: E402,F401
from grapa.training import train, train_density, train_tagger  # noqa: E402,F401
