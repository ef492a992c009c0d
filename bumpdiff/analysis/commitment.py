"""When along the reverse process is the position decided, and how many dimensions does the latent use?

:class:`Commitment`: for ``n_samples`` centres drawn from the lattice, a deterministic DDIM run records the
predicted clean image x̂0 at every step; the project's detector reads each x̂0. A sample's **commitment time** on
an axis is the diffusion time t of the first step from which x̂0 holds exactly one bump within ``tol`` of the
request on that axis at every later step through the end (None: it never does, or not at the end). Per
checkpoint: the fraction committed and the quartiles of the commitment time on x, on y and on both; how often x
and y commit at the same step; and, per step, the mean number of bumps and the fraction with one bump.

:class:`Spectrum`: the PCA spectrum of chosen layers on the latent grid (read-out ``noise`` at ``t``): the
participation ratio (Σλ)²/Σλ² (an effective dimension) and the variance explained by the top k components.

Both are studies tracked over training (:func:`bumpdiff.store.tracking.track`).
"""
from __future__ import annotations

import numpy as np
import torch

from ..core.diffusion import DDIM
from .activations import collect_layers, latent_grid
from .evaluate import axis_error, score
from .order import participation_ratio, pca_spectrum
from .specs import Commitment, Spectrum

__all__ = ["Commitment", "Spectrum", "commit_index", "commitment_summary", "commitment_of", "spectrum_of"]


def commit_index(ok) -> np.ndarray:
    """For ``ok`` (S, B) booleans over the steps of a reverse process in order (first row = first step), the
    index of the first step from which ``ok`` holds at every later step through the last, per column; -1 where
    it does not hold at the last step."""
    ok = np.asarray(ok, dtype=bool)
    if ok.ndim != 2:
        raise ValueError(f"ok must be (steps, samples), got shape {ok.shape}")
    suffix = np.flip(np.logical_and.accumulate(np.flip(ok, 0), axis=0), 0)   # suffix[i] = ok[i:] all true
    first = np.argmax(suffix, axis=0)
    return np.where(suffix[-1], first, -1)


def _quartiles(v: np.ndarray) -> list[float] | None:
    return [float(q) for q in np.percentile(v, [25, 50, 75])] if v.size else None


def commitment_summary(ts, n_bumps, estimated, requested, tol: float, period: float | None = None) -> dict:
    """The summary of one checkpoint (module docstring) from detections along the reverse process: ``ts`` (S,)
    timesteps in reverse-process order, ``n_bumps`` (S, B), ``estimated`` (S, B, 2) single-bump centres (NaN
    otherwise), ``requested`` (B, 2); ``period``: the canvas side of a periodic lattice."""
    ts = np.asarray(ts)
    n_bumps = np.asarray(n_bumps)
    err = axis_error(estimated, np.asarray(requested, dtype=float)[None], period)
    single = n_bumps == 1
    with np.errstate(invalid="ignore"):
        ok = {"x": single & (err[..., 0] <= tol), "y": single & (err[..., 1] <= tol)}
    ok["both"] = ok["x"] & ok["y"]
    out: dict = {"timesteps": [int(t) for t in ts], "n": int(n_bumps.shape[1]), "tol": float(tol)}
    t_of = {}
    for axis, m in ok.items():
        idx = commit_index(m)
        t_commit = np.where(idx >= 0, ts[np.clip(idx, 0, None)], -1)
        t_of[axis] = t_commit
        done = t_commit[t_commit >= 0]
        out[f"committed_{axis}"] = float((idx >= 0).mean())
        out[f"t_commit_{axis}"] = _quartiles(done)
        out[f"per_sample_{axis}"] = [int(t) if t >= 0 else None for t in t_commit]
    both = (t_of["x"] >= 0) & (t_of["y"] >= 0)
    out["same_step_xy"] = float(np.mean(t_of["x"][both] == t_of["y"][both])) if both.any() else None
    out["t_x_minus_t_y"] = _quartiles((t_of["x"] - t_of["y"])[both].astype(float))
    out["mean_bumps"] = [float(v) for v in n_bumps.mean(1)]
    out["frac_single"] = [float(v) for v in single.mean(1)]
    return out


def commitment_of(spec: Commitment, diffusion, cfg) -> dict:
    """The :class:`Commitment` of one model of run ``cfg`` (module docstring)."""
    centers = cfg.lattice.centers()
    rng = np.random.default_rng(spec.seed)
    req = centers[rng.choice(len(centers), spec.n_samples, replace=spec.n_samples > len(centers))]
    with torch.inference_mode():
        _, cap = diffusion.sample(req, generator=torch.Generator().manual_seed(spec.seed),
                                  sampler=DDIM(spec.sampler_steps, 0.0), trajectory=True)
    ts = sorted(cap["x0_pred"], reverse=True)
    S, B = len(ts), len(req)
    n_bumps = np.zeros((S, B), dtype=int)
    est = np.full((S, B, 2), np.nan)
    for i, t in enumerate(ts):
        scored = score(cap["x0_pred"][t], req, tol=spec.tol, periodic=cfg.lattice.periodic)
        n_bumps[i], est[i] = scored.n_bumps, scored.estimated
    return commitment_summary(ts, n_bumps, est, req, spec.tol, period=cfg.lattice.period)


def spectrum_of(spec: Spectrum, diffusion, cfg) -> dict:
    """The :class:`Spectrum` of one model of run ``cfg`` (module docstring)."""
    grid = latent_grid(cfg.lattice, spec.max_conditions)
    with torch.inference_mode():
        acts = collect_layers(diffusion, grid, spec.layers, t=spec.t, mode="noise", seed=spec.seed)
    rows = []
    for layer in spec.layers:
        ev = pca_spectrum(acts[layer])
        frac = ev / ev.sum() if ev.sum() > 0 else ev
        rows.append({"layer": layer, "participation_ratio": participation_ratio(ev),
                     "explained": {str(k): float(frac[:k].sum()) for k in spec.top_k},
                     "leading": [float(v) for v in frac[:spec.n_eigenvalues]]})
    return {"rows": rows}
