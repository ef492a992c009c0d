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
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np

from . import paths
from .data import Lattice
from .latent import ANALYSIS_PROFILES, AnalysisConfig, analyze, bundle_dir, load_bundle, merge_bundles, phase_onsets
from .train import TrainConfig, checkpoint_steps, list_checkpoints, profile as train_profile, run_dir, train
from .utils import atomic_write_json, config_hash

__all__ = ["EXPERIMENTS", "experiment_runs", "run_or_load", "is_cached", "make_figures", "commit_stamp", "cached",
           "committed_pieces", "EarlyStop", "EARLY_STOP", "PHASES_LABEL", "phases_label", "phase_summary",
           "IMBALANCED_THRESHOLD", "crossing", "crossing_table", "coupling_summary"]

SEEDS = {"smoke": (0,), "cpu": (0, 1, 2), "paper": (0, 1, 2)}  # smoke: one seed keeps CI fast
# dx = dy ≈ √(32·32/10,240) ≈ 0.316 gives round(32/0.316)² = 101² = 10,201 images, size-matched to 10,240
IMBALANCED_LATTICES = {
    "imbalanced (dx=0.1, dy=1)": dict(dx=0.1, dy=1.0),
    "balanced (dx=dy=1)": dict(dx=1.0, dy=1.0),
    "balanced, size-matched (dx=dy=0.316)": dict(dx=0.316, dy=0.316),
}
PHASES_LABEL = "balanced (dx=dy=1)"  # `phases` runs are labelled f"{PHASES_LABEL} seed {seed}"
# CPU runs of the imbalanced experiment are shorter: at most IMBALANCED_STEPS, and they stop at the first
# checkpoint at which both axes have crossed IMBALANCED_THRESHOLD (EARLY_STOP), as issue 6 allows
IMBALANCED_STEPS = {"smoke": None, "cpu": 3000, "paper": None}
IMBALANCED_THRESHOLD = 0.5   # an axis counts as learned when its per-axis accuracy reaches this


@dataclass(frozen=True)
class EarlyStop:
    """Stop a run at the first analysed checkpoint at which every ``keys`` value is ≥ ``threshold``."""

    threshold: float = IMBALANCED_THRESHOLD
    keys: tuple = ("acc_x", "acc_y")

    def reached(self, records: list[dict]) -> dict | None:
        """The first record at which every key has crossed the threshold (each possibly at an earlier one)."""
        firsts = [crossing(records, k, self.threshold) for k in self.keys]
        if any(f is None for f in firsts):
            return None
        last = max(f["step"] for f in firsts)
        return next(r for r in records if r["step"] == last)

    def describe(self) -> str:
        return f"stopped once {' and '.join(self.keys)} ≥ {self.threshold}"


EARLY_STOP = {("imbalanced", "cpu"): EarlyStop()}


def crossing(records: list[dict], key: str, threshold: float) -> dict | None:
    """The first checkpoint record whose ``key`` is at or above ``threshold`` (None if none is)."""
    return next((r for r in records if r[key] >= threshold), None)


def crossing_table(results: dict, threshold: float = IMBALANCED_THRESHOLD, keys=("acc_x", "acc_y")) -> list[dict]:
    """One row per run of an experiment: the step, epoch and images seen at which each key first reaches
    ``threshold`` (None when it does not), with the order parameters there, the run's group and seed."""
    rows = []
    for label, (bundle, _) in results.items():
        group, _, seed = label.rpartition(" seed ")
        row = {"run": label, "group": group or label, "seed": int(seed) if seed.isdigit() else None,
               "last_step": bundle["checkpoints"][-1]["step"], "early_stop": bundle.get("early_stop")}
        recs = bundle["checkpoints"]
        for k in keys:
            c = crossing(recs, k, threshold)
            if c is None:
                row[k] = None
                continue
            i = recs.index(c)
            row[k] = {f: c[f] for f in ("step", "epoch", "images_seen", "accuracy", "acc_x", "acc_y", "r2_x", "r2_y",
                                        "knn_r2_x", "knn_r2_y")}
            # the crossing lies between the previous checkpoint and this one: that is its resolution
            row[k]["resolution"] = c["images_seen"] - recs[i - 1]["images_seen"] if i else 0
        rows.append(row)
    return rows


def coupling_summary(rows: list[dict], keys=("acc_x", "acc_y")) -> list[dict]:
    """Per group of runs: crossing points of the two axes over seeds (mean, sample sd with ddof = 1 — None with
    fewer than two seeds — and per seed), the per-seed gap (second key minus first, in images) and a verdict.
    Two axes count as learned *together* in a seed when their crossings are at most one checkpoint interval
    apart (the resolution of the measurement)."""
    kx, ky = keys
    out = []
    for group in dict.fromkeys(r["group"] for r in rows):
        rs = [r for r in rows if r["group"] == group]
        both = [r for r in rs if r[kx] and r[ky]]
        gaps = [r[ky]["images_seen"] - r[kx]["images_seen"] for r in both]
        res = [max(r[kx]["resolution"], r[ky]["resolution"]) for r in both]
        together = [abs(g) <= q for g, q in zip(gaps, res)]
        if not both:
            verdict = "no seed crossed on both axes"
        elif all(together):
            verdict = "together"
        elif all(g > q for g, q in zip(gaps, res)):
            verdict = f"apart: {kx} first"
        elif all(-g > q for g, q in zip(gaps, res)):
            verdict = f"apart: {ky} first"
        else:
            verdict = "mixed over seeds"
        def stats(k):
            v = [r[k]["images_seen"] for r in rs if r[k]]
            return {"images_seen": v, "mean": float(np.mean(v)) if v else None,
                    "sd": float(np.std(v, ddof=1)) if len(v) > 1 else None,
                    "epochs": [r[k]["epoch"] for r in rs if r[k]]}
        out.append({"group": group, "seeds": [r["seed"] for r in rs], "n_both": len(both), kx: stats(kx),
                    ky: stats(ky), "gap_images": gaps, "resolution_images": res, "together": together,
                    "verdict": verdict})
    return out


def phase_summary(runs: dict, keys=("phase_generation", "phase")) -> dict:
    """Per phase call (``keys``) and per phase B / C: where each run first gets that call, and the spread.

    ``runs`` is ``{label: checkpoint records}`` (e.g. every seed of `phases`). Returns
    ``{key: {phase: {"images_seen": [...], "epoch": [...], "step": [...], "mean_images", "sd_images",
    "n_reached", "n_runs"}}}``, per-run lists in the order of ``runs`` with None where a run never gets the
    call; the sample sd (ddof = 1) is over the runs that reach it, None with fewer than two."""
    out = {}
    for key in keys:
        out[key] = {}
        onsets = [phase_onsets(recs, key) for recs in runs.values()]  # once per run, for both phases
        for ph in ("B", "C"):
            firsts = [o[ph] for o in onsets]
            got = np.array([f["images_seen"] for f in firsts if f is not None], dtype=float)
            out[key][ph] = {
                "images_seen": [None if f is None else f["images_seen"] for f in firsts],
                "epoch": [None if f is None else f["epoch"] for f in firsts],
                "step": [None if f is None else f["step"] for f in firsts],
                "mean_images": float(got.mean()) if len(got) else None,
                "sd_images": float(got.std(ddof=1)) if len(got) > 1 else None,
                "n_reached": int(len(got)), "n_runs": len(firsts)}
    return out


def _phases(profile: str) -> dict[str, TrainConfig]:
    # one run per seed (SEEDS): the phase call's onsets and its sequence are reported with their spread; these
    # runs are also the balanced dx = dy = 1 control of `imbalanced` (same configs, trained once)
    base = train_profile(profile)
    return {phases_label(seed): replace(base, seed=seed) for seed in SEEDS[profile]}


def phases_label(seed: int = 0) -> str:
    """The label of the `phases` run with training seed ``seed`` (a key of ``run_or_load("phases", …)``)."""
    return f"{PHASES_LABEL} seed {seed}"


def _imbalanced(profile: str) -> dict[str, TrainConfig]:
    base = train_profile(profile)
    out = {}
    for label, lat in IMBALANCED_LATTICES.items():
        for seed in SEEDS[profile]:
            if replace(base.lattice, **lat) == base.lattice:
                # the balanced dx = dy = 1 control is the `phases` configuration itself (its seed-0 run is shared
                # with `phases`, not trained twice); the early-stop rule applies to it like to every run here
                cfg = replace(base, seed=seed)
            else:
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


def _key(runs: dict[str, TrainConfig], acfg: AnalysisConfig, stop: EarlyStop | None = None) -> str:
    obj = {"runs": {k: v.to_dict() for k, v in runs.items()}, "analysis": asdict(acfg)}
    if stop is not None:
        obj["early_stop"] = asdict(stop)
    return config_hash(obj)


def _load_index(path: Path, key: str):
    """(index, {label: (bundle, arrays)}, None) for a usable cached index, else (None, None, why not).

    An index may list only some of the experiment's runs (``missing`` names the others): runs are added to
    it as they finish, so a long experiment interrupted half-way keeps what it finished."""
    if not path.exists():
        return None, None, "no cached results"
    try:
        index = json.loads(path.read_text())
    except (json.JSONDecodeError, OSError) as e:
        return None, None, f"corrupt index ({e})"
    if index.get("key") != key:
        return None, None, f"stale results (key {index.get('key')} != {key})"
    out = {}
    for label, rel in index["runs"].items():
        try:
            bundle, arrays = load_bundle(paths.root() / rel)
        except Exception as e:  # noqa: BLE001 — any unreadable bundle means recompute
            return None, None, f"corrupt bundle {rel} ({type(e).__name__}: {e})"
        if bundle.get("run_hash") != index["run_hashes"][label]:
            return None, None, f"bundle {rel} does not match its run config"
        bundle["early_stop"] = index.get("early_stop", {}).get(label)
        out[label] = (bundle, arrays)
    return index, out, None


def is_cached(name: str, profile: str, analysis: AnalysisConfig | None = None, allow_partial: bool = False) -> bool:
    """Whether :func:`run_or_load` would be a cache hit (nothing to train or analyse). With ``allow_partial``,
    an index holding some but not all of the experiment's runs counts as a hit."""
    runs = experiment_runs(name, profile)
    acfg = analysis or ANALYSIS_PROFILES[profile]
    _, loaded, _ = _load_index(_index_path(name, profile), _key(runs, acfg, EARLY_STOP.get((name, profile))))
    if loaded is None:
        return False
    return len(loaded) == len(runs) or (allow_partial and len(loaded) > 0)


def _train_until_stop(cfg: TrainConfig, rdir: Path, acfg: AnalysisConfig, stop: EarlyStop, progress: bool):
    """Train checkpoint by checkpoint, analysing each, until ``stop`` is reached or the run ends.

    Returns (bundle dir, early-stop record or None). Training in chunks is bitwise identical to one call."""
    sched = checkpoint_steps(cfg)
    while True:
        ck = list_checkpoints(rdir) if rdir.exists() else []
        if ck:
            bdir = analyze(rdir, acfg, progress=progress)
            hit = stop.reached(load_bundle(bdir)[0]["checkpoints"])
            if hit is not None:
                info = {"rule": stop.describe(), "step": hit["step"], "epoch": hit["epoch"],
                        "images_seen": hit["images_seen"], "max_steps": cfg.steps}
                print(f"[bumpdiff] {rdir.name}: {info['rule']} at step {hit['step']} (of at most {cfg.steps})",
                      flush=True)
                return bdir, info
            if ck[-1][0] >= cfg.steps:
                return bdir, None
        nxt = next(s for s in sched if s > ck[-1][0]) if ck else 0
        train(cfg, rdir, progress=progress, until=nxt)


def run_or_load(name: str, profile: str = "cpu", force: bool = False, analysis: AnalysisConfig | None = None,
                progress: bool = True, labels: list[str] | None = None, train_missing: bool = True,
                allow_partial: bool = False) -> dict:
    """{run label: (bundle, arrays)} for an experiment, from the cache when its key matches.

    ``force`` recomputes (retraining runs that are not finished). ``labels`` restricts the experiment to
    some of its runs. ``train_missing=False`` analyses an unfinished run as it stands instead of training it
    to the end; the bundle then shows a partial run, and every later cache hit says so. Runs are added to the
    experiment's index as they finish, so an interrupted experiment keeps its finished runs; ``allow_partial``
    returns those (announcing what is missing) instead of computing the rest. Runs of an experiment with an
    early-stop rule (``EARLY_STOP``) are trained checkpoint by checkpoint and stop once the rule is met; their
    bundles carry an ``early_stop`` record.
    """
    runs = experiment_runs(name, profile)
    want = list(runs) if labels is None else list(labels)
    unknown = [l for l in want if l not in runs]
    if unknown:
        raise ValueError(f"labels must be runs of {name}/{profile} ({list(runs)}), got {unknown}")
    acfg = analysis or ANALYSIS_PROFILES[profile]
    stop = EARLY_STOP.get((name, profile))
    key = _key(runs, acfg, stop)
    idx = _index_path(name, profile)
    index, loaded = None, {}
    if not force:
        index, cached_runs, why = _load_index(idx, key)
        if cached_runs is not None:
            have = [l for l in want if l in cached_runs]
            missing = [l for l in want if l not in cached_runs]
            if not missing or (allow_partial and have):
                print(f"[bumpdiff] cache hit: {name}/{profile} (key {key}) from {idx.relative_to(paths.root())}",
                      flush=True)
                if missing:
                    print(f"[bumpdiff]   note: partial experiment, {len(have)} of {len(want)} runs computed; missing: "
                          f"{'; '.join(missing)}. `python -m bumpdiff reproduce --profile {profile} {name}` "
                          f"computes them", flush=True)
                for label in have:
                    b = cached_runs[label][0]
                    last, total = b["checkpoints"][-1]["step"], b["config"]["steps"]
                    if b.get("early_stop"):
                        stop_at, rule = b["early_stop"]["step"], b["early_stop"]["rule"]
                        if last > stop_at:  # the same run trained further for another experiment
                            print(f"[bumpdiff]   note: '{label}' reached its stop point at step {stop_at} ({rule}), "
                                  f"and was trained and analysed on to step {last}", flush=True)
                        else:
                            print(f"[bumpdiff]   note: '{label}' {rule} at step {stop_at} (at most {total})",
                                  flush=True)
                    elif last < total:
                        print(f"[bumpdiff]   note: '{label}' is a partial run, analysed up to step {last} of {total}; "
                              f"`make reproduce PROFILE={profile}` trains it to the end", flush=True)
                return {l: cached_runs[l] for l in have}
            loaded = {l: cached_runs[l] for l in have}
            why = f"{len(missing)} of {len(want)} runs not computed yet"
        print(f"[bumpdiff] {why}: computing {name}/{profile} (key {key})", flush=True)
    if index is None:
        index = {"experiment": name, "profile": profile, "key": key, "runs": {}, "early_stop": {},
                 "run_hashes": {k: v.hash() for k, v in runs.items()}, "analysis": asdict(acfg),
                 "early_stop_rule": asdict(stop) if stop else None}
    out = dict(loaded)
    for label in [l for l in want if l not in loaded]:
        cfg = runs[label]
        t0 = time.time()
        rdir = run_dir(cfg)
        info = None
        if stop is not None and train_missing:
            bdir, info = _train_until_stop(cfg, rdir, acfg, stop, progress)
        else:
            if not (rdir / "DONE").exists() and (train_missing or not (rdir / "config.json").exists()):
                train(cfg, rdir, progress=progress)
            bdir = analyze(rdir, acfg, progress=progress)
        bundle, arrays = load_bundle(bdir)
        bundle["early_stop"] = info
        out[label] = (bundle, arrays)
        # add the finished run to the index at once (in the experiment's order) so it survives an interruption
        index["runs"][label] = str(bdir.relative_to(paths.root()))
        index["runs"] = {l: index["runs"][l] for l in runs if l in index["runs"]}
        index.setdefault("early_stop", {})[label] = info
        index["missing"] = [l for l in runs if l not in index["runs"]]
        index |= {"commit": commit_stamp(idx), "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        atomic_write_json(idx, index)
        print(f"[bumpdiff] {name}/{profile}: {label} done in {time.time() - t0:.0f} s", flush=True)
    return {l: out[l] for l in want}


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


def committed_pieces(profile: str = "paper", seed: int = 0) -> dict | None:
    """The results committed for the ``phases`` run of ``profile`` (seed ``seed``) that was analysed in pieces,
    outside :func:`run_or_load` (the partial ``paper`` run on a lent GPU, README "Results"): ``{"bundle",
    "arrays"}`` merged by :func:`~bumpdiff.latent.merge_bundles` from every ``analysis-*`` bundle under
    ``results/<run>/``, and ``"sweeps"``: ``{step: rows}`` from its ``layer-sweep-step<step>.json`` files.
    None where nothing is committed. Reads only; never trains."""
    rdir = paths.results_dir() / run_dir(experiment_runs("phases", profile)[phases_label(seed)]).name
    parts = sorted(rdir.glob("analysis-*/bundle.json"))
    if not parts:
        return None
    bundle, arrays = merge_bundles([p.parent for p in parts])
    sweeps = {}
    for p in sorted(rdir.glob("layer-sweep-step*.json")):
        s = json.loads(p.read_text())
        sweeps[int(s["step"])] = s["rows"]
    return {"bundle": bundle, "arrays": arrays, "sweeps": sweeps}


def commit_stamp(*outputs: Path) -> str:
    """The current git commit (short), with '+dirty' when tracked files other than the rendered figures and the
    given ``outputs`` have uncommitted changes (outputs being written are not inputs: rendering several figures
    in a row, or updating an index after each of its runs, must not stamp the later ones dirty)."""
    root = paths.root()
    excluded = [paths.figures_dir(), *outputs]
    try:
        sha = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True,
                             text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", ".",
                                *(f":(exclude){Path(p).resolve().relative_to(root.resolve()).as_posix()}"
                                  for p in excluded)],
                               cwd=root, capture_output=True, text=True, timeout=10).stdout.strip()
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
