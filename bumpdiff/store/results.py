"""Experiments' results: computing the runs of an experiment and reading them back without computing.

Layout under ``data/results/``:

- ``experiments/<experiment>-<profile>.json`` — an experiment's **index**: its key (the identity of every run
  and of the analysis), one entry per run (its bundle, run key, how far it was trained, the command that made
  it) and provenance;
- ``<run folder>/analysis-<analysis key>/`` — each run's results bundle (:mod:`bumpdiff.store.bundles`).

:func:`load_experiment` never trains or analyses: a missing, stale or corrupt result raises
:class:`~bumpdiff.store.reading.MissingResult`, whose message names the command that computes it. Computing is
:func:`compute_experiment` (``python -m bumpdiff reproduce``, ``make reproduce``). The other stores: the robustness
cache (:mod:`.robustness_cache`), tracked studies (:mod:`.tracking`), the two read-outs (:mod:`.readouts`).
"""
from __future__ import annotations

import json
import time
from dataclasses import asdict, replace
from pathlib import Path

import torch

from ..common import paths
from ..common.files import atomic_write_json
from ..common.identity import SCHEMA, identity
from ..common.log import get_logger
from ..common.runtime import resolve_device
from ..core.provenance import provenance
from ..core.train import TrainConfig, checkpoint_steps, list_checkpoints, run_dir, train
from ..experiments.registry import EarlyStop, experiment, select_runs
from .bundles import BundleError, analyze, load_bundle
from .commands import reproduce_command, run_command
from .executors import run_jobs
from .reading import MissingResult, read_json

__all__ = ["load_experiment", "is_available", "compute_experiment", "run_job", "index_path", "read_index"]

log = get_logger()


def index_path(name: str, profile: str) -> Path:
    return paths.results_dir() / "experiments" / f"{name}-{profile}.json"


def read_index(name: str, profile: str) -> dict:
    p = index_path(name, profile)
    cmd = reproduce_command(name, profile)
    index = read_json(p, f"results for the {name} experiment, profile {profile}", cmd)
    want = experiment(name).key(profile)
    if index.get("key") != want:
        raise MissingResult(f"stale results for {name}/{profile}: {paths.relative(p)} has key {index.get('key')}, "
                            f"the current configs give {want}; recompute with: {cmd}")
    return index


def load_experiment(name: str, profile: str = "cpu", allow_partial: bool = False, quiet: bool = False) -> dict:
    """``{run label: (bundle, arrays)}`` of an experiment, from its committed index. Reads only. Each bundle
    carries its run's ``group`` and ``seed`` (its :class:`~bumpdiff.experiments.registry.RunSpec`) and its
    ``early_stop`` record from the index.

    Raises :class:`MissingResult` (naming the command that computes it) when the index or a bundle is missing,
    stale or corrupt, or when runs are missing — unless ``allow_partial``, which returns the runs that exist
    and says which are missing. A hit is announced, with a note for every run that is partial or stopped early.
    """
    exp = experiment(name)
    specs = exp.specs(profile)
    runs = {label: spec.config for label, spec in specs.items()}
    analysis_cfg = exp.analysis(profile)
    index = read_index(name, profile)
    out, missing = {}, []
    for label, cfg in runs.items():
        entry = index["runs"].get(label)
        if entry is None:
            missing.append(label)
            continue
        cmd = entry.get("command") or run_command(name, profile, label)
        try:
            bundle, arrays = load_bundle(paths.root() / entry["bundle"])
        except BundleError as e:
            raise MissingResult(f"{e}; recompute with: {cmd}") from e
        if bundle.get("run_key") != cfg.key() or bundle.get("analysis_key") != analysis_cfg.key():
            raise MissingResult(f"stale bundle {entry['bundle']} for '{label}' (run {bundle.get('run_key')}, analysis "
                                f"{bundle.get('analysis_key')}; expected {cfg.key()}, {analysis_cfg.key()}); recompute "
                                f"with: {cmd}")
        bundle.update(group=specs[label].group, seed=specs[label].seed, early_stop=entry.get("early_stop"))
        out[label] = (bundle, arrays)
    if missing and not (allow_partial and out):
        raise MissingResult(f"{len(missing)} of {len(runs)} runs of {name}/{profile} are not computed "
                            f"({'; '.join(missing)}); compute them with: "
                            f"{run_command(name, profile, missing)}")
    if not quiet:
        log.info(f"cache hit: {name}/{profile} (key {index['key']}) from {paths.relative(index_path(name, profile))}")
        if missing:
            log.info(f"  note: partial experiment, {len(out)} of {len(runs)} runs computed; "
                     f"missing: {'; '.join(missing)}")
        for label, (b, _) in out.items():
            _say_run_note(label, b, runs[label], name, profile)
    return out


def _say_run_note(label: str, b: dict, cfg: TrainConfig, name: str, profile: str) -> None:
    last, total = b["checkpoints"][-1]["step"], cfg.steps
    stop = b.get("early_stop")
    if stop:
        if last > stop["step"]:
            log.info(f"  note: '{label}' reached its stop point at step {stop['step']} ({stop['rule']}), and was "
                     f"trained and analysed on to step {last}")
        else:
            log.info(f"  note: '{label}' {stop['rule']} at step {stop['step']} (at most {total})")
    elif last < total:
        log.info(f"  note: '{label}' is a partial run, analysed up to step {last} of {total}; "
                 f"`{run_command(name, profile, label)}` trains it to the end")


def is_available(name: str, profile: str, allow_partial: bool = False) -> bool:
    """Whether :func:`load_experiment` would return results (silently)."""
    try:
        load_experiment(name, profile, allow_partial=allow_partial, quiet=True)
        return True
    except MissingResult:
        return False


def _analysed_enough(entry: dict | None, cfg: TrainConfig, until: int | None) -> bool:
    """Whether an index entry already holds the run as far as asked (to its end, its stop point, or ``until``) and
    its bundle is still on disk (a bundle deleted by hand is recomputed, not trusted to the index)."""
    if not entry:
        return False
    if not (paths.root() / entry["bundle"] / "bundle.json").exists():
        log.info(f"{entry['bundle']} is in the index but not on disk: computing it again")
        return False
    if entry.get("early_stop"):
        return True
    return entry.get("trained_to", -1) >= (cfg.steps if until is None else until)


def _train_until_stop(cfg, run_path, analysis_cfg, stop: EarlyStop, device, progress):
    """Train checkpoint by checkpoint, analysing each, until ``stop`` is met or the run ends (bitwise identical to
    one uninterrupted run). Returns (bundle dir, early-stop record or None)."""
    sched = checkpoint_steps(cfg)
    while True:
        ck = list_checkpoints(run_path) if run_path.exists() else []
        if ck:
            bdir = analyze(run_path, analysis_cfg, progress=progress, device=device)
            hit = stop.reached(load_bundle(bdir)[0]["checkpoints"])
            if hit is not None:
                info = {"rule": stop.describe(), "step": hit["step"], "epoch": hit["epoch"],
                        "images_seen": hit["images_seen"], "max_steps": cfg.steps}
                log.info(f"{run_path.name}: {info['rule']} at step {hit['step']} (of at most {cfg.steps})")
                return bdir, info
            if ck[-1][0] >= cfg.steps:
                return bdir, None
        nxt = next(s for s in sched if s > ck[-1][0]) if ck else 0
        train(cfg, run_path, progress=progress, until=nxt)


def _compute_run(cfg, analysis_cfg, stop, until, steps, device, progress):
    run_path = run_dir(cfg)
    if stop is not None and until is None and steps is None:
        return _train_until_stop(cfg, run_path, analysis_cfg, stop, device, progress)
    target = cfg.steps if until is None else until
    ck = list_checkpoints(run_path) if run_path.exists() else []
    if not ck or ck[-1][0] < target:
        train(cfg, run_path, progress=progress, until=target)
    if steps is None:
        steps = [s for s, _ in list_checkpoints(run_path) if s <= target][::analysis_cfg.every]
        steps = sorted(set(steps) | {target})
    return analyze(run_path, analysis_cfg, progress=progress, device=device, steps=steps), None


def run_job(name: str, profile: str, label: str, until: int | None = None, steps=None, every: int | None = None,
            device: str = "auto", threads: int | None = None, progress: bool = False) -> dict:
    """Train and analyse one run of an experiment; returns its index entry. This is the unit of work an executor
    runs (in this process, a local subprocess or a Slurm job); it never writes the experiment index."""
    if threads:
        torch.set_num_threads(int(threads))
    exp = experiment(name)
    analysis_cfg = exp.analysis(profile) if every is None else replace(exp.analysis(profile), every=every)
    dev = str(resolve_device(device))
    cfg = replace(exp.runs(profile)[label], device=dev)
    t0 = time.time()
    bdir, info = _compute_run(cfg, analysis_cfg, exp.stop_rule(profile), until, steps, dev, progress)
    bundle, _ = load_bundle(bdir)
    return {"bundle": paths.relative(bdir), "run_key": cfg.key(), "early_stop": info,
            "trained_to": bundle["trained_to"], "steps": cfg.steps,
            "analysed_steps": [r["step"] for r in bundle["checkpoints"]],
            "command": run_command(name, profile, label, until=until, steps=steps, every=every),
            "seconds": round(time.time() - t0, 1), "device": dev}


def _open_index(name: str, profile: str) -> dict:
    exp = experiment(name)
    stop = exp.stop_rule(profile)
    analysis_cfg = exp.analysis(profile)
    key = exp.key(profile)
    idx = index_path(name, profile)
    try:
        index = json.loads(idx.read_text()) if idx.exists() else None
    except (OSError, json.JSONDecodeError):
        log.info(f"corrupt index {paths.relative(idx)}: starting a new one")
        index = None
    if index is None or index.get("key") != key:
        if index is not None:
            log.info(f"stale index {paths.relative(idx)} (key {index.get('key')} != {key}): starting a new one")
        index = {"schema": SCHEMA, "experiment": name, "profile": profile, "key": key, "runs": {},
                 "analysis_key": analysis_cfg.key(), "analysis": identity(analysis_cfg),
                 "early_stop_rule": asdict(stop) if stop else None}
    return index


def _record(name: str, profile: str, index: dict, label: str, entry: dict, device: str) -> None:
    """Add a finished run to the index and write it atomically (only the submitting process ever does)."""
    runs = experiment(name).runs(profile)
    idx = index_path(name, profile)
    index["runs"][label] = entry
    index["runs"] = {lab: index["runs"][lab] for lab in runs if lab in index["runs"]}
    index["missing"] = [lab for lab in runs if lab not in index["runs"]]
    # the runs' bundles are this index's outputs, written just before it: not uncommitted inputs (not "dirty")
    index["provenance"] = provenance(device, idx, *(paths.root() / e["bundle"] for e in index["runs"].values()))
    atomic_write_json(idx, index)


def compute_experiment(name: str, profile: str = "cpu", seeds=None, until: int | None = None, steps=None,
                       every: int | None = None, device: str = "auto", force: bool = False, progress: bool = True,
                       executor: str = "inline", threads: int | None = None, options: dict | None = None,
                       runs=None) -> dict:
    """Train and analyse the runs of an experiment (all, or those of ``seeds`` and of ``runs``, a list of run labels)
    and update its index.

    Runs whose results are already in the index (to their end, early-stop point or ``until``) are skipped unless
    ``force``; interrupted runs resume from their last checkpoint. ``until`` trains to that step only (a partial
    run, said so on every read); ``steps`` / ``every`` choose the checkpoints to analyse. ``executor`` runs the
    runs ``"inline"`` (one after the other, here), as parallel ``"local"`` subprocesses or as ``"slurm"`` jobs
    (:mod:`bumpdiff.store.executors`; ``threads`` per run, ``options`` for the cluster). Whatever the executor, only
    this process writes the index, atomically, as each run reports; a failed run is reported with its log and
    leaves the index as it was."""
    cfgs = experiment(name).runs(profile)
    want = select_runs(name, profile, seeds, runs)
    if not want:
        raise ValueError(f"no run of {name}/{profile} is both of seeds {list(seeds)} and in runs {list(runs)}")
    dev = str(resolve_device(device)) if executor != "slurm" else device
    index = _open_index(name, profile)
    todo = []
    for label in want:
        if not force and _analysed_enough(index["runs"].get(label), cfgs[label], until):
            log.info(f"{name}/{profile}: '{label}' is already computed (use --force to recompute)")
        else:
            todo.append(label)
    jobs = [dict(name=name, profile=profile, label=label, until=until, steps=steps, every=every, device=dev,
                 threads=threads, progress=progress and executor == "inline") for label in todo]
    failed = run_jobs(run_job, jobs, executor, options or {},
                      # the device a run was computed on is the job's own (a Slurm job resolves "auto" on its node)
                      on_done=lambda job, entry: (_record(name, profile, index, job["label"], entry, entry["device"]),
                                                  log.info(f"{name}/{profile}: '{job['label']}' done in "
                                                           f"{entry['seconds']:.0f} s")))
    if failed:
        raise RuntimeError(f"{len(failed)} of {len(jobs)} runs of {name}/{profile} failed: "
                           + "; ".join(f"'{j['label']}' ({state.lower()}; log: {log})" for j, log, state in failed)
                           + ". Finished runs are in the index; run the same command again to retry the others.")
    return load_experiment(name, profile, allow_partial=True)
