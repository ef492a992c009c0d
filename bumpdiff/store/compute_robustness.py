"""Computing a robustness study (Figure 6) at one checkpoint of a `phases` run (``python -m bumpdiff robustness``),
into the robustness cache (:mod:`.robustness_cache`, which reads it back)."""
from __future__ import annotations

from ..analysis.studies import run_study
from ..common.files import atomic_write_json
from ..common.identity import SCHEMA, identity
from ..common.log import get_logger
from ..common.runtime import resolve_device
from ..core.config import run_dir
from ..core.provenance import provenance
from ..core.train import load_model
from ..experiments.registry import phases_experiment
from .commands import reproduce_command, study_command
from .reading import MissingResult
from .robustness_cache import _target, load_study, study_key, study_path

__all__ = ["compute_study"]

log = get_logger()


def compute_study(spec, profile: str = "cpu", run_seed: int = 0, step: int | None = None, device: str = "auto",
                  force: bool = False, progress: bool = True, arch: str = "film") -> dict:
    """Compute (or, unless ``force``, keep) a robustness study at a checkpoint of the `phases` run of ``run_seed``;
    the checkpoint must be on disk (``python -m bumpdiff reproduce phases`` trains it)."""
    cfg, step = _target(profile, run_seed, step, arch)
    p = study_path(spec, cfg, step)
    if p.exists() and not force:
        try:
            return load_study(spec, profile, run_seed, step, arch=arch)
        except MissingResult as e:
            log.info(f"{e}: recomputing")
    ck = run_dir(cfg) / f"ckpt_{step:07d}.pt"
    if not ck.exists():
        raise MissingResult(f"checkpoint {ck} is not on disk (checkpoints are not committed); train it with: "
                            f"{reproduce_command(phases_experiment(arch), profile, seeds=[run_seed])}")
    dev = resolve_device(device)
    diff, _ = load_model(ck, which=spec.weights, device=dev)
    log.info(f"computing {spec.kind} of {run_dir(cfg).name} at step {step} on {dev}")
    result = run_study(spec, diff, cfg, progress=progress)
    res = {"schema": SCHEMA, "kind": spec.kind, "key": study_key(spec, cfg, step), "run": run_dir(cfg).name,
           "run_key": cfg.key(), "step": step, "spec": identity(spec), "result": result,
           "command": study_command(spec, profile, run_seed, step, arch), "provenance": provenance(dev, p)}
    atomic_write_json(p, res)
    return res
