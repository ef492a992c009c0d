"""The instruments' calibrations, stored under ``data/results/calibration/``:

- ``latent-<key>.json`` — every measure on every phantom of both splits at each calibrated size, the latent rule's
  thresholds fitted on the ``fit`` split and the accuracy of the calibrated and the old rule on each split
  (``python -m bumpdiff calibrate latent``); the key is the hash of the sizes, the splits' phantoms and the
  measures, so a change of phantoms or measures makes a stored calibration stale, never silently reused;
- ``noise-<profile>.json`` — the within- over between-condition variance of layer 4 on several noise images per
  condition (:func:`bumpdiff.analysis.manifold.noise_ratio`) at every shipped checkpoint of a profile, the range of
  noise the rule must handle, and how the trial-averaged read-out converges with the number of images
  (``python -m bumpdiff calibrate noise --profile …``);
- ``phase-a-<profile>.json`` — the untrained network of every `phases` run at layer 4 under each calibrated read-out,
  called by the calibrated rule: the phase-A test (``python -m bumpdiff calibrate phase-a --profile …``);
- ``sampler-<profile>.json`` — generation accuracy and failure fractions under DDPM-1000 (the reference) and the
  candidate samplers at every shipped checkpoint of a profile (``python -m bumpdiff calibrate sampler --profile …``).

Each carries its provenance. This module reads (:func:`load_calibration`) and never computes;
:mod:`.compute_calibrations` computes, keeping per-phantom and per-checkpoint results in scratch as they finish, so an
interrupted calibration resumes.
"""
from __future__ import annotations

import json
from pathlib import Path

from ..analysis.calibration import CALIBRATION_SIZES, METRICS
from ..analysis.phantoms import NOISE_RANGE, PHANTOM_VERSION, phantom_set
from ..common import paths
from ..common.identity import SCHEMA
from ..common.identity import key as identity_key
from ..common.log import get_logger
from .reading import MissingResult, read_json

__all__ = ["latent_calibration_key", "load_calibration", "calibration_path", "CALIBRATION_COMMANDS", "phantom_plan",
           "sampler_coverage"]

log = get_logger()

CALIBRATION_COMMANDS = {"latent": "python -m bumpdiff calibrate latent",
                        "noise": "python -m bumpdiff calibrate noise --profile {profile}",
                        "sampler": "python -m bumpdiff calibrate sampler --profile {profile}",
                        "phase-a": "python -m bumpdiff calibrate phase-a --profile {profile}",
                        "stripes-sampler": "python -m bumpdiff calibrate stripes-sampler --profile {profile}"}


def phantom_plan(size, split):
    """The phantoms of ``split`` calibrated at ``size`` (its first ``size.seeds`` seeds)."""
    seeds = sorted({p.seed for p in phantom_set(split, size.side, size.dim, size.periodic)})[:size.seeds]
    return [p for p in phantom_set(split, size.side, size.dim, size.periodic) if p.seed in seeds]


def latent_calibration_key(sizes=CALIBRATION_SIZES) -> str:
    """The identity of a latent calibration: every phantom of both splits at every size, and the measures."""
    plan = [[size.name, split, [p.to_dict() for p in phantom_plan(size, split)], size.umap_seeds]
            for size in sizes for split in ("fit", "heldout")]
    return identity_key("latent-calibration", PHANTOM_VERSION, NOISE_RANGE, plan, [m[0] for m in METRICS])


def calibration_path(kind: str, profile: str | None = None, key: str | None = None) -> Path:
    folder = paths.results_dir() / "calibration"
    return folder / (f"latent-{key}.json" if kind == "latent" else f"{kind}-{profile}.json")


def load_calibration(kind: str, profile: str | None = None, quiet: bool = False) -> dict:
    """A stored calibration (``"latent"``, or ``"noise"`` / ``"sampler"`` / ``"phase-a"`` / ``"stripes-sampler"`` of
    ``profile``); reads only.
    :class:`MissingResult` naming the command when it is missing, corrupt or stale."""
    if kind not in CALIBRATION_COMMANDS:
        raise ValueError(f"kind must be one of {tuple(CALIBRATION_COMMANDS)}, got {kind!r}")
    cmd = CALIBRATION_COMMANDS[kind].format(profile=profile)
    key = latent_calibration_key() if kind == "latent" else None
    path = calibration_path(kind, profile, key)
    res = read_json(path, f"{kind} calibration" + (f" of profile {profile}" if profile else ""), cmd)
    if res.get("schema") != SCHEMA or (key is not None and res.get("key") != key):
        raise MissingResult(f"stale {kind} calibration {paths.relative(path)}; recompute with: {cmd}")
    if not quiet:
        log.info(f"cache hit: {kind} calibration {paths.relative(path)}")
    return res


def sampler_coverage(cal: dict) -> dict:
    """Which shipped checkpoints a sampler calibration covers: ``{"done": n, "total": n, "complete": bool,
    "missing": ["<set> step <step> (<label>)", ...]}``. A profile's analysis sampler is chosen only from a complete
    one: the candidates agree at trained models and part at the checkpoints where the phases change."""
    profile = cal["profile"]
    have = {(r["set"], r["step"]) for r in cal["rows"]}
    # the shipped sets' manifests, read as JSON (the weights' own reader loads torch, which a report never needs)
    manifests = [json.loads(m.read_text()) for m in sorted((paths.data_dir() / "pretrained").glob("*/manifest.json"))]
    want = [(f"{profile}-{m['arch']}-seed{m['seed']}", e["step"], e["label"]) for m in manifests
            if m["profile"] == profile for e in m["checkpoints"]]
    missing = [f"{s} step {step:,} ({label})" for s, step, label in want if (s, step) not in have]
    return {"done": len(want) - len(missing), "total": len(want), "complete": not missing, "missing": missing}
