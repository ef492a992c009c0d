"""Studies tracked over training: one computation per checkpoint of a run, stored in one file per (run, study).

A study is a frozen dataclass (its identity is the key) with a ``kind`` and a ``compute(diffusion, cfg)``
method returning the plain-JSON entry of one checkpoint. :func:`track` computes it for the chosen checkpoints of
a run on disk and stores ``{kind}-{key}.json`` beside the run's results bundle (``data/results/<run folder>/``)
or in ``out_dir`` (e.g. beside a retrain's bundle), extended checkpoint by checkpoint: an interrupted study keeps
what it finished, and checkpoints already in the file are never recomputed. Every session that adds
checkpoints appends its provenance.

Studies: :class:`bumpdiff.analysis.atlas.Atlas` (order parameters at every layer × t),
:class:`bumpdiff.analysis.commitment.Commitment` (when along the reverse process the position is decided),
:class:`bumpdiff.analysis.commitment.Spectrum` (PCA spectrum and effective dimension of chosen layers),
:class:`bumpdiff.analysis.topology.Topology` (persistent homology of chosen layers against two ideal tori; runs on a
periodic lattice).
"""
from __future__ import annotations

import json
import time
from pathlib import Path

from tqdm.auto import tqdm

from ..common import paths
from ..common.files import atomic_write_json
from ..common.identity import SCHEMA, identity
from ..core.provenance import provenance
from ..core.train import TrainConfig, list_checkpoints, load_model

__all__ = ["track", "tracked_path", "load_tracked", "in_training_order"]


def tracked_path(run_dir, spec, out_dir=None) -> Path:
    """Where the study ``spec`` of the run in ``run_dir`` is stored."""
    base = paths.results_dir() / Path(run_dir).name if out_dir is None else Path(out_dir)
    return base / f"{spec.kind}-{spec.key()}.json"


def load_tracked(run_dir, spec, out_dir=None) -> dict | None:
    p = tracked_path(run_dir, spec, out_dir)
    if not p.exists():
        return None
    return in_training_order(json.loads(p.read_text()))


def in_training_order(data: dict) -> dict:
    """``data`` with its checkpoints in training order (the JSON file keeps its keys sorted as strings)."""
    return data | {"checkpoints": dict(sorted(data["checkpoints"].items(), key=lambda kv: int(kv[0])))}


def track(run_dir, spec, steps=None, device="cpu", progress: bool = True, out_dir=None) -> Path:
    """Compute ``spec`` for the chosen checkpoints (default: every checkpoint on disk) of the run in ``run_dir``;
    returns the study file (module docstring)."""
    run_dir = Path(run_dir)
    cfg = TrainConfig.from_dict(json.loads((run_dir / "config.json").read_text()))
    ckpts = dict(list_checkpoints(run_dir))
    if steps is None:
        steps = sorted(ckpts)
    missing = sorted(set(steps) - set(ckpts))
    if missing:
        raise ValueError(f"steps must be checkpoints on disk of {run_dir} ({sorted(ckpts)}), got {missing}")
    out = tracked_path(run_dir, spec, out_dir)
    data = json.loads(out.read_text()) if out.exists() else {
        "schema": SCHEMA, "kind": spec.kind, "run": run_dir.name, "run_key": cfg.key(), "key": spec.key(),
        "spec": identity(spec), "checkpoints": {}, "provenance": []}
    if data["run_key"] != cfg.key() or data["key"] != spec.key():
        raise ValueError(f"{out} belongs to another run or study ({data['run_key']}, {data['key']})")
    todo = [s for s in sorted(steps) if str(s) not in data["checkpoints"]]
    for step in tqdm(todo, desc=f"{spec.kind} {run_dir.name}", disable=not progress):
        t0 = time.perf_counter()
        diff, st = load_model(ckpts[step], which=getattr(spec, "weights", "ema"), device=device)
        entry = spec.compute(diff, cfg)
        data["checkpoints"][str(step)] = {"step": step, "epoch": float(st["epoch"]),
                                          "images_seen": int(st["images_seen"]), **entry,
                                          "seconds": round(time.perf_counter() - t0, 1)}
        data["checkpoints"] = {k: data["checkpoints"][k] for k in sorted(data["checkpoints"], key=int)}
        atomic_write_json(out, data)
    if todo:
        data["provenance"].append(provenance(device, out) | {"steps": todo})
        atomic_write_json(out, data)
    return out
