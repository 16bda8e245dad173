"""Reconstruction images: input vs reconstructed jet (Klüttermann 2021, sec. 3.3.1)."""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from grapa.evaluation.metrics import _finite_array
from grapa.plotting._common import _INPUT_COLOUR, _OUTPUT_COLOUR, FEATURE_NAMES, _figure, _finish

_MARKER_SCALE = 2.5  # points per unit of 1 + 9 / (lpt + 1): 2.5 to 25 pt markers


def _one_jet(features, event: int, name: str) -> np.ndarray:
    """`(n, 4)` features of one jet from `(n_jets, n, 4)` or `(n, 4)`."""
    array = _finite_array(features, name)
    if array.ndim == 3:
        if not -len(array) <= event < len(array):
            raise IndexError(f"event {event} is out of range for {len(array)} jets in {name}.")
        array = array[event]
    if array.ndim != 2 or array.shape[-1] != 4:
        raise ValueError(
            f"{name} must have shape (n_jets, n, 4) or (n, 4) with features "
            f"{FEATURE_NAMES}, got {np.shape(features)}."
        )
    return array


def _marker_area(lpt: np.ndarray) -> np.ndarray:
    """Scatter area (pt^2) for a marker whose size is proportional to 1 + 9 / (lpt + 1).

    lpt is clipped at 0 (its smallest physical value), so a reconstructed negative lpt
    cannot blow the marker up.
    """
    size = _MARKER_SCALE * (1 + 9 / (np.maximum(lpt, 0) + 1))
    return size**2


def plot_reconstruction(target, output, event: int = 0, path=None) -> Figure:
    """Input vs reconstructed jet (Klüttermann 2021, sec. 3.3.1, figs. 3.4 and 3.5).

    Left: d_phi vs d_eta of every real constituent, input red and output blue (a perfect
    reconstruction overlaps in violet); the marker size is proportional to
    1 + 9 / (lpt + 1), so the hardest constituents are the largest. Right: lpt by node
    index, input and output. Nodes are those the target marks real (flag = 1); the
    output is compared node by node, as the loss does. Show the same event every time.

    Args:
        target: `(n_jets, n, 4)` (or `(n, 4)`) preprocessed input features in the order
            (flag, d_eta, d_phi, lpt).
        output: the model's reconstruction, same shape.
        event: which jet to draw (ignored for `(n, 4)` inputs).
        path: where to write the PNG, or None.

    Returns:
        The `Figure` (2 axes).
    """
    if np.shape(target) != np.shape(output):
        raise ValueError(
            f"output must have the shape of target {np.shape(target)}, got {np.shape(output)}."
        )
    target_jet = _one_jet(target, event, "target")
    output_jet = _one_jet(output, event, "output")
    real = target_jet[:, 0] > 0.5
    nodes = np.flatnonzero(real)

    figure, (angles, momenta) = _figure(2, width=4.8)
    for jet, name, colour in ((target_jet, "input", _INPUT_COLOUR),
                              (output_jet, "output", _OUTPUT_COLOUR)):
        jet = jet[real]
        angles.scatter(jet[:, 1], jet[:, 2], s=_marker_area(jet[:, 3]), c=colour, alpha=0.5,
                       edgecolors="none", label=name)
        momenta.plot(nodes, jet[:, 3], "o-", c=colour, ms=4, label=name)
    angles.set(xlabel="d_eta", ylabel="d_phi", title=f"event {event}: angles")
    angles.set_aspect("equal", adjustable="datalim")
    for handle in angles.legend().legend_handles:
        handle.set_sizes([40.0])  # a fixed legend marker, whatever the jet's sizes
    momenta.set(xlabel="node index", ylabel="lpt = -log(pT / pT_jet)",
                title=f"event {event}: momenta")
    momenta.legend()
    return _finish(figure, path)
