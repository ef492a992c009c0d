"""Computing a robustness study (Figure 6) at one checkpoint of a `phases` run (``python -m bumpdiff robustness``),
into the robustness cache (:mod:`.robustness_cache`, which reads it back)."""
from __future__ import annotations

from ..analysis.studies import run_study
from ..common import paths
from ..common.files import atomic_write_json, file_sha256
from ..common.identity import SCHEMA, identity
from ..common.log import get_logger
from ..common.runtime import resolve_device
from ..core.config import run_dir
from ..core.provenance import provenance
from ..core.train import load_model
from ..experiments.registry import phases_experiment
from .commands import reproduce_command, study_command
from .reading import MissingResult
from .robustness_cache import _target, load_study, measured_checkpoint, study_key, study_path

__all__ = ["compute_study"]

log = get_logger()


def compute_study(spec, profile: str = "cpu", run_seed: int = 0, step: int | None = None, device: str = "auto",
                  force: bool = False, progress: bool = True, arch: str = "film") -> dict:
    """Compute (or, unless ``force``, keep) a robustness study at a checkpoint of the `phases` run of ``run_seed``;
    the checkpoint must be on disk (``python -m bumpdiff reproduce phases`` trains it). A stored study is kept only
    for the weights it measured: when the runs folder holds another checkpoint at that step (a retrain), it is an
    error that says so (``force`` replaces the stored study with one of these weights)."""
    cfg, step = _target(profile, run_seed, step, arch)
    p = study_path(spec, cfg, step)
    ck = run_dir(cfg) / f"ckpt_{step:07d}.pt"
    cmd = study_command(spec, profile, run_seed, step, arch)
    if p.exists() and not force:
        try:
            res = load_study(spec, profile, run_seed, step, arch=arch)
        except MissingResult as e:
            log.info(f"{e}: recomputing")
        else:
            same = measured_checkpoint(res, ck) if ck.exists() else True   # no checkpoint: nothing to compare
            if same is None:
                log.warning(f"the stored {spec.kind} study {paths.relative(p)} predates recording the sha256 of the "
                            f"checkpoint it measured: it cannot be checked against {ck}; recompute it with: {cmd} "
                            "--force")
            elif not same:
                raise MissingResult(f"the stored {spec.kind} study {paths.relative(p)} measured another checkpoint "
                                    f"(sha256 {res['checkpoint_sha256'][:12]}) than {ck} ({file_sha256(ck)[:12]}): "
                                    "the runs folder holds other weights than the stored study's (a retrain?); "
                                    f"replace the stored study with one of these weights with: {cmd} --force")
            return res
    if not ck.exists():
        raise MissingResult(f"checkpoint {ck} is not on disk (checkpoints are not committed); train it with: "
                            f"{reproduce_command(phases_experiment(arch), profile, seeds=[run_seed])}")
    dev = resolve_device(device)
    diff, _ = load_model(ck, which=spec.weights, device=dev)
    log.info(f"computing {spec.kind} of {run_dir(cfg).name} at step {step} on {dev}")
    result = run_study(spec, diff, cfg, progress=progress)
    res = {"schema": SCHEMA, "kind": spec.kind, "key": study_key(spec, cfg, step), "run": run_dir(cfg).name,
           "run_key": cfg.key(), "step": step, "checkpoint_sha256": file_sha256(ck), "spec": identity(spec),
           "result": result, "command": cmd, "provenance": provenance(dev, p)}
    atomic_write_json(p, res)
    return res
