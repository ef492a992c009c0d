"""A percolation model of how a data manifold forms (the follow-up's Fig. 6): neighbouring training images that
overlap are linked, and the largest linked cluster of a randomly thinned lattice says whether the kept examples
still form one connected sheet.

The **overlap** of two images is the cosine similarity of their intensities v = (I + 1) / 2 in [0, 1] (the bumps as
rendered, pixels and all): for Gaussian bumps of width σ far from the edge at distance r it is exp(−r² / 4σ²), and it
falls to 0 once a bump is narrower than a pixel. On a lattice of spacing ``d``, a fraction λ of the sites is kept
(seeded); two kept sites are linked when their overlap exceeds a threshold; the **largest cluster** is the largest
connected component's share of the whole lattice (so it is at most λ). Pure numpy and scipy: seconds.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components

from ..common.checks import check_range
from ..common.identity import key as identity_key
from ..core.lattice import render

__all__ = ["overlap_matrix", "neighbour_overlap", "largest_cluster", "percolation_curve", "OVERLAP_THRESHOLDS",
           "PercolationModel", "percolation_model"]

#: the follow-up's two overlap thresholds
OVERLAP_THRESHOLDS = (0.005, 0.05)


def _grid(n: int, d: float) -> np.ndarray:
    k = max(1, int(round(n / d)))
    a = (np.arange(k) + 0.5) * n / k
    gy, gx = np.meshgrid(a, a, indexing="ij")
    return np.stack([gx.ravel(), gy.ravel()], axis=1)


def overlap_matrix(centers, n: int, sigma: float) -> np.ndarray:
    """Cosine similarity (M, M) of the rendered bumps at ``centers`` on an ``n``-px canvas (module docstring)."""
    v = (render(np.asarray(centers, dtype=float), n, sigma).reshape(len(centers), -1).astype(np.float64) + 1) / 2
    v /= np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12)
    return v @ v.T


def neighbour_overlap(n: int, sigma: float, d: float) -> float:
    """The overlap of two nearest neighbours of a spacing-``d`` lattice, the first at the pixel centre nearest the
    canvas's centre."""
    check_range("d", d, lo=0, lo_open=True, hi=n / 2)
    c = n // 2 + 0.5
    return float(overlap_matrix([[c, c], [c + d, c]], n, sigma)[0, 1])


def largest_cluster(kept: np.ndarray, overlap: np.ndarray, threshold: float) -> float:
    """The largest connected component of the kept sites (boolean mask), linked where ``overlap > threshold``, as a
    share of all sites."""
    idx = np.flatnonzero(kept)
    if not len(idx):
        return 0.0
    sub = overlap[np.ix_(idx, idx)] > threshold
    np.fill_diagonal(sub, False)
    _, lab = connected_components(csr_matrix(sub), directed=False)
    return float(np.bincount(lab).max() / len(kept))


def percolation_curve(n: int, sigma: float, kept, d: float = 1.0, threshold: float = 0.05, trials: int = 20,
                      seed: int = 0) -> dict:
    """Mean and spread over ``trials`` seeded thinnings of the largest cluster at each kept fraction λ of ``kept``:
    ``{"kept": [...], "mean": [...], "std": [...], "neighbour_overlap": float, ...}``."""
    check_range("sigma", sigma, lo=0, lo_open=True)
    check_range("threshold", threshold, lo=0, hi=1, lo_open=True, hi_open=True)
    check_range("trials", trials, lo=1, integer=True)
    grid = _grid(n, d)
    ov = overlap_matrix(grid, n, sigma)
    rng = np.random.default_rng(seed)
    means, stds = [], []
    for lam in kept:
        check_range("kept", lam, lo=0, hi=1)
        vals = []
        for _ in range(trials):
            mask = np.zeros(len(grid), dtype=bool)
            mask[rng.choice(len(grid), size=int(round(lam * len(grid))), replace=False)] = True
            vals.append(largest_cluster(mask, ov, threshold))
        means.append(float(np.mean(vals)))
        stds.append(float(np.std(vals)))
    return {"n": n, "sigma": float(sigma), "d": float(d), "threshold": float(threshold), "trials": trials,
            "kept": [float(k) for k in kept], "mean": means, "std": stds,
            "neighbour_overlap": neighbour_overlap(n, sigma, d)}


@dataclass(frozen=True)
class PercolationModel:
    """What the percolation figure computes: neighbour overlaps against lattice spacing, and the largest cluster
    against the kept fraction at each overlap threshold, for each σ on an ``n``-px canvas at spacing 1."""

    n: int = 16
    sigmas: tuple = (0.1, 0.5, 1.0, 2.0)
    spacings: tuple = (0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 4.0)
    kept: tuple = (0.02, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)
    thresholds: tuple = OVERLAP_THRESHOLDS
    trials: int = 20
    seed: int = 0

    def __post_init__(self):
        check_range("n", self.n, lo=4, integer=True)
        for name in ("sigmas", "spacings", "kept", "thresholds"):
            object.__setattr__(self, name, tuple(float(v) for v in getattr(self, name)))
        check_range("trials", self.trials, lo=1, integer=True)

    def key(self) -> str:
        return identity_key("percolation", self)


def percolation_model(spec: PercolationModel) -> dict:
    """The model's numbers: ``{"overlap": {σ: [per spacing]}, "clusters": {threshold: {σ: curve}}}``."""
    overlap = {f"{s:g}": [neighbour_overlap(spec.n, s, d) for d in spec.spacings] for s in spec.sigmas}
    clusters = {f"{th:g}": {f"{s:g}": percolation_curve(spec.n, s, spec.kept, threshold=th, trials=spec.trials,
                                                        seed=spec.seed) for s in spec.sigmas}
                for th in spec.thresholds}
    return {"overlap": overlap, "clusters": clusters}
