"""Generated jets against real ones: the distributions the W1 metrics compare.

Kansal et al., "Particle Cloud Generation with Message Passing Generative Adversarial
Networks", NeurIPS 2021 (fig. 3): the jet mass and the particle features eta_rel,
phi_rel and pT_rel of real and generated jets, on the same bins.
"""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from grapa.data.relative import RELATIVE_FEATURES, relative_masses
from grapa.plotting._common import _INPUT_COLOUR, _OUTPUT_COLOUR, _figure, _finish

_LABELS = {
    "mass": "jet $m / p_T$ (relative mass)",
    "eta_rel": r"particle $\eta^{\rm rel}$",
    "phi_rel": r"particle $\phi^{\rm rel}$",
    "pt_rel": r"particle $p_T^{\rm rel}$",
}


def _checked(particles, name: str) -> np.ndarray:
    particles = np.asarray(particles, np.float64)
    if particles.ndim != 3 or particles.shape[-1] < 3 or len(particles) == 0:
        raise ValueError(f"{name} must be a non-empty (n_jets, n_particles, 3) array of "
                         f"(eta_rel, phi_rel, pt_rel), got shape {particles.shape}")
    if not np.all(np.isfinite(particles)):
        raise ValueError(f"{name} contain NaN or infinite values")
    return particles


def plot_generated(real, generated, path=None, names=("real", "generated"), title=None,
                   bins: int = 60) -> Figure:
    """Jet mass and particle features of real and generated jets, side by side.

    Args:
        real: `(n_jets, n_particles, 3)` relative features (eta_rel, phi_rel, pt_rel) of
            real jets (`grapa.data.relative.to_relative`).
        generated: the same for generated jets.
        path: PNG to write (optional).
        names: legend names of the two sets.
        title: the figure's title (optional).
        bins: bins per panel, shared by both sets (between the two sets' 0.1 and 99.9
            percentiles); particle pT_rel on a log axis.

    Returns:
        The `Figure`: four panels, normalised histograms, padding excluded.
    """
    sets = [_checked(real, "real"), _checked(generated, "generated")]
    figure, axes = _figure(4, width=4.0, height=3.4)
    for axis, quantity in zip(axes, ("mass",) + RELATIVE_FEATURES):
        values = []
        for particles in sets:
            if quantity == "mass":
                values.append(relative_masses(particles))
            else:
                real_particles = particles[..., 2] > 0
                values.append(particles[..., RELATIVE_FEATURES.index(quantity)][real_particles])
        pooled = np.concatenate(values)
        low, high = np.percentile(pooled, [0.1, 99.9])
        if quantity == "pt_rel":
            edges = np.geomspace(max(low, 1e-5), max(high, 2e-5), bins + 1)
            axis.set_xscale("log")
        else:
            edges = np.linspace(low, high if high > low else low + 1.0, bins + 1)
        for data, name, colour, style in zip(values, names, (_INPUT_COLOUR, _OUTPUT_COLOUR),
                                             ("stepfilled", "step")):
            axis.hist(data, bins=edges, density=True, histtype=style, color=colour,
                      alpha=0.35 if style == "stepfilled" else 1.0, label=name, linewidth=1.5)
        axis.set_xlabel(_LABELS[quantity])
        axis.set_yscale("log" if quantity != "mass" else "linear")
    axes[0].set_ylabel("density")
    axes[0].legend(frameon=False)
    if title:
        figure.suptitle(title)
    return _finish(figure, path)
