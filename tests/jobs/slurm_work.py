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


def long_smoke_training(steps: int, label: str = "long smoke training", threads: int = 1) -> dict:
    """Only the training of :func:`long_smoke_run` (resuming); returns the step it resumed from and the step it
    reached."""
    import torch

    from bumpdiff.core.train import run_dir, train

    torch.set_num_threads(threads)
    cfg = long_smoke_config(steps)
    last = run_dir(cfg) / "last.pt"
    start = int(torch.load(last, weights_only=True)["step"]) if last.exists() else 0
    run_path = train(cfg, progress=False)
    return {"label": label, "resumed_from": start, "trained_to": int((run_path / "DONE").read_text())}
