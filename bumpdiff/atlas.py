"""The representation atlas: order parameters at every named layer × several timesteps, over training.

For one checkpoint, :func:`atlas_checkpoint` reads the latent grid at each timestep of :class:`Atlas` with a single
forward pass that captures every named layer (activation mode ``noise``: by default one shared noise image, so
only the condition varies; ``noise="independent"`` gives each condition its own), and once more along a deterministic DDIM run (``sampling_steps`` steps, on a grid of at most
``sampling_conditions`` conditions) for the ``sampling`` read-out of ``sampling_layer``. Each layer is read through its top ``pca_dims`` principal components (the wide layers have
up to 32,768 features at ``cpu`` size; distances, and so the order parameters of a low-dimensional manifold, live
in the top components: ``tests/test_atlas.py`` checks it). Each (layer, read-out) gets the UMAP-free order parameters (kNN R² of μx and μy, intrinsic
dimension, trustworthiness), and the UMAP R² too when ``umap`` is set. :func:`compute_atlas` does this for
every analysed checkpoint of a run that is on disk and stores the rows beside the run's results bundle, in
``data/results/<run folder>/atlas-<key>.json``, extended checkpoint by checkpoint (an interrupted atlas keeps
what it finished).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .activations import NOISE, collect_activations, collect_layers, latent_grid
from .diffusion import Diffusion
from .identity import added
from .identity import key as identity_key
from .model import LAYER_NAMES, resolve_layer
from .order import order_parameters
from .tracking import in_training_order, load_tracked, track, tracked_path
from .utils import check_range

__all__ = ["Atlas", "atlas_checkpoint", "compute_atlas", "load_atlas", "atlas_path", "atlas_matrix", "top_components",
           "latent_calls"]


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
    noise: str = added("shared")         # the read-outs' noise (bumpdiff.activations.NOISE)

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


def atlas_path(run_dir: Path, spec: Atlas, out_dir=None) -> Path:
    return tracked_path(run_dir, spec, out_dir)


def load_atlas(run_dir: Path, spec: Atlas = Atlas(), out_dir=None) -> dict | None:
    return load_tracked(run_dir, spec, out_dir)


def compute_atlas(run_dir, spec: Atlas = Atlas(), steps=None, device="cpu", progress: bool = True,
                  out_dir=None) -> Path:
    """The atlas of the chosen checkpoints (default: every checkpoint on disk) of a run, stored beside its bundle
    (or in ``out_dir``, e.g. beside a retrain's bundle); checkpoints already in the atlas file are kept. Returns
    the file (:func:`bumpdiff.tracking.track`)."""
    return track(run_dir, spec, steps=steps, device=device, progress=progress, out_dir=out_dir)


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
    """``{step: {layer: latent call}}`` at one read-out: the phase rule's latent call (:mod:`bumpdiff.phases`,
    C = ordered and low-dimensional) applied to each cell of the atlas, in training order."""
    from .phases import call_phase
    return {c["step"]: {r["layer"]: call_phase(order=r) for r in c["rows"] if r["readout"] == readout}
            for c in in_training_order(data)["checkpoints"].values()}
