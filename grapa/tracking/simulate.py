"""A barrel silicon tracker in a solenoid, simulated fast: helices from layer to layer,
multiple scattering, smeared hits, lost hits and noise, written as TrackML events.

The geometry is the barrel of the TrackML detector (Amrouche et al. 2019, "The Tracking
Machine Learning challenge: Accuracy phase", arXiv:1904.06778): ten cylinders from 32 mm
to 1020 mm in a 2 T solenoid, with TrackML's volume, layer and module numbering. There
are no endcaps: a particle that leaves a layer's length leaves the detector.

Example:
    >>> from grapa.tracking.simulate import simulate_event
    >>> hits, truth, particles = simulate_event(1000, seed=1)
    >>> list(hits.columns)
    ['hit_id', 'x', 'y', 'z', 'volume_id', 'layer_id', 'module_id']
"""

from __future__ import annotations

import dataclasses
import operator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from grapa.tracking.events import PART_DTYPES, write_event

# pT [GeV] = C * B [T] * R [mm] for a unit charge, C = c / 1e12 (0.3 GeV per T per m)
GEV_PER_TESLA_MM = 0.299792458e-3
PION_MASS = 0.13957039  # GeV (PDG); the particles are taken to be charged pions
HIGHLAND_SCALE = 0.0136  # GeV, the 13.6 MeV of the Highland formula

HIT_COLUMNS = list(PART_DTYPES["hits"])
TRUTH_COLUMNS = list(PART_DTYPES["truth"])
PARTICLE_COLUMNS = list(PART_DTYPES["particles"])

# the default pT window (GeV) of the generated particles
PT_MIN = 0.5
PT_MAX = 20.0

# LHC luminous region: a few tens of microns across (15 um here), 55 mm long (TrackML's
# primary-vertex spread in z)
VERTEX_SIGMA_XY = 0.015  # mm
VERTEX_SIGMA_Z = 55.0  # mm

# TrackML's hit weights (trackml-library, trackml/weights.py, by M. Kiehn): relative
# weight along a track of 9 hits, stretched or squeezed to the track's length; particles
# with fewer than 4 hits weigh nothing, hits beyond the 20th weigh nothing
ORDER_PROPOSAL = np.array([10.0, 8.0, 6.0, 5.0, 3.0, 3.0, 3.0, 5.0, 6.0])
ORDER_MIN_HITS = 4
ORDER_MAX_HITS = 20
# the pT weight: 0.2 up to 0.5 GeV, rising linearly to 1 at 3 GeV (0 below 50 MeV)
PT_WEIGHT_KNOTS = ([0.05, 0.5, 3.0], [0.2, 0.2, 1.0])


def _layer_tuple(name, values, n_layers, kind=float):
    values = tuple(kind(value) for value in values)
    if len(values) != n_layers:
        raise ValueError(f"BarrelDetector.{name} has {len(values)} entries for {n_layers} "
                         "layers (radii): give one per layer.")
    return values


@dataclass(frozen=True)
class BarrelDetector:
    r"""Concentric silicon cylinders around the beam in a solenoid field along z.

    The defaults are the barrel of the TrackML detector (Amrouche et al. 2019), as set
    up in ACTS's TrackML-like generic detector (``Examples/src/GenericDetectorML.ipp``
    in acts-project/acts) and in GeantV's TrackML example geometry: 4 pixel layers
    (volume 8), 4 short-strip layers (volume 13) and 2 long-strip layers (volume 17),
    with layer ids 2, 4, 6, 8 within a volume.

    Where the numbers come from:

    - radii: TrackML's barrel radii (32, 72, 116, 172; 260, 360, 500, 660; 820, 1020 mm).
    - half lengths: modules of 72 mm (pixels, 14 along z, 2 mm overlap) and 108 mm
      (strips, 21 along z, 5 mm overlap) span ``(14 * 72 - 13 * 2) / 2 = 491`` mm and
      ``(21 * 108 - 20 * 5) / 2 = 1084`` mm, the |z| reach of TrackML's barrel hits.
    - ``material`` (thickness in radiation lengths x/X0 at normal incidence): ACTS's
      layers carry 1 mm of silicon-equivalent support (X0 = 95.7 mm) plus the sensors,
      0.15 mm for pixels and 2 x 0.25 mm (double-sided) for strips: 1.15 / 95.7 = 0.012
      and 1.5 / 95.7 = 0.016. A track crossing at an angle sees x/X0 / cos(incidence).
    - resolution: binary readout, pitch / sqrt(12), with ACTS's pitches. Pixels of
      50 um x 56 um: 0.015 mm in r-phi and z. Short strips, 60 um pitch: 0.018 mm in
      r-phi; z from the double-sided module's ±20 mrad stereo angle,
      0.018 / (sqrt(2) * 0.02) = 0.6 mm. Long strips, 100 um pitch (as ACTS's comment
      says): 0.03 mm; z with ±40 mrad stereo, 0.03 / (sqrt(2) * 0.04) = 0.5 mm.
    - module segmentation (``modules_phi`` x ``modules_z`` per layer): ACTS's barrel
      module binning; ``module_id = 1 + i_phi * modules_z + i_z``.

    Args:
        b_field: solenoid field in tesla, along +z.
        radii: layer radii in mm, increasing.
        half_lengths: each layer's half length in z (mm); it spans ``|z| <= half_length``.
        volume_ids, layer_ids: TrackML's numbering of each layer.
        material: each layer's thickness x/X0 at normal incidence (0: no scattering).
        resolution_rphi, resolution_z: each layer's Gaussian hit resolution (mm) along
            the circle and along z (0: exact hits).
        modules_phi, modules_z: modules per layer around phi and along z.

    Example:
        >>> detector = BarrelDetector()
        >>> detector.n_layers, detector.volume_ids[4], detector.layer_ids[4]
        (10, 13, 2)
        >>> BarrelDetector().ideal().material[0]
        0.0
    """

    b_field: float = 2.0
    radii: tuple[float, ...] = (32.0, 72.0, 116.0, 172.0, 260.0, 360.0, 500.0, 660.0,
                                820.0, 1020.0)
    half_lengths: tuple[float, ...] = (491.0,) * 4 + (1084.0,) * 6
    volume_ids: tuple[int, ...] = (8,) * 4 + (13,) * 4 + (17,) * 2
    layer_ids: tuple[int, ...] = (2, 4, 6, 8, 2, 4, 6, 8, 2, 4)
    material: tuple[float, ...] = (0.012,) * 4 + (0.016,) * 6
    resolution_rphi: tuple[float, ...] = (0.015,) * 4 + (0.018,) * 4 + (0.03,) * 2
    resolution_z: tuple[float, ...] = (0.015,) * 4 + (0.6,) * 4 + (0.5,) * 2
    modules_phi: tuple[int, ...] = (16, 32, 52, 78, 40, 56, 78, 102, 120, 152)
    modules_z: tuple[int, ...] = (14,) * 4 + (21,) * 6

    def __post_init__(self):
        n_layers = len(self.radii)
        radii = np.asarray(self.radii, dtype=float)
        if n_layers == 0 or not (radii > 0).all() or not (np.diff(radii) > 0).all():
            raise ValueError(f"BarrelDetector.radii {self.radii}: give positive layer radii "
                             "(mm) in increasing order.")
        if not self.b_field > 0:
            raise ValueError(f"BarrelDetector.b_field {self.b_field}: give a positive field "
                             "in tesla.")
        for field in dataclasses.fields(self):
            if field.name == "b_field":
                continue
            kind = int if field.name in ("volume_ids", "layer_ids", "modules_phi",
                                         "modules_z") else float
            values = _layer_tuple(field.name, getattr(self, field.name), n_layers, kind)
            object.__setattr__(self, field.name, values)
        for name in ("half_lengths", "modules_phi", "modules_z"):
            if min(getattr(self, name)) <= 0:
                raise ValueError(f"BarrelDetector.{name} {getattr(self, name)}: every entry "
                                 "must be positive.")
        for name in ("material", "resolution_rphi", "resolution_z"):
            if min(getattr(self, name)) < 0:
                raise ValueError(f"BarrelDetector.{name} {getattr(self, name)}: every entry "
                                 "must be >= 0 (0 switches the effect off).")

    @property
    def n_layers(self) -> int:
        return len(self.radii)

    def ideal(self) -> BarrelDetector:
        """The same geometry without material and with exact hits: pure helices."""
        zeros = (0.0,) * self.n_layers
        return dataclasses.replace(self, material=zeros, resolution_rphi=zeros,
                                   resolution_z=zeros)


def highland_theta0(p, x_over_x0, mass: float = PION_MASS):
    r"""Width of the projected multiple-scattering angle of a unit charge (Highland).

    .. math::

        \theta_0 = \frac{13.6\,\mathrm{MeV}}{\beta c p} \sqrt{x / X_0}
        \left[1 + 0.038 \ln\frac{x}{X_0 \beta^2}\right]

    PDG, "Passage of particles through matter" (Review of Particle Physics), eq. 34.15,
    for charge number 1. Good to 11% for 1e-3 < x/X0 < 100.

    Args:
        p: momentum in GeV (array-like).
        x_over_x0: traversed thickness in radiation lengths (array-like, > 0 where used;
            0 gives 0).
        mass: particle mass in GeV for beta (pions by default).

    Returns:
        theta0 in radians, broadcast over ``p`` and ``x_over_x0``.
    """
    p = np.asarray(p, dtype=float)
    x_over_x0 = np.asarray(x_over_x0, dtype=float)
    beta = p / np.hypot(p, mass)
    with np.errstate(divide="ignore", invalid="ignore"):
        theta0 = (HIGHLAND_SCALE / (beta * p) * np.sqrt(x_over_x0)
                  * (1.0 + 0.038 * np.log(x_over_x0 / beta**2)))
    return np.where(x_over_x0 > 0, theta0, 0.0)


def _helix_to_cylinder(position, momentum, charge, b_field, radius):
    """Move helices in x-y to their first crossing of the circle r = radius.

    A positive particle in a field along +z turns clockwise seen from +z (F = q v x B):
    its direction angle changes by ``-q * s / R`` after transverse arc length s.

    Returns:
        reached (bool, n), the crossing point (n, 2), the turning angle (signed, n) and
        the transverse arc length s (n); the last three only meaningful where reached.
    """
    pt = np.hypot(momentum[:, 0], momentum[:, 1])
    curvature_radius = pt / (GEV_PER_TESLA_MM * b_field)
    turn_sign = -charge  # +1: counter-clockwise
    direction = momentum[:, :2] / pt[:, None]
    # the circle's centre is curvature_radius to the side the particle turns to
    centre = position + (turn_sign * curvature_radius)[:, None] * np.stack(
        [-direction[:, 1], direction[:, 0]], axis=1)
    distance = np.hypot(centre[:, 0], centre[:, 1])
    reached = radius <= curvature_radius + distance
    # circle-circle intersection: both points, at a along the centre's axis, +-h across
    along = (distance**2 + radius**2 - curvature_radius**2) / (2 * distance)
    across = np.sqrt(np.clip(radius**2 - along**2, 0.0, None))
    axis = centre / distance[:, None]
    normal = np.stack([-axis[:, 1], axis[:, 0]], axis=1)
    start_angle = np.arctan2(position[:, 1] - centre[:, 1], position[:, 0] - centre[:, 0])
    best_turn = np.full(len(pt), np.inf)
    best_point = np.zeros((len(pt), 2))
    for side in (1.0, -1.0):
        point = along[:, None] * axis + side * across[:, None] * normal
        angle = np.arctan2(point[:, 1] - centre[:, 1], point[:, 0] - centre[:, 0])
        # turning angle along the direction of motion, in [0, 2 pi)
        turn = np.mod(turn_sign * (angle - start_angle), 2 * np.pi)
        closer = turn < best_turn
        best_turn = np.where(closer, turn, best_turn)
        best_point = np.where(closer[:, None], point, best_point)
    return reached, best_point, turn_sign * best_turn, curvature_radius * best_turn


def _rotate_z(momentum, angle):
    cos, sin = np.cos(angle), np.sin(angle)
    return np.stack([cos * momentum[:, 0] - sin * momentum[:, 1],
                     sin * momentum[:, 0] + cos * momentum[:, 1], momentum[:, 2]], axis=1)


def _scatter(momentum, theta0, rng):
    """Deflect by two independent Gaussian angles (width theta0) perpendicular to p.

    One along the transverse perpendicular u = z x p / |z x p| (the bending plane), one
    along v = p x u / |p| (the plane of p and z); |p| is kept (no energy loss).
    """
    p = np.linalg.norm(momentum, axis=1)
    direction = momentum / p[:, None]
    pt = np.hypot(direction[:, 0], direction[:, 1])
    u = np.stack([-direction[:, 1], direction[:, 0], np.zeros(len(p))], axis=1) / pt[:, None]
    v = np.cross(direction, u)
    kick_u, kick_v = rng.normal(size=(2, len(p))) * theta0
    angle = np.hypot(kick_u, kick_v)
    with np.errstate(divide="ignore", invalid="ignore"):
        axis = (kick_u[:, None] * u + kick_v[:, None] * v) / angle[:, None]
    # exact rotation by `angle` towards `axis` (perpendicular to the direction)
    new_direction = np.where(
        angle[:, None] > 0,
        np.cos(angle)[:, None] * direction + np.sin(angle)[:, None] * axis, direction)
    return new_direction * p[:, None]


def _propagate(detector: BarrelDetector, vertex, momentum, charge, rng):
    """Step every particle outwards layer by layer; returns one record per crossing.

    A particle stops for good when it cannot reach the next radius, turns back inwards
    (a looper) or crosses the next radius beyond the layer's half length.

    Returns:
        dict of arrays over crossings, ordered by layer then particle: ``layer``,
        ``particle`` (index), ``position`` (true, (n, 3)), ``momentum`` (at the crossing,
        before scattering there, (n, 3)).
    """
    position, momentum = vertex.copy(), momentum.copy()
    alive = np.arange(len(charge))
    layers, particles, positions, momenta = [], [], [], []
    for layer in range(detector.n_layers):
        pos, mom = position[alive], momentum[alive]
        reached, point, turn, arc = _helix_to_cylinder(
            pos[:, :2], mom[:, :2], charge[alive], detector.b_field, detector.radii[layer])
        if layer > 0:  # after the first hit: still moving outwards, else it loops back
            reached &= np.einsum("ij,ij->i", pos[:, :2], mom[:, :2]) > 0
        z = pos[:, 2] + arc * mom[:, 2] / np.hypot(mom[:, 0], mom[:, 1])
        reached &= np.abs(z) <= detector.half_lengths[layer]
        alive = alive[reached]
        if alive.size == 0:
            break
        hit_position = np.column_stack([point[reached], z[reached]])
        hit_momentum = _rotate_z(mom[reached], turn[reached])
        layers.append(np.full(alive.size, layer))
        particles.append(alive)
        positions.append(hit_position)
        momenta.append(hit_momentum)
        if detector.material[layer] > 0:
            # path length through the layer grows as 1 / cos(angle to the radial normal)
            p = np.linalg.norm(hit_momentum, axis=1)
            cos_incidence = np.abs(np.einsum("ij,ij->i", hit_position[:, :2],
                                             hit_momentum[:, :2])) / (detector.radii[layer] * p)
            theta0 = highland_theta0(p, detector.material[layer] / cos_incidence)
            hit_momentum = _scatter(hit_momentum, theta0, rng)
        position[alive], momentum[alive] = hit_position, hit_momentum
    if not layers:
        return {"layer": np.zeros(0, int), "particle": np.zeros(0, int),
                "position": np.zeros((0, 3)), "momentum": np.zeros((0, 3))}
    return {"layer": np.concatenate(layers), "particle": np.concatenate(particles),
            "position": np.concatenate(positions), "momentum": np.concatenate(momenta)}


def _power_law(n, low, high, power, rng):
    """Samples of dN/dx ~ x^-power on [low, high] by inverting the cumulative."""
    u = rng.random(n)
    if np.isclose(power, 1.0):
        return low * (high / low) ** u
    exponent = 1.0 - power
    return (low**exponent + u * (high**exponent - low**exponent)) ** (1.0 / exponent)


def _order_weight_table(max_hits=ORDER_MAX_HITS):
    """TrackML's order weights, indexed [nhits, ihit]; each row with nhits >= 4 sums to 1."""
    table = np.zeros((max_hits + 1, max_hits))
    last = len(ORDER_PROPOSAL) - 1
    for nhits in range(ORDER_MIN_HITS, max_hits + 1):
        supports = np.arange(len(ORDER_PROPOSAL)) * (nhits - 1) / last
        weights = np.interp(np.arange(nhits), supports, ORDER_PROPOSAL)
        table[nhits, :nhits] = weights / weights.sum()
    return table


ORDER_WEIGHTS = _order_weight_table()


def trackml_weights(particle, ihit, nhits, pt):
    """Per-hit weights of the TrackML score, normalized to sum to 1 over the event.

    Amrouche et al. 2019: a hit's weight is the product of an order weight
    (larger for the first hits and the last ones along the track, see ``ORDER_PROPOSAL``)
    and a pT weight (0.2 up to 0.5 GeV, rising linearly to 1 at 3 GeV). Particles with
    fewer than 4 hits and noise hits weigh 0. This follows ``trackml.weights`` of the
    TrackML library, except that hits are ranked along the track by the order the
    particle crossed the layers (TrackML ranks by |tz - vz|, the same order on a barrel
    unless pz is close to 0).

    Args:
        particle: (n_hits,) particle index of each hit, -1 for noise.
        ihit: (n_hits,) the hit's rank along its particle's track, from 0.
        nhits: (n_hits,) hits of the hit's particle.
        pt: (n_hits,) the particle's transverse momentum at production (GeV).

    Returns:
        (n_hits,) weights, summing to 1 unless no particle has 4 hits (then all 0).
    """
    capped = np.minimum(nhits, ORDER_MAX_HITS)
    in_table = (particle >= 0) & (ihit < ORDER_MAX_HITS)
    order = np.where(in_table, ORDER_WEIGHTS[capped, np.minimum(ihit, ORDER_MAX_HITS - 1)], 0.0)
    pt_weight = np.interp(pt, *PT_WEIGHT_KNOTS, left=0.0, right=1.0)
    weight = order * pt_weight
    total = weight.sum()
    return weight / total if total > 0 else weight


def _check_options(n_particles, pt_min, pt_max, pt_power, eta_max, inefficiency,
                   noise_fraction, detector):
    try:
        n_particles = operator.index(n_particles)
    except TypeError:
        raise ValueError(f"n_particles {n_particles!r}: give a whole number of particles "
                         "per event (>= 1).") from None
    if n_particles < 1:
        raise ValueError(f"n_particles {n_particles}: give at least 1 particle per event.")
    if not 0 < pt_min < pt_max or not np.isfinite(pt_max):
        raise ValueError(f"pt_min {pt_min} pt_max {pt_max}: the pT window needs "
                         "0 < pt_min < pt_max (GeV, finite).")
    if not np.isfinite(pt_power):
        raise ValueError(f"pt_power {pt_power}: give a finite exponent (3 for dN/dpT ~ pT^-3).")
    if not 0 <= eta_max < np.inf:
        raise ValueError(f"eta_max {eta_max}: give a finite pseudorapidity >= 0.")
    if not 0 <= inefficiency < 1:
        raise ValueError(f"inefficiency {inefficiency}: give a hit-loss probability in "
                         "[0, 1).")
    if not 0 <= noise_fraction < np.inf:
        raise ValueError(f"noise_fraction {noise_fraction}: give a finite fraction >= 0 of "
                         "noise hits per particle hit.")
    if not isinstance(detector, BarrelDetector):
        raise ValueError(f"detector {detector!r}: give a BarrelDetector.")
    return n_particles


def simulate_event(
    n_particles: int,
    *,
    seed=None,
    detector: BarrelDetector | None = None,
    pt_min: float = PT_MIN,
    pt_max: float = PT_MAX,
    pt_power: float = 3.0,
    eta_max: float = 1.0,
    inefficiency: float = 0.01,
    noise_fraction: float = 0.1,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    r"""Simulate one event of charged pions through a barrel detector, TrackML format.

    Particles: charge +-1 at random, phi uniform, eta uniform in [-eta_max, eta_max],
    pT from dN/dpT ~ pT^-pt_power on [pt_min, pt_max] (the defaults put 75% below 1 GeV),
    vertex Gaussian with 0.015 mm across and 55 mm along z (the LHC luminous region).

    Propagation: a helix of radius

    .. math::

        R\,[\mathrm{mm}] = \frac{p_T\,[\mathrm{GeV}]}{0.299792458 \times 10^{-3}\, B\,[\mathrm{T}]}

    from layer to layer, to its first crossing of the next cylinder (circle-circle
    intersection in x-y; z advances by arc length times pz / pT). A particle stops for
    good when 2R is too small to reach the next radius, when it turns back inwards
    (loopers are not followed) or when it crosses beyond the layer's half length (no
    endcaps). At each crossing it scatters (``highland_theta0``, with the path length
    through the layer), without energy loss.

    Hits: the true position smeared along the circle (r-phi) and in z by the layer's
    resolution, kept on the cylinder; each hit lost with probability ``inefficiency``
    (the particle still scatters there). Noise: ``round(noise_fraction * n_hits)`` hits,
    on layers chosen in proportion to each layer's particle hits (so every layer carries
    the same noise fraction on average), uniform in phi and in z over the layer.
    ``hit_id`` counts 1.. after sorting by (volume, layer, module, phi), never in
    particle order.

    Truth: the true (unsmeared) position and the momentum at the crossing, before the
    scattering there; noise hits have ``particle_id`` 0, their measured position and
    zero momentum. Weights: ``trackml_weights``.

    Args:
        n_particles: particles per event (>= 1).
        seed: an int, a ``numpy.random.SeedSequence`` or ``Generator`` (used as is), or
            None for fresh entropy.
        detector: the ``BarrelDetector`` (default: TrackML's barrel).
        pt_min, pt_max: the pT window in GeV.
        pt_power: the exponent n of dN/dpT ~ pT^-n.
        eta_max: particles are generated with |eta| <= eta_max.
        inefficiency: probability that a crossing leaves no hit.
        noise_fraction: noise hits per particle hit.

    Returns:
        ``(hits, truth, particles)`` DataFrames with the columns ``HIT_COLUMNS``,
        ``TRUTH_COLUMNS`` and ``PARTICLE_COLUMNS`` (mm, GeV); hits and truth sorted by
        ``hit_id``; ``particles`` holds every generated particle (``particle_id``
        1..n_particles, ``nhits`` its recorded hits, possibly 0).
    """
    detector = BarrelDetector() if detector is None else detector
    n_particles = _check_options(n_particles, pt_min, pt_max, pt_power, eta_max,
                                 inefficiency, noise_fraction, detector)
    rng = np.random.default_rng(seed)
    charge, vertex, momentum = _generate_particles(n_particles, pt_min, pt_max, pt_power,
                                                   eta_max, rng)
    crossings = _propagate(detector, vertex, momentum, charge, rng)
    kept = rng.random(len(crossings["layer"])) >= inefficiency
    crossings = {key: value[kept] for key, value in crossings.items()}
    measured = _measure(detector, crossings, rng)
    noise = _noise(detector, crossings["layer"], noise_fraction, rng)
    particles = pd.DataFrame({
        "particle_id": np.arange(1, n_particles + 1), "vx": vertex[:, 0],
        "vy": vertex[:, 1], "vz": vertex[:, 2], "px": momentum[:, 0], "py": momentum[:, 1],
        "pz": momentum[:, 2], "q": charge,
        "nhits": np.bincount(crossings["particle"], minlength=n_particles)},
        columns=PARTICLE_COLUMNS)
    hits, truth = _hit_tables(detector, crossings, measured, noise, particles)
    return hits, truth, particles


def _generate_particles(n_particles, pt_min, pt_max, pt_power, eta_max, rng):
    """Charges, vertices (n, 3) and momenta (n, 3) of the event's pions."""
    charge = rng.choice(np.array([-1, 1]), size=n_particles)
    phi = rng.uniform(-np.pi, np.pi, n_particles)
    eta = rng.uniform(-eta_max, eta_max, n_particles)
    pt = _power_law(n_particles, pt_min, pt_max, pt_power, rng)
    momentum = np.column_stack([pt * np.cos(phi), pt * np.sin(phi), pt * np.sinh(eta)])
    vertex = rng.normal(size=(n_particles, 3)) * [VERTEX_SIGMA_XY, VERTEX_SIGMA_XY,
                                                   VERTEX_SIGMA_Z]
    return charge, vertex, momentum


def _measure(detector: BarrelDetector, crossings, rng):
    """Measured (phi, z) of each crossing: smeared along the circle and in z."""
    layer, position = crossings["layer"], crossings["position"]
    rphi_error = rng.normal(size=len(layer)) * np.asarray(detector.resolution_rphi)[layer]
    phi = (np.arctan2(position[:, 1], position[:, 0])
           + rphi_error / np.asarray(detector.radii)[layer])
    z = position[:, 2] + rng.normal(size=len(layer)) * np.asarray(detector.resolution_z)[layer]
    return phi, z


def _noise(detector: BarrelDetector, hit_layer, noise_fraction, rng):
    """(layer, phi, z) of noise hits: their layers drawn like the particle hits' layers."""
    n_noise = int(round(noise_fraction * len(hit_layer)))
    if n_noise == 0:
        return np.zeros(0, int), np.zeros(0), np.zeros(0)
    share = np.bincount(hit_layer, minlength=detector.n_layers) / len(hit_layer)
    layer = rng.choice(detector.n_layers, size=n_noise, p=share)
    phi = rng.uniform(-np.pi, np.pi, n_noise)
    half_length = np.asarray(detector.half_lengths)[layer]
    return layer, phi, rng.uniform(-half_length, half_length)


def _rank_along_tracks(particle, n_particles):
    """Each hit's rank among its particle's hits, from 0, for hits ordered by layer."""
    order = np.argsort(particle, kind="stable")
    first = np.concatenate([[0], np.cumsum(np.bincount(particle, minlength=n_particles))[:-1]])
    rank = np.empty(len(particle), int)
    rank[order] = np.arange(len(particle)) - first[particle[order]]
    return rank


def _hit_tables(detector: BarrelDetector, crossings, measured, noise, particles):
    """The hits and truth tables of the particle hits and the noise, ids by detector."""
    particle = crossings["particle"]
    noise_layer, noise_phi, noise_z = noise
    n_noise = len(noise_layer)
    layer = np.concatenate([crossings["layer"], noise_layer])
    phi = np.concatenate([measured[0], noise_phi])
    z = np.concatenate([measured[1], noise_z])
    radius = np.asarray(detector.radii)[layer]
    x, y = radius * np.cos(phi), radius * np.sin(phi)
    module_id = _module_id(detector, layer, phi, z)
    volume_id = np.asarray(detector.volume_ids)[layer]
    layer_id = np.asarray(detector.layer_ids)[layer]

    nhits, pt = particles.nhits.to_numpy(), np.hypot(particles.px, particles.py).to_numpy()
    weight = trackml_weights(
        np.concatenate([particle, np.full(n_noise, -1)]),
        np.concatenate([_rank_along_tracks(particle, len(particles)), np.zeros(n_noise, int)]),
        np.concatenate([nhits[particle], np.zeros(n_noise, int)]),
        np.concatenate([pt[particle], np.zeros(n_noise)]))
    # noise: its measured position as the truth, no particle, no momentum
    true_position = np.concatenate([crossings["position"],
                                    np.column_stack([x, y, z])[len(particle):]])
    true_momentum = np.concatenate([crossings["momentum"], np.zeros((n_noise, 3))])
    particle_id = np.concatenate([particles.particle_id.to_numpy()[particle],
                                  np.zeros(n_noise, int)])

    # hit ids follow the detector, never the particles
    sort = np.lexsort((np.arctan2(y, x), module_id, layer_id, volume_id))
    hit_id = np.arange(1, len(sort) + 1)
    hits = pd.DataFrame({
        "hit_id": hit_id, "x": x[sort], "y": y[sort], "z": z[sort],
        "volume_id": volume_id[sort], "layer_id": layer_id[sort],
        "module_id": module_id[sort]}, columns=HIT_COLUMNS)
    truth = pd.DataFrame({
        "hit_id": hit_id, "particle_id": particle_id[sort],
        "tx": true_position[sort, 0], "ty": true_position[sort, 1],
        "tz": true_position[sort, 2], "tpx": true_momentum[sort, 0],
        "tpy": true_momentum[sort, 1], "tpz": true_momentum[sort, 2],
        "weight": weight[sort]}, columns=TRUTH_COLUMNS)
    integer_columns = ["hit_id", "volume_id", "layer_id", "module_id"]
    hits[integer_columns] = hits[integer_columns].astype("int64")
    truth[["hit_id", "particle_id"]] = truth[["hit_id", "particle_id"]].astype("int64")
    return hits, truth


def _module_id(detector: BarrelDetector, layer, phi, z):
    """1 + i_phi * modules_z + i_z of the module a point on a layer falls in."""
    n_phi = np.asarray(detector.modules_phi)[layer]
    n_z = np.asarray(detector.modules_z)[layer]
    half_length = np.asarray(detector.half_lengths)[layer]
    i_phi = np.minimum((np.mod(phi, 2 * np.pi) / (2 * np.pi) * n_phi).astype(int), n_phi - 1)
    i_z = np.clip(((z + half_length) / (2 * half_length) * n_z).astype(int), 0, n_z - 1)
    return 1 + i_phi * n_z + i_z


def simulate_events(
    out_dir: str | Path,
    n_events: int,
    n_particles: int,
    *,
    seed: int = 0,
    first_event_id: int = 1000,
    **options,
) -> list[Path]:
    """Simulate events with ``simulate_event`` and write each as TrackML CSV files.

    Event k (numbered ``first_event_id + k``) draws from the k-th child of
    ``numpy.random.SeedSequence(seed)``: the same seed gives the same files, different
    seeds independent events.

    Args:
        out_dir: directory for the ``event{id:09d}-{hits,truth,particles}.csv`` files
            (created if missing).
        n_events: number of events (>= 1).
        n_particles: particles per event.
        seed: master seed.
        first_event_id: the first event's id (>= 0).
        **options: keyword arguments of ``simulate_event`` (``detector``, ``pt_min``, ...).

    Returns:
        each event's file prefix ``out_dir/event{id:09d}``, as ``write_event`` returns it.
    """
    try:
        n_events = operator.index(n_events)
        first_event_id = operator.index(first_event_id)
    except TypeError:
        raise ValueError(f"n_events {n_events!r}, first_event_id {first_event_id!r}: give "
                         "whole numbers.") from None
    if n_events < 1:
        raise ValueError(f"n_events {n_events}: give at least 1 event.")
    if first_event_id < 0:
        raise ValueError(f"first_event_id {first_event_id}: event ids are >= 0.")
    paths = []
    for k, event_seed in enumerate(np.random.SeedSequence(seed).spawn(n_events)):
        # the first event checks the options before anything is written
        hits, truth, particles = simulate_event(n_particles, seed=event_seed, **options)
        paths.append(write_event(out_dir, first_event_id + k, hits, truth, particles))
    return paths
