"""Analysis over learning: score the generations and read the latent of every chosen checkpoint of a run, into its
results bundle (:mod:`.bundles`).

Each checkpoint's result is also saved to ``data/scratch`` the moment it is done, so an interrupted analysis
resumes where it stopped.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from ..analysis.checkpoint import GENERATION_FIELDS, analyze_checkpoint, generate
from ..analysis.order import UMAP_PARAMS
from ..analysis.phases import PHASE_THRESHOLDS
from ..analysis.specs import AnalysisConfig, StripeAnalysis
from ..analysis.stripe_eval import evaluate_stripes
from ..common import paths
from ..common.files import atomic_savez, atomic_write_json, atomic_write_text, file_sha256
from ..common.identity import SCHEMA, canonical_json, identity
from ..common.log import get_logger
from ..core.config import TrainConfig
from ..core.provenance import provenance
from ..core.train import list_checkpoints, load_checkpoint, load_model
from ..experiments.profiles import get_profile
from .bundles import BundleError, bundle_dir, load_bundle, select_checkpoints

__all__ = ["analyze"]

log = get_logger()


def _scratch(run_dir: Path, akey: str) -> Path:
    return paths.scratch_dir() / "analysis" / Path(run_dir).name / f"analysis-{akey}"


def _load_step(work: Path, step: int, fingerprint: str):
    jpath, npath = work / f"step_{step:07d}.json", work / f"step_{step:07d}.npz"
    fpath = work / f"step_{step:07d}.src"
    if not (jpath.exists() and npath.exists() and fpath.exists()):
        return None
    if fpath.read_text().strip() != fingerprint:  # a retrained run under the same key: other weights
        log.info(f"scratch result for step {step} was computed from another checkpoint file; recomputing")
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


#: the last checkpoints' generated samples: another read-out of the same weights scores them instead of sampling
#: again (they depend only on the weights, the run and analysis.checkpoint.GENERATION_FIELDS; a few MB at most)
_GENERATED: dict = {}
_GENERATED_KEPT = 32


def analyze(run_dir, analysis_cfg: AnalysisConfig | StripeAnalysis | str = "cpu", progress: bool = True, device="cpu",
            steps=None, out=None) -> Path:
    """Analyse the chosen checkpoints of a run into its results bundle; returns the bundle directory. A run trained on
    stripes is analysed by a :class:`StripeAnalysis` (generation accuracy per test section,
    :func:`~bumpdiff.analysis.stripe_eval.evaluate_stripes`; its bundle says ``"kind": "stripes"``).

    ``steps`` picks checkpoints by step; otherwise every ``analysis_cfg.every``-th and the last. Checkpoints already in
    the bundle are kept as they are (their result does not depend on this call); the others are computed on
    ``device`` and added. An unchanged bundle is left byte for byte as it was. ``out`` puts the bundle
    somewhere other than its place under ``data/results`` (e.g. a retrain compared with a committed bundle);
    the scratch space of finished steps is then kept apart as well."""
    if isinstance(analysis_cfg, str):
        analysis_cfg = get_profile(analysis_cfg).analysis
    run_dir = Path(run_dir)
    if not (run_dir / "config.json").exists():
        raise ValueError(f"run_dir must be a training run folder (with config.json), got {run_dir}")
    cfg = TrainConfig.from_dict(json.loads((run_dir / "config.json").read_text()))
    stripes = isinstance(analysis_cfg, StripeAnalysis)
    if stripes != (cfg.stripes is not None):
        raise ValueError(f"analysis_cfg must be a StripeAnalysis exactly for a run trained on stripes; {run_dir.name} "
                         f"{'is' if cfg.stripes is not None else 'is not'} one, got {type(analysis_cfg).__name__}")
    ckpts = list_checkpoints(run_dir)
    if not ckpts:
        raise ValueError(f"no checkpoints in {run_dir}")
    chosen = select_checkpoints(ckpts, analysis_cfg.every, steps)
    run_key, akey = cfg.key(), analysis_cfg.key()
    work = _scratch(run_dir, akey)
    if out is not None:
        work = work / "elsewhere" / hashlib.sha256(str(Path(out).resolve()).encode()).hexdigest()[:12]
    out = bundle_dir(run_dir, analysis_cfg) if out is None else Path(out)
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
            diff, st = load_model(path, which=analysis_cfg.weights, device=dev)
            if stripes:
                rec, arr = evaluate_stripes(diff, cfg.stripes, analysis_cfg)
            else:
                rec, arr = _analyze_bumps(diff, cfg, analysis_cfg, fingerprint, run_key)
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
        prov = _with_session(prov, provenance(dev, out, reads_results=False) | {"steps": added})
    last = load_checkpoint(ckpts[-1][1], mmap=True)  # only its step and provenance are read
    bundle = {"schema": SCHEMA, "run": run_dir.name, "run_key": run_key, "analysis_key": akey,
              "config": cfg.to_dict(), "analysis": identity(analysis_cfg)}
    bundle |= {"kind": "stripes"} if stripes else {"thresholds": asdict(PHASE_THRESHOLDS), "umap": UMAP_PARAMS}
    bundle |= {"checkpoints": [records[s] for s in sorted(records)],
               "trained_to": int(last["step"]), "training_provenance": last.get("provenance"),
               "loss": _loss_log(run_dir), "provenance": prov}
    if not added and old is not None and _same_bundle(old, old_arrays, bundle, arrays):
        return out
    atomic_savez(out / "arrays.npz", **arrays)
    atomic_write_json(out / "bundle.json", bundle)
    return out


def _analyze_bumps(diff, cfg, analysis_cfg, fingerprint, run_key):
    """One checkpoint's bump analysis, sampling once per set of weights across read-outs (:data:`_GENERATED`)."""
    gen_key = (fingerprint, run_key, tuple(getattr(analysis_cfg, f) for f in GENERATION_FIELDS))
    if gen_key not in _GENERATED:   # no other read-out of these weights has sampled them
        while len(_GENERATED) >= _GENERATED_KEPT:
            _GENERATED.pop(next(iter(_GENERATED)))
        _GENERATED[gen_key] = generate(diff, cfg, analysis_cfg)
    return analyze_checkpoint(diff, cfg, analysis_cfg, generated=_GENERATED[gen_key])


def _with_session(prov: list[dict], new: dict) -> list[dict]:
    """The bundle's provenance list with ``new`` (an analysis session and the steps it added): merged into the last
    entry when only their steps and times differ (one session analysing checkpoint after checkpoint as training
    writes them), else appended."""
    def same(p):
        return {k: v for k, v in p.items() if k not in ("steps", "time")}
    if prov and same(prov[-1]) == same(new):
        return prov[:-1] + [prov[-1] | {"steps": sorted(set(prov[-1]["steps"]) | set(new["steps"]))}]
    return prov + [new]


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
