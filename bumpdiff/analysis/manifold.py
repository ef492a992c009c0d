"""Manifold measures of a latent A (M, D) against its conditions C (M, 2), beyond :mod:`.order`'s, chosen on the
phantoms of :mod:`.phantoms` (``python -m bumpdiff calibrate latent``):

- :func:`geodesic_order` — the **global, threshold-free order score**: Spearman's rank correlation between the
  shortest-path distances of the latent's k-nearest-neighbour graph and the distances between the conditions
  (round the torus on a periodic canvas). An ordered sheet, however curved, unrolls along its graph (as in Isomap),
  so its geodesic distances grow with the distance between centres (ρ → 1); a scrambled, folded or torn sheet, or a
  cloud, breaks that at large scales (ρ well below 1; pieces the graph cannot join count as the farthest pairs).
  It looks at every pair, so it sees what local decodability (kNN R²) misses: a detached piece, a fold.
- :func:`neighbourhood_agreement` — the local order score: the fraction of each point's k latent neighbours that
  lie within its k-th nearest condition distance (ties on the lattice included), averaged. A sheet scrambled
  within blocks keeps its global order but fails here.
- :func:`multiscale_dimension` — Gride (scikit-dimension's ``GRIDE``, Denti et al. 2022) at neighbour orders
  n1 = 1, 2, 4, …: the dimension as a function of the neighbourhood's size. Noise on a sheet inflates the small
  scales only; the sheet's own dimension is read at the scale where the estimate is lowest (its plateau).
- :func:`noise_ratio` — within-condition over between-condition variance of activations read on several noise
  images per condition: how far a latent's condition signal stands above its noise (the phantoms' noise axis).
"""
from __future__ import annotations

import numpy as np

__all__ = ["geodesic_order", "neighbourhood_agreement", "multiscale_dimension", "noise_ratio",
           "condition_distances", "GRAPH_K", "GRIDE_MAX_ORDER"]

#: neighbours per point of the latent's graph (geodesic order) and of the local agreement
GRAPH_K = 10
#: the largest neighbour order n2 that Gride reads (n1 up to half of it), capped at a quarter of the points
GRIDE_MAX_ORDER = 128


def _check(A, C, period=None):
    A = np.asarray(A, dtype=np.float64)
    C = np.asarray(C, dtype=np.float64)
    if A.ndim != 2 or C.shape != (A.shape[0], 2):
        raise ValueError(f"activations (M, D) and centers (M, 2) must match, got {A.shape} and {C.shape}")
    if A.shape[0] < 2 * GRAPH_K:
        raise ValueError(f"activations must have at least {2 * GRAPH_K} rows (conditions), got {A.shape[0]}")
    if period is not None and not period > 0:
        raise ValueError(f"period must be > 0 (the side of a periodic canvas) or None, got {period!r}")
    return A, C


def condition_distances(C, period: float | None = None) -> np.ndarray:
    """(M, M) Euclidean distances between centres, on the flat torus of side ``period`` when it is given."""
    d = np.abs(C[:, None, :] - C[None, :, :])
    if period is not None:
        d = np.minimum(d, period - d)
    return np.sqrt((d ** 2).sum(-1))


def _knn(A, k):
    from sklearn.neighbors import NearestNeighbors  # imported where used: sklearn takes a second to import

    d, idx = NearestNeighbors(n_neighbors=k + 1).fit(A).kneighbors(A)
    return d[:, 1:], idx[:, 1:]


def geodesic_order(activations, centers, k: int = GRAPH_K, period: float | None = None) -> float:
    """Spearman's ρ between the latent's k-NN-graph geodesic distances and the centres' distances, over all pairs
    (module docstring). Pairs in different components of the graph rank as the farthest (ties)."""
    # scipy's submodules are imported where used: together they take about a second, which readers should not pay
    from scipy.sparse import csr_matrix
    from scipy.sparse.csgraph import shortest_path
    from scipy.stats import spearmanr

    A, C = _check(activations, centers, period)
    if np.all(A == A[:1]):
        return float("nan")
    M = len(A)
    d, idx = _knn(A, min(k, M - 1))
    g = csr_matrix((d.ravel() + 1e-12, (np.repeat(np.arange(M), idx.shape[1]), idx.ravel())), shape=(M, M))
    geo = shortest_path(g, method="D", directed=False)
    iu = np.triu_indices(M, 1)
    geo = geo[iu]
    finite = np.isfinite(geo)
    if not finite.any():
        return float("nan")
    geo[~finite] = 2 * geo[finite].max() + 1.0     # unreachable: beyond every reachable pair, all tied
    return float(spearmanr(geo, condition_distances(C, period)[iu]).statistic)


def neighbourhood_agreement(activations, centers, k: int = GRAPH_K, period: float | None = None) -> float:
    """Mean fraction of each point's ``k`` latent neighbours whose centre lies within the point's k-th nearest centre
    distance (module docstring): 1 for a sheet that keeps neighbourhoods, ≈ k / M for a scrambled one."""
    A, C = _check(activations, centers, period)
    if np.all(A == A[:1]):
        return float("nan")
    k = min(k, len(A) - 1)
    _, idx = _knn(A, k)
    dc = condition_distances(C, period)
    np.fill_diagonal(dc, np.inf)
    radius = np.sort(dc, axis=1)[:, k - 1]
    near = np.take_along_axis(dc, idx, axis=1) <= radius[:, None] + 1e-9
    return float(near.mean())


def multiscale_dimension(activations, max_order: int = GRIDE_MAX_ORDER) -> dict:
    """Gride's intrinsic dimension at neighbour orders n1 = 1, 2, 4, … (n2 = 2·n1 ≤ ``max_order`` and ≤ M/4):
    ``{"scales": [n1…], "dims": [...], "errors": [...], "dimension": the lowest estimate (the sheet's plateau),
    "scale": its n1, "dimension_n1": the estimate at n1 = 1 (the smallest scale, TwoNN)}``."""
    import skdim  # imported where used: numba compiles its kernels on first use

    A = np.asarray(activations, dtype=np.float64)
    if A.ndim != 2 or A.shape[0] < 16:
        raise ValueError(f"activations must be (M, D) with M >= 16, got {A.shape}")
    nan = float("nan")
    if np.all(A == A[:1]):
        return {"scales": [], "dims": [], "errors": [], "dimension": nan, "scale": None, "dimension_n1": nan}
    A = np.unique(A, axis=0) if len(np.unique(A, axis=0)) < len(A) else A   # Gride needs distinct points
    top = int(min(max_order, len(A) // 4))
    est = skdim.id.GRIDE(n1=1, multiscale=True, range_max=top).fit(A)
    dims = np.asarray(est.dimension_scales_, dtype=float)
    scales = [int(s) for s in est.scales_]
    ok = np.isfinite(dims)
    if not ok.any():
        return {"scales": scales, "dims": dims.tolist(), "errors": list(map(float, est.error_scales_)),
                "dimension": nan, "scale": None, "dimension_n1": nan}
    best = int(np.nanargmin(np.where(ok, dims, np.inf)))
    return {"scales": scales, "dims": dims.tolist(), "errors": [float(e) for e in est.error_scales_],
            "dimension": float(dims[best]), "scale": scales[best], "dimension_n1": float(dims[0])}


def noise_ratio(trials) -> float:
    """Within-condition over between-condition variance of activations (K, M, D) read on K ≥ 2 noise images per
    condition: Σ var over images / Σ var of the condition means over conditions (summed over features). 0 when the
    noise image does not matter; ≫ 1 when the condition is buried in noise (inf when no condition signal is left
    once the means' own noise, within / K, is taken out). The phantoms' noise fraction f has
    ratio f² (isotropic noise of std f times the sheet's feature scale)."""
    X = np.asarray(trials, dtype=np.float64)
    if X.ndim != 3 or X.shape[0] < 2:
        raise ValueError(f"trials must be (K, M, D) with K >= 2 noise images, got {X.shape}")
    mean = X.mean(0)
    within = X.var(0, ddof=1).mean(0).sum()
    between = mean.var(0, ddof=1).sum() - within / X.shape[0]   # the means' own noise taken out (unbiased)
    return float(within / between) if between > 0 else float("inf")
