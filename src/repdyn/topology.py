"""Topology of layer states: Betti curves from Vietoris-Rips filtrations.

Convention, shared with gudhi's ``RipsComplex``: the filtration value of an edge is
the Euclidean distance between its two points, and at scale ``eps`` the complex holds
every edge of length ``<= eps``. A bar ``(birth, death)`` is alive at ``eps`` when
``birth <= eps < death``.

beta0 needs no simplicial complex at all. The components at scale ``eps`` are those of
the graph joining points at distance ``<= eps``, and Kruskal's algorithm shows that
the H0 death times are exactly the edge lengths of a Euclidean minimum spanning tree
(MST). :func:`h0_death_times` computes that tree on the whole cloud, exactly and in a
few seconds for 10 000 points in 784 dimensions, which gives beta0 at every scale at
once. beta1 needs triangles, so :func:`persistence_diagrams` builds the Rips complex
with gudhi on a seeded subsample, shrunk first by edge collapse (which keeps the
persistence diagram unchanged).

Clouds from different layers or surrogate iterates live at different overall scales,
so they are compared after :func:`normalise_cloud`; :func:`summary_scale` picks the
single eps at which one beta0 per layer is reported, :func:`matched_scale` carries it
over to a surrogate's decoded iterates, and :func:`eps_grid` gives a shared grid for
whole Betti curves.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping

import gudhi
import numpy as np
import pandas as pd
from tqdm.auto import tqdm

log = logging.getLogger(__name__)

# The Gram-matrix formula |x|^2 + |y|^2 - 2 x.y loses about 1e-16 (|x|^2 + |y|^2) to
# cancellation (norms taken from the centroid), which only matters for near-duplicates:
# pairs closer than this ratio times sqrt(|x|^2 + |y|^2) are recomputed from
# coordinate differences. Other distances then err by ~1e-10 of the points' norms at
# most, which can only swap near-tied tree edges; reported lengths are exact.
NEAR_DUPLICATE_RATIO = 1e-4

# The dense squared-distance matrix takes 8 * n^2 bytes (0.8 GB at n = 10 000).
MAX_DENSE_POINTS = 30_000

ROW_BLOCK = 1024


def _as_points(X: np.ndarray) -> np.ndarray:
    """Validate a point cloud (rows are points) and return it as float64 [n, d]."""
    points = np.asarray(X, dtype=np.float64)
    if points.ndim != 2:
        raise ValueError(
            f"X must be a 2-D array of points (rows), got shape {points.shape}; "
            "reshape a 1-D cloud with X.reshape(-1, 1)"
        )
    if points.shape[0] == 0 or points.shape[1] == 0:
        raise ValueError(f"X has shape {points.shape}; pass at least one point")
    if not np.all(np.isfinite(points)):
        raise ValueError("X holds NaN or inf values; clean the states first")
    return points


def normalise_cloud(X: np.ndarray) -> np.ndarray:
    """Centre a cloud and scale it so the root-mean-square point norm is 1.

    Betti numbers at a fixed eps depend on the overall scale of a cloud, and that scale
    drifts from layer to layer (batch norm, residual growth) and along the decoded
    surrogate iterates. Centring and one global scale factor form a similarity
    transform: every death time is divided by the same number, so the topology is
    untouched while clouds become comparable at a common eps.

    Args:
        X: [n, d] points.

    Returns:
        [n, d] normalised points, float32 for float32 input, float64 otherwise.
    """
    points = _as_points(X)
    centred = points - points.mean(axis=0)
    rms_norm = np.sqrt(np.mean(np.einsum("ij,ij->i", centred, centred)))
    if not rms_norm > 0:
        raise ValueError(
            "cannot normalise a cloud whose points are all identical (RMS norm 0); "
            "its topology is a single point at every scale"
        )
    dtype = np.float32 if np.asarray(X).dtype == np.float32 else np.float64
    return (centred / rms_norm).astype(dtype)


def _squared_distances(points: np.ndarray) -> np.ndarray:
    """Dense squared Euclidean distances [n, n] from one BLAS Gram matrix.

    The cloud is centred first to shrink the norms that cancel in
    |x|^2 + |y|^2 - 2 x.y; near-duplicate pairs are then recomputed exactly. The
    elementwise passes run per block of rows so that each block stays in cache.
    """
    centred = points - points.mean(axis=0)
    sq_norms = np.einsum("ij,ij->i", centred, centred)  # [n]
    squared = centred @ centred.T  # [n, n]; numpy uses the symmetric product (syrk)

    for start in range(0, len(points), ROW_BLOCK):
        block = squared[start : start + ROW_BLOCK]  # [b, n] view
        block *= -2.0
        block += sq_norms[start : start + ROW_BLOCK, None]
        block += sq_norms[None, :]
        np.maximum(block, 0.0, out=block)
        _recompute_near_duplicates(squared, start, points, sq_norms)
    return squared


def _recompute_near_duplicates(
    squared: np.ndarray, start: int, points: np.ndarray, sq_norms: np.ndarray
) -> None:
    """Recompute near-duplicate pairs of one block of rows exactly, in place.

    A pair is a near-duplicate when its squared distance is below
    NEAR_DUPLICATE_RATIO^2 (|x|^2 + |y|^2) in centred coordinates. One comparison per
    row against the largest such bound finds the candidates cheaply.
    """
    block = squared[start : start + ROW_BLOCK]  # [b, n]
    factor = NEAR_DUPLICATE_RATIO**2
    row_bound = factor * (sq_norms[start : start + ROW_BLOCK] + sq_norms.max())
    rows, cols = np.nonzero(block < row_bound[:, None])  # [m], [m]
    rows += start

    pair_bound = factor * (sq_norms[rows] + sq_norms[cols])
    near = (squared[rows, cols] < pair_bound) & (rows != cols)
    rows, cols = rows[near], cols[near]
    for first in range(0, len(rows), ROW_BLOCK):
        i = rows[first : first + ROW_BLOCK]
        j = cols[first : first + ROW_BLOCK]
        difference = points[i] - points[j]  # [c, d]
        exact = np.einsum("ij,ij->i", difference, difference)
        squared[i, j] = exact


def _prim_tree(squared: np.ndarray) -> np.ndarray:
    """Edges [n - 1, 2] of a minimum spanning tree of a dense distance matrix.

    Prim's algorithm in O(n^2): each step adds the outside point nearest to the tree
    and relaxes the other outside points with its row of distances.
    """
    n = len(squared)
    nearest = squared[0].copy()  # distance from each point to the tree
    parent = np.zeros(n, dtype=np.int64)
    outside = np.ones(n, dtype=bool)
    outside[0] = False
    nearest[0] = np.inf
    closer = np.empty(n, dtype=bool)
    edges = np.empty((n - 1, 2), dtype=np.int64)

    for step in range(n - 1):
        new = int(np.argmin(nearest))
        edges[step] = parent[new], new
        outside[new] = False
        nearest[new] = np.inf

        row = squared[new]
        np.less(row, nearest, out=closer)
        closer &= outside
        np.copyto(nearest, row, where=closer)
        np.copyto(parent, new, where=closer)
    return edges


def _distinct_rows(points: np.ndarray) -> np.ndarray:
    """The rows of ``points`` [n, d] without exact repeats, in their first order.

    Each row is viewed as one opaque byte string, which sorts much faster than
    ``np.unique(axis=0)``. (-0.0 and 0.0 differ as bytes; such a pair is kept and gets
    its distance 0 from the near-duplicate recomputation.)
    """
    rows = np.ascontiguousarray(points)
    as_bytes = rows.view(np.dtype((np.void, rows.itemsize * rows.shape[1]))).ravel()
    _, first = np.unique(as_bytes, return_index=True)
    return rows[np.sort(first)]


def h0_death_times(X: np.ndarray) -> np.ndarray:
    """Exact H0 death times of the Rips filtration: Euclidean MST edge lengths.

    Exact duplicates are removed first (each contributes a death time of 0). The tree
    is found on a float64 distance matrix built with one BLAS product, and every tree
    edge length is then recomputed from its two points' coordinates, so the result
    matches gudhi's ``RipsComplex`` H0 bars to rounding. Time O(n^2 d) in BLAS plus
    O(n^2) for Prim's algorithm; memory 8 n^2 bytes for the distinct points.

    Args:
        X: [n, d] points.

    Returns:
        [n - 1] death times sorted ascending (float64). The n-th bar never dies.
    """
    points = _as_points(X)
    distinct = _distinct_rows(points)  # [u, d]
    if len(distinct) > MAX_DENSE_POINTS:
        raise ValueError(
            f"{len(distinct)} distinct points need a "
            f"{8 * len(distinct) ** 2 / 1e9:.0f} GB distance matrix; subsample the "
            f"cloud to at most {MAX_DENSE_POINTS} points"
        )

    started = time.perf_counter()
    lengths = np.zeros(len(points) - len(distinct))
    if len(distinct) > 1:
        edges = _prim_tree(_squared_distances(distinct))
        difference = distinct[edges[:, 0]] - distinct[edges[:, 1]]  # [u - 1, d]
        lengths = np.concatenate([lengths, np.linalg.norm(difference, axis=1)])
    log.debug(
        "h0_death_times: %d points (%d distinct) x %d dims in %.2f s",
        len(points),
        len(distinct),
        points.shape[1],
        time.perf_counter() - started,
    )
    return np.sort(lengths)


def betti0_curve(death_times: np.ndarray, eps_grid: np.ndarray) -> np.ndarray:
    """Number of connected components at each scale: 1 + #(death times > eps).

    Args:
        death_times: [n - 1] H0 death times of an n-point cloud (any order).
        eps_grid: [g] scales.

    Returns:
        [g] int64 beta0 values, non-increasing in eps.
    """
    deaths = np.sort(np.asarray(death_times, dtype=np.float64))
    grid = np.asarray(eps_grid, dtype=np.float64)
    merged = np.searchsorted(deaths, grid, side="right")  # deaths <= eps
    return (1 + len(deaths) - merged).astype(np.int64)


def _subsample(points: np.ndarray, max_points: int, seed: int) -> np.ndarray:
    """A seeded random subset of at most ``max_points`` rows, in original order."""
    if len(points) <= max_points:
        return points
    rng = np.random.default_rng(seed)
    keep = np.sort(rng.choice(len(points), size=max_points, replace=False))
    return points[keep]


def _collapse_until_stable(simplex_tree: gudhi.SimplexTree) -> None:
    """Repeat gudhi's edge collapse until it removes no more edges."""
    while True:
        before = simplex_tree.num_simplices()
        simplex_tree.collapse_edges()
        if simplex_tree.num_simplices() >= before:
            return


def persistence_diagrams(
    X: np.ndarray,
    max_points: int = 1000,
    max_edge_length: float | None = None,
    seed: int = 0,
) -> dict[int, np.ndarray]:
    """H0 and H1 persistence diagrams of the Rips filtration, computed with gudhi.

    The 1-skeleton is built on a seeded random subsample of at most ``max_points``
    points, collapsed (edge collapse preserves the persistence diagram of the flag
    complex) and expanded to triangles. Without a ``max_edge_length`` the whole
    filtration is built, which can take minutes in high dimension; truncating at the
    largest eps of interest is exact for every eps up to it, because bars still alive
    at the truncation simply get an infinite death.

    Args:
        X: [n, d] points.
        max_points: largest subsample handed to gudhi.
        max_edge_length: truncate the filtration at this distance (None: no limit).
        seed: seed of the subsample.

    Returns:
        {0: [m0, 2], 1: [m1, 2]} arrays of (birth, death), infinite deaths as np.inf.
        Bars of zero length are left out (gudhi's default).
    """
    sample = _subsample(_as_points(X), max_points, seed)
    threshold = np.inf if max_edge_length is None else float(max_edge_length)

    started = time.perf_counter()
    rips = gudhi.RipsComplex(points=sample, max_edge_length=threshold)
    simplex_tree = rips.create_simplex_tree(max_dimension=1)
    _collapse_until_stable(simplex_tree)
    simplex_tree.expansion(2)
    # gudhi skips the top dimension unless asked; after a collapse the top dimension
    # may be 1 (no triangles left), and then H1 must not be skipped.
    simplex_tree.persistence(persistence_dim_max=simplex_tree.dimension() < 2)
    log.debug(
        "persistence_diagrams: %d points, %d simplices in %.2f s",
        len(sample),
        simplex_tree.num_simplices(),
        time.perf_counter() - started,
    )
    return {
        dim: np.asarray(
            simplex_tree.persistence_intervals_in_dimension(dim), dtype=np.float64
        ).reshape(-1, 2)
        for dim in (0, 1)
    }


def betti_curve_from_diagram(diagram: np.ndarray, eps_grid: np.ndarray) -> np.ndarray:
    """Number of bars alive at each scale (``birth <= eps < death``).

    Args:
        diagram: [m, 2] (birth, death) pairs; deaths may be np.inf.
        eps_grid: [g] scales.

    Returns:
        [g] int64 Betti numbers.
    """
    bars = np.asarray(diagram, dtype=np.float64).reshape(-1, 2)
    if np.any(bars[:, 1] < bars[:, 0]):
        raise ValueError("diagram holds bars that die before they are born")
    grid = np.asarray(eps_grid, dtype=np.float64)

    # Every bar dead by eps was also born by then, so alive = born - dead.
    born = np.searchsorted(np.sort(bars[:, 0]), grid, side="right")
    dead = np.searchsorted(np.sort(bars[:, 1]), grid, side="right")
    return (born - dead).astype(np.int64)


def ordinal(n: int) -> str:
    """English ordinal of a positive integer: 1st, 2nd, 3rd, 4th, 11th, 22nd."""
    if n % 100 in (11, 12, 13):
        return f"{n}th"
    return f"{n}{ {1: 'st', 2: 'nd', 3: 'rd'}.get(n % 10, 'th') }"


def summary_scale(last_death_times: np.ndarray, n_classes: int) -> tuple[float, str]:
    """The one eps at which beta0 is reported per layer and per surrogate iterate.

    Rule: take the H0 death times of the last layer's normalised test cloud. The last
    layer has exactly C = ``n_classes`` components for eps between its C-th and
    (C-1)-th largest death times; the summary eps is the geometric mean of the two,
    the middle of that range on the log scale on which death times spread. It depends
    on the data only through the network's final representation, and it is the scale
    at which "beta0 falls to the number of classes" is a question worth asking of the
    earlier layers and of the surrogate. Caveat: a far outlier in the last layer counts
    as one of the C components, so read the summary beside the full Betti curves.

    Args:
        last_death_times: [n - 1] H0 death times of the last layer's normalised cloud.
        n_classes: number of classes C (at least 2).

    Returns:
        (eps, description of how it was chosen).
    """
    if n_classes < 2:
        raise ValueError(f"n_classes must be at least 2, got {n_classes}")
    deaths = np.sort(np.asarray(last_death_times, dtype=np.float64))[::-1]
    if len(deaths) < n_classes:
        raise ValueError(
            f"the last layer's cloud has {len(deaths) + 1} points; it needs more than "
            f"n_classes = {n_classes} to have {n_classes} components"
        )
    upper, lower = deaths[n_classes - 2], deaths[n_classes - 1]
    if not lower > 0:
        raise ValueError(
            f"the last layer's cloud has fewer than {n_classes} distinct points, so it "
            f"never has {n_classes} components; check the states"
        )
    eps = float(np.sqrt(lower * upper))
    description = (
        f"geometric mean of the {ordinal(n_classes)} and {ordinal(n_classes - 1)} "
        f"largest H0 death times ({lower:.4g}, {upper:.4g}) of the last layer's "
        f"normalised test cloud: the middle of the eps range where it has exactly "
        f"{n_classes} components"
    )
    return eps, description


def matched_scale(
    eps: float, reference_deaths: np.ndarray, deaths: np.ndarray
) -> tuple[float, str]:
    """Carry the scale ``eps`` of a reference cloud over to another cloud.

    Rule: multiply eps by the ratio of the clouds' median H0 death times (median
    minimum-spanning-tree edge lengths, the typical nearest-neighbour spacing). Both
    clouds are already normalised to RMS norm 1, which fixes their global size, but a
    decoded surrogate iterate is smoother than the network state it predicts: the
    decoder, trained by mean squared error, shrinks small-scale scatter, so its
    neighbours sit closer together relative to the global spread and the same eps
    joins far more of it. Matching the median spacing compares the two clouds at
    the same scale relative to their own grain. The rule never looks at the number
    of classes or at the cloud's own large gaps, so the count it gives at the last
    iterate is a measurement, not a consequence of the rule.

    Args:
        eps: the reference cloud's scale (the summary scale of the network).
        reference_deaths: H0 death times of the reference (the last network layer).
        deaths: H0 death times of the cloud to carry eps to (the last iterate).

    Returns:
        (matched eps, description of how it was chosen).
    """
    reference = float(np.median(np.asarray(reference_deaths, dtype=np.float64)))
    own = float(np.median(np.asarray(deaths, dtype=np.float64)))
    if not (reference > 0 and own > 0):
        raise ValueError(
            "median H0 death time is 0 (more than half the points are duplicates); "
            "cannot match scales, check the states or iterates"
        )
    matched = float(eps) * own / reference
    description = (
        f"the network's summary scale times the ratio of median H0 death times "
        f"(last iterate {own:.4g} / last layer {reference:.4g})"
    )
    return matched, description


def eps_grid(
    death_times_list: list[np.ndarray], n: int = 64, low_quantile: float = 0.01
) -> np.ndarray:
    """A geometric grid of scales shared by several clouds' Betti curves.

    The grid runs from the smallest ``low_quantile`` of positive death times over the
    clouds (where the most fragmented cloud still keeps about 99 % of its components)
    to the largest death time (where every cloud is connected). Geometric spacing
    because death times spread over orders of magnitude.

    Args:
        death_times_list: H0 death times of each cloud (1-D arrays).
        n: number of scales.
        low_quantile: quantile of each cloud's positive death times for the low end.

    Returns:
        [n] increasing scales.
    """
    positive = [
        deaths[deaths > 0]
        for deaths in (np.asarray(d, dtype=np.float64) for d in death_times_list)
    ]
    positive = [deaths for deaths in positive if len(deaths)]
    if not positive:
        raise ValueError("no cloud has a positive death time; every cloud is a point")
    low = min(np.quantile(deaths, low_quantile) for deaths in positive)
    high = max(deaths.max() for deaths in positive)
    return np.geomspace(low, high, n)


def betti_curves(
    clouds: Mapping[str, np.ndarray],
    eps_grid: np.ndarray,
    beta1: bool = True,
    max_points: int = 1000,
    seed: int = 0,
    progress: bool = True,
) -> pd.DataFrame:
    """Betti curves of several clouds on one grid of scales, as a tidy table.

    beta0 is exact on the whole cloud (minimum spanning tree); beta1 comes from the
    gudhi Rips diagram of a seeded subsample of at most ``max_points`` points, with the
    filtration truncated at the largest eps of the grid (exact on the grid). Clouds
    are used as given: normalise them first with :func:`normalise_cloud` to compare
    them at a common scale.

    Args:
        clouds: name -> [n, d] points, e.g. "L0".."L4" or iterate names.
        eps_grid: [g] scales.
        beta1: compute beta1 (otherwise the column is NaN).
        max_points: subsample size for beta1.
        seed: seed of that subsample.
        progress: show a progress bar over the clouds.

    Returns:
        DataFrame with columns name, eps, betti0 (int64), betti1 (float64, NaN when
        not computed), g rows per cloud in the order of ``clouds``.
    """
    grid = np.asarray(eps_grid, dtype=np.float64)
    if grid.ndim != 1 or len(grid) == 0 or np.any(~np.isfinite(grid) | (grid < 0)):
        raise ValueError("eps_grid must be a non-empty 1-D array of finite scales >= 0")

    tables = []
    for name, cloud in tqdm(clouds.items(), desc="Betti curves", disable=not progress):
        betti1 = np.full(len(grid), np.nan)
        if beta1:
            diagrams = persistence_diagrams(cloud, max_points, grid.max(), seed)
            betti1 = betti_curve_from_diagram(diagrams[1], grid).astype(np.float64)
        tables.append(
            pd.DataFrame(
                {
                    "name": name,
                    "eps": grid,
                    "betti0": betti0_curve(h0_death_times(cloud), grid),
                    "betti1": betti1,
                }
            )
        )
    return pd.concat(tables, ignore_index=True)


def bottleneck(
    diagram_a: np.ndarray, diagram_b: np.ndarray, cap: float | None = None
) -> float:
    """Bottleneck distance between two persistence diagrams (gudhi).

    Infinite bars: with ``cap=None`` they are dropped from both diagrams, which loses
    nothing for H0 (every cloud has exactly one) but ignores H1 bars still alive where
    a filtration was truncated; pass ``cap`` (e.g. that truncation length) to keep them
    as bars ending at ``cap`` instead.

    Args:
        diagram_a: [m, 2] (birth, death) pairs.
        diagram_b: [k, 2] (birth, death) pairs.
        cap: replacement for infinite deaths, or None to drop those bars.

    Returns:
        The distance (float).
    """
    finite = [_finite_bars(diagram, cap) for diagram in (diagram_a, diagram_b)]
    return float(gudhi.bottleneck_distance(finite[0], finite[1]))


def _finite_bars(diagram: np.ndarray, cap: float | None) -> np.ndarray:
    """A copy of ``diagram`` [m, 2] with infinite deaths dropped or capped."""
    bars = np.asarray(diagram, dtype=np.float64).reshape(-1, 2)
    infinite = np.isinf(bars[:, 1])
    if cap is None:
        return bars[~infinite]
    bars = bars.copy()
    bars[infinite, 1] = np.maximum(cap, bars[infinite, 0])
    return bars
