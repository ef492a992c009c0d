"""One checkpoint's analysis: score its generations, read its latent, compute the order parameters and call
its phase. :class:`~bumpdiff.analysis.specs.AnalysisConfig` holds every setting; its identity is the analysis key of
the results bundle that :mod:`bumpdiff.store.compute_bundle` builds from these records over a run.
"""
from __future__ import annotations

import time

import numpy as np

from ..core.config import TrainConfig
from ..core.diffusion import Diffusion, as_sampler
from .activations import collect_activations, latent_grid
from .evaluate import LABELS
from .generation import sample_and_score
from .order import heldout_error, order_parameters, top_components
from .phases import call_phase, latent_metrics
from .specs import AnalysisConfig

__all__ = ["AnalysisConfig", "analyze_checkpoint", "latent_components", "LATENT_COMPONENTS"]

#: the latent kept in a bundle: its top principal-component scores, float16 (a new measure is a re-read of committed
#: data, not a retrain)
LATENT_COMPONENTS = 32


def latent_components(acts) -> tuple[np.ndarray, float]:
    """The latent as a bundle keeps it: scores on its top :data:`LATENT_COMPONENTS` principal components (M, k),
    float16, and the fraction of the variance they hold (NaN for a latent that does not vary)."""
    A = np.asarray(acts, dtype=np.float64)
    pcs = top_components(A, LATENT_COMPONENTS)
    total = float(((A - A.mean(0)) ** 2).sum())
    kept = float((pcs.astype(np.float64) ** 2).sum() / total) if total > 0 else float("nan")
    return pcs.astype(np.float16), kept


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
                               seed=analysis_cfg.seed, lattice=cfg.lattice, noise=analysis_cfg.noise,
                               trials=analysis_cfg.trials)
    op = order_parameters(acts, grid, seed=analysis_cfg.seed, period=cfg.lattice.period)
    op |= latent_metrics(acts, grid, period=cfg.lattice.period)   # the calibrated rule's measures
    phase, pg, pr = call_phase(scored, op, detail=True)
    rec = scored.summary() | {k: v for k, v in op.items() if k != "embedding"}
    rec["phase_representation_old"] = call_phase(order=op, rule="old")
    pcs, kept = latent_components(acts)
    rec["latent_variance_kept"] = kept
    rec |= {"phase": phase, "phase_generation": pg, "phase_representation": pr, "sample_seconds": t_sample,
            "labels": {lab: int((scored.labels == lab).sum())
                       for lab in ("none", "multiple", "single_wrong", "correct")}}
    k = analysis_cfg.keep_samples
    arrays = {"embedding": op["embedding"].astype(np.float32), "grid": grid.astype(np.float32),
              "samples": imgs[:k, 0].numpy().astype(np.float16), "sample_centers": req[:k].astype(np.float32),
              "sample_estimated": scored.estimated[:k].astype(np.float32),
              "requested": req.astype(np.float32), "estimated": scored.estimated.astype(np.float32),
              "n_bumps": scored.n_bumps.astype(np.int16), "latent": pcs}
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
