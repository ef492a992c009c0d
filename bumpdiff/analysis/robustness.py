"""Robustness of the read-outs (Figure 6): other layers and timesteps, other samplers, at one checkpoint.

Each study is a frozen dataclass of :mod:`.specs` whose identity, with the run's key and the step, is the cache key
of its result; :mod:`bumpdiff.store.robustness_cache` stores and reads them. Per-profile settings:
:mod:`bumpdiff.experiments.profiles`.
"""
from __future__ import annotations

from tqdm.auto import tqdm

from ..core.config import resolve_layer
from ..core.diffusion import Diffusion, as_sampler
from .activations import collect_layers, latent_grid
from .generation import sample_and_score
from .order import order_parameters
from .specs import LayerSweep, SamplerComparison

__all__ = ["LayerSweep", "SamplerComparison", "layer_timestep_sweep", "layer_sweep_of", "sampler_comparison_of"]


def layer_timestep_sweep(diffusion: Diffusion, grid, layers=("down1", "down2", "down3", "mid", "up1"),
                         timesteps=(100, 300, 500, 700, 900), mode: str = "noise", seed: int = 0,
                         progress: bool = True) -> list[dict]:
    """Order parameters of several layers at several timesteps, one row per (layer, t), layer-major; one pass
    per timestep reads every layer."""
    layers = [resolve_layer(layer) for layer in layers]
    ops = {}
    with tqdm(total=len(layers) * len(timesteps), desc="layers × timesteps", disable=not progress) as bar:
        for t in timesteps:
            acts = collect_layers(diffusion, grid, layers, t=t, mode=mode, seed=seed)
            for layer in layers:
                ops[layer, int(t)] = order_parameters(acts[layer], grid, seed=seed)
                bar.update(1)
    return [{"layer": layer, "t": int(t)} | {k: v for k, v in ops[layer, int(t)].items() if k != "embedding"}
            for layer in layers for t in timesteps]


def layer_sweep_of(spec: LayerSweep, diffusion: Diffusion, lattice, progress: bool = True) -> dict:
    """The :class:`LayerSweep` of one model: order parameters of its layers × timesteps on the latent grid."""
    grid = latent_grid(lattice, spec.max_conditions)
    return {"rows": layer_timestep_sweep(diffusion, grid, spec.layers, spec.timesteps, spec.mode, spec.seed,
                                         progress)}


def sampler_comparison_of(spec: SamplerComparison, diffusion: Diffusion, lattice, progress: bool = True) -> dict:
    """The :class:`SamplerComparison` of one model: the generation breakdown under each sampler."""
    out = {}
    for label, name, steps, eta in tqdm(spec.samplers, desc="samplers", disable=not progress):
        scored, _ = sample_and_score(diffusion, lattice.centers(), spec.n, seed=spec.seed,
                                 sampler=as_sampler(name, steps or None, eta), tol=spec.tol,
                                 periodic=lattice.periodic)
        out[label] = scored.summary()
    return {"samplers": out, "n": spec.n}
