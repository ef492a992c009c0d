"""The work of the Slurm tests' jobs, importable by name inside a job (the tests put this folder on PYTHONPATH,
which sbatch passes on): a `smoke` run made longer than the profile's, so that a job can be cancelled or reach its
time limit mid-training, trained (resuming from its last resume point) and analysed at its last step."""
from __future__ import annotations

from dataclasses import replace


def long_smoke_config(steps: int):
    from bumpdiff.experiments.profiles import get_profile
    return replace(get_profile("smoke").train, steps=steps, save_every=5, ckpt_every_early=50, ckpt_early_until=50,
                   ckpt_every_late=50)


def long_smoke_run(steps: int, label: str = "long smoke run", threads: int = 1) -> dict:
    """Train the long smoke run to ``steps`` (resuming) and analyse its last checkpoint; returns where it started
    from (``resumed_from``: the step of the resume point it found, 0 for a fresh run) and its bundle's folder."""
    import torch

    from bumpdiff.core.train import run_dir, train
    from bumpdiff.store.compute_bundle import analyze

    torch.set_num_threads(threads)
    cfg = long_smoke_config(steps)
    last = run_dir(cfg) / "last.pt"
    start = int(torch.load(last, weights_only=True)["step"]) if last.exists() else 0
    run_path = train(cfg, progress=False)
    out = analyze(run_path, "smoke", progress=False, steps=[steps])
    return {"label": label, "resumed_from": start, "bundle": str(out)}


def paced_smoke_training(steps: int, pause_s: float, label: str = "paced smoke training", threads: int = 1) -> dict:
    """Only the training of :func:`long_smoke_run` (resuming), at a pace set by the clock rather than the CPU: resume
    point by resume point (every ``save_every`` steps), with ``pause_s`` of sleep after each, so that a job lasts at
    least ``steps / save_every * pause_s`` seconds however fast this machine trains and whatever else runs beside it.
    Returns the step it resumed from and the step it reached."""
    import time

    import torch

    from bumpdiff.core.train import run_dir, train

    torch.set_num_threads(threads)
    cfg = long_smoke_config(steps)
    last = run_dir(cfg) / "last.pt"
    start = int(torch.load(last, weights_only=True)["step"]) if last.exists() else 0
    for until in range(start + cfg.save_every, steps + 1, cfg.save_every):
        train(cfg, progress=False, until=until)
        time.sleep(pause_s)
    return {"label": label, "resumed_from": start, "trained_to": int((run_dir(cfg) / "DONE").read_text())}
