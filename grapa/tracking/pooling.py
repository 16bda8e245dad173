"""The hierarchical GNN's pooling of hits into super-nodes, and the graphs around them.

R. Liu, P. Calafiura, S. Farrell, X. Ju, D. T. Murnane and T. M. Pham, "Hierarchical
Graph Neural Networks for Particle Track Reconstruction", arXiv:2303.01640 (2023), sec.
3 ("dynamic graph pooling"); the authors' code is github.com/ryanliu30/HierarchicalGNN.
Hits carry embeddings `n_i` on the unit sphere (the output of a flat GNN, normalized);
on the edges of the event's graph:

1. similarities $s_{ij} = \\operatorname{artanh}(n_i \\cdot n_j)$ (`edge_similarity`);
2. a two-component Gaussian mixture fitted to the event's $s_{ij}$; the score cut is the
   $s$ between the two means where the log-odds of the upper ("same particle")
   component over the lower one is $r$, the granularity (`gmm_score_cut`; with the
   mixture's weights, as in the authors' code);
3. connected components of the edges above the cut; those with at least `min_hits`
   hits become super-nodes, with the normalized mean of their hits' embeddings
   (`super_nodes`);
4. the assignment graph: each hit to its `assignments` nearest super-nodes (or, with
   `local_assignments`, the most similar among those of its graph neighbourhood), with
   the dot products $n_i \\cdot X_a$ from which the network's weights come
   (`assignment_graph`);
   the super graph: each super-node to its `neighbours` nearest, symmetrized
   (`super_graph`).

Everything here is the non-differentiable part, in numpy and scipy: which hits pool
into which super-node and which pairs are connected. The weights on those edges, and
the messages along them, are the network's. Nothing is `nodes x nodes`: the components
come from the edge list (`scipy.sparse.csgraph`), the nearest super-nodes from a k-d
tree (`scipy.spatial.cKDTree`; on the unit sphere the nearest is the largest dot
product).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from scipy.optimize import brentq
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree
from scipy.stats import norm

# the authors' configuration (HGNN_GMM.yaml)
GRANULARITY = 5.0  # r: cluster_granularity
MIN_HITS = 3  # min_cluster_size
ASSIGNMENTS = 5  # bipartitegraph_sparsity: super-nodes per hit
SUPER_NEIGHBOURS = 10  # supergraph_sparsity
_CLIP = 1.0 - 1e-7  # artanh stays finite for parallel embeddings


class Pooling(NamedTuple):
    """An event's hits pooled into super-nodes (`pool_hits`).

    Attributes:
        labels: `(N,)` each hit's super-node, -1 for a hit in none (a small component).
        centers: `(K, D)` the super-nodes' embeddings, unit vectors.
        cut: the score cut on the similarities.
        assignment: `(2, N * c)` edges hit -> super-node, each hit's `c` nearest.
        assignment_logits: `(N * c,)` the dot products `n_i . X_a` on those edges.
        super_edges: `(2, E_s)` the symmetrized kNN graph of the super-nodes.
    """

    labels: np.ndarray
    centers: np.ndarray
    cut: float
    assignment: np.ndarray
    assignment_logits: np.ndarray
    super_edges: np.ndarray


def _unit_embeddings(embeddings) -> np.ndarray:
    embeddings = np.asarray(embeddings, dtype=np.float64)
    if embeddings.ndim != 2 or not np.isfinite(embeddings).all():
        raise ValueError(f"embeddings must be a finite (hits, dim) array, got shape "
                         f"{embeddings.shape}")
    norms = np.linalg.norm(embeddings, axis=1)
    if not np.allclose(norms, 1.0, atol=1e-4):
        raise ValueError("the pooling needs embeddings on the unit sphere: normalize them "
                         f"first (norms from {norms.min():.3g} to {norms.max():.3g})")
    return embeddings


def _edges(edges, n_hits) -> np.ndarray:
    edges = np.asarray(edges)
    if edges.ndim != 2 or edges.shape[0] != 2:
        raise ValueError(f"edges must be a (2, E) array of hit indices, got shape {edges.shape}")
    if edges.size and (edges.min() < 0 or edges.max() >= n_hits):
        raise ValueError(f"edges point outside the {n_hits} hits (indices from {edges.min()} "
                         f"to {edges.max()})")
    return edges.astype(np.int64)


def edge_similarity(embeddings, edges) -> np.ndarray:
    """$s_{ij} = \\operatorname{artanh}(n_i \\cdot n_j)$ on every edge, `(E,)`.

    Args:
        embeddings: `(N, D)` unit vectors, one per hit.
        edges: `(2, E)` hit indices.
    """
    embeddings = _unit_embeddings(embeddings)
    edges = _edges(edges, len(embeddings))
    dots = np.einsum("ij,ij->i", embeddings[edges[0]], embeddings[edges[1]])
    return np.arctanh(np.clip(dots, -_CLIP, _CLIP))


def gmm_score_cut(similarities, granularity: float = GRANULARITY, seed=0) -> float:
    """The score cut of the pooling: where a two-Gaussian mixture's upper component is
    `exp(granularity)` times as probable as its lower one.

    `sklearn.mixture.GaussianMixture` is fitted to the similarities; the cut is the root,
    between the two means, of $\\ln P(\\text{upper} \\mid s) - \\ln P(\\text{lower} \\mid s) = r$
    (`scipy.optimize.brentq`). A larger `granularity` cuts higher: fewer edges kept,
    more and smaller super-nodes.

    Args:
        similarities: `(E,)` edge similarities (`edge_similarity`).
        granularity: r, the log-odds at the cut.
        seed: the mixture's `random_state`.

    Returns:
        The cut, a float.

    Raises:
        ValueError: fewer than two distinct similarities, or no such point between the
            means (the two components overlap too much for this granularity).
    """
    from sklearn.mixture import GaussianMixture

    s = np.asarray(similarities, dtype=np.float64).reshape(-1, 1)
    if len(np.unique(s)) < 2 or not np.isfinite(s).all():
        raise ValueError(f"the score cut needs at least two distinct finite similarities, "
                         f"got {len(s)} edges")
    mixture = GaussianMixture(2, random_state=seed).fit(s)
    means = mixture.means_.ravel()
    widths = np.sqrt(mixture.covariances_.ravel())
    log_weights = np.log(mixture.weights_)
    low, high = np.argsort(means)

    def log_odds(x):  # ln of weight x density, upper minus lower: no underflow far out
        upper = log_weights[high] + norm.logpdf(x, means[high], widths[high])
        return upper - log_weights[low] - norm.logpdf(x, means[low], widths[low]) - granularity

    a, b = means[low], means[high]
    if not log_odds(a) < 0 < log_odds(b):
        raise ValueError(f"no score cut between the mixture's means ({a:.3g}, {b:.3g}) at "
                         f"granularity {granularity}: the two components overlap; lower the "
                         "granularity")
    return float(brentq(log_odds, a, b, xtol=1e-6))


def super_nodes(embeddings, edges, similarities, cut: float, min_hits: int = MIN_HITS):
    """Connected components of the edges at or above `cut`; those of at least `min_hits`
    hits become super-nodes.

    Args:
        embeddings: `(N, D)` unit vectors.
        edges: `(2, E)` hit indices.
        similarities: `(E,)` their similarities.
        cut: keep edges with similarity >= cut.
        min_hits: the smallest component that becomes a super-node.

    Returns:
        `(labels (N,), centers (K, D))`: each hit's super-node (-1: none) and the
        normalized mean embedding of each super-node's hits.
    """
    embeddings = _unit_embeddings(embeddings)
    n = len(embeddings)
    edges = _edges(edges, n)
    kept = edges[:, np.asarray(similarities) >= cut]
    graph = coo_matrix((np.ones(kept.shape[1]), (kept[0], kept[1])), shape=(n, n))
    _, component = connected_components(graph, directed=False)
    sizes = np.bincount(component)
    large = sizes[component] >= int(min_hits)
    labels = np.full(n, -1, dtype=np.int64)
    labels[large] = np.unique(component[large], return_inverse=True)[1]
    count = int(labels.max()) + 1
    sums = np.zeros((count, embeddings.shape[1]))
    np.add.at(sums, labels[large], embeddings[large])
    centers = sums / np.maximum(np.linalg.norm(sums, axis=1, keepdims=True), 1e-12)
    return labels, centers


def assignment_graph(embeddings, centers, assignments: int = ASSIGNMENTS, *,
                     labels=None, edges=None):
    """Each hit to `assignments` super-nodes (fewer when there are fewer).

    Without `labels` and `edges`, as the authors: the hit's nearest super-nodes in
    embedding space. With them, only the super-nodes of the hit itself and of its graph
    neighbours are candidates, the `assignments` most similar of those kept; a hit with
    none (it and its neighbours in no super-node) gets its nearest one. The embedding's
    hinge loss only ever compares hits that share a graph edge, so it separates
    particles locally and not across the event: on 1,000-particle events whose filtered
    graph is 94% true edges, a hit's own super-node was among its 5 nearest in
    embedding space for about 1 hit in 10, and the bipartite candidates found 3-8% of
    the particles; with the graph's neighbourhood, 98.9% at a purity of 0.70 (three
    events, same network).

    Args:
        embeddings: `(N, D)` hit embeddings.
        centers: `(K, D)` super-node centres.
        assignments: super-nodes per hit.
        labels: `(N,)` each hit's super-node (-1: none), from `super_nodes`.
        edges: `(2, E)` the event's graph.

    Returns:
        `(edges (2, A), logits (A,))`: rows hit, super-node, sorted by hit; and the dot
        products `n_i . X_a`, from which the network makes the weights (a softmax over
        each hit's).
    """
    embeddings, centers = _unit_embeddings(embeddings), np.asarray(centers, dtype=np.float64)
    if len(centers) == 0:
        raise ValueError("no super-nodes to assign hits to: lower min_hits or the granularity")
    n = len(embeddings)
    c = min(int(assignments), len(centers))
    if labels is None or edges is None:
        _, nearest = cKDTree(centers).query(embeddings, k=c)
        pairs = np.stack([np.repeat(np.arange(n), c), nearest.reshape(n, c).ravel()])
    else:
        labels, edges = np.asarray(labels), _edges(edges, n)
        neighbours = np.concatenate([edges, edges[::-1], np.stack([np.arange(n)] * 2)], axis=1)
        pairs = np.stack([neighbours[0], labels[neighbours[1]]])
        pairs = np.unique(pairs[:, pairs[1] >= 0], axis=1)
        similarity = np.einsum("ij,ij->i", embeddings[pairs[0]], centers[pairs[1]])
        order = np.lexsort((-similarity, pairs[0]))
        pairs = pairs[:, order]
        first = np.searchsorted(pairs[0], pairs[0])  # each hit's first row
        pairs = pairs[:, np.arange(pairs.shape[1]) - first < c]
        alone = np.setdiff1d(np.arange(n), pairs[0])
        if len(alone):
            _, nearest = cKDTree(centers).query(embeddings[alone], k=1)
            pairs = np.concatenate([pairs, np.stack([alone, nearest])], axis=1)
            pairs = pairs[:, np.argsort(pairs[0], kind="stable")]
    pairs = pairs.astype(np.int64)
    return pairs, np.einsum("ij,ij->i", embeddings[pairs[0]], centers[pairs[1]])


def super_graph(centers, neighbours: int = SUPER_NEIGHBOURS) -> np.ndarray:
    """The super-nodes' kNN graph (`neighbours` each, no self loops), symmetrized: `(2,
    E_s)` with both directions of every pair, each once."""
    centers = np.asarray(centers, dtype=np.float64)
    k = min(int(neighbours), len(centers) - 1)
    if k < 1:
        return np.zeros((2, 0), dtype=np.int64)
    _, nearest = cKDTree(centers).query(centers, k=k + 1)
    source = np.repeat(np.arange(len(centers)), k + 1)
    pairs = np.stack([source, nearest.ravel()])
    pairs = pairs[:, pairs[0] != pairs[1]]
    both = np.unique(np.concatenate([pairs, pairs[::-1]], axis=1), axis=1)
    return both.astype(np.int64)


def pool_hits(embeddings, edges, granularity: float = GRANULARITY, min_hits: int = MIN_HITS,
              assignments: int = ASSIGNMENTS, neighbours: int = SUPER_NEIGHBOURS,
              cut: float | None = None, seed=0, local_assignments: bool = False) -> Pooling:
    """One event's pooling, steps 1-4 of the module (Liu et al. 2023, sec. 3).

    Args:
        embeddings: `(N, D)` unit vectors, one per hit.
        edges: `(2, E)` the event's graph.
        granularity: r of `gmm_score_cut`.
        min_hits: the smallest component that becomes a super-node.
        assignments: super-nodes per hit in the assignment graph.
        neighbours: neighbours per super-node in the super graph.
        cut: a fixed score cut instead of the mixture's (the authors' code keeps a moving
            average of the per-event cut while training and uses it at inference).
        seed: the mixture's seed.
        local_assignments: assign each hit among the super-nodes of its graph
            neighbourhood (`assignment_graph` with `labels` and `edges`), not the
            nearest in embedding space.

    Returns:
        A `Pooling`. When the cut leaves no component of `min_hits`, the components of
        the whole graph are used instead (as the authors' code does).
    """
    similarities = edge_similarity(embeddings, edges)
    if cut is None:
        cut = gmm_score_cut(similarities, granularity, seed=seed)
    labels, centers = super_nodes(embeddings, edges, similarities, cut, min_hits)
    if len(centers) == 0:
        labels, centers = super_nodes(embeddings, edges, similarities, -np.inf, min_hits)
    local = {"labels": labels, "edges": edges} if local_assignments else {}
    assignment, logits = assignment_graph(embeddings, centers, assignments, **local)
    return Pooling(labels, centers, float(cut), assignment, logits,
                   super_graph(centers, neighbours))
