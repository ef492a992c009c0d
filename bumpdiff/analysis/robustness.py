"""Robustness of the read-outs (Figure 6): other layers and timesteps, other samplers, at one checkpoint.

Each study is a frozen dataclass whose identity, with the run's key and the step, is the cache key of its
result; :mod:`bumpdiff.store.robustness_cache` stores and reads them. Per-profile settings:
:mod:`bumpdiff.experiments.profiles`.
"""
from __future__ import annotations

from dataclasses import dataclass

from tqdm.auto import tqdm

from ..common.checks import check_range
from ..core.diffusion import Diffusion, as_sampler
from ..core.model import resolve_layer
from .activations import MODES, collect_layers, latent_grid
from .evaluate import sample_and_score
from .order import order_parameters

__all__ = ["LayerSweep", "SamplerComparison", "layer_timestep_sweep"]


@dataclass(frozen=True)
class LayerSweep:
    """Order parameters of ``layers`` × ``timesteps`` on the latent grid (activation ``mode``, ``seed``)."""

    layers: tuple = ("down1", "down2", "down3", "mid", "up1")
    timesteps: tuple = (100, 300, 500, 700, 900)
    mode: str = "noise"
    seed: int = 0
    max_conditions: int = 1024
    weights: str = "ema"

    kind = "layer-sweep"

    def __post_init__(self):
        object.__setattr__(self, "layers", tuple(resolve_layer(layer) for layer in self.layers))
        object.__setattr__(self, "timesteps", tuple(int(t) for t in self.timesteps))
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {self.mode!r}")
        for t in self.timesteps:
            check_range("timesteps[i]", t, lo=0, integer=True)

    def compute(self, diffusion: Diffusion, lattice, progress: bool = True) -> dict:
        grid = latent_grid(lattice, self.max_conditions)
        return {"rows": layer_timestep_sweep(diffusion, grid, self.layers, self.timesteps, self.mode, self.seed,
                                             progress)}


@dataclass(frozen=True)
class SamplerComparison:
    """Generation breakdown of ``n`` samples under each sampler: (label, "ddpm"|"ddim", steps, eta)."""

    samplers: tuple = (("DDPM (all T steps)", "ddpm", 0, 0.0), ("DDIM 50, η=0", "ddim", 50, 0.0),
                       ("DDIM 50, η=1", "ddim", 50, 1.0), ("DDIM 10, η=0", "ddim", 10, 0.0))
    n: int = 256
    seed: int = 0
    tol: float = 1.0
    weights: str = "ema"

    kind = "samplers"

    def __post_init__(self):
        object.__setattr__(self, "samplers", tuple(tuple(s) for s in self.samplers))
        for _, name, steps, eta in self.samplers:
            as_sampler(name, steps or None, eta)
        check_range("n", self.n, lo=1, integer=True)

    def compute(self, diffusion: Diffusion, lattice, progress: bool = True) -> dict:
        out = {}
        for label, name, steps, eta in tqdm(self.samplers, desc="samplers", disable=not progress):
            scored, _ = sample_and_score(diffusion, lattice.centers(), self.n, seed=self.seed,
                                     sampler=as_sampler(name, steps or None, eta), tol=self.tol,
                                     periodic=lattice.periodic)
            out[label] = scored.summary()
        return {"samplers": out, "n": self.n}


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
