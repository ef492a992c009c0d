"""Every latent measure the project reports, on one phantom (:mod:`.phantoms`): the computing half of the latent
calibration (:mod:`.calibration` reads what it gives)."""
from __future__ import annotations

from .manifold import geodesic_order, multiscale_dimension, neighbourhood_agreement
from .order import order_parameters
from .phantoms import Phantom, make_phantom

__all__ = ["phantom_metrics"]


def phantom_metrics(p: Phantom, umap: bool = False) -> dict:
    """Every measure of :data:`METRICS` on phantom ``p`` (``umap_r2`` None without ``umap``)."""
    A, C = make_phantom(p)
    o = order_parameters(A, C, umap=umap, period=p.period)
    ms = multiscale_dimension(A)
    return {"knn_r2": min(o["knn_r2_x"], o["knn_r2_y"]),
            "umap_r2": None if o["r2_x"] is None else min(o["r2_x"], o["r2_y"]),
            "trustworthiness": o["trustworthiness"], "intrinsic_dim": o["intrinsic_dim"],
            "dimension_n1": ms["dimension_n1"], "dimension": ms["dimension"], "dimension_scale": ms["scale"],
            "geodesic_order": geodesic_order(A, C, period=p.period),
            "neighbourhood_agreement": neighbourhood_agreement(A, C, period=p.period), "conditions": int(len(A))}
