"""Relative particle features of jets, JetNet's convention, and back to 4-momenta.

Generative models of jets (Kansal et al., "Particle Cloud Generation with Message Passing
Generative Adversarial Networks", NeurIPS 2021, arXiv:2106.11535; the JetNet data set)
describe each particle by its position and momentum fraction relative to the jet:

$$ \\eta^{\\rm rel}_i = \\eta_i - \\eta_{\\rm jet}, \\qquad
   \\phi^{\\rm rel}_i = \\phi_i - \\phi_{\\rm jet} \\ \\text{wrapped into } (-\\pi, \\pi],
   \\qquad p_T^{\\rm rel} = p_{T,i} / p_{T,\\rm jet} $$

with the jet axis the summed 4-momentum of the constituents given. `to_relative` turns
grapa's `(E, px, py, pz)` jets into these features; `from_relative` builds massless
4-momenta back from them and a jet's (pT, eta, phi), so generated jets can be written in
the top-tagging format (`write_jets`) and read by every other part of grapa. Particles
are taken as massless both ways (as in JetNet): a round trip keeps each particle's pT,
eta and phi, and its energy up to the particle's mass.

Padding (an all-zero 4-vector) maps to the all-zero feature triple and back.
"""

from __future__ import annotations

import numpy as np

from grapa.data.checks import check_jets

__all__ = ["RELATIVE_FEATURES", "from_relative", "relative_masses", "to_relative"]

RELATIVE_FEATURES = ("eta_rel", "phi_rel", "pt_rel")


def to_relative(jets, n_particles: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Relative features (eta_rel, phi_rel, pt_rel) of each jet's leading particles.

    Args:
        jets: ``(n_jets, n_constituents, 4)`` array of (E, px, py, pz), leading particles
            first as in the top-tagging files (the order is kept).
        n_particles: keep the first ``n_particles`` constituents (the jet axis is always
            the sum of all constituents given); None keeps all. Jets with fewer get
            zero padding.

    Returns:
        ``(particles, kinematics)``: particles ``(n_jets, n_particles, 3)`` float64 in the
        order of `RELATIVE_FEATURES`, padding all zero; kinematics ``(n_jets, 3)`` the
        jet's (pT, eta, phi).

    Raises:
        ValueError: on a wrong shape, non-finite values, an empty jet (its axis is
            undefined) or ``n_particles < 1``.
    """
    jets = check_jets(jets, dtype="float64")
    if n_particles is None:
        n_particles = jets.shape[1]
    if int(n_particles) < 1:
        raise ValueError(f"n_particles must be >= 1, got {n_particles}")
    n_particles = int(n_particles)
    real = np.any(jets != 0, axis=-1)
    empty = ~real.any(axis=1)
    if empty.any():
        raise ValueError(
            f"{int(empty.sum())} jet(s) have no constituent (first: row "
            f"{int(np.argmax(empty))}): their axis is undefined; drop them first, e.g. "
            "jets[np.any(jets != 0, axis=(1, 2))]"
        )
    jet_pt, jet_eta, jet_phi = _pt_eta_phi(jets.sum(axis=1))
    kept = jets[:, :n_particles]
    real = real[:, :n_particles]
    pt, eta, phi = _pt_eta_phi(kept)
    particles = np.stack(
        [
            eta - jet_eta[:, None],
            _wrap(phi - jet_phi[:, None]),
            pt / jet_pt[:, None],
        ],
        axis=-1,
    )
    particles[~real] = 0.0
    if kept.shape[1] < n_particles:
        particles = np.pad(particles, ((0, 0), (0, n_particles - kept.shape[1]), (0, 0)))
    kinematics = np.stack([jet_pt, jet_eta, jet_phi], axis=-1)
    return particles, kinematics


def from_relative(particles, kinematics) -> np.ndarray:
    """Massless (E, px, py, pz) constituents from relative features and the jet's axis.

    Args:
        particles: ``(n_jets, n_particles, 3)`` (eta_rel, phi_rel, pt_rel); a particle
            with pt_rel <= 0 or all features zero becomes padding (an all-zero 4-vector).
        kinematics: ``(n_jets, 3)`` jet (pT, eta, phi), e.g. from `to_relative` or drawn
            from real jets for generated ones.

    Returns:
        ``(n_jets, n_particles, 4)`` float64 4-momenta, padding all zero, in the particles'
        order.

    Raises:
        ValueError: on wrong shapes, mismatched lengths or non-finite values.
    """
    particles = np.asarray(particles, np.float64)
    kinematics = np.asarray(kinematics, np.float64)
    if particles.ndim != 3 or particles.shape[-1] < 3:
        raise ValueError(
            "particles must have shape (n_jets, n_particles, 3) of (eta_rel, phi_rel, "
            f"pt_rel), got {particles.shape}"
        )
    if kinematics.shape != (len(particles), 3):
        raise ValueError(
            f"kinematics must have shape (n_jets, 3) of the jets' (pT, eta, phi) with "
            f"n_jets = {len(particles)}, got {kinematics.shape}"
        )
    for name, values in (("particles", particles), ("kinematics", kinematics)):
        if not np.all(np.isfinite(values)):
            raise ValueError(f"{name} contain NaN or infinite values")
    eta = particles[..., 0] + kinematics[:, 1:2]
    phi = particles[..., 1] + kinematics[:, 2:3]
    pt = particles[..., 2] * kinematics[:, 0:1]
    real = (particles[..., 2] > 0) & np.any(particles[..., :3] != 0, axis=-1)
    pt = np.where(real, pt, 0.0)
    momenta = np.stack(
        [pt * np.cosh(eta), pt * np.cos(phi), pt * np.sin(phi), pt * np.sinh(eta)], axis=-1
    )
    momenta[~real] = 0.0
    return momenta


def relative_masses(particles) -> np.ndarray:
    """Each jet's mass from its relative features, the particles taken as massless.

    JetNet's jet mass (Kansal et al. 2021): the summed 4-momentum of particles with
    (pT, eta, phi) = (pt_rel, eta_rel, phi_rel), i.e. about the jet's m / pT. Padding adds
    nothing.

    Args:
        particles: ``(n_jets, n_particles, >= 3)`` relative features; extra columns
            (e.g. a mask) are ignored.

    Returns:
        ``(n_jets,)`` float64 masses (0 where rounding makes m^2 negative).
    """
    particles = np.asarray(particles, np.float64)
    if particles.ndim != 3 or particles.shape[-1] < 3:
        raise ValueError(
            "particles must have shape (n_jets, n_particles, 3) of (eta_rel, phi_rel, "
            f"pt_rel), got {particles.shape}"
        )
    eta, phi, pt = particles[..., 0], particles[..., 1], particles[..., 2]
    energy = (pt * np.cosh(eta)).sum(axis=1)
    px = (pt * np.cos(phi)).sum(axis=1)
    py = (pt * np.sin(phi)).sum(axis=1)
    pz = (pt * np.sinh(eta)).sum(axis=1)
    return np.sqrt(np.maximum(energy**2 - px**2 - py**2 - pz**2, 0.0))


def _pt_eta_phi(momenta: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """pT, pseudorapidity and azimuth of (..., 4) 4-vectors; 0 where pT is 0."""
    px, py, pz = momenta[..., 1], momenta[..., 2], momenta[..., 3]
    pt = np.hypot(px, py)
    eta = np.arcsinh(np.divide(pz, pt, out=np.zeros_like(pt), where=pt > 0))
    return pt, eta, np.arctan2(py, px)


def _wrap(angle: np.ndarray) -> np.ndarray:
    """Angles wrapped into (-pi, pi]."""
    return np.pi - np.mod(np.pi - angle, 2 * np.pi)
