"""Metrics for generated jets, with JetNet's conventions so numbers compare with papers.

Kansal et al., "Particle Cloud Generation with Message Passing Generative Adversarial
Networks", NeurIPS 2021, arXiv:2106.11535 (W1-M, W1-P, W1-EFP) and Kansal et al.,
"Evaluating generative models in high energy physics", Phys. Rev. D 107, 076017 (2023),
arXiv:2211.10295 (FPD, KPD), as implemented in the `jetnet` package
(`jetnet.evaluation.gen_metrics`); this is a plain numpy/scipy reimplementation.

Jets are `(n_jets, n_particles, 3)` arrays of JetNet's relative particle features
`(eta_rel, phi_rel, pt_rel)`; a particle whose three features are all zero is padding.
Columns after the third (a mask, say) are ignored.

- **W1-M, W1-P, W1-EFP**: the 1-Wasserstein distance (`scipy.stats.wasserstein_distance`)
  between the two sets' distributions of jet mass, of each particle feature (padding
  left out) and of five energy flow polynomials. Each of `num_batches` batches draws
  `num_eval_samples` jets *with replacement* from each set; the result is the mean and
  standard deviation over batches.
- **FPD**: the Fréchet distance between Gaussians fitted to physics features (the 36
  EFPs of degree <= 4, `physics_features`), extrapolated to infinite sample size by a
  linear fit in 1/N; the value is the intercept and its fit error.
- **KPD**: the unbiased kernel MMD with the polynomial kernel `(x.y / d + 1)^4`; the
  value is the median over batches and the error half the 16-84 percentile range.

Energy flow polynomials (Komiske, Metodiev, Thaler, JHEP 04 (2018) 013,
arXiv:1712.07124) use JetNet's settings: energies `z_i = pt_rel_i` (not normalised)
and angles `theta_ij = sqrt(d_eta^2 + d_phi^2)`. For a multigraph G with N vertices

```text
EFP_G = sum_{i_1..i_N} z_{i_1} ... z_{i_N}  prod_{(k, l) in edges of G} theta_{i_k i_l}
```

and a disconnected graph's EFP is the product of its components'. The graphs are
enumerated here (`efp_graphs`), the same set as energyflow's
`EFPSet(("d<=", d_max), measure="hadr", beta=1, normed=None, coords="ptyphim")`.

Papers quote W1-M x 10^3, W1-P x 10^3, W1-EFP x 10^5, FPD x 10^4 and KPD x 10^4; the
functions here return the raw numbers. What a perfect generator would score (the floor)
is `generation_metrics(real_a, real_b)` on two independent samples of real jets.

Plain numpy, scipy and pandas; no Keras.
"""

from __future__ import annotations

import functools
import itertools
import warnings
from collections import Counter

import numpy as np
import pandas as pd
from scipy import linalg
from scipy.optimize import curve_fit
from scipy.stats import iqr, wasserstein_distance

from grapa.data.checks import check_finite
from grapa.data.relative import relative_masses

__all__ = [
    "efp_graphs",
    "efps",
    "fpd",
    "generation_metrics",
    "jet_masses",
    "kpd",
    "physics_features",
    "w1efp",
    "w1m",
    "w1p",
]

_RECOMMENDED_SAMPLES = 50_000  # JetNet's recommended jets per set; FPD warns below it

_CHUNK_ELEMENTS = 2_000_000  # particle pairs per EFP block: 16 MB per theta^w array


# ---------------------------------------------------------------------------------------
# Input validation
# ---------------------------------------------------------------------------------------


def _jets(values, name: str) -> np.ndarray:
    """The `(n_jets, n_particles, 3)` float64 relative features of `values`, checked."""
    array = np.asarray(values)
    if array.ndim != 3 or array.shape[-1] < 3:
        raise ValueError(
            f"{name} must have shape (n_jets, n_particles, 3) with features (eta_rel, "
            f"phi_rel, pt_rel) in JetNet's order, got {array.shape}. Pass one jet as "
            "jet[None]; reorder other feature orders first, e.g. jets[..., [1, 2, 0]]."
        )
    if array.shape[0] == 0 or array.shape[1] == 0:
        raise ValueError(f"{name} is empty (shape {array.shape}): pass at least one jet.")
    jets = np.ascontiguousarray(array[..., :3], dtype=np.float64)
    check_finite(jets, name, fix=f"{name}[np.isfinite({name}[..., :3]).all(axis=(1, 2))]")
    if not np.any(jets):
        raise ValueError(
            f"{name} has no real particle: all {jets.shape[0] * jets.shape[1]} particles "
            "are all-zero padding. A generator that outputs only zeros has collapsed; "
            "check its output before evaluating it."
        )
    return jets


def _features(values, name: str) -> np.ndarray:
    """The `(n_samples, n_features)` float64 array of `values`, checked."""
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 2:
        raise ValueError(
            f"{name} must have shape (n_samples, n_features), got {array.shape}. For jets, "
            "compute the features first: physics_features(jets); one feature: "
            "values.reshape(-1, 1)."
        )
    if array.size == 0:
        raise ValueError(f"{name} is empty (shape {array.shape}): pass at least one sample.")
    check_finite(array, name, fix=f"{name}[np.isfinite({name}).all(axis=1)]", unit="sample")
    return array


def _feature_pair(real, generated) -> tuple[np.ndarray, np.ndarray]:
    """Real and generated features, checked and with the same number of features."""
    real = _features(real, "real_features")
    generated = _features(generated, "gen_features")
    if real.shape[1] != generated.shape[1]:
        raise ValueError(
            f"real_features and gen_features must have the same features: got "
            f"{real.shape[1]} and {generated.shape[1]} columns. Compute both with the same "
            "function, e.g. physics_features."
        )
    return real, generated


def _at_least(value, name: str, minimum: int) -> int:
    """`value` as an int, or a ValueError if it is below `minimum`."""
    if int(value) != value or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}.")
    return int(value)


# ---------------------------------------------------------------------------------------
# Jet mass
# ---------------------------------------------------------------------------------------


def jet_masses(jets) -> np.ndarray:
    """Each jet's invariant mass from its relative features (JetNet's jet mass).

    The particles are massless 4-vectors with (pT, eta, phi) = (pt_rel, eta_rel,
    phi_rel), so the result is about the jet's m / pT:

    ```text
    E = sum_i pt_i cosh(eta_i),   pz = sum_i pt_i sinh(eta_i),
    px = sum_i pt_i cos(phi_i),   py = sum_i pt_i sin(phi_i),
    m = sqrt(max(E^2 - px^2 - py^2 - pz^2, 0))
    ```

    Padding (pt_rel = 0) adds nothing.

    Args:
        jets: `(n_jets, n_particles, >= 3)` relative features (eta_rel, phi_rel, pt_rel).

    Returns:
        `(n_jets,)` float64 masses, 0 where rounding makes m^2 negative.

    Raises:
        ValueError: on a wrong shape, non-finite values, no jet or no real particle.

    Example:
        >>> jet_masses([[[0.0, 0.0, 0.5], [0.0, np.pi, 0.5]]])  # back to back: 2 sqrt(pt1 pt2)
        array([1.])
    """
    return _masses(_jets(jets, "jets"))


def _masses(jets: np.ndarray) -> np.ndarray:
    """`jet_masses` of checked jets (`grapa.data.relative.relative_masses`)."""
    return relative_masses(jets)


# ---------------------------------------------------------------------------------------
# Wasserstein distances (MPGAN paper, sec. 4)
# ---------------------------------------------------------------------------------------


def _values(array: np.ndarray, picked: np.ndarray) -> np.ndarray:
    """The rows of per-jet values of the picked jets."""
    return array[picked]


def _real_particles(jets: np.ndarray, picked: np.ndarray) -> np.ndarray:
    """The `(n_real, 3)` non-padding particles of the picked jets (JetNet's exclude_zeros)."""
    sample = jets[picked]
    return sample[np.any(sample != 0, axis=-1)]


def _resampled_w1(first, second, num_eval_samples, num_batches, seed, rows=_values):
    """Per-column W1 over batches of jets drawn with replacement: (means, stds).

    Draws in JetNet's order: each batch picks `num_eval_samples` jets of `first`, then
    of `second`; `rows(array, picked)` turns the picked jets into `(n, k)` values.
    """
    num_eval_samples = _at_least(num_eval_samples, "num_eval_samples", 1)
    num_batches = _at_least(num_batches, "num_batches", 1)
    rng = np.random.default_rng(seed)
    distances = []
    for _ in range(num_batches):
        sample1 = rows(first, rng.choice(len(first), size=num_eval_samples))
        sample2 = rows(second, rng.choice(len(second), size=num_eval_samples))
        if len(sample1) == 0 or len(sample2) == 0:
            raise ValueError(
                f"a batch of {num_eval_samples} jets drawn from one set has no real "
                "particle (all picked jets are empty): raise num_eval_samples or drop "
                "the empty jets, e.g. jets[np.any(jets[..., :3] != 0, axis=(1, 2))]."
            )
        distances.append([wasserstein_distance(sample1[:, column], sample2[:, column])
                          for column in range(sample1.shape[1])])
    distances = np.asarray(distances)
    return distances.mean(axis=0), distances.std(axis=0)


def _averaged(means: np.ndarray, stds: np.ndarray) -> tuple[float, float]:
    """One score over columns, as JetNet's average_over_features: mean of the means and
    the quadrature sum of the standard deviations (not divided by the column count)."""
    return float(np.mean(means)), float(np.linalg.norm(stds))


def w1m(jets1, jets2, num_eval_samples: int = 50_000, num_batches: int = 5,
        seed: int | None = None) -> tuple[float, float]:
    """1-Wasserstein distance between the jet masses of two sets (W1-M, arXiv:2106.11535).

    Each of `num_batches` batches draws `num_eval_samples` jets with replacement from
    each set and takes `scipy.stats.wasserstein_distance` of their `jet_masses`.

    Args:
        jets1, jets2: `(n_jets, n_particles, >= 3)` relative features (eta_rel,
            phi_rel, pt_rel); the sets may differ in size and particle count.
        num_eval_samples: jets drawn from each set per batch (JetNet: 50,000).
        num_batches: batches to average over.
        seed: seed of `numpy.random.default_rng`; None draws fresh entropy.

    Returns:
        `(mean, std)` of W1 over the batches, floats.

    Raises:
        ValueError: on invalid jets or a non-positive sample or batch count.
    """
    masses1 = _masses(_jets(jets1, "jets1"))[:, None]
    masses2 = _masses(_jets(jets2, "jets2"))[:, None]
    means, stds = _resampled_w1(masses1, masses2, num_eval_samples, num_batches, seed)
    return float(means[0]), float(stds[0])


def w1p(jets1, jets2, num_eval_samples: int = 50_000, num_batches: int = 5,
        seed: int | None = None, average_over_features: bool = False):
    """1-Wasserstein distance of each particle feature between two sets (W1-P).

    Each batch draws `num_eval_samples` jets with replacement from each set, pools their
    real (not all-zero) particles and takes the W1 of eta_rel, phi_rel and pt_rel
    separately. The MPGAN paper's W1-P is the average over the three features.

    Args:
        jets1, jets2: `(n_jets, n_particles, >= 3)` relative features (eta_rel,
            phi_rel, pt_rel).
        num_eval_samples: jets drawn from each set per batch (JetNet: 50,000).
        num_batches: batches to average over.
        seed: seed of `numpy.random.default_rng`; None draws fresh entropy.
        average_over_features: return one score, the mean over features, with the
            standard deviations summed in quadrature (JetNet's convention).

    Returns:
        `(means, stds)`: arrays of length 3 in the order (eta_rel, phi_rel, pt_rel), or
        floats with `average_over_features=True`.

    Raises:
        ValueError: on invalid jets, a non-positive sample or batch count, or a batch
            whose drawn jets are all empty.
    """
    means, stds = _resampled_w1(_jets(jets1, "jets1"), _jets(jets2, "jets2"),
                                num_eval_samples, num_batches, seed, rows=_real_particles)
    return _averaged(means, stds) if average_over_features else (means, stds)


def w1efp(jets1, jets2, num_eval_samples: int = 50_000, num_batches: int = 5,
          seed: int | None = None, average: bool = False):
    """1-Wasserstein distance of energy flow polynomials between two sets (W1-EFP).

    JetNet's default set: the 5 connected EFPs with 4 vertices and 4 edges (energyflow's
    `("n==", 4), ("d==", 4), ("p==", 1)`), in the order of `efp_graphs(4,
    connected_only=True)` restricted to those. Sampling as in `w1m`.

    Args:
        jets1, jets2: `(n_jets, n_particles, >= 3)` relative features.
        num_eval_samples: jets drawn from each set per batch (JetNet: 50,000).
        num_batches: batches to average over.
        seed: seed of `numpy.random.default_rng`; None draws fresh entropy.
        average: return one score, the mean over the 5 EFPs, with the standard
            deviations summed in quadrature (JetNet's convention).

    Returns:
        `(means, stds)`: arrays of length 5, or floats with `average=True`.

    Raises:
        ValueError: on invalid jets or a non-positive sample or batch count.
    """
    efps1 = _efp_values(_jets(jets1, "jets1"), _w1efp_columns())
    efps2 = _efp_values(_jets(jets2, "jets2"), _w1efp_columns())
    means, stds = _resampled_w1(efps1, efps2, num_eval_samples, num_batches, seed)
    return _averaged(means, stds) if average else (means, stds)


# ---------------------------------------------------------------------------------------
# Energy flow polynomials (Komiske, Metodiev, Thaler 2018)
# ---------------------------------------------------------------------------------------


def _canonical(edges: tuple) -> tuple:
    """The smallest sorted edge list over relabellings that keep degrees descending.

    Two multigraphs are isomorphic exactly when their canonical forms are equal: an
    isomorphism keeps degrees, so only permutations within a degree class are tried.
    """
    degrees = Counter(vertex for edge in edges for vertex in edge)
    by_degree = sorted(degrees, key=lambda vertex: -degrees[vertex])
    classes = [list(group) for _, group in
               itertools.groupby(by_degree, key=lambda vertex: degrees[vertex])]
    best = None
    for orders in itertools.product(*(itertools.permutations(group) for group in classes)):
        label = {old: new for new, old in enumerate(itertools.chain(*orders))}
        form = tuple(sorted(tuple(sorted((label[i], label[j]))) for i, j in edges))
        best = form if best is None or form < best else best
    return best


def _vertex_count(edges: tuple) -> int:
    """Vertices of a graph given by its edges (1 for the edgeless single vertex)."""
    return 1 + max((vertex for edge in edges for vertex in edge), default=0)


@functools.cache
def _connected_graphs(max_degree: int) -> tuple:
    """Connected multigraphs with 0..max_degree edges, by (vertices, edges, canonical form).

    Grown one edge at a time: every connected multigraph has an edge whose removal
    leaves a connected one (a repeated edge, an edge on a cycle, or a leaf's edge), so
    adding every possible edge to every graph with d - 1 edges finds all with d.
    """
    graphs, layer = [()], [()]
    for _ in range(max_degree):
        grown = set()
        for edges in layer:
            n = _vertex_count(edges)
            for new in itertools.combinations(range(n + 1), 2):
                grown.add(_canonical(edges + (new,)))
        layer = sorted(grown)
        graphs += layer
    return tuple(sorted(graphs, key=lambda edges: (_vertex_count(edges), len(edges), edges)))


@functools.cache
def _efp_columns(max_degree: int, connected_only: bool) -> tuple:
    """Each EFP column as the tuple of its connected components' edge lists."""
    connected = _connected_graphs(max_degree)
    columns = [(edges,) for edges in connected]
    if connected_only:
        return tuple(columns)
    with_edges = [edges for edges in connected if edges]  # the lone vertex is no factor
    products = [
        combination
        for count in range(2, max_degree + 1)
        for combination in itertools.combinations_with_replacement(with_edges, count)
        if sum(len(edges) for edges in combination) <= max_degree
    ]
    products.sort(key=lambda combination: (
        sum(_vertex_count(edges) for edges in combination),
        sum(len(edges) for edges in combination),
        [connected.index(edges) for edges in combination],
    ))
    return tuple(columns + products)


@functools.cache
def _w1efp_columns() -> tuple:
    """JetNet's W1-EFP set: the connected graphs with 4 vertices and 4 edges."""
    return tuple(column for column in _efp_columns(4, True)
                 if _vertex_count(column[0]) == 4 and len(column[0]) == 4)


def _joined(components) -> tuple:
    """One edge list of a disconnected graph, the components' vertices numbered on."""
    joined, offset = [], 0
    for edges in components:
        joined += [(i + offset, j + offset) for i, j in edges]
        offset += _vertex_count(edges)
    return tuple(joined)


def efp_graphs(max_degree: int = 4, connected_only: bool = False) -> list[tuple]:
    """The multigraph of each column of `efps`, as a tuple of edges `(i, j)`, i < j.

    A repeated edge appears once per copy; vertices are numbered from 0; the empty
    tuple is the single vertex without edges (EFP = sum_i z_i). Columns come in this
    order: the connected graphs by number of vertices, then of edges, then edge list
    (so column 0 is the single vertex and column 1 the single edge); then, unless
    `connected_only`, the disconnected graphs by vertices, edges and the positions of
    their connected components in that list.

    energyflow's `EFPSet` holds the same graphs in another order (its own generation
    index within equal vertex and edge counts): match columns by graph, not position.

    Args:
        max_degree: the most edges (the degree d of the polynomial), >= 1.
        connected_only: only the connected (prime) graphs.

    Returns:
        A list with one edge tuple per EFP column; 36 for `max_degree=4` (21 connected).

    Example:
        >>> efp_graphs(2)
        [(), ((0, 1),), ((0, 1), (0, 1)), ((0, 1), (0, 2)), ((0, 1), (2, 3))]
    """
    max_degree = _at_least(max_degree, "max_degree", 1)
    return [_joined(column) for column in _efp_columns(max_degree, bool(connected_only))]


def _energies_and_angles(jets: np.ndarray, max_weight: int):
    """`z = pt_rel` `(n, p)` and `{w: theta^w}` `(n, p, p)` for w = 1..max_weight."""
    d_eta = jets[:, :, None, 0] - jets[:, None, :, 0]
    d_phi = np.remainder(jets[:, :, None, 1] - jets[:, None, :, 1] + np.pi, 2 * np.pi) - np.pi
    theta = np.sqrt(d_eta**2 + d_phi**2)
    powers = {1: theta}
    for weight in range(2, max_weight + 1):
        powers[weight] = powers[weight - 1] * theta
    return jets[:, :, 2], powers


def _connected_efp(energies: np.ndarray, angles: dict, edges: tuple) -> np.ndarray:
    """One connected EFP for a block of jets: an einsum over all particle assignments."""
    vertices = "bcdefghijklmnopqrstuvwxyz"  # "a" is the jet index
    n = _vertex_count(edges)
    terms = [f"a{vertices[v]}" for v in range(n)]
    operands = [energies] * n
    for (i, j), weight in sorted(Counter(edges).items()):
        terms.append(f"a{vertices[i]}{vertices[j]}")
        operands.append(angles[weight])
    return np.einsum(",".join(terms) + "->a", *operands, optimize=True)


def _efp_values(jets: np.ndarray, columns) -> np.ndarray:
    """`(n_jets, len(columns))` EFPs of checked jets, computed in blocks of jets."""
    connected = sorted({edges for column in columns for edges in column})
    max_weight = max(max(Counter(edges).values(), default=1) for edges in connected)
    n_jets, n_particles = jets.shape[:2]
    block = max(1, _CHUNK_ELEMENTS // n_particles**2)
    values = np.empty((n_jets, len(columns)))
    for start in range(0, n_jets, block):
        energies, angles = _energies_and_angles(jets[start:start + block], max_weight)
        prime = {edges: _connected_efp(energies, angles, edges) for edges in connected}
        for k, column in enumerate(columns):
            values[start:start + block, k] = np.prod([prime[edges] for edges in column], axis=0)
    return values


def efps(jets, max_degree: int = 4, connected_only: bool = False) -> np.ndarray:
    """Energy flow polynomials of each jet with JetNet's settings (arXiv:1712.07124).

    All multigraphs with at most `max_degree` edges, connected or not, plus the single
    vertex: the set of energyflow's `EFPSet(("d<=", max_degree), measure="hadr",
    beta=1, normed=None, coords="ptyphim")`, which JetNet uses for FPD and KPD. Energies
    are `z_i = pt_rel_i` (not normalised), angles `theta_ij = sqrt(d_eta^2 + d_phi^2)`
    with `d_phi` wrapped to at most pi in size; padding has z = 0 and adds nothing.

    ```text
    EFP_G = sum_{i_1..i_N} z_{i_1} ... z_{i_N}  prod_{(k, l) in G} theta_{i_k i_l}
    ```

    A disconnected graph's EFP is the product of its components'. Each connected EFP is
    one `numpy.einsum` over blocks of jets; cost grows as n_particles^3 for graphs with
    a cycle, n_particles^2 otherwise.

    Args:
        jets: `(n_jets, n_particles, >= 3)` relative features (eta_rel, phi_rel, pt_rel).
        max_degree: the most edges (the degree d), >= 1; 4 gives JetNet's 36 EFPs.
        connected_only: only the connected (prime) graphs, 21 for `max_degree=4`.

    Returns:
        `(n_jets, n_efps)` float64, columns in the order of
        `efp_graphs(max_degree, connected_only)` (which differs from energyflow's).

    Raises:
        ValueError: on invalid jets or `max_degree < 1`.
    """
    max_degree = _at_least(max_degree, "max_degree", 1)
    return _efp_values(_jets(jets, "jets"), _efp_columns(max_degree, bool(connected_only)))


def physics_features(jets) -> np.ndarray:
    """The 36 EFPs of degree <= 4 that JetNet uses as FPD and KPD features.

    JetNet's `get_fpd_kpd_jet_features`; the columns are `efp_graphs(4)`.

    Args:
        jets: `(n_jets, n_particles, >= 3)` relative features (eta_rel, phi_rel, pt_rel).

    Returns:
        `(n_jets, 36)` float64.
    """
    return efps(jets, max_degree=4)


# ---------------------------------------------------------------------------------------
# Fréchet and kernel physics distances (Kansal et al. 2023)
# ---------------------------------------------------------------------------------------


def _normalised(real: np.ndarray, generated: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Both divided by the real features' max |value| per feature (1 where it is 0)."""
    scale = np.abs(real).max(axis=0)
    scale[scale == 0] = 1.0
    return real / scale, generated / scale


def _frechet_distance(mean1, cov1, mean2, cov2, eps: float = 1e-6) -> float:
    """Fréchet distance of two Gaussians (Dowson and Landau 1982):

    ```text
    |mu1 - mu2|^2 + tr(C1 + C2 - 2 (C1 C2)^(1/2))
    ```

    As pytorch-fid and JetNet: a small diagonal offset when the product is too singular
    for a finite square root, and the real part when rounding makes it complex.
    """
    cov1, cov2 = np.atleast_2d(cov1), np.atleast_2d(cov2)
    diff = np.atleast_1d(mean1) - np.atleast_1d(mean2)
    root = linalg.sqrtm(cov1 @ cov2)
    if not np.isfinite(root).all():
        offset = eps * np.eye(len(cov1))
        root = linalg.sqrtm((cov1 + offset) @ (cov2 + offset))
    if np.iscomplexobj(root):
        imaginary, real = np.trace(root.imag), np.trace(root.real)
        if not (np.allclose(np.diagonal(root).imag, 0, atol=1e-3)
                or np.isclose(imaginary / real, 0, atol=1e-3)):
            warnings.warn(
                f"large imaginary part in the covariance square root of the Fréchet "
                f"distance: trace Im {imaginary:.3g}, Re {real:.3g}; the features may be "
                "nearly collinear (drop constant or duplicate columns).",
                RuntimeWarning, stacklevel=3,
            )
        root = root.real
    return float(diff @ diff + np.trace(cov1) + np.trace(cov2) - 2 * np.trace(root))


def _linear(x, intercept, slope):
    return intercept + slope * x


def fpd(real_features, gen_features, min_samples: int = 20_000, max_samples: int = 50_000,
        num_batches: int = 20, num_points: int = 10, normalise: bool = True,
        seed: int = 42) -> tuple[float, float]:
    """Fréchet physics distance (FPD) of two feature sets (Kansal et al. 2023, sec. III).

    The Fréchet distance of Gaussians fitted to the features is biased up by about
    1/N at sample size N. So, as JetNet: `num_points` batch sizes at regular intervals
    in 1/N between `min_samples` and `max_samples`, at each the mean distance over
    `num_batches` draws (with replacement) of that many rows from each set, then a
    linear fit `value = FPD + slope / N` (`scipy.optimize.curve_fit`, both parameters
    >= 0). The FPD is the intercept, its error the fit's. The draws follow JetNet's
    order and seeding, so the same inputs give JetNet's numbers.

    Args:
        real_features: `(n_real, n_features)`, e.g. `physics_features(real_jets)`.
        gen_features: `(n_generated, n_features)`, the same features of generated jets.
        min_samples: smallest batch size (JetNet: 20,000).
        max_samples: largest batch size (JetNet: 50,000).
        num_batches: draws per batch size.
        num_points: batch sizes, >= 3 so the fit has an error.
        normalise: divide every feature of both sets by the real set's max |value|.
        seed: seed of `numpy.random.default_rng`.

    Returns:
        `(value, error)` floats.

    Warns:
        RuntimeWarning: when a set has fewer than 50,000 rows (JetNet's recommendation;
            smaller sets are still drawn from with replacement).

    Raises:
        ValueError: on invalid features or sample sizes.
    """
    real, generated = _feature_pair(real_features, gen_features)
    min_samples = _at_least(min_samples, "min_samples", 2)
    max_samples = _at_least(max_samples, "max_samples", min_samples)
    num_batches = _at_least(num_batches, "num_batches", 1)
    num_points = _at_least(num_points, "num_points", 3)
    if min(len(real), len(generated)) < _RECOMMENDED_SAMPLES:
        warnings.warn(
            f"FPD is best estimated from at least {_RECOMMENDED_SAMPLES:,} samples per set, "
            f"got {len(real):,} real and {len(generated):,} generated; they are drawn "
            "from with replacement.",
            RuntimeWarning, stacklevel=2,
        )
    if normalise:
        real, generated = _normalised(real, generated)
    sizes = (1 / np.linspace(1 / min_samples, 1 / max_samples, num_points)).astype("int32")
    rng = np.random.default_rng(seed)
    means = []
    for size in sizes:
        distances = []
        for _ in range(num_batches):
            sample1 = real[rng.choice(len(real), size=size)]
            sample2 = generated[rng.choice(len(generated), size=size)]
            distances.append(_frechet_distance(
                sample1.mean(axis=0), np.cov(sample1, rowvar=False),
                sample2.mean(axis=0), np.cov(sample2, rowvar=False),
            ))
        means.append(np.mean(distances))
    params, covariance = curve_fit(_linear, 1 / sizes, means, bounds=([0, 0], [np.inf, np.inf]))
    return float(params[0]), float(np.sqrt(covariance[0, 0]))


def _kernel_mean(x: np.ndarray, y: np.ndarray, same: bool) -> float:
    """Mean of the kernel `(x.y / d + 1)^4` over pairs; off the diagonal when `same`."""
    kernel = x @ y.T
    kernel /= x.shape[1]
    kernel += 1.0
    np.square(kernel, out=kernel)  # twice: the 4th power, much faster than np.power
    np.square(kernel, out=kernel)
    if same:
        n = len(x)
        return float((kernel.sum() - np.trace(kernel)) / (n * (n - 1)))
    return float(kernel.mean())


def _mmd_unbiased(x: np.ndarray, y: np.ndarray) -> float:
    """Unbiased quadratic MMD^2 estimate with the degree-4 polynomial kernel."""
    return _kernel_mean(x, x, True) + _kernel_mean(y, y, True) - 2 * _kernel_mean(x, y, False)


def kpd(real_features, gen_features, num_batches: int = 10, batch_size: int = 5_000,
        normalise: bool = True, seed: int = 42) -> tuple[float, float]:
    """Kernel physics distance (KPD) of two feature sets (Kansal et al. 2023, sec. III).

    The unbiased estimate of the squared maximum mean discrepancy with the kernel
    `k(x, y) = (x.y / d + 1)^4` (d = number of features), for m rows X of the real and
    m rows Y of the generated features:

    ```text
    MMD^2 = sum_{i != j} [k(x_i, x_j) + k(y_i, y_j)] / (m (m - 1)) - 2 sum_{i, j} k(x_i, y_j) / m^2
    ```

    Batch i draws `batch_size` rows with replacement from each set with
    `numpy.random.default_rng(seed + 1000 i)`, as JetNet. Unbiased, so it scatters
    around 0 (also below) for identical distributions.

    Args:
        real_features: `(n_real, n_features)`, e.g. `physics_features(real_jets)`.
        gen_features: `(n_generated, n_features)`, the same features of generated jets.
        num_batches: batches, JetNet: 10.
        batch_size: rows drawn from each set per batch, >= 2 (JetNet: 5,000; memory
            grows as batch_size^2).
        normalise: divide every feature of both sets by the real set's max |value|.
        seed: base seed.

    Returns:
        `(median, error)` over batches, the error half the 16-84 percentile range.

    Raises:
        ValueError: on invalid features or batch settings.
    """
    real, generated = _feature_pair(real_features, gen_features)
    num_batches = _at_least(num_batches, "num_batches", 1)
    batch_size = _at_least(batch_size, "batch_size", 2)
    if normalise:
        real, generated = _normalised(real, generated)
    values = []
    for batch in range(num_batches):
        rng = np.random.default_rng(seed + batch * 1000)
        sample1 = real[rng.choice(len(real), size=batch_size)]
        sample2 = generated[rng.choice(len(generated), size=batch_size)]
        values.append(_mmd_unbiased(sample1, sample2))
    return float(np.median(values)), float(iqr(values, rng=(16.275, 83.725)) / 2)


# ---------------------------------------------------------------------------------------
# All of them
# ---------------------------------------------------------------------------------------


def generation_metrics(real, generated, num_eval_samples: int = 50_000, num_batches: int = 5,
                       seed: int = 42, fpd_samples: tuple[int, int] = (20_000, 50_000),
                       kpd_batch_size: int = 5_000) -> pd.DataFrame:
    """W1-M, W1-P, W1-EFP, FPD and KPD of generated jets against real ones.

    W1-P and W1-EFP are averaged over features and EFPs (the MPGAN paper's numbers);
    FPD and KPD use `physics_features` with the other settings at JetNet's defaults.
    Two independent samples of real jets give the floor: what a perfect generator
    would score with this many jets.

    Args:
        real: `(n_real, n_particles, >= 3)` relative features (eta_rel, phi_rel, pt_rel).
        generated: `(n_generated, n_particles, >= 3)`, the same features.
        num_eval_samples: jets per W1 batch (JetNet: 50,000).
        num_batches: W1 batches.
        seed: seed of every draw.
        fpd_samples: FPD's `(min_samples, max_samples)`.
        kpd_batch_size: KPD's `batch_size`.

    Returns:
        A DataFrame with index `w1m, w1p, w1efp, fpd, kpd` (named "metric") and columns
        `value, error` (the standard deviation over batches for W1, the fit error for
        FPD, half the 16-84 range for KPD).

    Warns:
        RuntimeWarning: from `fpd` when a set has fewer than 50,000 jets.

    Raises:
        ValueError: on invalid jets or settings.
    """
    real, generated = _jets(real, "real"), _jets(generated, "generated")
    sampling = {"num_eval_samples": num_eval_samples, "num_batches": num_batches, "seed": seed}
    all_columns = _efp_columns(4, False)
    real_efps = _efp_values(real, all_columns)
    generated_efps = _efp_values(generated, all_columns)
    w1efp_columns = [all_columns.index(column) for column in _w1efp_columns()]
    w1m_mean, w1m_std = _resampled_w1(_masses(real)[:, None], _masses(generated)[:, None],
                                      **sampling)
    rows = {
        "w1m": (w1m_mean[0], w1m_std[0]),
        "w1p": _averaged(*_resampled_w1(real, generated, **sampling, rows=_real_particles)),
        "w1efp": _averaged(*_resampled_w1(real_efps[:, w1efp_columns],
                                          generated_efps[:, w1efp_columns], **sampling)),
        "fpd": fpd(real_efps, generated_efps, min_samples=fpd_samples[0],
                   max_samples=fpd_samples[1], seed=seed),
        "kpd": kpd(real_efps, generated_efps, batch_size=kpd_batch_size, seed=seed),
    }
    table = pd.DataFrame.from_dict(rows, orient="index", columns=["value", "error"])
    table.index.name = "metric"
    return table
