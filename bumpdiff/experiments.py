"""Named experiments (train → analyse) and their cached results.

An experiment is a set of training runs plus one analysis setting. :func:`run_or_load` keys its results by
a hash of every run's full config and the analysis settings: a matching, readable index is loaded and the
hit is announced; a stale key or a corrupt/missing bundle is detected, announced and recomputed. Indexes
live in ``results/experiments/<experiment>-<profile>.json``; run bundles in ``results/<run>/analysis-<hash>``.
"""
from __future__ import annotations

import json
import subprocess
import sys
import time
from dataclasses import asdict, replace
from pathlib import Path

from . import paths
from .data import Lattice
from .latent import ANALYSIS_PROFILES, AnalysisConfig, analyze, bundle_dir, load_bundle
from .train import TrainConfig, profile as train_profile, run_dir, train
from .utils import atomic_write_json, config_hash

__all__ = ["EXPERIMENTS", "experiment_runs", "run_or_load", "is_cached", "make_figures", "commit_stamp", "cached"]

SEEDS = {"smoke": (0,), "cpu": (0, 1, 2), "paper": (0, 1, 2)}  # smoke: one seed keeps CI fast
# dx = dy ≈ √(32·32/10,240) ≈ 0.316 gives round(32/0.316)² = 101² = 10,201 images, size-matched to 10,240
IMBALANCED_LATTICES = {
    "imbalanced (dx=0.1, dy=1)": dict(dx=0.1, dy=1.0),
    "balanced (dx=dy=1)": dict(dx=1.0, dy=1.0),
    "balanced, size-matched (dx=dy=0.316)": dict(dx=0.316, dy=0.316),
}
# CPU runs of the imbalanced experiment are shorter: they stop once both axes are learned (PAPER.md)
IMBALANCED_STEPS = {"smoke": None, "cpu": 3000, "paper": None}


def _phases(profile: str) -> dict[str, TrainConfig]:
    return {"balanced (dx=dy=1)": train_profile(profile)}


def _imbalanced(profile: str) -> dict[str, TrainConfig]:
    base = train_profile(profile)
    out = {}
    for label, lat in IMBALANCED_LATTICES.items():
        for seed in SEEDS[profile]:
            cfg = replace(base, name=f"{base.name}-imb", seed=seed, lattice=replace(base.lattice, **lat))
            if IMBALANCED_STEPS[profile]:
                cfg = replace(cfg, steps=IMBALANCED_STEPS[profile])
            out[f"{label} seed {seed}"] = cfg
    return out


EXPERIMENTS = {"phases": _phases, "imbalanced": _imbalanced}


def experiment_runs(name: str, profile: str) -> dict[str, TrainConfig]:
    if name not in EXPERIMENTS:
        raise ValueError(f"experiment must be one of {sorted(EXPERIMENTS)}, got {name!r}")
    if profile not in ANALYSIS_PROFILES:
        raise ValueError(f"profile must be one of {sorted(ANALYSIS_PROFILES)}, got {profile!r}")
    return EXPERIMENTS[name](profile)


def _index_path(name, profile) -> Path:
    return paths.results_dir() / "experiments" / f"{name}-{profile}.json"


def _key(runs: dict[str, TrainConfig], acfg: AnalysisConfig) -> str:
    return config_hash({"runs": {k: v.to_dict() for k, v in runs.items()}, "analysis": asdict(acfg)})


def _load_index(path: Path, key: str):
    """The loaded experiment, or a reason why the cache cannot be used."""
    if not path.exists():
        return None, "no cached results"
    try:
        index = json.loads(path.read_text())
    except (json.JSONDecodeError, OSError) as e:
        return None, f"corrupt index ({e})"
    if index.get("key") != key:
        return None, f"stale results (key {index.get('key')} != {key})"
    out = {}
    for label, rel in index["runs"].items():
        try:
            bundle, arrays = load_bundle(paths.root() / rel)
        except Exception as e:  # noqa: BLE001 — any unreadable bundle means recompute
            return None, f"corrupt bundle {rel} ({type(e).__name__}: {e})"
        if bundle.get("run_hash") != index["run_hashes"][label]:
            return None, f"bundle {rel} does not match its run config"
        out[label] = (bundle, arrays)
    return out, None


def is_cached(name: str, profile: str, analysis: AnalysisConfig | None = None) -> bool:
    """Whether :func:`run_or_load` would be a cache hit (nothing to train or analyse)."""
    runs = experiment_runs(name, profile)
    loaded, _ = _load_index(_index_path(name, profile), _key(runs, analysis or ANALYSIS_PROFILES[profile]))
    return loaded is not None


def run_or_load(name: str, profile: str = "cpu", force: bool = False, analysis: AnalysisConfig | None = None,
                progress: bool = True, labels: list[str] | None = None, train_missing: bool = True) -> dict:
    """{run label: (bundle, arrays)} for an experiment, from the cache when its key matches.

    ``force`` recomputes (retraining runs that are not finished). ``labels`` restricts the experiment to
    some of its runs (looked up in the full experiment's index first). ``train_missing=False`` analyses an
    unfinished run as it stands instead of training it to the end; the index then marks it partial, and
    every later cache hit says so.
    """
    runs = experiment_runs(name, profile)
    acfg = analysis or ANALYSIS_PROFILES[profile]
    key = _key(runs, acfg)
    idx = _index_path(name, profile)
    if not force:
        loaded, why = _load_index(idx, key)
        if loaded is not None:
            print(f"[bumpdiff] cache hit: {name}/{profile} (key {key}) from {idx.relative_to(paths.root())}", flush=True)
            for label, (b, _) in loaded.items():
                last, total = b["checkpoints"][-1]["step"], b["config"]["steps"]
                if last < total:
                    print(f"[bumpdiff]   note: '{label}' is a partial run, analysed up to step {last} of {total}; "
                          f"`make reproduce PROFILE={profile}` trains it to the end", flush=True)
            return {k: v for k, v in loaded.items() if labels is None or k in labels}
        print(f"[bumpdiff] {why}: computing {name}/{profile} (key {key})", flush=True)
    todo = {k: v for k, v in runs.items() if labels is None or k in labels}
    out, rels = {}, {}
    for label, cfg in todo.items():
        t0 = time.time()
        rdir = run_dir(cfg)
        if not (rdir / "DONE").exists() and (train_missing or not (rdir / "config.json").exists()):
            train(cfg, rdir, progress=progress)
        bdir = analyze(rdir, acfg, progress=progress)
        out[label] = load_bundle(bdir)
        rels[label] = str(bdir.relative_to(paths.root()))
        print(f"[bumpdiff] {name}/{profile}: {label} done in {time.time() - t0:.0f} s", flush=True)
    if labels is None:
        atomic_write_json(idx, {"experiment": name, "profile": profile, "key": key, "runs": rels,
                                "run_hashes": {k: v.hash() for k, v in runs.items()}, "analysis": asdict(acfg),
                                "commit": commit_stamp(), "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())})
    return out


def cached(name: str, key_obj, compute, force: bool = False) -> tuple[dict, dict]:
    """Run ``compute() -> (json_dict, arrays)`` once per key; results in ``results/cache/<name>-<hash>``.

    A hit is announced; an unreadable entry, or one whose stored key differs, is announced and recomputed.
    """
    import numpy as np
    from .utils import atomic_savez
    key = config_hash(key_obj)
    d = paths.results_dir() / "cache" / f"{name}-{key}"
    if not force and (d / "result.json").exists():
        try:
            res = json.loads((d / "result.json").read_text())
            with np.load(d / "arrays.npz") as z:
                arrays = {k: z[k] for k in z.files}
            if res.get("_key") == key:
                print(f"[bumpdiff] cache hit: {name} (key {key})", flush=True)
                return res, arrays
            print(f"[bumpdiff] stale cache entry {d.name}: recomputing", flush=True)
        except Exception as e:  # noqa: BLE001
            print(f"[bumpdiff] corrupt cache entry {d.name} ({type(e).__name__}): recomputing", flush=True)
    else:
        print(f"[bumpdiff] computing {name} (key {key})", flush=True)
    res, arrays = compute()
    res = dict(res, _key=key, _inputs=key_obj, _commit=commit_stamp())
    atomic_savez(d / "arrays.npz", **arrays)
    atomic_write_json(d / "result.json", res)
    return res, arrays


def commit_stamp() -> str:
    """The current git commit (short), with '+dirty' when the tree has uncommitted changes."""
    try:
        sha = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=paths.root(), capture_output=True,
                             text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=paths.root(),
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return (sha or "unknown") + ("+dirty" if dirty else "")
    except Exception:  # noqa: BLE001
        return "unknown"


def make_figures(profile: str = "cpu", only: list[str] | None = None, seed: int = 0) -> None:
    """Execute every numbered notebook headless with papermill (executed copies to build/<profile>/)."""
    import papermill as pm

    nbs = sorted(paths.notebooks_dir().glob("[0-9][0-9]_*.ipynb"))
    if only:
        nbs = [p for p in nbs if any(p.name.startswith(o) for o in only)]
    outdir = paths.build_dir() / profile
    outdir.mkdir(parents=True, exist_ok=True)
    total = time.time()
    for nb in nbs:
        t0 = time.time()
        print(f"[bumpdiff] figures ({profile}): running {nb.name} ...", flush=True)
        pm.execute_notebook(str(nb), str(outdir / nb.name), parameters={"profile": profile, "seed": seed},
                            cwd=str(paths.notebooks_dir()), progress_bar=False, kernel_name="python3")
        print(f"[bumpdiff] figures ({profile}): {nb.name} done in {time.time() - t0:.1f} s", flush=True)
    print(f"[bumpdiff] figures ({profile}): {len(nbs)} notebooks in {time.time() - total:.1f} s; "
          f"figures in {Path(paths.figures_dir()).relative_to(paths.root())}/"
          f"{'' if profile == 'cpu' else profile + '/'}", flush=True)
