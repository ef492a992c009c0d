"""The robustness cache (Figure 6): a robustness study of one checkpoint of a `phases` run, stored as
``data/results/cache/<study>/<run folder>/step<step>-<key>.json`` and keyed by the study's identity, the run's key
and the step. The key says which computation, not which weights: a retrain of the run in a runs folder of the same
name shares it, so each entry also records the sha256 of the checkpoint file it measured, and
:func:`measured_checkpoint` tells whether a checkpoint on disk is that one. :func:`load_study` reads only (a notebook
has no checkpoints to compare); :func:`bumpdiff.store.compute_robustness.compute_study` (``python -m bumpdiff
robustness``) computes, and refuses a stored study of other weights than the runs folder holds."""
from __future__ import annotations

from pathlib import Path

from ..common import paths
from ..common.files import file_sha256
from ..common.identity import identity
from ..common.identity import key as identity_key
from ..common.log import get_logger
from ..core.config import TrainConfig, run_dir
from ..experiments.registry import experiment, phases_experiment, phases_label
from .commands import reproduce_command, study_command
from .reading import MissingResult, read_json
from .results import read_index

__all__ = ["load_study", "study_path", "study_key", "measured_checkpoint"]

log = get_logger()


def _target(profile: str, run_seed: int, step: int | None, arch: str = "film") -> tuple[TrainConfig, int]:
    name = phases_experiment(arch)
    cfg = experiment(name).runs(profile)[phases_label(run_seed)]
    if step is None:
        entry = read_index(name, profile)["runs"].get(phases_label(run_seed))
        if entry is None:
            raise MissingResult(f"the {name}/{profile} run of seed {run_seed} is not computed; compute it with: "
                                f"{reproduce_command(name, profile, seeds=[run_seed])}")
        step = entry["analysed_steps"][-1]
    return cfg, int(step)


def study_key(spec, cfg: TrainConfig, step: int) -> str:
    return identity_key(spec.kind, cfg.key(), int(step), spec)


def study_path(spec, cfg: TrainConfig, step: int) -> Path:
    return (paths.results_dir() / "cache" / spec.kind / run_dir(cfg).name
            / f"step{int(step):07d}-{study_key(spec, cfg, step)}.json")


def measured_checkpoint(res: dict, ckpt: Path) -> bool | None:
    """Whether the stored study ``res`` measured the checkpoint file ``ckpt`` (their sha256 agree); ``None`` for a study
    stored before its checkpoint's sha256 was recorded, which cannot be checked."""
    measured = res.get("checkpoint_sha256")
    return None if measured is None else measured == file_sha256(ckpt)


def load_study(spec, profile: str = "cpu", run_seed: int = 0, step: int | None = None, quiet: bool = False,
               arch: str = "film") -> dict:
    """The cached result of a robustness study (a :class:`~bumpdiff.analysis.robustness.LayerSweep` or
    :class:`~bumpdiff.analysis.robustness.SamplerComparison`) at ``step`` (default: the last analysed checkpoint) of the
    `phases` run of ``run_seed`` (``arch="additive"``: of `phases-additive`). Reads only; raises
    :class:`MissingResult` naming the command."""
    cfg, step = _target(profile, run_seed, step, arch)
    p = study_path(spec, cfg, step)
    cmd = study_command(spec, profile, run_seed, step, arch)
    res = read_json(p, f"{spec.kind} result for {run_dir(cfg).name} at step {step} with these settings", cmd)
    if res.get("key") != study_key(spec, cfg, step) or res.get("spec") != identity(spec):
        raise MissingResult(f"stale {spec.kind} result {paths.relative(p)}; recompute with: {cmd}")
    if not quiet:
        log.info(f"cache hit: {spec.kind} of {run_dir(cfg).name} at step {step} (key {res['key']})")
    return res
