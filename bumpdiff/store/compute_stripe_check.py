"""The stripes study's sampler, checked against the paper's (``python -m bumpdiff calibrate stripes-sampler``): the
last analysed checkpoint of each composition run re-scored with ancestral DDPM over all steps, beside the analysis
sampler's scores in the run's bundle. The analysis sampler was calibrated on bump models; the composition verdict
reads accuracies near its level, so it is checked on the stripe models themselves. Each re-scoring is a one-checkpoint
bundle in the run's results folder (keyed by its analysis, resumable like every analysis);
:mod:`.calibrations` reads the summary."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from ..common import paths
from ..common.files import atomic_write_json
from ..common.identity import SCHEMA, identity
from ..common.log import get_logger
from ..core.config import run_dir
from ..core.provenance import provenance
from ..core.train import list_checkpoints
from ..experiments.registry import experiment
from .bundles import bundle_dir, load_bundle
from .calibrations import calibration_path
from .compute_bundle import analyze
from .results import load_experiment

__all__ = ["compute_stripe_sampler_check", "STRIPE_CHECK_EXPERIMENT", "reference_analysis"]

log = get_logger()

#: the experiment whose verdict the check is about
STRIPE_CHECK_EXPERIMENT = "stripes-composition"


def reference_analysis(spec):
    """The stripes analysis ``spec`` with the paper's sampler: ancestral DDPM over every diffusion step."""
    return replace(spec, sampler="ddpm", eta=0.0)


def compute_stripe_sampler_check(profile: str, runs=None, progress: bool = True, device="cpu") -> Path:
    """Re-score the last analysed checkpoint of each computed composition run of ``profile`` (``runs``: only these
    labels) under :func:`reference_analysis`; the summary holds every run checked so far (by this call or an
    earlier one). Runs whose checkpoints are not in the runs folder are skipped with a note. Returns the path of
    ``stripes-sampler-<profile>.json``."""
    exp = experiment(STRIPE_CHECK_EXPERIMENT)
    spec = exp.analysis(profile)
    ref = reference_analysis(spec)
    done = load_experiment(STRIPE_CHECK_EXPERIMENT, profile, allow_partial=True, quiet=True)
    cfgs = exp.runs(profile)
    if runs is not None:
        bad = [r for r in runs if r not in done]
        if bad or not runs:
            raise ValueError(f"runs must be computed runs of {STRIPE_CHECK_EXPERIMENT}/{profile} ({list(done)}), "
                             f"got {list(runs)}")
    for label in (runs if runs is not None else done):
        bundle, _ = done[label]
        step = bundle["checkpoints"][-1]["step"]
        rd = run_dir(cfgs[label])
        if not rd.exists() or step not in dict(list_checkpoints(rd)):
            log.info(f"'{label}': no checkpoint at step {step} in {paths.shown(rd)}; skipped (train it first with: "
                     f"python -m bumpdiff reproduce {STRIPE_CHECK_EXPERIMENT} --profile {profile} --runs '{label}')")
            continue
        analyze(rd, ref, progress=progress, device=device, steps=[step])
        if progress:
            log.info(f"'{label}': step {step:,} re-scored under DDPM")
    rows = []
    for label, (bundle, _) in done.items():
        out = bundle_dir(run_dir(cfgs[label]), ref)
        if not (out / "bundle.json").exists():
            continue
        checked, _ = load_bundle(out)
        last = bundle["checkpoints"][-1]
        rec = next((r for r in checked["checkpoints"] if r["step"] == last["step"]), None)
        if rec is None or checked.get("run_key") != cfgs[label].key():
            continue
        for section, s in last["sections"].items():
            rows.append({"label": label, "group": bundle["group"], "seed": bundle["seed"], "step": last["step"],
                         "run_key": cfgs[label].key(),
                         "section": section, "analysis_accuracy": s["accuracy"],
                         "reference_accuracy": rec["sections"][section]["accuracy"],
                         "bundle": paths.relative(out)})
    res = {"schema": SCHEMA, "kind": "stripes-sampler", "profile": profile, "experiment": STRIPE_CHECK_EXPERIMENT,
           "analysis": identity(spec), "reference": identity(ref), "rows": rows,
           "provenance": provenance(device, reads_results=True)}
    path = calibration_path("stripes-sampler", profile)
    atomic_write_json(path, res)
    return path
