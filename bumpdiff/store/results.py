"""The results store: computing experiments and robustness studies, and reading them back without computing.

Layout under ``data/results/``:

- ``experiments/<experiment>-<profile>.json`` — an experiment's **index**: its key (the identity of every run
  and of the analysis), one entry per run (its bundle, run key, how far it was trained, the command that made
  it) and provenance;
- ``<run folder>/analysis-<analysis key>/`` — each run's results bundle (:mod:`bumpdiff.store.bundles`);
- ``cache/<study>/<run folder>/step<step>-<key>.json`` — a robustness study of one checkpoint
  (:mod:`bumpdiff.analysis.robustness`), keyed by the study's identity, the run's key and the step.

Readers (:func:`load_experiment`, :func:`load_study`) never train or analyse: a missing, stale or corrupt
result raises :class:`MissingResult`, whose message names the command that computes it. Computing is
:func:`compute_experiment` / :func:`compute_study`, i.e. ``python -m bumpdiff reproduce`` and
``python -m bumpdiff robustness`` (``make reproduce``).
"""
from __future__ import annotations

import json
import shlex
import time
from dataclasses import asdict, replace
from pathlib import Path

import torch

from ..analysis.activations import NOISE
from ..analysis.checkpoint import AnalysisConfig
from ..analysis.robustness import ROBUSTNESS
from ..common import paths
from ..common.files import atomic_write_json
from ..common.identity import SCHEMA, identity
from ..common.identity import key as identity_key
from ..common.log import get_logger
from ..common.runtime import resolve_device
from ..core.provenance import provenance
from ..core.train import TrainConfig, checkpoint_steps, list_checkpoints, load_model, run_dir, train
from ..experiments.registry import EarlyStop, experiment, experiment_seeds, phases_experiment, phases_label
from ..experiments.studies import tracked_studies
from .bundles import BundleError, analyze, load_bundle
from .executors import run_jobs
from .tracking import in_training_order

__all__ = ["atlas_of", "READOUTS", "readout_analysis", "load_readouts", "missing_readouts",
           "readout_bundles", "MissingResult",
           "load_experiment", "is_available", "compute_experiment", "run_job", "reproduce_command", "index_path",
           "load_study", "compute_study", "study_command", "study_path"]

log = get_logger()


class MissingResult(LookupError):
    """A result that a reader needs is missing, stale or corrupt; the message names the command that makes it."""


def _say(msg: str) -> None:
    log.info(msg)


def index_path(name: str, profile: str) -> Path:
    return paths.results_dir() / "experiments" / f"{name}-{profile}.json"


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


def _seed_of(label: str) -> int | None:
    tail = label.rpartition(" seed ")[2]
    return int(tail) if tail.isdigit() else None


def run_command(name: str, profile: str, labels, **kw) -> str:
    """The ``reproduce`` command that computes the runs ``labels`` (one label or several): ``--seeds`` when their
    seeds pick exactly those runs, otherwise ``--runs`` with the labels (the three held-out squares share seed 0)."""
    labels = [labels] if isinstance(labels, str) else list(labels)
    seeds = sorted({_seed_of(x) for x in labels})
    by_seed = [x for x in experiment(name).runs(profile) if _seed_of(x) in set(seeds)]
    if None not in seeds and sorted(by_seed) == sorted(labels):
        return reproduce_command(name, profile, seeds=seeds, **kw)
    return reproduce_command(name, profile, runs=labels, **kw)


def select_runs(name: str, profile: str, seeds=None, runs=None) -> list[str]:
    """The labels of the runs of ``name``/``profile`` that ``seeds`` and ``runs`` (labels) both allow; a seed or label
    that names no run is an error listing the ones there are."""
    labels = list(experiment(name).runs(profile))
    if seeds is not None:
        have = sorted({_seed_of(x) for x in labels})
        bad = [s for s in seeds if s not in have]
        if bad or not seeds:
            raise ValueError(f"seeds must name runs of {name}/{profile} (seeds {have}), got {list(seeds)}")
    if runs is not None:
        bad = [r for r in runs if r not in labels]
        if bad or not runs:
            raise ValueError(f"runs must be labels of {name}/{profile} ({'; '.join(labels)}), got {list(runs)}")
    return [x for x in labels if (seeds is None or _seed_of(x) in set(seeds)) and (runs is None or x in set(runs))]


# ------------------------------------------------------------------------------------------------- reading

def _read_json(p: Path, what: str, cmd: str) -> dict:
    """The JSON at ``p``; :class:`MissingResult` naming ``cmd`` when it is missing or unreadable."""
    if not p.exists():
        raise MissingResult(f"no {what} ({paths.relative(p)} is missing); compute it with: {cmd}")
    try:
        return json.loads(p.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise MissingResult(f"corrupt {what} {paths.relative(p)} ({e}); recompute with: {cmd}") from e


def _read_index(name: str, profile: str) -> dict:
    p = index_path(name, profile)
    cmd = reproduce_command(name, profile)
    index = _read_json(p, f"results for the {name} experiment, profile {profile}", cmd)
    want = experiment(name).key(profile)
    if index.get("key") != want:
        raise MissingResult(f"stale results for {name}/{profile}: {paths.relative(p)} has key {index.get('key')}, "
                            f"the current configs give {want}; recompute with: {cmd}")
    return index


def load_experiment(name: str, profile: str = "cpu", allow_partial: bool = False, quiet: bool = False) -> dict:
    """``{run label: (bundle, arrays)}`` of an experiment, from its committed index. Reads only.

    Raises :class:`MissingResult` (naming the command that computes it) when the index or a bundle is missing,
    stale or corrupt, or when runs are missing — unless ``allow_partial``, which returns the runs that exist
    and says which are missing. A hit is announced, with a note for every run that is partial or stopped early.
    """
    exp = experiment(name)
    runs = exp.runs(profile)
    acfg = exp.analysis(profile)
    index = _read_index(name, profile)
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
        if bundle.get("run_key") != cfg.key() or bundle.get("analysis_key") != acfg.key():
            raise MissingResult(f"stale bundle {entry['bundle']} for '{label}' (run {bundle.get('run_key')}, analysis "
                                f"{bundle.get('analysis_key')}; expected {cfg.key()}, {acfg.key()}); recompute "
                                f"with: {cmd}")
        bundle["early_stop"] = entry.get("early_stop")
        out[label] = (bundle, arrays)
    if missing and not (allow_partial and out):
        raise MissingResult(f"{len(missing)} of {len(runs)} runs of {name}/{profile} are not computed "
                            f"({'; '.join(missing)}); compute them with: "
                            f"{run_command(name, profile, missing)}")
    if not quiet:
        _say(f"cache hit: {name}/{profile} (key {index['key']}) from {paths.relative(index_path(name, profile))}")
        if missing:
            _say(f"  note: partial experiment, {len(out)} of {len(runs)} runs computed; missing: {'; '.join(missing)}")
        for label, (b, _) in out.items():
            _say_run_note(label, b, runs[label], name, profile)
    return out


def _say_run_note(label: str, b: dict, cfg: TrainConfig, name: str, profile: str) -> None:
    last, total = b["checkpoints"][-1]["step"], cfg.steps
    stop = b.get("early_stop")
    if stop:
        if last > stop["step"]:
            _say(f"  note: '{label}' reached its stop point at step {stop['step']} ({stop['rule']}), and was trained "
                 f"and analysed on to step {last}")
        else:
            _say(f"  note: '{label}' {stop['rule']} at step {stop['step']} (at most {total})")
    elif last < total:
        _say(f"  note: '{label}' is a partial run, analysed up to step {last} of {total}; "
             f"`{run_command(name, profile, label)}` trains it to the end")


def is_available(name: str, profile: str, allow_partial: bool = False) -> bool:
    """Whether :func:`load_experiment` would return results (silently)."""
    try:
        load_experiment(name, profile, allow_partial=allow_partial, quiet=True)
        return True
    except MissingResult:
        return False


# ----------------------------------------------------------------------------------------------- computing

def _analysed_enough(entry: dict | None, cfg: TrainConfig, until: int | None) -> bool:
    """Whether an index entry already holds the run as far as asked (to its end, its stop point, or ``until``)."""
    if not entry:
        return False
    if entry.get("early_stop"):
        return True
    return entry.get("trained_to", -1) >= (cfg.steps if until is None else until)


def _train_until_stop(cfg, rdir, acfg, stop: EarlyStop, device, progress):
    """Train checkpoint by checkpoint, analysing each, until ``stop`` is met or the run ends (bitwise identical to
    one uninterrupted run). Returns (bundle dir, early-stop record or None)."""
    sched = checkpoint_steps(cfg)
    while True:
        ck = list_checkpoints(rdir) if rdir.exists() else []
        if ck:
            bdir = analyze(rdir, acfg, progress=progress, device=device)
            hit = stop.reached(load_bundle(bdir)[0]["checkpoints"])
            if hit is not None:
                info = {"rule": stop.describe(), "step": hit["step"], "epoch": hit["epoch"],
                        "images_seen": hit["images_seen"], "max_steps": cfg.steps}
                _say(f"{rdir.name}: {info['rule']} at step {hit['step']} (of at most {cfg.steps})")
                return bdir, info
            if ck[-1][0] >= cfg.steps:
                return bdir, None
        nxt = next(s for s in sched if s > ck[-1][0]) if ck else 0
        train(cfg, rdir, progress=progress, until=nxt)


def _compute_run(cfg, acfg, stop, until, steps, device, progress):
    rdir = run_dir(cfg)
    if stop is not None and until is None and steps is None:
        return _train_until_stop(cfg, rdir, acfg, stop, device, progress)
    target = cfg.steps if until is None else until
    ck = list_checkpoints(rdir) if rdir.exists() else []
    if not ck or ck[-1][0] < target:
        train(cfg, rdir, progress=progress, until=target)
    if steps is None:
        steps = [s for s, _ in list_checkpoints(rdir) if s <= target][::acfg.every]
        steps = sorted(set(steps) | {target})
    return analyze(rdir, acfg, progress=progress, device=device, steps=steps), None


def run_job(name: str, profile: str, label: str, until: int | None = None, steps=None, every: int | None = None,
            device: str = "auto", threads: int | None = None, progress: bool = False) -> dict:
    """Train and analyse one run of an experiment; returns its index entry. This is the unit of work an executor
    runs (in this process, a local subprocess or a Slurm job); it never writes the experiment index."""
    if threads:
        torch.set_num_threads(int(threads))
    exp = experiment(name)
    acfg = exp.analysis(profile) if every is None else replace(exp.analysis(profile), every=every)
    dev = str(resolve_device(device))
    cfg = replace(exp.runs(profile)[label], device=dev)
    t0 = time.time()
    bdir, info = _compute_run(cfg, acfg, exp.stop_rule(profile), until, steps, dev, progress)
    bundle, _ = load_bundle(bdir)
    return {"bundle": paths.relative(bdir), "run_key": cfg.key(), "early_stop": info,
            "trained_to": bundle["trained_to"], "steps": cfg.steps,
            "analysed_steps": [r["step"] for r in bundle["checkpoints"]],
            "command": run_command(name, profile, label, until=until, steps=steps, every=every),
            "seconds": round(time.time() - t0, 1), "device": dev}


def _open_index(name: str, profile: str) -> dict:
    exp = experiment(name)
    stop = exp.stop_rule(profile)
    acfg = exp.analysis(profile)
    key = exp.key(profile)
    idx = index_path(name, profile)
    try:
        index = json.loads(idx.read_text()) if idx.exists() else None
    except (OSError, json.JSONDecodeError):
        _say(f"corrupt index {paths.relative(idx)}: starting a new one")
        index = None
    if index is None or index.get("key") != key:
        if index is not None:
            _say(f"stale index {paths.relative(idx)} (key {index.get('key')} != {key}): starting a new one")
        index = {"schema": SCHEMA, "experiment": name, "profile": profile, "key": key, "runs": {},
                 "analysis_key": acfg.key(), "analysis": identity(acfg),
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
            _say(f"{name}/{profile}: '{label}' is already computed (use --force to recompute)")
        else:
            todo.append(label)
    jobs = [dict(name=name, profile=profile, label=label, until=until, steps=steps, every=every, device=dev,
                 threads=threads, progress=progress and executor == "inline") for label in todo]
    failed = run_jobs(run_job, jobs, executor, options or {},
                      # the device a run was computed on is the job's own (a Slurm job resolves "auto" on its node)
                      on_done=lambda job, entry: (_record(name, profile, index, job["label"], entry, entry["device"]),
                                                  _say(f"{name}/{profile}: '{job['label']}' done in "
                                                       f"{entry['seconds']:.0f} s")))
    if failed:
        raise RuntimeError(f"{len(failed)} of {len(jobs)} runs of {name}/{profile} failed: "
                           + "; ".join(f"'{j['label']}' ({state.lower()}; log: {log})" for j, log, state in failed)
                           + ". Finished runs are in the index; run the same command again to retry the others.")
    return load_experiment(name, profile, allow_partial=True)


# -------------------------------------------------------------------------------------- robustness studies

def _target(profile: str, run_seed: int, step: int | None, name: str = "phases") -> tuple[TrainConfig, int]:
    cfg = experiment(name).runs(profile)[phases_label(run_seed)]
    if step is None:
        entry = _read_index(name, profile)["runs"].get(phases_label(run_seed))
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


def study_command(spec, profile: str, run_seed: int = 0, step: int | None = None) -> str:
    default = dict(zip(("layer-sweep", "samplers"), ROBUSTNESS[profile]))[spec.kind]
    cmd = f"python -m bumpdiff robustness --profile {profile} --only {spec.kind} --run-seed {run_seed}"
    if step is not None:
        cmd += f" --step {step}"
    for f in ("layers", "timesteps", "n"):
        if hasattr(spec, f) and getattr(spec, f) != getattr(default, f):
            v = getattr(spec, f)
            cmd += f" --{f} " + (" ".join(map(str, v)) if isinstance(v, tuple) else str(v))
    return cmd


def load_study(spec, profile: str = "cpu", run_seed: int = 0, step: int | None = None, quiet: bool = False) -> dict:
    """The cached result of a robustness study (a :class:`~bumpdiff.analysis.robustness.LayerSweep` or
    :class:`~bumpdiff.analysis.robustness.SamplerComparison`) at ``step`` (default: the last analysed checkpoint) of the
    `phases` run of ``run_seed``. Reads only; raises :class:`MissingResult` naming the command."""
    cfg, step = _target(profile, run_seed, step)
    p = study_path(spec, cfg, step)
    cmd = study_command(spec, profile, run_seed, step)
    res = _read_json(p, f"{spec.kind} result for {run_dir(cfg).name} at step {step} with these settings", cmd)
    if res.get("key") != study_key(spec, cfg, step) or res.get("spec") != identity(spec):
        raise MissingResult(f"stale {spec.kind} result {paths.relative(p)}; recompute with: {cmd}")
    if not quiet:
        _say(f"cache hit: {spec.kind} of {run_dir(cfg).name} at step {step} (key {res['key']})")
    return res


def compute_study(spec, profile: str = "cpu", run_seed: int = 0, step: int | None = None, device: str = "auto",
                  force: bool = False, progress: bool = True) -> dict:
    """Compute (or, unless ``force``, keep) a robustness study at a checkpoint of the `phases` run of ``run_seed``;
    the checkpoint must be on disk (``python -m bumpdiff reproduce phases`` trains it)."""
    cfg, step = _target(profile, run_seed, step)
    p = study_path(spec, cfg, step)
    if p.exists() and not force:
        try:
            return load_study(spec, profile, run_seed, step)
        except MissingResult as e:
            _say(f"{e}: recomputing")
    ck = run_dir(cfg) / f"ckpt_{step:07d}.pt"
    if not ck.exists():
        raise MissingResult(f"checkpoint {ck} is not on disk (checkpoints are not committed); train it with: "
                            f"{reproduce_command('phases', profile, seeds=[run_seed])}")
    dev = resolve_device(device)
    diff, _ = load_model(ck, which=spec.weights, device=dev)
    _say(f"computing {spec.kind} of {run_dir(cfg).name} at step {step} on {dev}")
    result = spec.compute(diff, cfg.lattice, progress=progress)
    res = {"schema": SCHEMA, "kind": spec.kind, "key": study_key(spec, cfg, step), "run": run_dir(cfg).name,
           "run_key": cfg.key(), "step": step, "spec": identity(spec), "result": result,
           "command": study_command(spec, profile, run_seed, step), "provenance": provenance(dev, p)}
    atomic_write_json(p, res)
    return res


def analysis_for(profile: str) -> AnalysisConfig:
    """The analysis settings of a profile (what every experiment of that profile uses)."""
    return experiment("phases").analysis(profile)


def study_run(name: str, profile: str, run_seed: int = 0) -> TrainConfig:
    """The run of experiment ``name`` (profile ``profile``) with training seed ``run_seed`` that tracked studies
    read; its experiment must hold exactly one such run."""
    runs = [cfg for cfg in experiment(name).runs(profile).values() if cfg.seed == run_seed]
    if len(runs) != 1:
        raise ValueError(f"run_seed must pick one run of {name}/{profile} (its seeds: "
                         f"{experiment_seeds(name, profile)}), got {run_seed}")
    return runs[0]


def _study_experiment(arch: str, name: str | None) -> str:
    return phases_experiment(arch) if name is None else experiment(name).name


def track_command(kind: str, profile: str, run_seed: int = 0, arch: str = "film",
                  experiment_name: str | None = None) -> str:
    name = _study_experiment(arch, experiment_name)
    cfg = study_run(name, profile, run_seed)
    return (f"python -m bumpdiff track {kind} --profile {profile}"
            + (f" --experiment {name}" if experiment_name is not None else "")
            + (f" --arch {arch}" if arch != "film" else "")
            + (f" --run-seed {run_seed}" if run_seed else "") + f"   (needs the run's checkpoints in data/runs/"
            f"{run_dir(cfg).name}: {reproduce_command(name, profile, seeds=[run_seed])})")


def load_tracked_study(kind: str, profile: str = "cpu", run_seed: int = 0, quiet: bool = False,
                       arch: str = "film", experiment_name: str | None = None) -> dict:
    """A study tracked over training (:mod:`bumpdiff.store.tracking`) of the run of ``run_seed`` of experiment
    ``experiment_name`` (default: the `phases` experiment of architecture ``arch``), read-only: from beside the
    run's bundle, else from beside a committed retrain of the same run (``data/results/retrains/<run folder>-*/``).
    The returned dict has ``"source"``: the folder it came from. Raises :class:`MissingResult` naming the command
    when there is none."""
    spec = tracked_studies(profile)[kind]
    name = _study_experiment(arch, experiment_name)
    cfg = study_run(name, profile, run_seed)
    folder = run_dir(cfg).name
    fname = f"{spec.kind}-{spec.key()}.json"
    cmd = track_command(kind, profile, run_seed, arch, experiment_name)
    for d in [paths.results_dir() / folder, *sorted((paths.results_dir() / "retrains").glob(f"{folder}-*"))]:
        p = d / fname
        if p.exists():
            data = _read_json(p, f"the {kind} study", cmd)
            if data.get("run_key") != cfg.key() or data.get("key") != spec.key():
                raise MissingResult(f"{paths.relative(p)} is stale (another run or study); recompute it with: {cmd}")
            if not quiet:
                _say(f"{kind} study of {folder} (from {paths.relative(d)}): {len(data['checkpoints'])} checkpoints")
            return in_training_order(data) | {"source": paths.relative(d), "arch": arch, "experiment": name}
    raise MissingResult(f"no {kind} study of the {name}/{profile} run of seed {run_seed}; compute it with: {cmd}")


def bundle_beside(study: dict, profile: str) -> tuple[dict, dict]:
    """The analysis bundle of the very run a tracked study (:func:`load_tracked_study`) was computed from: the one
    in the same folder (the run's own, or its retrain's), so that its phase calls belong to the same weights."""
    d = paths.root() / study["source"] / f"analysis-{analysis_for(profile).key()}"
    try:
        return load_bundle(d)
    except BundleError as e:
        name = study.get("experiment") or phases_experiment(study.get("arch", "film"))
        raise MissingResult(f"no analysis bundle beside {study['source']} ({e}); compute it with: "
                            f"{reproduce_command(name, profile)}") from e


# ------------------------------------------------------------------------------------- the two read-outs

#: the read-outs: every value of the read-out's noise, each analysed with the profile's analysis
READOUTS = NOISE


def readout_analysis(profile: str, noise: str) -> AnalysisConfig:
    """The profile's analysis with the read-out's noise ``noise`` (checked by :class:`AnalysisConfig`)."""
    return replace(analysis_for(profile), noise=noise)


def readout_command(name: str, profile: str, label: str, noise: str) -> str:
    """How the ``noise`` read-out of one run is computed: an analysis of its checkpoints (which must be on disk)."""
    cfg = experiment(name).runs(profile)[label]
    sets = f" --set noise={noise}" if noise != "shared" else ""
    return (f"python -m bumpdiff analyze data/runs/{run_dir(cfg).name} --profile {profile}{sets}   (needs the run's "
            f"checkpoints: {run_command(name, profile, label)})")


def load_readouts(name: str, profile: str = "cpu") -> dict[str, dict]:
    """Both read-outs of each run of experiment ``name`` that has them, from **one set of weights** per run:
    ``{label: {"source": folder, "shared": (bundle, arrays), "independent": (bundle, arrays)}}``. The folder is the
    first of the run's own results folder and its committed retrains (``data/results/retrains/<run folder>-*``)
    that holds the bundles of both read-outs, so the two are never read from different weights. Runs that have no
    such folder are left out (:func:`missing_readouts` names them). Reads only."""
    out = {}
    for label, cfg in experiment(name).runs(profile).items():
        for d in _readout_folders(cfg):
            subs = {noise: _readout_dir(d, profile, noise) for noise in READOUTS}
            if not all((b / "bundle.json").exists() for b in subs.values()):
                continue
            out[label] = {"source": paths.relative(d),
                          **{noise: _read_readout(b, name, profile, label, noise, cfg)
                             for noise, b in subs.items()}}
            break
    return out


def _readout_folders(cfg: TrainConfig) -> list[Path]:
    """Where a run's read-outs may be: its own results folder, then its committed retrains."""
    folder = run_dir(cfg).name
    return [paths.results_dir() / folder, *sorted((paths.results_dir() / "retrains").glob(f"{folder}-*"))]


def _readout_dir(folder: Path, profile: str, noise: str) -> Path:
    return folder / f"analysis-{readout_analysis(profile, noise).key()}"


def _read_readout(path: Path, name: str, profile: str, label: str, noise: str, cfg: TrainConfig) -> tuple[dict, dict]:
    """One read-out's ``(bundle, arrays)`` of a run, checked against the run's key; a corrupt or stale one raises
    MissingResult with the command that recomputes it."""
    try:
        bundle, arrays = load_bundle(path)
    except BundleError as e:
        raise MissingResult(f"{e}; recompute with: {readout_command(name, profile, label, noise)}") from e
    if bundle.get("run_key") != cfg.key():
        raise MissingResult(f"stale bundle {paths.relative(path)} (run {bundle.get('run_key')}, "
                            f"expected {cfg.key()})")
    return bundle, arrays


def _last_step(bundle: dict) -> int:
    return max((r["step"] for r in bundle["checkpoints"]), default=-1)


def readout_bundles(name: str, profile: str = "cpu") -> dict[str, dict[str, tuple[str, dict]]]:
    """Every read-out of every run of experiment ``name`` that has one, each from the folder that analysed it
    furthest (the latest analysed checkpoint): ``{label: {noise: (folder, bundle)}}``, the run's own results
    folder winning a tie with its committed retrains. Each bundle is one set of weights (its folder); unlike
    :func:`load_readouts`, the two read-outs of a run may come from different folders, which the folder says. Reads
    only; read-outs nowhere computed are left out."""
    out: dict[str, dict[str, tuple[str, dict]]] = {}
    for label, cfg in experiment(name).runs(profile).items():
        for noise in READOUTS:
            best = None
            for d in _readout_folders(cfg):
                if not (_readout_dir(d, profile, noise) / "bundle.json").exists():
                    continue
                bundle = _read_readout(_readout_dir(d, profile, noise), name, profile, label, noise, cfg)[0]
                if best is None or _last_step(bundle) > _last_step(best[1]):
                    best = (paths.relative(d), bundle)
            if best is not None:
                out.setdefault(label, {})[noise] = best
    return out


def missing_readouts(name: str, profile: str = "cpu") -> list[str]:
    """The labels of the runs of ``name`` that :func:`load_readouts` leaves out."""
    have = load_readouts(name, profile)
    return [label for label in experiment(name).runs(profile) if label not in have]


def atlas_of(bundle: dict, profile: str, arch: str) -> dict | None:
    """The atlas tracked on the very weights of ``bundle`` (a run's own results folder, not a retrain's), or None
    when there is none (said, with the command that computes it)."""
    try:
        atlas = load_tracked_study("atlas", profile, int(bundle["config"]["seed"]), arch=arch, quiet=True)
    except MissingResult as e:
        log.info(f"{arch}: no atlas of this run ({e})")
        return None
    return atlas if atlas["source"] == f"data/results/{bundle['run']}" else None
