"""Computing the instruments' calibrations (``python -m bumpdiff calibrate latent|noise|sampler``) into the files
that :mod:`.calibrations` reads: per-phantom and per-checkpoint results go to scratch as they finish, so an
interrupted calibration resumes."""
from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from ..analysis.activations import collect_activations, latent_grid, trial_activations
from ..analysis.calibration import CALIBRATION_SIZES, METRICS, fit_thresholds, old_call, rule_accuracy
from ..analysis.generation import sample_and_score
from ..analysis.manifold import noise_ratio
from ..analysis.phantom_metrics import phantom_metrics
from ..analysis.phantoms import NOISE_RANGE, PHANTOM_VERSION
from ..analysis.phases import latent_call, latent_phase
from ..common import paths
from ..common.files import atomic_write_json
from ..common.identity import SCHEMA
from ..common.identity import key as identity_key
from ..common.log import get_logger
from ..core.config import TrainConfig
from ..core.provenance import provenance
from ..core.train import load_model, train
from ..experiments.profiles import get_profile
from ..experiments.registry import ARCH_EXPERIMENTS, experiment
from .calibrations import calibration_path, latent_calibration_key, phantom_plan
from .reading import MissingResult
from .weights import pretrained, shipped, shipped_sets

__all__ = ["compute_latent_calibration", "compute_noise_calibration", "compute_sampler_calibration", "compute_phase_a",
           "SAMPLER_CANDIDATES", "TRIAL_COUNTS"]

log = get_logger()


def compute_latent_calibration(sizes=CALIBRATION_SIZES, progress: bool = True) -> Path:
    """Measure every phantom (resuming from scratch), fit the thresholds on ``fit``, score both rules on both splits,
    write ``latent-<key>.json``; returns its path."""
    key = latent_calibration_key(sizes)
    work = paths.scratch_dir() / "calibration" / f"latent-{key}"
    work.mkdir(parents=True, exist_ok=True)
    rows = []
    todo = [(size, split, p) for size in sizes for split in ("fit", "heldout") for p in phantom_plan(size, split)]
    for size, split, p in tqdm(todo, desc="phantoms", disable=not progress):
        umap = p.seed in sorted({q.seed for q in phantom_plan(size, split)})[:size.umap_seeds]
        pkey = identity_key("phantom", PHANTOM_VERSION, p.to_dict(), umap, [m[0] for m in METRICS])
        f = work / f"{pkey}.json"
        try:
            m = json.loads(f.read_text())
        except (OSError, json.JSONDecodeError):   # not measured yet, or cut off while written
            m = phantom_metrics(p, umap=umap)
            atomic_write_json(f, m)
        rows.append({"size": size.name, "split": split, "kind": p.kind, "truth": p.truth, "label": p.label(),
                     "phantom": p.to_dict(), **m, "conditions": p.side ** 2})
    fit = [r for r in rows if r["split"] == "fit" and r["phantom"]["noise"] <= NOISE_RANGE]
    th = fit_thresholds(fit)
    for r in rows:
        r["call"], r["old_call"] = latent_call(r, th), old_call(r)
    out = {"schema": SCHEMA, "key": key, "kind": "latent-calibration", "phantom_version": PHANTOM_VERSION,
           "noise_range": NOISE_RANGE, "sizes": [asdict(s) for s in sizes], "metrics": [list(m) for m in METRICS],
           "thresholds": asdict(th),
           "accuracy": {split: {"in_range": rule_accuracy([r for r in rows if r["split"] == split
                                                           and r["phantom"]["noise"] <= NOISE_RANGE], th),
                                "beyond": rule_accuracy([r for r in rows if r["split"] == split
                                                         and r["phantom"]["noise"] > NOISE_RANGE], th)}
                        for split in ("fit", "heldout")},
           "rows": rows, "provenance": provenance(None, reads_results=False)}
    path = calibration_path("latent", key=key)
    atomic_write_json(path, out)
    held = out["accuracy"]["heldout"]["in_range"]
    log.info(f"latent calibration {key}: thresholds {out['thresholds']}; held-out accuracy "
             f"{held['new']['all']:.3f} (old rule {held['old']['all']:.3f})")
    return path


def _shipped_checkpoints(profile: str):
    """``(arch, seed, manifest entry, diffusion loader)`` for every shipped checkpoint of ``profile``."""
    sets = shipped_sets(profile)
    if not sets:
        raise MissingResult(f"no shipped weights of profile {profile} under data/pretrained/")
    for arch, seed in sets:
        man = shipped(profile, arch, seed)
        for e in man["checkpoints"]:
            yield arch, seed, man, e, (lambda e=e, a=arch, s=seed: pretrained(profile, arch=a, seed=s, step=e["step"]))


#: the numbers of noise images whose mean the trial-averaged read-out's convergence is measured at
TRIAL_COUNTS = (1, 2, 4, 8, 16, 32)


def compute_noise_calibration(profile: str, trials: int = 16, progress: bool = True) -> Path:
    """The noise range of real latents and the convergence of the trial-averaged read-out, at every shipped checkpoint
    of ``profile`` (module docstring); returns the path of ``noise-<profile>.json``."""
    rows = []
    for arch, seed, man, e, load in tqdm(list(_shipped_checkpoints(profile)), desc="checkpoints",
                                        disable=not progress):
        cfg = TrainConfig.from_dict(man["config"])
        a = man["analysis"]
        grid = latent_grid(cfg.lattice, a["max_conditions"])
        X = trial_activations(load(), grid, layer=a["layer"], t=a["t"], seed=a["seed"], trials=trials)
        ratio = noise_ratio(X)
        conv = {}
        for k in (k for k in TRIAL_COUNTS if k <= trials):
            conv[str(k)] = latent_phase(X[:k].mean(0), grid, period=cfg.lattice.period)
        rows.append({"set": f"{profile}-{arch}-seed{seed}", "arch": arch, "seed": seed, "step": e["step"],
                     "label": e["label"], "noise_ratio": ratio, "noise_fraction": float(np.sqrt(ratio)),
                     "independent": conv["1"], "mean_by_trials": conv})
    out = {"schema": SCHEMA, "kind": "noise-calibration", "profile": profile, "trials": trials, "rows": rows,
           "provenance": provenance(None, reads_results=False)}
    path = calibration_path("noise", profile)
    atomic_write_json(path, out)
    return path


#: the sampler calibration's candidates: (label, sampler, steps, eta); the first is the reference
SAMPLER_CANDIDATES = (("DDPM 1000", "ddpm", 0, 0.0),
                      ("DDIM 25, η=0", "ddim", 25, 0.0), ("DDIM 50, η=0", "ddim", 50, 0.0),
                      ("DDIM 100, η=0", "ddim", 100, 0.0), ("DDIM 25, η=1", "ddim", 25, 1.0),
                      ("DDIM 50, η=1", "ddim", 50, 1.0), ("DDIM 100, η=1", "ddim", 100, 1.0))


def compute_sampler_calibration(profile: str, n: int | None = None, progress: bool = True, device="cpu",
                                only_final: bool = False, steps=None) -> Path:
    """Accuracy and failure fractions of ``n`` samples (default: the profile's analysis) under each of
    :data:`SAMPLER_CANDIDATES` at every shipped checkpoint of ``profile`` (``only_final``: the last of each set;
    ``steps``: the checkpoints at these steps), same requested centres and seed for all; resumable per (checkpoint,
    sampler). The calibration written holds every shipped checkpoint whose candidates are all computed, by this
    call or an earlier one, so that processes given other checkpoints can run side by side and the last to finish
    writes the union. Returns the path of ``sampler-<profile>.json``."""
    a = get_profile(profile).analysis
    n = n or a.n_samples
    work = paths.scratch_dir() / "calibration" / f"sampler-{profile}-n{n}"
    work.mkdir(parents=True, exist_ok=True)
    shipped_ckpts = list(_shipped_checkpoints(profile))
    if steps is not None:
        have = sorted({c[3]["step"] for c in shipped_ckpts})
        bad = [s for s in steps if s not in have]
        if bad or not steps:
            raise ValueError(f"steps must be steps of shipped {profile} checkpoints ({have}), got {list(steps)}")
    todo = [c for c in shipped_ckpts if (not only_final or c[3]["label"] == "final")
            and (steps is None or c[3]["step"] in steps)]

    def result_file(arch, seed, e, name, k, eta):
        return work / f"{arch}-seed{seed}-step{e['step']:07d}-{name}{k}-eta{eta:g}.json"

    bar = tqdm(total=len(todo) * len(SAMPLER_CANDIDATES), desc="samplers", disable=not progress)
    for arch, seed, man, e, load in todo:
        cfg = TrainConfig.from_dict(man["config"])
        diffusion = None
        for _, name, k, eta in SAMPLER_CANDIDATES:
            f = result_file(arch, seed, e, name, k, eta)
            if _read_json(f) is None:
                if diffusion is None:
                    diffusion = load().to(device)
                sc, _ = sample_and_score(diffusion, cfg.lattice.centers(), n, seed=a.seed, sampler=name,
                                         steps=k or None, eta=eta, tol=a.tol, periodic=cfg.lattice.periodic)
                atomic_write_json(f, sc.summary())
            bar.update()
    bar.close()
    rows = []
    for arch, seed, man, e, _ in shipped_ckpts:
        got = [(c, _read_json(result_file(arch, seed, e, c[1], c[2], c[3]))) for c in SAMPLER_CANDIDATES]
        if any(res is None for _, res in got):
            continue    # not computed yet (by this call or another): left out, and the coverage says so
        rows += [{"set": f"{profile}-{arch}-seed{seed}", "arch": arch, "seed": seed, "step": e["step"],
                  "label": e["label"], "sampler": label, "name": name, "steps": k, "eta": eta, **res}
                 for (label, name, k, eta), res in got]
    out = {"schema": SCHEMA, "kind": "sampler-calibration", "profile": profile, "n": n, "seed": a.seed,
           "tol": a.tol, "candidates": [list(c) for c in SAMPLER_CANDIDATES], "rows": rows,
           "provenance": provenance(device, reads_results=False)}
    path = calibration_path("sampler", profile)
    atomic_write_json(path, out)
    return path


def _read_json(path: Path):
    """A stored per-checkpoint result, or None when it is missing or unreadable (then it is computed again)."""
    try:
        return json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError):
        return None


def compute_phase_a(profile: str, trials: int | None = None, progress: bool = True) -> Path:
    """The phase-A test under the calibrated rule: the untrained network (step 0: the initial weights of every
    `phases` run of both architectures, made by training to step 0 in scratch) read at layer 4 under each calibrated
    read-out, ``trials`` images for the mean (default: the calibrated analysis's, else 16); returns the path of
    ``phase-a-<profile>.json``."""
    prof = get_profile(profile)
    a = prof.calibrated or prof.analysis
    trials = trials or a.trials
    rows = []
    todo = [(arch, label, cfg) for arch in ("additive", "film")
            for label, cfg in experiment(ARCH_EXPERIMENTS[arch]).runs(profile).items()]
    for arch, label, cfg in tqdm(todo, desc="untrained networks", disable=not progress):
        where = paths.scratch_dir() / "calibration" / "untrained" / f"{cfg.name}-{cfg.key()}"
        ckpt = where / "ckpt_0000000.pt"
        if not ckpt.exists():
            train(cfg, where, progress=False, until=0)
        diffusion, _ = load_model(ckpt, which=a.weights)
        grid = latent_grid(cfg.lattice, a.max_conditions)
        X = trial_activations(diffusion, grid, layer=a.layer, t=a.t, seed=a.seed, trials=trials)
        shared = collect_activations(diffusion, grid, layer=a.layer, t=a.t, seed=a.seed, noise="shared")
        reads = {"shared": shared, "independent": X[0], "mean": X.mean(0)}
        rows.append({"arch": arch, "label": label, "seed": cfg.seed, "run_key": cfg.key(),
                     "noise_ratio": noise_ratio(X),
                     **{noise: latent_phase(acts, grid, period=cfg.lattice.period) for noise, acts in reads.items()}})
    out = {"schema": SCHEMA, "kind": "phase-a", "profile": profile, "layer": a.layer, "t": a.t, "trials": trials,
           "rows": rows, "provenance": provenance(None, reads_results=False)}
    path = calibration_path("phase-a", profile)
    atomic_write_json(path, out)
    return path
