"""Calibrate a fast profile: how many images, and how big a model, a run needs to reach accuracy ≥ 0.9.

Each candidate is the ``cpu`` profile's base run with ``key=value`` overrides (the same syntax as
``bumpdiff train --set``). The candidate is trained with the project's own training loop, in chunks; every
``--every`` steps its EMA model is scored with the project's own evaluator (``--n`` samples, DDIM with
``--sampler-steps`` steps, 1 px tolerance) and the images seen, training seconds and accuracy are recorded. A
candidate stops once its accuracy has been ≥ ``--target`` at ``--hold`` evaluations in a row (or at its last
step). The records go to one JSON per candidate (``--json-dir``/calibration-NAME.json), which
``python -m bumpdiff report`` turns into the calibration table of docs/RESULTS.md.

Timing is of this process only: run candidates one per core (``--threads 1``) or alone (``--threads 2``) and say
which; the JSON records the threads and the device.

Usage::

    python benchmarks/calibrate.py NAME --set model.widths=16,32,48,48 lr=2e-3 batch_size=64 steps=3000 \\
        --threads 1 --json-dir data/results/benchmarks
"""
from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path

import torch

from bumpdiff.analysis.generation import sample_and_score
from bumpdiff.common.files import atomic_write_text
from bumpdiff.common.paths import scratch_dir
from bumpdiff.core.provenance import provenance
from bumpdiff.core.train import load_model, train
from bumpdiff.experiments.profiles import get_profile


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("name")
    ap.add_argument("--base", default="cpu", help="the profile whose base run the overrides change")
    ap.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE")
    ap.add_argument("--every", type=int, default=250, help="evaluate every this many steps")
    ap.add_argument("--n", type=int, default=256, help="samples per evaluation")
    ap.add_argument("--sampler-steps", type=int, default=50)
    ap.add_argument("--target", type=float, default=0.9)
    ap.add_argument("--hold", type=int, default=2, help="evaluations in a row at the target before stopping")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--json-dir", type=Path, default=Path("data/results/benchmarks"))
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    cfg = get_profile(args.base).train_config(*args.set, f"threads={args.threads}", "device=cpu",
                                              f"name=calib-{args.name}")
    run_path = scratch_dir() / "calibration" / f"{args.name}-{cfg.key()}"
    if run_path.exists():
        shutil.rmtree(run_path)    # a calibration times one uninterrupted run
    evals, held, t_eval = [], 0, 0.0
    out = args.json_dir / f"calibration-{args.name}.json"
    n_params = None
    for step in range(args.every, cfg.steps + args.every, args.every):
        step = min(step, cfg.steps)
        train(cfg, run_path, progress=False, until=step)
        diffusion, st = load_model(run_path / "last.pt")
        n_params = sum(p.numel() for p in diffusion.model.parameters())
        t0 = time.perf_counter()
        sc, _ = sample_and_score(diffusion, cfg.lattice.centers(), args.n, seed=0, sampler="ddim",
                                 steps=args.sampler_steps, tol=1.0)
        t_eval += time.perf_counter() - t0
        s = sc.summary()
        evals.append({"step": st["step"], "images_seen": st["images_seen"], "train_seconds": st["elapsed_s"],
                      "accuracy": s["accuracy"], "frac_multiple": s["frac_multiple"], "frac_none": s["frac_none"]})
        print(f"{args.name}: step {st['step']} images {st['images_seen']} train {st['elapsed_s']:.0f} s "
              f"acc {s['accuracy']:.3f}", flush=True)
        held = held + 1 if s["accuracy"] >= args.target else 0
        record = {"name": args.name, "base": args.base, "overrides": args.set, "config": cfg.to_dict(),
                  "params": n_params, "threads": args.threads, "evaluation": {"n": args.n, "sampler": "ddim",
                  "sampler_steps": args.sampler_steps, "tol": 1.0, "every": args.every},
                  "target": args.target, "hold": args.hold, "evals": evals,
                  "reached": next((e for e in evals if e["accuracy"] >= args.target), None),
                  "eval_seconds": t_eval, "provenance": provenance(torch.device("cpu"), reads_results=False)}
        out.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(out, json.dumps(record, indent=1) + "\n")
        if held >= args.hold or st["step"] >= cfg.steps:
            break
    shutil.rmtree(run_path, ignore_errors=True)


if __name__ == "__main__":
    main()
