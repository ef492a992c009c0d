"""Experiments' results, read back without computing (computing them is :mod:`.compute_runs`).

Layout under ``data/results/``:

- ``experiments/<experiment>-<profile>.json`` — an experiment's **index**: its key (the identity of every run
  and of the analysis), one entry per run (its bundle, run key, how far it was trained, the command that made
  it) and provenance;
- ``<run folder>/analysis-<analysis key>/`` — each run's results bundle (:mod:`bumpdiff.store.bundles`).

:func:`load_experiment` never trains or analyses: a missing, stale or corrupt result raises
:class:`~bumpdiff.store.reading.MissingResult`, whose message names the command that computes it. Computing is
:func:`~bumpdiff.store.compute_runs.compute_experiment` (``python -m bumpdiff reproduce``, ``make reproduce``).
The other stores: the robustness cache (:mod:`.robustness_cache`), tracked studies (:mod:`.tracking`), the two
read-outs (:mod:`.readouts`).
"""
from __future__ import annotations

from pathlib import Path

from ..common import paths
from ..common.log import get_logger
from ..core.config import TrainConfig
from ..experiments.registry import experiment
from .bundles import BundleError, load_bundle
from .commands import reproduce_command, run_command
from .reading import MissingResult, read_json

__all__ = ["load_experiment", "is_available", "index_path", "read_index"]

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
        bundle.update(group=specs[label].group, seed=specs[label].seed, early_stop=entry.get("early_stop"),
                      job={"seconds": entry.get("seconds"), "resumed_at": entry.get("resumed_at")})
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
