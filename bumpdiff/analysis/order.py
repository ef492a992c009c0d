"""Order parameters of a latent: how well activations A (M, D) of M conditions encode their centres (μx, μy).

- ``r2_x``, ``r2_y`` — the study's measure: in-sample R² of a linear regression from the 3-D UMAP embedding
  of A to μx (resp. μy).
- ``knn_r2_x``, ``knn_r2_y`` — on the raw activations, no UMAP: 5-fold cross-validated R² of a k-nearest-
  neighbour regression (k = 10, Euclidean) from A to μx (resp. μy). High when neighbours in the latent have
  neighbouring centres (an *ordered* manifold), ~0 or below when they do not.
- ``trustworthiness`` — sklearn's trustworthiness of A as an embedding of the true (μx, μy) grid (k = 10).
- ``intrinsic_dim`` — Levina–Bickel maximum-likelihood intrinsic dimension of A (k = 10, averaged inverse,
  MacKay–Ghahramani): ≈ 2 for a 2-D manifold (ordered or not), large for structureless activations.

On a periodic canvas each axis is a circle and is scored as one (:func:`order_parameters`, ``period``).
"""
from __future__ import annotations

import sys
import warnings

import numpy as np
import torch

from .evaluate import axis_error

__all__ = ["order_parameters", "compile_umap", "heldout_error", "embed", "intrinsic_dim", "pca_spectrum",
           "participation_ratio", "UMAP_PARAMS", "KNN_K", "KNN_FOLDS", "ID_K"]

UMAP_PARAMS = dict(n_components=3, n_neighbors=15, min_dist=0.1, metric="euclidean", init="spectral",
                   n_epochs=200, low_memory=True)
KNN_K = 10
KNN_FOLDS = 5
ID_K = 10


def embed(activations, seed: int = 0) -> np.ndarray:
    """(M, 3) UMAP embedding of (M, D) activations, reproducible for a given ``seed`` (single-threaded).
    The caller's torch thread count is kept: UMAP's numba layer shares torch's OpenMP runtime and leaves it at
    the machine's default, which undid a ``--threads`` limit for the rest of an analysis."""
    import umap  # imported here: umap-learn compiles with numba on import (seconds)

    _cache_umap_kernels()
    threads = torch.get_num_threads()
    try:
        return _umap(umap, activations, seed)
    finally:
        torch.set_num_threads(threads)


def _cache_umap_kernels() -> None:
    """Let numba keep UMAP's compiled kernels on disk. umap-learn declares most of its numba functions without
    ``cache=True``, so every new process (each notebook's kernel, each test worker) compiled them again: ~10 s of
    the first embedding, most of what a notebook that embeds costs. Enabling numba's own cache on them (inside the
    environment, beside the sources, or numba's user-wide cache folder when that is read-only) changes no number:
    the cache holds the same machine code, keyed by the source file and the CPU, and is recompiled when either
    changes. Functions compiled before this call, or not defined at module level, are left as they are."""
    from numba.core.caching import NullCache  # imported here, as umap is: numba takes seconds to import
    from numba.core.dispatcher import Dispatcher  # imported here, as umap is: numba takes seconds to import

    for name, module in list(sys.modules.items()):
        if module is None or name.split(".")[0] not in ("umap", "pynndescent"):
            continue
        for f in list(vars(module).values()):
            if isinstance(f, Dispatcher) and isinstance(f._cache, NullCache) and not f.overloads:
                f.enable_caching()


def compile_umap() -> None:
    """Embed a small random set once, so that numba compiles UMAP's kernels and caches them on disk (inside the
    environment: :func:`_cache_umap_kernels`). ``make env`` calls it: no later process, the first ``make figures``
    included, pays that compile."""
    embed(np.random.default_rng(0).normal(size=(64, 8)), seed=0)


def _umap(umap, activations, seed: int) -> np.ndarray:
    a = np.asarray(activations, dtype=np.float32)
    if a.ndim != 2 or a.shape[0] < 5:
        raise ValueError(f"activations must be (M, D) with M >= 5, got {a.shape}")
    nn_ = min(UMAP_PARAMS["n_neighbors"], a.shape[0] - 1)
    params = dict(UMAP_PARAMS, n_neighbors=nn_)
    if a.shape[0] <= params["n_components"] + 1:
        params["init"] = "random"
    reducer = umap.UMAP(random_state=int(seed), n_jobs=1, **params)
    with np.errstate(all="ignore"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return reducer.fit_transform(a).astype(np.float32)


def _standardise(A):
    """Activations on a common scale: centred, then divided by their overall std (keeps the geometry)."""
    A = A - A.mean(0)
    sd = A.std()
    return A / sd if sd > 0 else A


def _r2(y, pred):
    ss = np.sum((y - y.mean(0)) ** 2)
    return float(1 - np.sum((y - pred) ** 2) / ss) if ss > 0 else float("nan")


def _linear_r2(X, y):
    A = np.c_[X, np.ones(len(X))]
    coef, *_ = np.linalg.lstsq(A, y, rcond=None)
    return _r2(y, A @ coef)


def _knn_r2(X, y, k=KNN_K, folds=KNN_FOLDS, seed=0):
    # scikit-learn is imported where it is used: its import takes about a second
    from sklearn.model_selection import KFold, cross_val_predict
    from sklearn.neighbors import KNeighborsRegressor

    k = min(k, len(X) - len(X) // folds - 1)
    pred = cross_val_predict(KNeighborsRegressor(n_neighbors=k), X, y,
                             cv=KFold(folds, shuffle=True, random_state=seed))
    return _r2(y, pred)


def intrinsic_dim(X, k: int = ID_K) -> float:
    """Levina–Bickel MLE of intrinsic dimension with the MacKay–Ghahramani averaging of inverses."""
    from sklearn.neighbors import NearestNeighbors  # as in _knn_r2

    X = np.asarray(X, dtype=np.float64)
    k = min(k, len(X) - 1)
    d, _ = NearestNeighbors(n_neighbors=k + 1).fit(X).kneighbors(X)
    d = np.maximum(d[:, 1:], 1e-12)
    inv = np.log(d[:, -1:] / d[:, :-1]).sum(1) / (k - 1)
    inv = inv[np.isfinite(inv) & (inv > 0)]
    return float(1.0 / inv.mean()) if inv.size else float("nan")


def _targets(C, period):
    """Regression targets per axis: the centre itself, or on a periodic canvas the point (cos, sin) of its angle
    round the circle (so that μ = 0.5 and μ = N − 0.5 are neighbours, as they are on the torus)."""
    if period is None:
        return C[:, 0], C[:, 1]
    ang = 2 * np.pi * C / period
    return np.c_[np.cos(ang[:, 0]), np.sin(ang[:, 0])], np.c_[np.cos(ang[:, 1]), np.sin(ang[:, 1])]


def order_parameters(activations, centers, seed: int = 0, embedding: np.ndarray | None = None,
                     umap: bool = True, period: float | None = None) -> dict:
    """Order parameters of a latent (see the module docstring). ``embedding`` reuses a UMAP embedding; with
    ``umap=False`` no embedding is made and ``r2_x``, ``r2_y`` and ``embedding`` are None (the UMAP-free
    measures only, for sweeps over many layers).

    ``period``: the side of a periodic canvas (``Lattice.periodic``): each axis is then a circle, its R² is that
    of the point (cos, sin) of the centre's angle (R² of a 2-vector: 1 − Σ‖error‖² / Σ‖y − ȳ‖²), and
    trustworthiness is measured against the centres' neighbourhoods on the torus.

    Activations that do not depend on the condition at all (every row identical, e.g. a layer before any
    conditioning read on one shared noise image) have no order: every measure is NaN (and the embedding zeros).
    """
    from sklearn.manifold import trustworthiness  # as in _knn_r2

    A = np.asarray(activations, dtype=np.float64)
    C = np.asarray(centers, dtype=np.float64)
    if A.ndim != 2 or C.shape != (A.shape[0], 2):
        raise ValueError(f"activations (M, D) and centers (M, 2) must match, got {A.shape} and {C.shape}")
    if period is not None and not period > 0:
        raise ValueError(f"period must be > 0 (the side of a periodic canvas) or None, got {period!r}")
    if np.all(A == A[:1]):
        nan = float("nan")
        return {"r2_x": None if not umap else nan, "r2_y": None if not umap else nan, "knn_r2_x": nan,
                "knn_r2_y": nan, "trustworthiness": nan, "intrinsic_dim": nan,
                "embedding": None if not umap else np.zeros((len(A), 3), np.float32)}
    A = _standardise(A)
    E = None if not umap else embed(A, seed=seed) if embedding is None else np.asarray(embedding)
    k = min(KNN_K, len(A) // 2 - 1)
    yx, yy = _targets(C, period)
    # neighbourhoods of the true centres: on the plane, or on the torus (flat-torus coordinates, locally isometric)
    C_ref = C if period is None else np.c_[yx, yy] * (period / (2 * np.pi))
    return {
        "r2_x": None if E is None else _linear_r2(E, yx), "r2_y": None if E is None else _linear_r2(E, yy),
        "knn_r2_x": _knn_r2(A, yx, seed=seed), "knn_r2_y": _knn_r2(A, yy, seed=seed),
        "trustworthiness": float(trustworthiness(C_ref, A, n_neighbors=k)),
        "intrinsic_dim": intrinsic_dim(A),
        "embedding": E,
    }


def heldout_error(activations, centers, held_out, k: int = KNN_K, period: float | None = None) -> dict:
    """Where the latent puts conditions never trained on: a k-nearest-neighbour regression fitted on the seen
    conditions (``~held_out``) predicts the centres of the held-out ones from their activations; returns the mean
    absolute error per axis in pixels, ``{"x": …, "y": …}`` (round the circle when ``period`` is given). The
    seen neighbours all lie outside the hole, so even a perfectly ordered latent has an error (about 1 px for an
    8 × 8 hole: the same function applied to the centres themselves gives it); held-out conditions pushed onto the
    hole's border or scattered give several times that."""
    from sklearn.neighbors import KNeighborsRegressor  # as in _knn_r2

    A = np.asarray(activations, dtype=np.float64)
    C = np.asarray(centers, dtype=np.float64)
    m = np.asarray(held_out, dtype=bool)
    if A.ndim != 2 or C.shape != (A.shape[0], 2) or m.shape != (A.shape[0],):
        raise ValueError(f"activations (M, D), centers (M, 2) and held_out (M,) must match, got {A.shape}, "
                         f"{C.shape} and {m.shape}")
    if not m.any() or m.all():
        raise ValueError("held_out must mark some conditions but not all of them")
    A = _standardise(A)
    pred = KNeighborsRegressor(n_neighbors=min(k, int((~m).sum()))).fit(A[~m], C[~m]).predict(A[m])
    err = axis_error(pred, C[m], period).mean(0)
    return {"x": float(err[0]), "y": float(err[1])}


def pca_spectrum(activations) -> np.ndarray:
    """Eigenvalues of the covariance of ``activations`` (M, D), largest first (from the M × M Gram matrix of the
    centred rows, so the cost grows with M², not D²)."""
    A = np.asarray(activations, dtype=np.float64)
    if A.ndim != 2 or A.shape[0] < 2:
        raise ValueError(f"activations must be (M, D) with M >= 2, got {A.shape}")
    A = A - A.mean(0)
    ev = np.linalg.eigvalsh(A @ A.T) / (A.shape[0] - 1)
    return np.clip(ev[::-1], 0, None)


def participation_ratio(eigenvalues) -> float:
    """Effective dimension (Σλ)² / Σλ² of a covariance spectrum: k for k equal eigenvalues, 1 for one."""
    ev = np.asarray(eigenvalues, dtype=np.float64)
    s2 = float(np.sum(ev ** 2))
    return float(np.sum(ev) ** 2 / s2) if s2 > 0 else float("nan")


def top_components(acts: np.ndarray, k: int) -> np.ndarray:
    """The scores of ``acts`` (M, D) on its top ``k`` principal components (M, k); ``acts`` itself, centred, when
    D ≤ k; zeros when every row is the same (a float32 mean leaves rounding residue whose "components" would be
    noise). Computed from the M × M Gram matrix, so its cost grows with M², not D²."""
    A = np.asarray(acts, dtype=np.float32)
    if np.all(A == A[:1]):   # condition-independent activations: no components (not the eigenvectors of rounding noise)
        return np.zeros((A.shape[0], A.shape[1] if k <= 0 else min(k, A.shape[1])), dtype=np.float32)
    A = A - A.mean(0)
    if k <= 0 or A.shape[1] <= k:
        return A
    evals, evecs = np.linalg.eigh((A @ A.T).astype(np.float64))
    top = np.argsort(evals)[::-1][:k]
    return (evecs[:, top] * np.sqrt(np.clip(evals[top], 0, None))).astype(np.float32)
