"""A stored atlas read cell by cell (no computing, no torch): the layer × training-step matrix of one order parameter
for a heat map, and the phase rule's latent call of each cell."""
from __future__ import annotations

import numpy as np

from .phases import call_phase

__all__ = ["atlas_matrix", "latent_calls"]


def atlas_matrix(data: dict, key: str = "knn", readout=500) -> tuple[list[str], list[int], np.ndarray]:
    """(layers, steps, M) with M[layer, step] = min(kNN R²x, kNN R²y) (``key="knn"``) or the intrinsic dimension
    (``key="dim"``) at one read-out, for a layer × training-step heat map."""
    steps = [c["step"] for c in data["checkpoints"].values()]
    layers = [r["layer"] for r in next(iter(data["checkpoints"].values()))["rows"] if r["readout"] == readout]
    M = np.full((len(layers), len(steps)), np.nan)
    for j, c in enumerate(data["checkpoints"].values()):
        for r in c["rows"]:
            if r["readout"] == readout and r["layer"] in layers:
                v = min(r["knn_r2_x"], r["knn_r2_y"]) if key == "knn" else r["intrinsic_dim"]
                M[layers.index(r["layer"]), j] = v
    return layers, steps, M


def latent_calls(data: dict, readout=500) -> dict[int, dict[str, str]]:
    """``{step: {layer: latent call}}`` at one read-out: the phase rule's latent call (:mod:`bumpdiff.analysis.phases`,
    C = ordered and low-dimensional) applied to each cell of the atlas, in training order."""
    return {c["step"]: {r["layer"]: call_phase(order=r) for r in c["rows"] if r["readout"] == readout}
            for c in sorted(data["checkpoints"].values(), key=lambda c: c["step"])}
