"""Computing a study tracked over training (``python -m bumpdiff track``): one computation per checkpoint of a run
on disk, stored beside the run's results bundle and extended checkpoint by checkpoint (:mod:`.tracking` says where
and reads it back)."""
from __future__ import annotations

import json
import time
from pathlib import Path

from tqdm.auto import tqdm

from ..analysis.studies import run_study
from ..common.files import atomic_write_json
from ..common.identity import SCHEMA, identity
from ..common.log import get_logger
from ..core.config import TrainConfig
from ..core.provenance import provenance
from ..core.train import list_checkpoints, load_model
from .tracking import tracked_path

__all__ = ["track"]

log = get_logger()


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
        entry = run_study(spec, diff, cfg, progress=False)
        data["checkpoints"][str(step)] = {"step": step, "epoch": float(st["epoch"]),
                                          "images_seen": int(st["images_seen"]), **entry,
                                          "seconds": round(time.perf_counter() - t0, 1)}
        data["checkpoints"] = {k: data["checkpoints"][k] for k in sorted(data["checkpoints"], key=int)}
        atomic_write_json(out, data)
    if todo:
        data["provenance"].append(provenance(device, out) | {"steps": todo})
        atomic_write_json(out, data)
    return out


# ------------------------------------------------------------------------- reading a tracked study back
