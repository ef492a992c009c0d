"""The shape of the learned manifold: persistent homology of a layer's latent against two ideal tori.

On a periodic canvas (``Lattice(periodic=True)``) the centre (μx, μy) lives on a torus, θ = 2π μx / N and
φ = 2π μy / N. A representation that keeps both circles is a torus too, and two ideal ones are its references,
sampled at the same conditions:

- the **coupled** torus, the ring torus in 3-D, ((R + r cos φ) cos θ, (R + r cos φ) sin θ, r sin φ) with
  ``torus_radii`` (R, r) = (2, 1): the two angles share coordinates;
- the **factorised** (Clifford) torus in 4-D, (cos θ, sin θ, cos φ, sin φ): each angle has its own plane.

For each point cloud (the layer's activations over the latent grid, read on one shared noise image at ``t``
like the analysis, and each ideal torus): centre it and scale it to unit root-mean-square radius (so diagrams of
clouds of different size are comparable), take ``n_landmarks`` landmarks by greedy farthest-point sampling from
the first condition (deterministic), and compute the Vietoris–Rips persistence diagrams in dimensions 0 to
``maxdim`` with ``ripser``. Reported per dimension k ≥ 1:

- the lifetimes (death − birth) of the longest ``n_lifetimes`` bars;
- the **number of features**, read off the largest gap: with the lifetimes sorted, l1 ≥ l2 ≥ …, the count is the
  i (1 ≤ i ≤ ``max_features``) with the largest drop l_i − l_{i+1}; a torus has 2 in H1 and 1 in H2, a circle
  1 and 0. The rule always finds at least one, so the lifetimes are reported beside it;
- the **bottleneck distance** of the learned diagram to each ideal torus's diagram (smaller: closer in shape).

:class:`Topology` is a study tracked over training (:mod:`bumpdiff.store.tracking`): ``python -m bumpdiff track topology
--experiment torus`` computes it for the checkpoints of the `torus` run.
"""
from __future__ import annotations

import warnings
from functools import lru_cache

import numpy as np
import torch

from .activations import collect_layers, latent_grid
from .order import top_components
from .specs import Topology

__all__ = ["Topology", "ideal_tori", "persistence", "feature_count", "normalise", "topology_rows", "topology_of"]


def ideal_tori(grid, n: float, radii=(2.0, 1.0)) -> dict[str, np.ndarray]:
    """The two reference tori at the conditions ``grid`` (M, 2) of a periodic canvas of side ``n``:
    ``{"coupled": (M, 3), "factorised": (M, 4)}`` (module docstring)."""
    g = np.asarray(grid, dtype=np.float64)
    th, ph = 2 * np.pi * g[:, 0] / n, 2 * np.pi * g[:, 1] / n
    R, r = radii
    return {"coupled": np.c_[(R + r * np.cos(ph)) * np.cos(th), (R + r * np.cos(ph)) * np.sin(th), r * np.sin(ph)],
            "factorised": np.c_[np.cos(th), np.sin(th), np.cos(ph), np.sin(ph)]}


def normalise(X) -> np.ndarray:
    """``X`` centred and scaled to unit root-mean-square distance from its centroid."""
    X = np.asarray(X, dtype=np.float64)
    X = X - X.mean(0)
    rms = np.sqrt((X ** 2).sum(1).mean())
    if not rms > 0:
        raise ValueError("the point cloud has no extent (every point is the same): it has no topology to measure")
    return X / rms


def persistence(X, maxdim: int = 2, n_landmarks: int = 400) -> list[np.ndarray]:
    """Vietoris–Rips persistence diagrams of the normalised cloud ``X`` (M, D), dimensions 0..``maxdim``: a list
    of (K, 2) arrays of (birth, death); infinite deaths (the one H0 class) dropped."""
    from ripser import ripser  # optional heavy dependency of the topology study only

    X = np.asarray(X, dtype=np.float64)
    if X.shape[1] > X.shape[0]:   # the scores on every principal component: the same distances, fewer columns
        X = top_components(X, len(X) - 1).astype(np.float64)
    X = normalise(X)
    n_perm = min(int(n_landmarks), len(X))
    with warnings.catch_warnings():   # a point cloud with as many points as coordinates is still a point cloud
        warnings.filterwarnings("ignore", message="The input matrix is square", category=UserWarning)
        dgms = ripser(X, maxdim=maxdim, n_perm=n_perm if n_perm < len(X) else None, distance_matrix=False)["dgms"]
    return [d[np.isfinite(d[:, 1])] for d in dgms]


def feature_count(lifetimes, max_features: int = 10) -> int:
    """The number of topological features: the position of the largest drop among the sorted top
    ``max_features`` lifetimes (module docstring); 0 when there are none."""
    life = np.sort(np.asarray(lifetimes, dtype=np.float64))[::-1][:max_features]
    if life.size == 0:
        return 0
    drops = life - np.r_[life[1:], 0.0]
    return int(np.argmax(drops)) + 1


def _summary(dgms: list[np.ndarray], spec: Topology) -> dict:
    out = {}
    for k in range(1, spec.maxdim + 1):
        d = dgms[k]
        life = np.sort(d[:, 1] - d[:, 0])[::-1] if len(d) else np.zeros(0)
        out[f"h{k}"] = {"count": feature_count(life, spec.max_features),
                        "lifetimes": [round(float(v), 5) for v in life[:spec.n_lifetimes]],
                        "diagram": [[round(float(b), 5), round(float(e), 5)] for b, e in d]}
    return out


@lru_cache(maxsize=8)
def _ideal(grid_bytes: bytes, m: int, n: float, spec: Topology) -> dict:
    grid = np.frombuffer(grid_bytes, dtype=np.float64).reshape(m, 2)
    return {name: _summary(persistence(X, spec.maxdim, spec.n_landmarks), spec)
            for name, X in ideal_tori(grid, n, spec.torus_radii).items()}


def topology_rows(acts: dict, grid, n: float, spec: Topology = Topology()) -> list[dict]:
    """One row per layer of ``acts`` ({layer: (M, D)}) and one per ideal torus (``"layer"``: ``"coupled"`` /
    ``"factorised"``): per homology dimension the count, lifetimes and diagram; layer rows also carry the
    bottleneck distance to each ideal torus per dimension (``"bottleneck"``: {"h1": {"coupled": …}, …})."""
    from persim import bottleneck  # as ripser

    g = np.ascontiguousarray(np.asarray(grid, dtype=np.float64))
    ideal = _ideal(g.tobytes(), len(g), float(n), spec)
    rows = []
    for layer, A in acts.items():
        s = _summary(persistence(A, spec.maxdim, spec.n_landmarks), spec)
        dist = {h: {name: round(float(bottleneck(np.asarray(s[h]["diagram"]).reshape(-1, 2),
                                                  np.asarray(ideal[name][h]["diagram"]).reshape(-1, 2))), 5)
                    for name in ideal} for h in s}
        rows.append({"layer": layer, **s, "bottleneck": dist})
    rows += [{"layer": name, **ideal[name]} for name in ideal]
    return rows


def topology_of(spec: Topology, diffusion, cfg) -> dict:
    """The :class:`Topology` of one model of run ``cfg`` (module docstring); the run must be on a periodic lattice."""
    if not cfg.lattice.periodic:
        raise ValueError("the topology study needs a run on a periodic lattice (lattice.periodic = True): the "
                         "ideal tori it compares with assume that (μx, μy) lives on a torus")
    grid = latent_grid(cfg.lattice, spec.max_conditions)
    with torch.inference_mode():
        acts = collect_layers(diffusion, grid, spec.layers, t=spec.t, mode="noise", seed=spec.seed)
    return {"rows": topology_rows(acts, grid, cfg.lattice.n, spec)}
