"""Computing an experiment's runs (``python -m bumpdiff reproduce``, ``make reproduce``): train each run, analyse
every checkpoint under every read-out of the profile as soon as it is written, and record the run in the
experiment's index (:mod:`.results`, which reads it back) once it is done. The runs go to an executor
(:mod:`.executors`): here, in parallel local processes, or as Slurm jobs."""
from __future__ import annotations

import json
import time
from dataclasses import asdict, replace
from pathlib import Path

import torch

from ..common import paths
from ..common.files import atomic_write_json, exclusive
from ..common.identity import SCHEMA, identity
from ..common.log import get_logger
from ..common.runtime import resolve_device
from ..core.config import TrainConfig, checkpoint_steps, run_dir
from ..core.provenance import provenance
from ..core.train import list_checkpoints, train
from ..experiments.profiles import get_profile
from ..experiments.registry import experiment, select_runs
from .bundles import bundle_dir, load_bundle
from .commands import readout_command, run_command
from .compute_bundle import analyze
from .executors import run_jobs, waits
from .readouts import readout_analysis
from .results import index_path, load_experiment
from .weights import choose_checkpoints

__all__ = ["compute_experiment", "compute_experiments", "run_job", "prune_checkpoints"]

log = get_logger()


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


def _analysis_steps(cfg: TrainConfig, target: int, every: int, steps) -> list[int]:
    """The checkpoints a run trained to ``target`` analyses: ``steps`` (each a scheduled checkpoint up to ``target``),
    else every ``every``-th scheduled checkpoint and ``target`` itself, which must be a scheduled one."""
    sched = [s for s in checkpoint_steps(cfg) if s <= target]
    if target not in sched:
        raise ValueError(f"until must be a checkpoint step of the run ({checkpoint_steps(cfg)}), got {target}")
    if steps is not None:
        bad = sorted(set(steps) - set(sched))
        if bad:
            raise ValueError(f"steps must be checkpoint steps of the run up to {target} ({sched}), got {bad}")
        return sorted(set(steps))
    return sorted(set(sched[::every]) | {target})


def _train_and_analyse(cfg, run_path, analyses, stop, target, steps, device, progress):
    """Train checkpoint by checkpoint up to ``target``, analysing each chosen checkpoint under every analysis of
    ``analyses`` (the experiment's first, then the other read-outs) as soon as it is written, and stop early once
    ``stop`` is met. Training resumes from its last resume point and the analyses keep every finished checkpoint, so a
    kill at any moment loses at most the checkpoint in progress; the weights are bitwise those of one uninterrupted
    run. Returns (the first analysis's bundle dir, early-stop record or None)."""
    want = _analysis_steps(cfg, target, analyses[0].every, steps)
    while True:
        on_disk = {s for s, _ in list_checkpoints(run_path)} if run_path.exists() else set()
        ready = [s for s in want if s in on_disk]
        bdir = None
        if ready:
            for analysis_cfg in analyses:
                out = analyze(run_path, analysis_cfg, progress=progress, device=device, steps=ready)
                bdir = bdir or out
            if stop is not None:
                hit = stop.reached(load_bundle(bdir)[0]["checkpoints"])
                if hit is not None:
                    info = {"rule": stop.describe(), "step": hit["step"], "epoch": hit["epoch"],
                            "images_seen": hit["images_seen"], "max_steps": cfg.steps}
                    log.info(f"{run_path.name}: {info['rule']} at step {hit['step']} (of at most {cfg.steps})")
                    return bdir, info
        done = max(on_disk, default=-1)
        if done >= target:   # every chosen checkpoint still on disk is analysed (a pruned run keeps only some)
            return bdir or bundle_dir(run_path, analyses[0]), None
        # on to the next checkpoint to analyse (or to the end, once every one is analysed)
        train(cfg, run_path, progress=progress, until=next((s for s in want if s > done), target))


def _compute_run(cfg, analyses, stop, until, steps, device, progress):
    run_path = run_dir(cfg)
    target = cfg.steps if until is None else until
    # an explicit stopping point (until, steps) overrides the early-stop rule: the run goes as far as asked
    rule = stop if until is None and steps is None else None
    return _train_and_analyse(cfg, run_path, analyses, rule, target, steps, device, progress)


def prune_checkpoints(run_path: Path, bundle_path: Path) -> list[int]:
    """Delete the checkpoints of a finished run that neither the shipped weights (:func:`~.weights.choose_checkpoints`
    on its bundle) nor the atlas (its last checkpoint) need; the resume point ``last.pt`` stays. Returns the steps
    deleted. Studies tracked over every checkpoint (``track commitment spectrum``) cannot run on a pruned run."""
    records = load_bundle(bundle_path)[0]["checkpoints"]
    keep = {r["step"] for _, r in choose_checkpoints(records)}
    ck = dict(list_checkpoints(run_path))
    keep.add(max(ck))
    gone = sorted(set(ck) - keep)
    for s in gone:
        ck[s].unlink()
    if gone:
        log.info(f"{run_path.name}: pruned {len(gone)} checkpoints, kept steps {sorted(keep)}")
    return gone


def _analyses(name: str, profile: str, every: int | None) -> list:
    """The experiment's analysis, then the profile's other read-outs (same settings, another noise); a stripes
    experiment has the one analysis of its profile's stripe study."""
    main = experiment(name).analysis(profile)
    if experiment(name).stripes:
        return [replace(main, every=every)] if every is not None else [main]
    out = [main] + [readout_analysis(profile, noise) for noise in get_profile(profile).readouts if noise != main.noise]
    return [replace(a, every=every) for a in out] if every is not None else out


def run_job(name: str, profile: str, label: str, until: int | None = None, steps=None, every: int | None = None,
            device: str = "auto", threads: int | None = None, progress: bool = False, prune: bool = False) -> dict:
    """Train and analyse one run of an experiment; returns its index entry. This is the unit of work an executor
    runs (in this process, a local subprocess or a Slurm job); it never writes the experiment index. Each checkpoint
    is analysed under every read-out of the profile as soon as it is written (:func:`_train_and_analyse`); ``prune``
    then deletes the checkpoints of a finished run that neither shipping nor the atlas needs
    (:func:`prune_checkpoints`)."""
    if threads:
        torch.set_num_threads(int(threads))
    exp = experiment(name)
    analyses = _analyses(name, profile, every)
    dev = str(resolve_device(device))
    cfg = replace(exp.runs(profile)[label], device=dev)
    t0 = time.time()
    on_disk = list_checkpoints(run_dir(cfg))
    resumed_at = on_disk[-1][0] if on_disk else 0   # a run resumed from an earlier session: its time is from here
    bdir, info = _compute_run(cfg, analyses, exp.stop_rule(profile), until, steps, dev, progress)
    bundle, _ = load_bundle(bdir)
    if prune and (info is not None or bundle["trained_to"] >= cfg.steps):
        prune_checkpoints(run_dir(cfg), bdir)
    readouts = {getattr(a, "noise", "stripes"): paths.relative(bundle_dir(run_dir(cfg), a)) for a in analyses}
    return {"bundle": paths.relative(bdir), "readouts": readouts, "run_key": cfg.key(), "early_stop": info,
            "trained_to": bundle["trained_to"], "steps": cfg.steps,
            "analysed_steps": [r["step"] for r in bundle["checkpoints"]],
            "command": run_command(name, profile, label, until=until, steps=steps, every=every),
            "seconds": round(time.time() - t0, 1), "resumed_at": resumed_at, "device": dev}


def _say_missing_readouts(name: str, profile: str, label: str, cfg: TrainConfig) -> None:
    """A note for each read-out of the profile that a run computed before it was one of them lacks."""
    for analysis_cfg in _analyses(name, profile, None)[1:]:
        if not (bundle_dir(run_dir(cfg), analysis_cfg) / "bundle.json").exists():
            log.info(f"  note: '{label}' has no {analysis_cfg.noise} read-out; compute it with: "
                     f"{readout_command(name, profile, label, analysis_cfg.noise)}")


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
        kept = _still_valid(index, name, profile) if index is not None else {}
        if index is not None:
            log.info(f"stale index {paths.relative(idx)} (key {index.get('key')} != {key}): starting a new one"
                     + (f", keeping its {len(kept)} runs whose run, analysis and stop rule are unchanged"
                        if kept else ""))
        index = {"schema": SCHEMA, "experiment": name, "profile": profile, "key": key, "runs": kept,
                 "analysis_key": analysis_cfg.key(), "analysis": identity(analysis_cfg),
                 "early_stop_rule": asdict(stop) if stop else None}
    return index


def _still_valid(index: dict, name: str, profile: str) -> dict:
    """The entries of a stale index that the experiment as it is now still holds as they are: the same label, run
    key, analysis and stop rule, and the bundle on disk (an experiment that gains or loses runs keeps the others,
    with the time each took)."""
    exp = experiment(name)
    stop = exp.stop_rule(profile)
    if index.get("analysis_key") != exp.analysis(profile).key() or \
            index.get("early_stop_rule") != (asdict(stop) if stop else None):
        return {}
    runs = exp.runs(profile)
    return {label: e for label, e in index.get("runs", {}).items()
            if label in runs and e.get("run_key") == runs[label].key()
            and (paths.root() / e["bundle"] / "bundle.json").exists()}


def _record(name: str, profile: str, index: dict, label: str, entry: dict, device: str) -> None:
    """Add a finished run to the index and write it atomically. Under a lock, the runs that other processes
    recorded in the index on disk since this one opened it (two ``reproduce`` commands of one experiment, each
    given other runs) are merged in first, so that neither drops the other's."""
    with exclusive(paths.scratch_dir() / "locks" / f"{index_path(name, profile).stem}.lock"):
        _merge_recorded(name, profile, index)
        _write_record(name, profile, index, label, entry, device)


def _merge_recorded(name: str, profile: str, index: dict) -> None:
    """Add to ``index`` the entries of the index on disk (the same experiment key) for runs it does not hold."""
    idx = index_path(name, profile)
    try:
        disk = json.loads(idx.read_text()) if idx.exists() else None
    except (OSError, json.JSONDecodeError):
        return
    if disk and disk.get("key") == index.get("key"):
        for lab, e in disk.get("runs", {}).items():
            index["runs"].setdefault(lab, e)


def _write_record(name: str, profile: str, index: dict, label: str, entry: dict, device: str) -> None:
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
                       runs=None, prune: bool = False) -> dict:
    """Train and analyse the runs of an experiment (all, or those of ``seeds`` and of ``runs``, a list of run labels)
    and update its index.

    Runs whose results are already in the index (to their end, early-stop point or ``until``) are skipped unless
    ``force``; interrupted runs resume from their last checkpoint. ``until`` trains to that step only (a partial
    run, said so on every read); ``steps`` / ``every`` choose the checkpoints to analyse. ``executor`` runs the
    runs ``"inline"`` (one after the other, here), as parallel ``"local"`` subprocesses or as ``"slurm"`` jobs
    (:mod:`bumpdiff.store.executors`; ``threads`` per run, ``options`` for the cluster); ``prune`` deletes the
    checkpoints of each finished run that shipping and the atlas do not need. Whatever the executor, only
    this process writes the index, atomically, as each run reports; a failed run is reported with its log and
    leaves the index as it was."""
    return compute_experiments([name], profile, seeds=seeds, until=until, steps=steps, every=every, device=device,
                               force=force, progress=progress, executor=executor, threads=threads, options=options,
                               runs=runs, prune=prune)[name]


def compute_experiments(names, profile: str = "cpu", seeds=None, until: int | None = None, steps=None,
                        every: int | None = None, device: str = "auto", force: bool = False, progress: bool = True,
                        executor: str = "inline", threads: int | None = None, options: dict | None = None,
                        runs=None, prune: bool = False) -> dict[str, dict]:
    """:func:`compute_experiment` for several experiments at once, their runs in one pool of jobs: with the
    ``local`` executor the cores never wait for the last run of one experiment before the next experiment starts.
    A run folder that two experiments share (``imbalanced`` holds the runs of ``phases``) is trained by the first
    job that names it; the other experiments' jobs for it wait for the next wave, and then find it trained. Returns
    ``{experiment: its results}``; raises once every wave is done if any run failed (finished runs are in their
    indexes)."""
    dev = str(resolve_device(device)) if executor != "slurm" else device
    indexes, waves, seen, folder_of = {}, [], {}, {}
    for name in names:
        cfgs = experiment(name).runs(profile)
        want = select_runs(name, profile, seeds, runs)
        if not want:
            raise ValueError(f"no run of {name}/{profile} is both of seeds {list(seeds)} and in runs {list(runs)}")
        indexes[name] = index = _open_index(name, profile)
        for label in want:
            if not force and _analysed_enough(index["runs"].get(label), cfgs[label], until):
                log.info(f"{name}/{profile}: '{label}' is already computed (use --force to recompute)")
                _say_missing_readouts(name, profile, label, cfgs[label])
                continue
            folder = folder_of[name, label] = run_dir(cfgs[label])
            wave = seen[folder] = seen.get(folder, -1) + 1
            if wave == len(waves):
                waves.append([])
            waves[wave].append(dict(name=name, profile=profile, label=label, until=until, steps=steps, every=every,
                                    device=dev, threads=threads, progress=progress and executor == "inline",
                                    prune=prune))
    failed = []

    def done(job, entry):
        # the device a run was computed on is the job's own (a Slurm job resolves "auto" on its node)
        _record(job["name"], profile, indexes[job["name"]], job["label"], entry, entry["device"])
        log.info(f"{job['name']}/{profile}: '{job['label']}' done in {entry['seconds']:.0f} s")

    for k, wave in enumerate(waves):
        if k and not waits(executor, options):   # the first wave's jobs may still be training the shared runs
            left = sum(len(w) for w in waves[k:])
            log.info(f"{left} runs share a run folder with a submitted job; run the same command again once the jobs "
                     "finish to compute them")
            break
        broken = {folder_of[j["name"], j["label"]] for j, _, _ in failed}
        skipped = [j for j in wave if folder_of[j["name"], j["label"]] in broken]
        failed += [(j, "none: its run failed in an earlier job", "SKIPPED") for j in skipped]
        failed += run_jobs(run_job, [j for j in wave if j not in skipped], executor, options or {}, on_done=done)
    if failed:
        n = sum(len(w) for w in waves)
        raise RuntimeError(f"{len(failed)} of {n} runs of {', '.join(names)}/{profile} failed: "
                           + "; ".join(f"{j['name']} '{j['label']}' ({state.lower()}; log: {where})"
                                       for j, where, state in failed)
                           + ". Finished runs are in the index; run the same command again to retry the others.")
    return {name: load_experiment(name, profile, allow_partial=True) for name in names}
