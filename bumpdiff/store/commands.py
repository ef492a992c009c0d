"""The commands that compute each stored result, as a reader names them in a :class:`~.reading.MissingResult`
and an index records them: ``reproduce`` for experiments, ``robustness`` for the robustness cache, ``track`` for
studies tracked over training, ``analyze`` for a read-out."""
from __future__ import annotations

import shlex

from ..common import paths
from ..core.config import run_dir
from ..experiments.profiles import get_profile
from ..experiments.registry import experiment, phases_experiment, study_run

__all__ = ["reproduce_command", "run_command", "study_command", "track_command", "readout_command",
           "study_experiment"]


def reproduce_command(name: str, profile: str, seeds=None, until: int | None = None, steps=None,
                      every: int | None = None, runs=None) -> str:
    cmd = f"python -m bumpdiff reproduce {name} --profile {profile}"
    if seeds is not None:
        cmd += " --seeds " + " ".join(str(s) for s in seeds)
    if runs is not None:
        cmd += " --runs " + " ".join(shlex.quote(r) for r in runs)
    if until is not None:
        cmd += f" --until {until}"
    if steps is not None:
        cmd += " --steps " + " ".join(str(s) for s in steps)
    if every is not None and every != 1:
        cmd += f" --every {every}"
    return cmd


def run_command(name: str, profile: str, labels, **kw) -> str:
    """The ``reproduce`` command that computes the runs ``labels`` (one label or several): ``--seeds`` when their
    seeds pick exactly those runs, otherwise ``--runs`` with the labels (the three held-out squares share seed 0)."""
    labels = [labels] if isinstance(labels, str) else list(labels)
    specs = experiment(name).specs(profile)
    seeds = sorted({specs[x].seed for x in labels})
    by_seed = [x for x, spec in specs.items() if spec.seed in seeds]
    if sorted(by_seed) == sorted(labels):
        return reproduce_command(name, profile, seeds=seeds, **kw)
    return reproduce_command(name, profile, runs=labels, **kw)


def study_command(spec, profile: str, run_seed: int = 0, step: int | None = None, arch: str = "film") -> str:
    default = {s.kind: s for s in get_profile(profile).robustness}[spec.kind]
    cmd = f"python -m bumpdiff robustness --profile {profile} --only {spec.kind} --run-seed {run_seed}"
    if arch != "film":
        cmd += f" --arch {arch}"
    if step is not None:
        cmd += f" --step {step}"
    for f in ("layers", "timesteps", "n"):
        if hasattr(spec, f) and getattr(spec, f) != getattr(default, f):
            v = getattr(spec, f)
            cmd += f" --{f} " + (" ".join(map(str, v)) if isinstance(v, tuple) else str(v))
    return cmd


def study_experiment(arch: str, name: str | None) -> str:
    return phases_experiment(arch) if name is None else experiment(name).name


def track_command(kind: str, profile: str, run_seed: int = 0, arch: str = "film",
                  experiment_name: str | None = None, noise: str = "shared") -> str:
    name = study_experiment(arch, experiment_name)
    cfg = study_run(name, profile, run_seed)
    return (f"python -m bumpdiff track {kind} --profile {profile}"
            + (f" --experiment {name}" if experiment_name is not None else "")
            + (f" --arch {arch}" if arch != "film" else "")
            + (f" --noise {noise}" if noise != "shared" else "")
            + (f" --run-seed {run_seed}" if run_seed else "") + f"   (needs the run's checkpoints in "
            f"{paths.shown(run_dir(cfg))}: {reproduce_command(name, profile, seeds=[run_seed])})")


def readout_command(name: str, profile: str, label: str, noise: str) -> str:
    """How the ``noise`` read-out of one run is computed: an analysis of its checkpoints (which must be on disk)."""
    cfg = experiment(name).runs(profile)[label]
    sets = f" --set noise={noise}" if noise != "shared" else ""
    return (f"python -m bumpdiff analyze {paths.shown(run_dir(cfg))} --profile {profile}{sets}   (needs the run's "
            f"checkpoints: {run_command(name, profile, label)})")
