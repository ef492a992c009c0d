"""Training on a GPU with the project's own ``train`` command: its speed, what a whole run of the profile would take,
and whether a run resumed in a new process is the run trained straight through.

For each architecture, three runs of the profile's seed-0 config in a fresh runs folder, every chunk one new
``python -m bumpdiff train`` process (so each resume reloads model, optimiser, EMA, step and RNG from disk):

- ``straight``: step 0 to S;
- ``again``: step 0 to S once more (how far two straight runs on this device differ at all);
- ``resumed``: step 0 to S/2, then S/2 to S in a new process.

Speed is the images/s the runs' own logs record (one record per ``log_every`` steps, taken over the wall time since
the last record, checkpoint writes included), averaged over the records after the first ``--skip`` steps of each
chunk (start-up: CUDA context, kernel selection) and over the three runs. A whole run's training time is the
profile's steps × batch at that speed (sampling and analysis not included). Comparisons: the largest relative
difference of the logged loss over every logged step, and the largest absolute difference of the EMA weights in the
checkpoint at step S.

Usage: ``python benchmarks/gputrain.py [--profile paper] [--archs additive film] [--steps 400] [--skip 100]
[--device auto] [--source-commit SHA] --json data/results/benchmarks/gputrain-<name>.json``. ``--source-commit`` names
the commit a copy of the tree without git was made from (the provenance then records it, marked as given).
The file is rewritten after each architecture, so a run cut short keeps what it measured.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from bumpdiff.common.runtime import resolve_device
from bumpdiff.core.provenance import provenance
from bumpdiff.core.train import list_checkpoints, load_checkpoint
from bumpdiff.experiments.profiles import get_profile

ROOT = Path(__file__).resolve().parent.parent


def _train(profile: str, arch: str, device: str, run: Path, until: int) -> float:
    """One ``bumpdiff train`` process to step ``until``; returns its wall time in seconds."""
    cmd = [sys.executable, "-m", "bumpdiff", "train", "--profile", profile, "--device", device,
           "--set", f"model.arch={arch}", "seed=0", "--run-dir", str(run), "--until", str(until), "--quiet"]
    t0 = time.perf_counter()
    subprocess.run(cmd, cwd=ROOT, check=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    return time.perf_counter() - t0


def _log(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]


def _ema_at(run: Path, step: int) -> dict:
    ckpts = dict(list_checkpoints(run))
    return load_checkpoint(ckpts[step] if step in ckpts else run / "last.pt")["ema"]


def _compare(a: Path, b: Path, step: int) -> dict:
    la = {r["step"]: r["loss"] for r in _log(a)}
    lb = {r["step"]: r["loss"] for r in _log(b)}
    shared = sorted(set(la) & set(lb))
    rel = max(abs(la[s] - lb[s]) / max(abs(la[s]), 1e-12) for s in shared)
    first = next((s for s in shared if abs(la[s] - lb[s]) > 1e-3 * abs(la[s])), None)
    ea, eb = _ema_at(a, step), _ema_at(b, step)
    w = max(float((ea[k].float() - eb[k].float()).abs().max()) for k in ea if ea[k].is_floating_point())
    return {"logged_steps": len(shared), "loss_max_rel_diff": rel, "first_step_over_0.1pct": first,
            "ema_max_abs_diff": w, "identical": rel == 0.0 and w == 0.0}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--profile", default="paper")
    ap.add_argument("--archs", nargs="*", default=["additive", "film"], choices=["additive", "film"])
    ap.add_argument("--steps", type=int, default=400)
    ap.add_argument("--skip", type=int, default=100)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--source-commit", default=None)
    ap.add_argument("--json", required=True)
    a = ap.parse_args()
    cfg = get_profile(a.profile).train
    if not 2 <= a.steps <= cfg.steps or a.steps % 2:
        ap.error(f"--steps must be even and in [2, {cfg.steps}] (the profile's steps), got {a.steps}")
    if not 0 <= a.skip < a.steps // 2:
        ap.error(f"--skip must be in [0, {a.steps // 2 - 1}] (less than half of --steps), got {a.skip}")
    device = resolve_device(a.device)
    prov = provenance(device)
    if a.source_commit and prov["commit"] == "unknown":
        prov.update(commit=a.source_commit, commit_source="given (--source-commit): the tree was a copy without git")
    out = {"profile": a.profile, "steps": a.steps, "skip": a.skip, "batch_size": cfg.batch_size,
           "profile_steps": cfg.steps, "precision": cfg.precision, "log_every": cfg.log_every,
           "gpu": torch.cuda.get_device_name(device) if device.type == "cuda" else None, "rows": [],
           "provenance": prov}
    half = a.steps // 2
    with tempfile.TemporaryDirectory(prefix="bumpdiff-gputrain-") as tmp:
        for arch in a.archs:
            runs = {name: Path(tmp) / f"{arch}-{name}" for name in ("straight", "again", "resumed")}
            walls = {"straight": _train(a.profile, arch, str(device), runs["straight"], a.steps),
                     "again": _train(a.profile, arch, str(device), runs["again"], a.steps),
                     "resumed_first": _train(a.profile, arch, str(device), runs["resumed"], half),
                     "resumed_second": _train(a.profile, arch, str(device), runs["resumed"], a.steps)}
            speeds = [r["images_per_s"] for name, run in runs.items() for r in _log(run)
                      if r["step"] > a.skip and not (name == "resumed" and half < r["step"] <= half + a.skip)]
            img_s = sum(speeds) / len(speeds)
            row = {"arch": arch, "images_per_s": img_s, "records": len(speeds),
                   "steps_per_s": img_s / cfg.batch_size,
                   "whole_run_hours": cfg.steps * cfg.batch_size / img_s / 3600, "process_wall_s": walls,
                   "again_vs_straight": _compare(runs["straight"], runs["again"], a.steps),
                   "resumed_vs_straight": _compare(runs["straight"], runs["resumed"], a.steps)}
            out["rows"].append(row)
            print(json.dumps(row), flush=True)
            Path(a.json).parent.mkdir(parents=True, exist_ok=True)
            Path(a.json).write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
