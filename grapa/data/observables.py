"""Jet observables computed from the constituents: what a physicist looks at first.

`jet_observables` gives the jet's kinematics (pT, eta, mass, multiplicity; used by
`grapa inspect`); `substructure_observables` gives the eight textbook observables that
grapa's baseline anomaly scorers and density model use (`grapa.evaluation.baselines`,
`grapa.models.JetDensity`).

All angles are taken relative to the jet axis (the summed constituent momentum), as in
`grapa.layers.JetFeatures`: `d_eta = eta_i - eta_jet` and `d_phi` wrapped into
(-pi, pi], `dR = sqrt(d_eta^2 + d_phi^2)`. Plain numpy, batched, no loop over jets.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from grapa.data.checks import check_jets

__all__ = [
    "SUBSTRUCTURE_OBSERVABLES",
    "jet_observables",
    "substructure_observables",
    "validate_jets",
]

SUBSTRUCTURE_OBSERVABLES = (
    "mass",
    "log_multiplicity",
    "width",
    "pt_d",
    "e2",
    "leading_fraction",
    "leading3_fraction",
    "mass_over_pt",
)
_BATCH = 250  # jets per block of the O(n^2) pair sum: 250 x 200 x 200 doubles = 80 MB


def jet_observables(jets: np.ndarray) -> dict[str, np.ndarray]:
    """Jet pT, pseudorapidity, mass and multiplicity from the summed constituents.

    Args:
        jets: ``(n_jets, n_constituents, 4)`` array of (E, px, py, pz).

    Returns:
        Dict of ``(n_jets,)`` float64 arrays: ``"pt"``, ``"eta"`` (0 for an empty jet),
        ``"mass"`` (0 where rounding makes m^2 negative) and ``"multiplicity"`` (number of
        non-zero constituents).
    """
    energy, px, py, pz = np.moveaxis(jets.sum(axis=1, dtype=np.float64), -1, 0)
    pt = np.hypot(px, py)
    eta = np.arcsinh(np.divide(pz, pt, out=np.zeros_like(pt), where=pt > 0))
    mass = np.sqrt(np.maximum(energy**2 - px**2 - py**2 - pz**2, 0.0))
    multiplicity = np.any(jets, axis=-1).sum(axis=-1).astype(np.float64)
    return {"pt": pt, "eta": eta, "mass": mass, "multiplicity": multiplicity}


def substructure_observables(jets) -> pd.DataFrame:
    r"""The eight jet observables of grapa's baselines, one row per jet.

    With $z_i = p_{T,i} / \sum_j p_{T,j}$ (the constituents' pT fractions) and
    $\Delta R_i$ a constituent's distance to the jet axis:

    | column | definition |
    |---|---|
    | `mass` | $m = \sqrt{E^2 - \vec p^{\,2}}$ of the summed constituents [GeV] |
    | `log_multiplicity` | $\ln N$, $N$ the number of non-zero constituents |
    | `width` | $\sum_i z_i \Delta R_i$ (girth) |
    | `pt_d` | $p_T^D = \sqrt{\sum_i z_i^2}$ |
    | `e2` | $\sum_{i<j} z_i z_j \Delta R_{ij}$ (two-point energy correlator, $\beta = 1$) |
    | `leading_fraction` | $\max_i z_i$ |
    | `leading3_fraction` | sum of the three largest $z_i$ |
    | `mass_over_pt` | $m / p_{T,\mathrm{jet}}$ |

    Only the constituents in `jets` count: read as many as the file has (up to 200)
    for the observables of the whole jet.

    Args:
        jets: ``(n_jets, n_constituents, 4)`` constituent 4-vectors (E, px, py, pz),
            zero rows = padding, anywhere in the constituent axis.

    Returns:
        ``pandas.DataFrame`` with the columns of ``SUBSTRUCTURE_OBSERVABLES``, float64.

    Raises:
        ValueError: for a wrong shape, non-finite values, or jets without constituents
            (their observables are undefined): the message gives the count and the
            first such jet's index.
    """
    jets = validate_jets(jets)
    kinematics = jet_observables(jets)
    parts = [_shape_block(jets[start:start + _BATCH]) for start in range(0, len(jets), _BATCH)]
    shape = {key: np.concatenate([part[key] for part in parts]) for key in parts[0]}
    mass = kinematics["mass"]
    return pd.DataFrame({
        "mass": mass,
        "log_multiplicity": np.log(kinematics["multiplicity"]),
        "width": shape["width"],
        "pt_d": shape["pt_d"],
        "e2": shape["e2"],
        "leading_fraction": shape["leading_fraction"],
        "leading3_fraction": shape["leading3_fraction"],
        "mass_over_pt": mass / kinematics["pt"],
    }, columns=list(SUBSTRUCTURE_OBSERVABLES))


def validate_jets(jets) -> np.ndarray:
    """`jets` as float64, or a ValueError naming what is wrong with them.

    Checked: `grapa.data.check_jets` (shape `(n_jets, n_constituents, 4)`, at least one
    jet, finite values), and at least one constituent with pT > 0 in every jet.
    """
    jets = check_jets(jets, dtype=np.float64)
    pt = np.hypot(jets[..., 1], jets[..., 2])
    empty = ~(pt > 0).any(axis=1)
    if empty.any():
        raise ValueError(
            f"{int(empty.sum())} of {len(jets)} jets have no constituent with pT > 0, the first "
            f"at jet index {int(np.argmax(empty))}; their observables are undefined. Drop "
            "them, e.g. jets[grapa.data.jet_observables(jets)['multiplicity'] > 0]."
        )
    return jets


def _shape_block(jets: np.ndarray) -> dict[str, np.ndarray]:
    """The pT-fraction and angular observables of one block of jets."""
    jets = jets[:, np.any(jets, axis=(0, 2))]  # drop slots that are padding in every jet
    _, px, py, pz = np.moveaxis(jets, -1, 0)
    pt = np.hypot(px, py)
    real = pt > 0
    eta = np.arcsinh(np.divide(pz, pt, out=np.zeros_like(pt), where=real))
    z = pt / pt.sum(axis=1, keepdims=True)
    axis_px, axis_py, axis_pz = px.sum(axis=1), py.sum(axis=1), pz.sum(axis=1)
    axis_eta = np.arcsinh(axis_pz / np.hypot(axis_px, axis_py))
    # d_phi = atan2(cross, dot) of the constituent's and the axis's transverse momenta
    d_phi = np.arctan2(axis_px[:, None] * py - axis_py[:, None] * px,
                       axis_px[:, None] * px + axis_py[:, None] * py)
    d_eta = np.where(real, eta - axis_eta[:, None], 0.0)
    d_r = np.where(real, np.hypot(d_eta, d_phi), 0.0)
    phi = np.arctan2(py, px)
    pair_d_phi = np.remainder(phi[:, :, None] - phi[:, None, :] + np.pi, 2 * np.pi) - np.pi
    pair_d_r = np.hypot(eta[:, :, None] - eta[:, None, :], pair_d_phi)
    pair_z = z[:, :, None] * z[:, None, :]  # padding has z = 0 and drops out
    ordered = -np.sort(-z, axis=1)
    return {
        "width": (z * d_r).sum(axis=1),
        "pt_d": np.sqrt((z**2).sum(axis=1)),
        "e2": 0.5 * (pair_z * pair_d_r).sum(axis=(1, 2)),
        "leading_fraction": ordered[:, 0],
        "leading3_fraction": ordered[:, :3].sum(axis=1),
    }
