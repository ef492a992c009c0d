"""The representation atlas: order parameters at every named layer × several timesteps, over training.

For one checkpoint, :func:`atlas_checkpoint` reads the latent grid at each timestep of :class:`Atlas` with a single
forward pass that captures every named layer (activation mode ``noise``: by default one shared noise image, so only
the condition varies; ``noise="independent"`` gives each condition its own), and once more along a deterministic DDIM
run (``sampling_steps`` steps, on a grid of at most ``sampling_conditions`` conditions) for the ``sampling`` read-out
of ``sampling_layer``. Each layer is read through its top ``pca_dims`` principal components (the wide layers have up
to 32,768 features at ``cpu`` size; distances, and so the order parameters of a low-dimensional manifold, live in the
top components: ``tests/test_atlas.py`` checks it). Each (layer, read-out) gets the UMAP-free order parameters (kNN R²
of μx and μy, intrinsic dimension, trustworthiness), and the UMAP R² too when ``umap`` is set. The tracking engine
(:func:`bumpdiff.store.tracking.track`) does this for every analysed checkpoint of a run that is on disk and stores
the rows beside the run's results bundle, in ``data/results/<run folder>/atlas-<key>.json``, extended checkpoint by
checkpoint (an interrupted atlas keeps what it finished).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..common.checks import check_range
from ..common.identity import added
from ..common.identity import key as identity_key
from ..core.diffusion import Diffusion
from ..core.model import LAYER_NAMES, resolve_layer
from .activations import NOISE, collect_activations, collect_layers, latent_grid
from .order import order_parameters, top_components
from .phases import call_phase

__all__ = ["Atlas", "atlas_checkpoint", "atlas_matrix", "latent_calls"]


@dataclass(frozen=True)
class Atlas:
    layers: tuple = LAYER_NAMES
    timesteps: tuple = (100, 300, 500, 700, 900)
    sampling_layer: str = "down3"       # the `sampling` read-out: mean activation along a DDIM run
    sampling_steps: int = 10
    sampling_conditions: int = 256       # the sampling read-out's grid (a DDIM run per condition: the costly part)
    umap: bool = False                   # UMAP R² too (a UMAP per cell: about 4 s each on 2 cores)
    pca_dims: int = 128                  # each layer is read through its top principal components (0: raw)
    seed: int = 0
    max_conditions: int = 1024
    weights: str = "ema"
    noise: str = added("shared")         # the read-outs' noise (bumpdiff.analysis.activations.NOISE)

    kind = "atlas"

    def __post_init__(self):
        object.__setattr__(self, "layers", tuple(resolve_layer(layer) for layer in self.layers))
        object.__setattr__(self, "timesteps", tuple(int(t) for t in self.timesteps))
        object.__setattr__(self, "sampling_layer", resolve_layer(self.sampling_layer))
        check_range("sampling_steps", self.sampling_steps, lo=1, integer=True)
        if self.noise not in NOISE:
            raise ValueError(f"noise must be one of {NOISE}, got {self.noise!r}")

    def key(self) -> str:
        return identity_key("atlas", self)

    def compute(self, diffusion: Diffusion, cfg) -> dict:
        return {"rows": atlas_checkpoint(diffusion, cfg.lattice, self)}


def _row(layer, readout, acts, grid, spec, period=None) -> dict:
    op = order_parameters(top_components(acts, spec.pca_dims), grid, seed=spec.seed, umap=spec.umap, period=period)
    return {"layer": layer, "readout": readout} | {k: v for k, v in op.items() if k != "embedding"}


def atlas_checkpoint(diffusion: Diffusion, lattice, spec: Atlas = Atlas()) -> list[dict]:
    """Rows ``{"layer", "readout" (t, or "sampling"), order parameters}`` of one model (module docstring)."""
    grid = latent_grid(lattice, spec.max_conditions)
    period = lattice.period
    rows = []
    for t in spec.timesteps:
        check_range("timesteps[i]", t, lo=0, hi=diffusion.T - 1, integer=True)
        acts = collect_layers(diffusion, grid, spec.layers, t=t, mode="noise", seed=spec.seed, noise=spec.noise)
        rows += [_row(layer, int(t), acts[layer], grid, spec, period) for layer in spec.layers]
    sgrid = latent_grid(lattice, spec.sampling_conditions)
    acts = collect_activations(diffusion, sgrid, layer=spec.sampling_layer, t=0, mode="sampling", seed=spec.seed,
                               sampler_steps=spec.sampling_steps, noise=spec.noise)
    rows.append(_row(spec.sampling_layer, "sampling", acts, sgrid, spec, period))
    return rows


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
