"""What every grapa figure shares: the headless figure, saving, colours, feature names.

Figures are `matplotlib.figure.Figure` objects created directly, never through
`pyplot` (see the package docstring); `_figure` makes one and `_finish` writes it.
"""

from __future__ import annotations

from pathlib import Path

from matplotlib.axes import Axes
from matplotlib.figure import Figure

FEATURE_NAMES = ("flag", "d_eta", "d_phi", "lpt")
"""The node features of `grapa.layers.JetFeatures`, in order."""

_INPUT_COLOUR, _OUTPUT_COLOUR = "tab:red", "tab:blue"
_BACKGROUND_COLOUR, _SIGNAL_COLOUR = "tab:red", "tab:blue"


def _figure(ncols: int = 1, width: float = 5.0, height: float = 4.0) -> tuple[Figure, list[Axes]]:
    """A new headless figure with `ncols` side-by-side axes."""
    figure = Figure(figsize=(width * ncols, height), layout="constrained")
    axes = figure.subplots(1, ncols, squeeze=False)[0]
    return figure, list(axes)


def _finish(figure: Figure, path) -> Figure:
    """Save `figure` as PNG at `path` (creating parent folders) when given."""
    if path is not None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        figure.savefig(path, format="png")
    return figure
