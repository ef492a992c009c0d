"""One checkpoint's analysis: score its generations, read its latent, compute the order parameters and call
its phase. :class:`AnalysisConfig` holds every setting; its identity is the analysis key of the results bundle
that :mod:`bumpdiff.store.bundles` builds from these records over a run.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from ..common.checks import check_range
from ..common.identity import added, execution
from ..common.identity import key as identity_key
from ..core.diffusion import Diffusion, as_sampler
from ..core.model import resolve_layer
from ..core.train import TrainConfig
from .activations import MODES, NOISE, collect_activations, latent_grid
from .evaluate import LABELS, sample_and_score
from .order import heldout_error, order_parameters
from .phases import call_phase

__all__ = ["AnalysisConfig", "analyze_checkpoint"]


@dataclass(frozen=True)
class AnalysisConfig:
    """Every setting of an analysis, explicit. Its identity is the analysis key; ``every`` is execution."""

    n_samples: int = 256            # generated samples per checkpoint, at random lattice centres
    sampler: str = "ddpm"           # "ddpm" (ancestral, all T steps) or "ddim"
    sampler_steps: int = 50         # DDIM steps (ignored for ddpm)
    eta: float = 0.0                # DDIM stochasticity
    tol: float = 1.0                # evaluator tolerance (pixels)
    layer: str = "down3"            # "layer 4"
    t: int = 500                    # timestep at which the latent is read
    mode: str = "noise"             # activation mode (bumpdiff.analysis.activations.collect_activations)
    max_conditions: int = 1024      # latent grid: the lattice, subsampled evenly to at most this many
    seed: int = 0                   # sampling, noise and UMAP seed
    weights: str = "ema"            # "ema" or "model"
    keep_samples: int = 16          # sample images kept per checkpoint in the bundle
    noise: str = added("shared")    # the read-out's noise: one image for all conditions, or each its own
    every: int = execution(1)       # analyse every k-th checkpoint (the last is always analysed)

    def __post_init__(self):
        check_range("n_samples", self.n_samples, lo=1, integer=True)
        as_sampler(self.sampler, self.sampler_steps, self.eta)
        check_range("tol", self.tol, lo=0, lo_open=True)
        object.__setattr__(self, "layer", resolve_layer(self.layer))
        check_range("t", self.t, lo=0, integer=True)
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {self.mode!r}")
        if self.noise not in NOISE:
            raise ValueError(f"noise must be one of {NOISE}, got {self.noise!r}")
        check_range("max_conditions", self.max_conditions, lo=5, integer=True)
        check_range("seed", self.seed, lo=0, integer=True)
        if self.weights not in ("ema", "model"):
            raise ValueError(f"weights must be 'ema' or 'model', got {self.weights!r}")
        check_range("keep_samples", self.keep_samples, lo=0, integer=True)
        check_range("every", self.every, lo=1, integer=True)

    def key(self) -> str:
        return identity_key("analysis", self)


#: the settings of an analysis that its generated samples depend on (with the weights and the lattice): two
#: analyses equal in these (the read-outs of one profile) score the same samples
GENERATION_FIELDS = ("n_samples", "sampler", "sampler_steps", "eta", "tol", "seed", "weights")


def generate(diffusion: Diffusion, cfg: TrainConfig, analysis_cfg: AnalysisConfig) -> tuple:
    """The analysis's generated samples, scored: ``(Score, images, seconds)``."""
    t0 = time.perf_counter()
    sampler = as_sampler(analysis_cfg.sampler, analysis_cfg.sampler_steps, analysis_cfg.eta)
    scored, imgs = sample_and_score(diffusion, cfg.lattice.centers(), analysis_cfg.n_samples, seed=analysis_cfg.seed,
                                    sampler=sampler, tol=analysis_cfg.tol, periodic=cfg.lattice.periodic)
    return scored, imgs, time.perf_counter() - t0


def analyze_checkpoint(diffusion: Diffusion, cfg: TrainConfig, analysis_cfg: AnalysisConfig,
                       generated: tuple | None = None) -> tuple[dict, dict]:
    """Score generations and compute the order parameters and phase of one model. Returns ``(record, arrays)``;
    arrays (embedding, grid, kept samples, every sample's requested and estimated centre) are numpy. A lattice
    with a held-out square adds ``record["heldout"]``: the same scoring for samples requested at the held-out
    centres, and the latent's placement of them (:func:`bumpdiff.analysis.order.heldout_error`). ``generated``:
    :func:`generate`'s result for this model under an analysis equal in :data:`GENERATION_FIELDS` (another
    read-out of the same checkpoint), used instead of sampling again."""
    scored, imgs, t_sample = generated if generated is not None else generate(diffusion, cfg, analysis_cfg)
    sampler = as_sampler(analysis_cfg.sampler, analysis_cfg.sampler_steps, analysis_cfg.eta)
    req = scored.requested
    grid = latent_grid(cfg.lattice, analysis_cfg.max_conditions)
    acts = collect_activations(diffusion, grid, layer=analysis_cfg.layer, t=analysis_cfg.t, mode=analysis_cfg.mode,
                               seed=analysis_cfg.seed, lattice=cfg.lattice, noise=analysis_cfg.noise)
    op = order_parameters(acts, grid, seed=analysis_cfg.seed, period=cfg.lattice.period)
    phase, pg, pr = call_phase(scored, op, detail=True)
    rec = scored.summary() | {k: v for k, v in op.items() if k != "embedding"}
    rec |= {"phase": phase, "phase_generation": pg, "phase_representation": pr, "sample_seconds": t_sample,
            "labels": {lab: int((scored.labels == lab).sum())
                       for lab in ("none", "multiple", "single_wrong", "correct")}}
    k = analysis_cfg.keep_samples
    arrays = {"embedding": op["embedding"].astype(np.float32), "grid": grid.astype(np.float32),
              "samples": imgs[:k, 0].numpy().astype(np.float16), "sample_centers": req[:k].astype(np.float32),
              "sample_estimated": scored.estimated[:k].astype(np.float32),
              "requested": req.astype(np.float32), "estimated": scored.estimated.astype(np.float32),
              "n_bumps": scored.n_bumps.astype(np.int16)}
    if cfg.lattice.holdout:   # the same protocol on the held-out centres, and where the latent puts them
        sh, _ = sample_and_score(diffusion, cfg.lattice.held_out(), analysis_cfg.n_samples, seed=analysis_cfg.seed,
                                 sampler=sampler, tol=analysis_cfg.tol, periodic=cfg.lattice.periodic)
        hole = cfg.lattice.in_holdout(grid)
        err = heldout_error(acts, grid, hole, period=cfg.lattice.period)
        ref = heldout_error(grid, grid, hole, period=cfg.lattice.period)   # a perfectly ordered latent
        rec["heldout"] = sh.summary() | {"labels": {lab: int((sh.labels == lab).sum()) for lab in LABELS},
                                         "latent_error_x": err["x"], "latent_error_y": err["y"],
                                         "latent_error_ordered": (ref["x"] + ref["y"]) / 2}
        arrays |= {"heldout_requested": sh.requested.astype(np.float32),
                   "heldout_estimated": sh.estimated.astype(np.float32), "heldout_n_bumps": sh.n_bumps.astype(np.int16)}
    return rec, arrays
