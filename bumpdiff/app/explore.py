"""Interactive exploration of shipped models (``notebooks/00_explore.ipynb``): everything the explorer computes.

:class:`Explorer` holds the shipped checkpoints of one run (:mod:`bumpdiff.store.weights`) and answers three
questions for a requested centre (μx, μy), a checkpoint (by its phase label), a sampler and a read-out:

- :meth:`Explorer.generate` — ``n`` samples for that centre, scored by the project's detector (marks and a
  verdict per sample), and the denoising trajectory (predicted clean image at every step) of the first one;
- :meth:`Explorer.latent` — the checkpoint's latent at a layer and timestep over a grid of centres: activations,
  their UMAP embedding (fixed ``random_state``) and order parameters, cached per (checkpoint, layer, t, mode);
- :meth:`Explorer.locate` — where the requested centre sits in that embedding: its activation is placed at the
  distance-weighted mean embedding of its ``k`` nearest grid activations (the out-of-sample rule UMAP itself
  uses to initialise ``transform``), reported with the grid centres those neighbours belong to.

Everything is deterministic for given arguments (explicit generators and seeds).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import torch

from ..analysis.activations import collect_activations, latent_grid
from ..analysis.evaluate import score
from ..analysis.order import embed, order_parameters
from ..analysis.specs import MODES
from ..common.checks import check_range
from ..core.config import LAYER_NAMES, TrainConfig, resolve_layer
from ..core.diffusion import as_sampler
from ..store.weights import pretrained, shipped

__all__ = ["Explorer", "Generation", "Latent"]


@dataclass
class Generation:
    """Samples for one requested centre, scored; ``trajectory`` maps timestep → predicted x0 of sample 0."""

    images: np.ndarray            # (n, N, N) in [-1, 1]
    requested: np.ndarray         # (n, 2)
    estimated: np.ndarray         # (n, 2), NaN where not exactly one bump
    labels: np.ndarray            # (n,) none / multiple / single_wrong / correct
    n_bumps: np.ndarray           # (n,)
    summary: dict                 # accuracy and the failure fractions
    trajectory: dict = field(repr=False)
    seconds: float = 0.0

    @property
    def verdict(self) -> str:
        counts = {lab: int((self.labels == lab).sum()) for lab in ("correct", "single_wrong", "multiple", "none")}
        return (f"{counts['correct']}/{len(self.labels)} correct (one bump within {self.summary['tol']:g} px); "
                f"{counts['single_wrong']} misplaced, {counts['multiple']} with several bumps, {counts['none']} empty")


@dataclass
class Latent:
    """A checkpoint's latent at one layer and timestep over a grid of centres."""

    layer: str
    t: int
    mode: str
    grid: np.ndarray              # (M, 2) centres
    activations: np.ndarray       # (M, D)
    embedding: np.ndarray         # (M, 3) UMAP
    order: dict                   # kNN R² x / y, UMAP R² x / y, intrinsic dimension, trustworthiness
    seconds: float = 0.0


class Explorer:
    """The shipped checkpoints of one run, ready to sample and read (see the module docstring)."""

    def __init__(self, profile: str = "cpu", arch: str = "film", seed: int = 0, grid_conditions: int = 256,
                 device="cpu"):
        check_range("grid_conditions", grid_conditions, lo=16, integer=True)
        self.manifest = shipped(profile, arch, seed)
        self.profile, self.arch, self.seed, self.device = profile, arch, seed, device
        self.cfg = TrainConfig.from_dict(self.manifest["config"])
        self.grid = latent_grid(self.cfg.lattice, grid_conditions)
        self._models: dict[str, object] = {}
        self._latents: dict[tuple, Latent] = {}

    # ------------------------------------------------------------------ checkpoints
    @property
    def labels(self) -> list[str]:
        """The shipped checkpoints' labels: the phases of the run's call in order, then ``"final"``."""
        return [e["label"] for e in self.manifest["checkpoints"]]

    def entry(self, label: str) -> dict:
        for e in self.manifest["checkpoints"]:
            if e["label"] == label:
                return e
        raise ValueError(f"label must be one of {self.labels}, got {label!r}")

    def describe(self, label: str) -> str:
        e = self.entry(label)
        r = e["reference"]
        return (f"{label}: step {e['step']} (epoch {e['epoch']:.0f}, {e['images_seen']:,} images); call "
                f"{e['phase']} (generation {e['phase_generation']}, representation {e['phase_representation']}); "
                f"analysed accuracy {r.get('accuracy', float('nan')):.2f}, kNN R² x/y "
                f"{r.get('knn_r2_x', float('nan')):.2f}/{r.get('knn_r2_y', float('nan')):.2f}")

    def model(self, label: str):
        if label not in self._models:
            self.entry(label)
            self._models[label] = pretrained(self.profile, phase=label, arch=self.arch, seed=self.seed,
                                             device=self.device)
        return self._models[label]

    # ------------------------------------------------------------------ questions
    def _check_center(self, mux: float, muy: float):
        n = self.cfg.lattice.n
        check_range("mux", mux, lo=0, hi=n - 1)
        check_range("muy", muy, lo=0, hi=n - 1)

    def generate(self, label: str, mux: float, muy: float, sampler: str = "ddim", steps: int = 20, n: int = 8,
                 seed: int = 0, tol: float | None = None, eta: float = 0.0) -> Generation:
        """``n`` samples at (μx, μy) from checkpoint ``label`` with ``sampler`` (``"ddim"`` with ``steps`` steps
        and stochasticity ``eta``: 0 deterministic, 1 as much fresh noise per step as DDPM; or ``"ddpm"``: all T
        ancestral steps), scored at the analysis tolerance unless ``tol`` is given."""
        self._check_center(mux, muy)
        check_range("n", n, lo=1, hi=256, integer=True)
        check_range("eta", eta, lo=0.0, hi=1.0)
        smp = as_sampler(sampler, steps if sampler == "ddim" else None, float(eta))
        tol = float(self.manifest["analysis"]["tol"] if tol is None else tol)
        t0 = time.perf_counter()
        centers = torch.tensor([[float(mux), float(muy)]] * n)
        with torch.inference_mode():
            imgs, cap = self.model(label).sample(centers, generator=torch.Generator().manual_seed(seed), sampler=smp,
                                                 trajectory=True)
        scored = score(imgs, centers, tol=tol, periodic=self.cfg.lattice.periodic)
        traj = {int(t): x[0, 0].numpy() for t, x in cap["x0_pred"].items()}
        return Generation(images=imgs[:, 0].numpy(), requested=scored.requested, estimated=scored.estimated,
                          labels=scored.labels, n_bumps=scored.n_bumps, summary=scored.summary(), trajectory=traj,
                          seconds=time.perf_counter() - t0)

    def latent(self, label: str, layer: str = "down3", t: int = 500, mode: str = "noise") -> Latent:
        """The latent of checkpoint ``label`` at ``layer`` and timestep ``t`` over the explorer's grid (cached)."""
        name = resolve_layer(layer)
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        check_range("t", t, lo=0, hi=self.cfg.diffusion.timesteps - 1, integer=True)
        key = (label, name, int(t), mode)
        if key not in self._latents:
            t0 = time.perf_counter()
            with torch.inference_mode():
                acts = collect_activations(self.model(label), self.grid, layer=name, t=t, mode=mode, seed=0)
            emb = embed(acts, seed=0)
            op = order_parameters(acts, self.grid, seed=0, embedding=emb)
            self._latents[key] = Latent(layer=name, t=int(t), mode=mode, grid=self.grid, activations=acts,
                                        embedding=emb, order={k: v for k, v in op.items() if k != "embedding"},
                                        seconds=time.perf_counter() - t0)
        return self._latents[key]

    def locate(self, label: str, mux: float, muy: float, layer: str = "down3", t: int = 500, mode: str = "noise",
               k: int = 5) -> dict:
        """Where (μx, μy) sits in the latent of :meth:`latent`: ``{"point": (3,), "neighbours": (k, 2) grid
        centres of its k nearest activations, "neighbour_error": mean distance (px) of those centres from
        (μx, μy)}`` — a small error means the layer keeps nearby centres nearby."""
        self._check_center(mux, muy)
        lat = self.latent(label, layer, t, mode)
        with torch.inference_mode():
            a = collect_activations(self.model(label), np.array([[mux, muy]], dtype=np.float32), layer=lat.layer,
                                    t=lat.t, mode=mode, seed=0)[0]
        d = np.linalg.norm(lat.activations - a, axis=1)
        nn_ = np.argsort(d, kind="stable")[:k]
        w = 1.0 / np.maximum(d[nn_], 1e-12)
        point = (lat.embedding[nn_] * w[:, None]).sum(0) / w.sum()
        err = float(np.linalg.norm(lat.grid[nn_] - np.array([mux, muy]), axis=1).mean())
        return {"point": point, "neighbours": lat.grid[nn_], "neighbour_error": err}

    @staticmethod
    def layers() -> tuple[str, ...]:
        return LAYER_NAMES
