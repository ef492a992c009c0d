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

from ..common.checks import check_range
from ..core.diffusion import Diffusion
from .activations import collect_activations, collect_layers, latent_grid
from .atlas_cells import atlas_matrix, latent_calls
from .order import order_parameters, top_components
from .specs import Atlas

__all__ = ["Atlas", "atlas_checkpoint", "atlas_matrix", "latent_calls"]


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
