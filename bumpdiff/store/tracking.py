"""Studies tracked over training: one computation per checkpoint of a run, stored in one file per (run, study),
and read back here (:func:`load_tracked_study`, which never computes).

A study is a frozen dataclass of :mod:`bumpdiff.analysis.specs` (its identity is the key) with a ``kind``; computed
on one checkpoint (:func:`bumpdiff.analysis.studies.run_study`) it gives a plain-JSON entry.
:func:`bumpdiff.store.compute_tracked.track` computes it for the chosen checkpoints of a run on disk and stores
``{kind}-{key}.json`` beside the run's results bundle (``data/results/<run folder>/``) or in ``out_dir`` (e.g.
beside a retrain's bundle), extended checkpoint by checkpoint: an interrupted study keeps what it finished, and
checkpoints already in the file are never recomputed. Every session that adds checkpoints appends its provenance.

Studies: :class:`~bumpdiff.analysis.specs.Atlas` (order parameters at every layer × t),
:class:`~bumpdiff.analysis.specs.Commitment` (when along the reverse process the position is decided),
:class:`~bumpdiff.analysis.specs.Spectrum` (PCA spectrum and effective dimension of chosen layers),
:class:`~bumpdiff.analysis.specs.Topology` (persistent homology of chosen layers against two ideal tori; runs on a
periodic lattice).
"""
from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

from ..common import paths
from ..common.log import get_logger
from ..core.config import run_dir
from ..experiments.profiles import get_profile
from ..experiments.registry import phases_experiment, study_run
from .bundles import BundleError, load_bundle
from .commands import reproduce_command, study_experiment, track_command
from .reading import MissingResult, read_json

__all__ = ["tracked_path", "load_tracked", "in_training_order", "load_tracked_study", "bundle_beside", "atlas_of",
           "tracked_spec"]

log = get_logger()


def tracked_path(run_dir, spec, out_dir=None) -> Path:
    """Where the study ``spec`` of the run in ``run_dir`` is stored."""
    base = paths.results_dir() / Path(run_dir).name if out_dir is None else Path(out_dir)
    return base / f"{spec.kind}-{spec.key()}.json"


def load_tracked(run_dir, spec, out_dir=None) -> dict | None:
    p = tracked_path(run_dir, spec, out_dir)
    if not p.exists():
        return None
    return in_training_order(json.loads(p.read_text()))


def in_training_order(data: dict) -> dict:
    """``data`` with its checkpoints in training order (the JSON file keeps its keys sorted as strings)."""
    return data | {"checkpoints": dict(sorted(data["checkpoints"].items(), key=lambda kv: int(kv[0])))}


def tracked_spec(kind: str, profile: str = "cpu", noise: str = "shared"):
    """The profile's spec of tracked study ``kind``, read under ``noise`` (only the atlas has a choice of read-out
    noise: ``"shared"``, its default, or ``"independent"``)."""
    spec = get_profile(profile).studies[kind]
    if noise == getattr(spec, "noise", "shared"):
        return spec
    if not hasattr(spec, "noise"):
        raise ValueError(f"noise applies to the atlas study only; the {kind} study reads the shared noise, "
                         f"got noise={noise!r}")
    return replace(spec, noise=noise)   # the spec checks the value


def load_tracked_study(kind: str, profile: str = "cpu", run_seed: int = 0, quiet: bool = False,
                       arch: str = "film", experiment_name: str | None = None, noise: str = "shared") -> dict:
    """A study tracked over training (:mod:`bumpdiff.store.tracking`) of the run of ``run_seed`` of experiment
    ``experiment_name`` (default: the `phases` experiment of architecture ``arch``), read-only: from beside the
    run's bundle or beside a committed retrain of the same run (``data/results/retrains/<run folder>-*/``): of those,
    the one that reaches furthest in training (its last checkpoint), the run's own folder winning a tie.
    The returned dict has ``"source"``: the folder it came from. Raises :class:`MissingResult` naming the command
    when there is none. ``noise``: the atlas under the other read-out (:func:`tracked_spec`)."""
    spec = tracked_spec(kind, profile, noise)
    name = study_experiment(arch, experiment_name)
    cfg = study_run(name, profile, run_seed)
    folder = run_dir(cfg).name
    fname = f"{spec.kind}-{spec.key()}.json"
    cmd = track_command(kind, profile, run_seed, arch, experiment_name, noise)
    best = None
    for d in [paths.results_dir() / folder, *sorted((paths.results_dir() / "retrains").glob(f"{folder}-*"))]:
        p = d / fname
        if p.exists():
            data = read_json(p, f"the {kind} study", cmd)
            if data.get("run_key") != cfg.key() or data.get("key") != spec.key():
                raise MissingResult(f"{paths.relative(p)} is stale (another run or study); recompute it with: {cmd}")
            if best is None or _last_step(data) > _last_step(best[1]):   # the furthest in training; ties: the first
                best = (d, data)
    if best is None:
        raise MissingResult(f"no {kind} study of the {name}/{profile} run of seed {run_seed}; compute it with: {cmd}")
    d, data = best
    if not quiet:
        log.info(f"{kind} study of {folder} (from {paths.relative(d)}): {len(data['checkpoints'])} checkpoints")
    return in_training_order(data) | {"source": paths.relative(d), "arch": arch, "experiment": name}


def _last_step(study: dict) -> int:
    return max(map(int, study["checkpoints"]), default=-1)


def bundle_beside(study: dict, profile: str) -> tuple[dict, dict]:
    """The analysis bundle of the very run a tracked study (:func:`load_tracked_study`) was computed from: the one
    in the same folder (the run's own, or its retrain's), so that its phase calls belong to the same weights."""
    d = paths.root() / study["source"] / f"analysis-{get_profile(profile).analysis.key()}"
    try:
        return load_bundle(d)
    except BundleError as e:
        name = study.get("experiment") or phases_experiment(study.get("arch", "film"))
        raise MissingResult(f"no analysis bundle beside {study['source']} ({e}); compute it with: "
                            f"{reproduce_command(name, profile)}") from e


def atlas_of(bundle: dict, profile: str, arch: str) -> dict | None:
    """The atlas tracked on the very weights of ``bundle`` (a run's own results folder, not a retrain's), or None
    when there is none (said, with the command that computes it)."""
    try:
        atlas = load_tracked_study("atlas", profile, int(bundle["config"]["seed"]), arch=arch, quiet=True)
    except MissingResult as e:
        log.info(f"{arch}: no atlas of this run ({e})")
        return None
    return atlas if atlas["source"] == f"data/results/{bundle['run']}" else None
