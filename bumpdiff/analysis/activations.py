"""Activations of a named layer over a grid of conditions (the raw material of the latent analysis)."""
from __future__ import annotations

import hashlib

import numpy as np
import torch

from ..common.checks import check_range
from ..core.config import resolve_layer
from ..core.diffusion import DDIM, Capture, Diffusion, inference_chunk
from ..core.lattice import Lattice, render
from .specs import MODES, NOISE

__all__ = ["collect_activations", "collect_layers", "trial_activations", "latent_grid", "condition_noise", "MODES",
           "NOISE"]



def condition_noise(centers, shape: tuple[int, ...], seed: int = 0, trial: int = 0) -> torch.Tensor:
    """One standard-normal tensor of ``shape`` per condition (M, *shape), each drawn from its own generator whose
    seed is a hash of ``seed``, ``trial`` and the condition's float32 (μx, μy): a condition gets the same noise
    whatever the other conditions, their order or the chunk it is read in. ``trial`` numbers further independent
    images of the same condition (the trial-averaged read-out); trial 0 is the ``independent`` read-out's image."""
    check_range("trial", trial, lo=0, integer=True)
    c = np.ascontiguousarray(np.asarray(centers, dtype=np.float32).reshape(-1, 2))
    out = torch.empty((c.shape[0], *shape))
    key = int(seed).to_bytes(8, "little") + (int(trial).to_bytes(8, "little") if trial else b"")
    for i, row in enumerate(c):
        digest = hashlib.blake2b(row.tobytes(), digest_size=8, key=key).digest()
        g = torch.Generator().manual_seed(int.from_bytes(digest, "little") & (2**63 - 1))
        out[i] = torch.randn(shape, generator=g)
    return out


@torch.no_grad()
def collect_layers(diffusion: Diffusion, centers, layers=("down3",), t: int = 500, mode: str = "noise",
                   seed: int = 0, batch_size: int | None = None, sampler_steps: int = 20,
                   lattice: Lattice | None = None, noise: str = "shared", trials: int = 16) -> dict[str, np.ndarray]:
    """Activations (M, D) of each of ``layers`` for each condition in ``centers`` (M, 2), flattened, from one pass
    that captures them all: ``{layer name: array}``.

    modes: ``"noise"`` — one forward pass at timestep ``t`` on a pure-noise image; ``"noised"`` — on the ground-truth
    image of each condition noised to ``t``; ``"sampling"`` — the mean over the steps of a deterministic DDIM run of
    ``sampler_steps`` steps from x_T. ``noise`` (:data:`NOISE`) says whether that noise image (the input, the noise
    added, x_T) is one image shared by all conditions (``"shared"``: only the condition varies), each condition's
    own (``"independent"``, :func:`condition_noise`), or the mean activation over ``trials`` images of each
    condition's own (``"mean"``: the conditional-mean latent, trial 0 being the independent read-out's image).
    ``lattice`` (default: σ = 1 on the model's canvas) says how ``"noised"`` renders the ground truth (its σ, and
    whether the canvas is periodic). ``batch_size``: conditions per forward pass (default
    :func:`~bumpdiff.core.diffusion.inference_chunk`, 512 on an accelerator); the activations do not depend on it.
    """
    if noise not in NOISE:
        raise ValueError(f"noise must be one of {NOISE}, got {noise!r}")
    check_range("trials", trials, lo=1, integer=True)
    if noise != "mean":
        return _collect(diffusion, centers, layers, t, mode, seed, batch_size, sampler_steps, lattice, noise, 0)
    total = None
    for k in range(trials):
        got = _collect(diffusion, centers, layers, t, mode, seed, batch_size, sampler_steps, lattice, "independent", k)
        total = {n: a.astype(np.float64) for n, a in got.items()} if total is None else \
            {n: total[n] + a for n, a in got.items()}
    return {n: (a / trials).astype(np.float32) for n, a in total.items()}


@torch.no_grad()
def trial_activations(diffusion: Diffusion, centers, layer="down3", t: int = 500, seed: int = 0, trials: int = 16,
                      batch_size: int | None = None) -> np.ndarray:
    """Activations (trials, M, D) of ``layer`` (mode ``"noise"``) on ``trials`` independent noise images per condition
    (trial k: :func:`condition_noise` with ``trial=k``): the raw material of the trial-averaged read-out and of the
    within- / between-condition variance (:func:`bumpdiff.analysis.manifold.noise_ratio`)."""
    check_range("trials", trials, lo=1, integer=True)
    name = resolve_layer(layer)
    return np.stack([_collect(diffusion, centers, (name,), t, "noise", seed, batch_size, 20, None, "independent",
                              k)[name] for k in range(trials)])


def _collect(diffusion, centers, layers, t, mode, seed, batch_size, sampler_steps, lattice, noise, trial):
    """One read-out on one set of noise images (``noise`` "shared", or "independent" with trial ``trial``)."""
    if mode not in MODES:
        raise ValueError(f"mode must be 'noise', 'noised' or 'sampling', got {mode!r}")
    check_range("t", t, lo=0, hi=diffusion.T - 1, integer=True)
    names = tuple(dict.fromkeys(resolve_layer(layer) for layer in layers))
    model = diffusion.model
    device = next(model.parameters()).device
    centers = torch.as_tensor(np.asarray(centers), dtype=torch.float32)
    M = centers.shape[0]
    batch_size = inference_chunk(device, batch_size, accelerator=512)
    n = model.cfg.image_size
    shape = (model.cfg.in_channels, n, n)
    if noise == "shared":
        eps = torch.randn((1, *shape), generator=torch.Generator().manual_seed(seed)).expand(M, -1, -1, -1)
    else:
        eps = condition_noise(centers, shape, seed, trial)
    if mode == "sampling":
        _, cap = diffusion.sample(centers, sampler=DDIM(sampler_steps, 0.0), x_T=eps,
                                  capture=Capture(names), batch_size=batch_size)
        return {name: torch.stack(list(cap[name].values())).mean(0).reshape(M, -1).numpy() for name in names}
    was = model.training
    model.eval()
    out: dict = {name: [] for name in names}
    try:
        for s in range(0, M, batch_size):
            c = centers[s:s + batch_size]
            b = c.shape[0]
            tt = torch.full((b,), int(t), dtype=torch.long)
            if mode == "noise":
                x = eps[s:s + b]
            else:
                x0 = render(c, n, lattice.sigma, lattice.periodic) if lattice is not None else render(c, n, 1.0)
                x = diffusion.q_sample(x0.to(device), tt.to(device), eps[s:s + b].to(device))
            with model.capture(names) as store:
                model(x.to(device), tt.to(device), c.to(device))
            for name in names:
                out[name].append(store[name].reshape(b, -1).cpu())
    finally:
        model.train(was)
    return {name: torch.cat(v).numpy() for name, v in out.items()}


def collect_activations(diffusion: Diffusion, centers, layer="down3", t: int = 500, mode: str = "noise",
                        seed: int = 0, batch_size: int | None = None, sampler_steps: int = 20,
                        lattice: Lattice | None = None, noise: str = "shared", trials: int = 16) -> np.ndarray:
    """Activations (M, D) of one ``layer`` (:func:`collect_layers` for the modes and the noise)."""
    name = resolve_layer(layer)
    return collect_layers(diffusion, centers, (name,), t, mode, seed, batch_size, sampler_steps, lattice, noise,
                          trials)[name]


def latent_grid(lattice: Lattice, max_conditions: int) -> np.ndarray:
    """The latent grid: the lattice itself (:meth:`~bumpdiff.core.data.Lattice.grid`, a held-out square included) if
    small enough, else a sub-lattice evenly spaced on each axis with about √max_conditions values per axis (so
    lattices of different densities are read on one spatial grid)."""
    if lattice.kx * lattice.ky <= max_conditions:
        return lattice.grid()
    side = int(np.floor(np.sqrt(max_conditions)))
    kx = min(lattice.kx, side)
    ky = min(lattice.ky, max_conditions // kx)
    xs = lattice.xs()[np.linspace(0, lattice.kx - 1, kx).round().astype(int)]
    ys = lattice.ys()[np.linspace(0, lattice.ky - 1, ky).round().astype(int)]
    gy, gx = np.meshgrid(ys, xs, indexing="ij")
    return np.stack([gx.ravel(), gy.ravel()], axis=1)
