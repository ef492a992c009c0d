"""Analysis over learning: score the generations and read the latent of every chosen checkpoint of a run.

A run's analysis lives in one **results bundle**, ``data/results/<run folder>/analysis-<analysis key>/``
(``bundle.json`` + ``arrays.npz``). The analysis key is the identity of :class:`AnalysisConfig` — which
checkpoints are visited (``every``, ``steps``) is not part of it, because a checkpoint's result does not
depend on which others are analysed. Analysing more checkpoints of a run therefore *extends* its bundle.
Each checkpoint's result is also saved to ``data/scratch`` the moment it is done, so an interrupted analysis
resumes where it stopped. Every bundle records its keys, the full configs, the phase thresholds, and the
provenance of the training and of each analysis session that added records.
"""
from __future__ import annotations

import hashlib
import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from . import paths
from .activations import MODES, NOISE, collect_activations, latent_grid
from .diffusion import Diffusion, as_sampler
from .evaluate import LABELS, sample_and_score
from .identity import SCHEMA, added, canonical_json, execution, identity
from .identity import key as identity_key
from .model import resolve_layer
from .order import UMAP_PARAMS, heldout_error, order_parameters
from .phases import PHASE_THRESHOLDS, call_phase, recall
from .provenance import provenance
from .train import TrainConfig, list_checkpoints, load_checkpoint, load_model
from .utils import atomic_savez, atomic_write_json, atomic_write_text, check_range, file_sha256

__all__ = ["AnalysisConfig", "ANALYSIS_PROFILES", "analyze", "analyze_checkpoint", "load_bundle", "bundle_dir",
           "select_checkpoints", "BundleError"]


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
    mode: str = "noise"             # activation mode (bumpdiff.activations.collect_activations)
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


ANALYSIS_PROFILES = {
    "smoke": AnalysisConfig(n_samples=16, sampler="ddim", sampler_steps=5, t=25, max_conditions=64, keep_samples=4),
    # CPU: DDIM (deterministic, 50 steps) over learning, to keep one checkpoint's analysis near a minute
    "cpu": AnalysisConfig(n_samples=256, sampler="ddim", sampler_steps=50, t=500, max_conditions=1024),
    "paper": AnalysisConfig(n_samples=512, sampler="ddpm", t=500, max_conditions=1024),
}


class BundleError(ValueError):
    """A results bundle is missing, unreadable, or belongs to another run or analysis."""


def analyze_checkpoint(diffusion: Diffusion, cfg: TrainConfig, acfg: AnalysisConfig) -> tuple[dict, dict]:
    """Score generations and compute the order parameters and phase of one model. Returns ``(record, arrays)``;
    arrays (embedding, grid, kept samples, every sample's requested and estimated centre) are numpy. A lattice
    with a held-out square adds ``record["heldout"]``: the same scoring for samples requested at the held-out
    centres, and the latent's placement of them (:func:`bumpdiff.order.heldout_error`)."""
    t0 = time.perf_counter()
    sampler = as_sampler(acfg.sampler, acfg.sampler_steps, acfg.eta)
    sc, imgs = sample_and_score(diffusion, cfg.lattice.centers(), acfg.n_samples, seed=acfg.seed, sampler=sampler,
                                tol=acfg.tol, periodic=cfg.lattice.periodic)
    t_sample = time.perf_counter() - t0
    req = sc.requested
    grid = latent_grid(cfg.lattice, acfg.max_conditions)
    acts = collect_activations(diffusion, grid, layer=acfg.layer, t=acfg.t, mode=acfg.mode, seed=acfg.seed,
                               lattice=cfg.lattice, noise=acfg.noise)
    op = order_parameters(acts, grid, seed=acfg.seed, period=cfg.lattice.period)
    phase, pg, pr = call_phase(sc, op, detail=True)
    rec = sc.summary() | {k: v for k, v in op.items() if k != "embedding"}
    rec |= {"phase": phase, "phase_generation": pg, "phase_representation": pr, "sample_seconds": t_sample,
            "labels": {lab: int((sc.labels == lab).sum()) for lab in ("none", "multiple", "single_wrong", "correct")}}
    k = acfg.keep_samples
    arrays = {"embedding": op["embedding"].astype(np.float32), "grid": grid.astype(np.float32),
              "samples": imgs[:k, 0].numpy().astype(np.float16), "sample_centers": req[:k].astype(np.float32),
              "sample_estimated": sc.estimated[:k].astype(np.float32),
              "requested": req.astype(np.float32), "estimated": sc.estimated.astype(np.float32),
              "n_bumps": sc.n_bumps.astype(np.int16)}
    if cfg.lattice.holdout:   # the same protocol on the held-out centres, and where the latent puts them
        sh, _ = sample_and_score(diffusion, cfg.lattice.held_out(), acfg.n_samples, seed=acfg.seed, sampler=sampler,
                                 tol=acfg.tol, periodic=cfg.lattice.periodic)
        hole = cfg.lattice.in_holdout(grid)
        err = heldout_error(acts, grid, hole, period=cfg.lattice.period)
        ref = heldout_error(grid, grid, hole, period=cfg.lattice.period)   # a perfectly ordered latent
        rec["heldout"] = sh.summary() | {"labels": {lab: int((sh.labels == lab).sum()) for lab in LABELS},
                                         "latent_error_x": err["x"], "latent_error_y": err["y"],
                                         "latent_error_ordered": (ref["x"] + ref["y"]) / 2}
        arrays |= {"heldout_requested": sh.requested.astype(np.float32),
                   "heldout_estimated": sh.estimated.astype(np.float32), "heldout_n_bumps": sh.n_bumps.astype(np.int16)}
    return rec, arrays


def bundle_dir(run_dir: Path, acfg: AnalysisConfig) -> Path:
    """Where the bundle of (run, analysis) lives: ``data/results/<run folder>/analysis-<analysis key>``."""
    return paths.results_dir() / Path(run_dir).name / f"analysis-{acfg.key()}"


def select_checkpoints(ckpts: list[tuple[int, Path]], every: int = 1, steps=None) -> list[tuple[int, Path]]:
    """The checkpoints to analyse: ``steps`` if given (each must exist), else every ``every``-th and the last."""
    if steps is not None:
        have = dict(ckpts)
        missing = sorted(set(steps) - set(have))
        if missing:
            raise ValueError(f"steps must be checkpoints of the run ({sorted(have)}), got {missing} which are not")
        return [(s, have[s]) for s in sorted(set(steps))]
    chosen = ckpts[::every]
    if chosen and chosen[-1] != ckpts[-1]:
        chosen.append(ckpts[-1])
    return chosen


def _scratch(run_dir: Path, akey: str) -> Path:
    return paths.scratch_dir() / "analysis" / Path(run_dir).name / f"analysis-{akey}"


def _load_step(work: Path, step: int, fingerprint: str):
    jpath, npath = work / f"step_{step:07d}.json", work / f"step_{step:07d}.npz"
    fpath = work / f"step_{step:07d}.src"
    if not (jpath.exists() and npath.exists() and fpath.exists()):
        return None
    if fpath.read_text().strip() != fingerprint:  # a retrained run under the same key: other weights
        print(f"[bumpdiff] scratch result for step {step} was computed from another checkpoint file; recomputing")
        return None
    try:
        rec = json.loads(jpath.read_text())
        with np.load(npath) as z:
            return rec, {k: z[k] for k in z.files}
    except Exception:  # noqa: BLE001 — a corrupt partial result is recomputed
        return None


def _existing(out: Path, run_key: str, akey: str) -> tuple[dict | None, dict]:
    """(bundle, arrays) already at ``out`` for the same run and analysis, as stored (``(None, {})`` when there is
    none; a bundle of another run or analysis is an error)."""
    if not (out / "bundle.json").exists():
        return None, {}
    bundle, arrays = load_bundle(out, recall_phases=False)
    if bundle.get("run_key") != run_key or bundle.get("analysis_key") != akey:
        raise BundleError(f"{out} holds a bundle of run {bundle.get('run_key')} / analysis "
                          f"{bundle.get('analysis_key')}, not {run_key} / {akey}; refusing to mix them")
    return bundle, arrays


def analyze(run_dir, acfg: AnalysisConfig | str = "cpu", progress: bool = True, device="cpu", steps=None,
            out=None) -> Path:
    """Analyse the chosen checkpoints of a run into its results bundle; returns the bundle directory.

    ``steps`` picks checkpoints by step; otherwise every ``acfg.every``-th and the last. Checkpoints already in
    the bundle are kept as they are (their result does not depend on this call); the others are computed on
    ``device`` and added. An unchanged bundle is left byte for byte as it was. ``out`` puts the bundle
    somewhere other than its place under ``data/results`` (e.g. a retrain compared with a committed bundle);
    the scratch space of finished steps is then kept apart as well."""
    if isinstance(acfg, str):
        if acfg not in ANALYSIS_PROFILES:
            raise ValueError(f"analysis profile must be one of {sorted(ANALYSIS_PROFILES)}, got {acfg!r}")
        acfg = ANALYSIS_PROFILES[acfg]
    run_dir = Path(run_dir)
    if not (run_dir / "config.json").exists():
        raise ValueError(f"run_dir must be a training run folder (with config.json), got {run_dir}")
    cfg = TrainConfig.from_dict(json.loads((run_dir / "config.json").read_text()))
    ckpts = list_checkpoints(run_dir)
    if not ckpts:
        raise ValueError(f"no checkpoints in {run_dir}")
    chosen = select_checkpoints(ckpts, acfg.every, steps)
    run_key, akey = cfg.key(), acfg.key()
    work = _scratch(run_dir, akey)
    if out is not None:
        work = work / "elsewhere" / hashlib.sha256(str(Path(out).resolve()).encode()).hexdigest()[:12]
    out = bundle_dir(run_dir, acfg) if out is None else Path(out)
    old, old_arrays = _existing(out, run_key, akey)
    records = {r["step"]: r for r in old["checkpoints"]} if old else {}
    arrays, prov = dict(old_arrays), (old or {}).get("provenance", [])
    work.mkdir(parents=True, exist_ok=True)
    dev = torch.device(device) if not isinstance(device, torch.device) else device
    added = []
    for step, path in tqdm(chosen, desc=f"analyze {run_dir.name}", disable=not progress):
        if step in records:
            continue
        fingerprint = file_sha256(path)  # scratch results are reused only for the same weights
        got = _load_step(work, step, fingerprint)
        if got is None:
            diff, st = load_model(path, which=acfg.weights, device=dev)
            rec, arr = analyze_checkpoint(diff, cfg, acfg)
            rec |= {"step": int(st["step"]), "epoch": float(st["epoch"]), "images_seen": int(st["images_seen"]),
                    "train_seconds": float(st["elapsed_s"])}
            atomic_savez(work / f"step_{step:07d}.npz", **arr)
            atomic_write_json(work / f"step_{step:07d}.json", rec)
            atomic_write_text(work / f"step_{step:07d}.src", fingerprint)
            got = rec, arr
        records[step] = got[0]
        arrays |= {f"{k}_{step:07d}": v for k, v in got[1].items()}
        added.append(step)
    if added:
        prov = prov + [provenance(dev, out, reads_results=False) | {"steps": added}]
    last = load_checkpoint(ckpts[-1][1], mmap=True)  # only its step and provenance are read
    bundle = {"schema": SCHEMA, "run": run_dir.name, "run_key": run_key, "analysis_key": akey,
              "config": cfg.to_dict(), "analysis": identity(acfg), "thresholds": asdict(PHASE_THRESHOLDS),
              "umap": UMAP_PARAMS, "checkpoints": [records[s] for s in sorted(records)],
              "trained_to": int(last["step"]), "training_provenance": last.get("provenance"),
              "loss": _loss_log(run_dir), "provenance": prov}
    if not added and old is not None and _same_bundle(old, old_arrays, bundle, arrays):
        return out
    atomic_savez(out / "arrays.npz", **arrays)
    atomic_write_json(out / "bundle.json", bundle)
    return out


def _same_bundle(old: dict, old_arrays: dict, bundle: dict, arrays: dict) -> bool:
    """Whether the stored ``old`` bundle and its arrays are exactly ``bundle`` (its provenance aside) and ``arrays``."""
    def strip(b):
        return {k: v for k, v in b.items() if k not in ("provenance", "created")}
    if canonical_json(strip(old)) != canonical_json(strip(bundle)) or old_arrays.keys() != arrays.keys():
        return False
    return all(old_arrays[k].dtype == np.asarray(v).dtype and old_arrays[k].shape == np.asarray(v).shape
               and old_arrays[k].tobytes() == np.asarray(v).tobytes() for k, v in arrays.items())


def _loss_log(run_dir: Path, max_points: int = 400) -> dict:
    p = Path(run_dir) / "log.jsonl"
    if not p.exists():
        return {}
    recs = [json.loads(line) for line in p.read_text().splitlines() if line.strip()]
    if len(recs) > max_points:
        recs = [recs[i] for i in np.linspace(0, len(recs) - 1, max_points).round().astype(int)]
    return {k: [r[k] for r in recs] for k in ("step", "epoch", "loss", "images_per_s", "elapsed_s")}


def load_bundle(bundle_path, recall_phases: bool = True) -> tuple[dict, dict]:
    """(bundle JSON, arrays) of a results bundle directory. With ``recall_phases`` (the default) the phase calls
    of its records are recomputed from their stored scores and order parameters under the current
    :data:`~bumpdiff.phases.PHASE_THRESHOLDS` (:func:`bumpdiff.phases.recall`). Raises :class:`BundleError`
    when the bundle is missing or unreadable."""
    bundle_path = Path(bundle_path)
    try:
        bundle = json.loads((bundle_path / "bundle.json").read_text())
        with np.load(bundle_path / "arrays.npz") as z:
            arrays = {k: z[k] for k in z.files}
    except FileNotFoundError as e:
        raise BundleError(f"missing results bundle {bundle_path} ({Path(e.filename).name})") from e
    except Exception as e:  # noqa: BLE001
        raise BundleError(f"corrupt results bundle {bundle_path} ({type(e).__name__}: {e})") from e
    if recall_phases:
        bundle["checkpoints"] = recall(bundle["checkpoints"])
        bundle["thresholds"] = asdict(PHASE_THRESHOLDS)
    return bundle, arrays
