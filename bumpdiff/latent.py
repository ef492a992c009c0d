"""Latent-manifold analysis: activations over a grid of conditions, UMAP, order parameters, phase call.

Order parameters (:func:`order_parameters`), for activations A (M, D) of M conditions with centres (μx, μy):

- ``r2_x``, ``r2_y`` — the paper's measure: in-sample R² of a linear regression from the 3-D UMAP embedding
  of A to μx (resp. μy).
- ``knn_r2_x``, ``knn_r2_y`` — computed on the raw activations, no UMAP: 5-fold cross-validated R² of a
  k-nearest-neighbour regression (k = 10, Euclidean) from A to μx (resp. μy). High when neighbours in the
  latent have neighbouring centres (an *ordered* manifold), ~0 or below when they do not.
- ``trustworthiness`` — sklearn's trustworthiness of A as an embedding of the true (μx, μy) grid (k = 10).
- ``intrinsic_dim`` — Levina–Bickel maximum-likelihood intrinsic dimension of A (k = 10, averaged inverse,
  MacKay–Ghahramani): ≈ 2 for a 2-D manifold (ordered or not), large for structureless activations.

The phase call (:func:`call_phase`) uses the thresholds of :data:`PHASE_THRESHOLDS`, all defined there:

- from generation (a :class:`~bumpdiff.evaluate.Score`): **C** if accuracy ≥ ``acc_c``; else **B** if
  one-bump samples (correct + single-wrong) ≥ ``single_b``; else **A**;
- from representation (order parameters): **C** if min(knn_r2_x, knn_r2_y) ≥ ``knn_r2_c``; else **B** if
  intrinsic_dim ≤ ``dim_b`` (a low-dimensional manifold, but not ordered); else **A**;
- combined: the earlier of the two (a checkpoint is in C only when it both generates correctly and has an
  ordered latent). The epoch or step never enters.
"""
from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from . import paths
from .data import Lattice, render
from .diffusion import Diffusion
from .evaluate import Score, sample_and_score, score
from .model import resolve_layer
from .train import TrainConfig, list_checkpoints, load_model
from .utils import atomic_savez, atomic_write_json, check_range, config_hash, to_plain

__all__ = ["collect_activations", "embed", "order_parameters", "call_phase", "PhaseThresholds", "PHASE_THRESHOLDS",
           "phase_sequence", "describe_sequence", "phase_onsets", "merge_bundles",
           "AnalysisConfig", "ANALYSIS_PROFILES", "layer_timestep_sweep", "analyze", "analyze_checkpoint", "load_bundle", "bundle_dir",
           "UMAP_PARAMS"]

UMAP_PARAMS = dict(n_components=3, n_neighbors=15, min_dist=0.1, metric="euclidean", init="spectral",
                   n_epochs=200, low_memory=True)
KNN_K = 10
KNN_FOLDS = 5
ID_K = 10


@dataclass(frozen=True)
class PhaseThresholds:
    acc_c: float = 0.5        # generation: accuracy at or above → C
    single_b: float = 0.5     # generation: fraction of one-bump samples at or above → at least B
    knn_r2_c: float = 0.8     # representation: min(knn_r2_x, knn_r2_y) at or above → C
    dim_b: float = 4.0        # representation: intrinsic dimension at or below → at least B


PHASE_THRESHOLDS = PhaseThresholds()


# ---------------------------------------------------------------------------------------------- activations

@torch.no_grad()
def collect_activations(diffusion: Diffusion, centers, layer="down3", t: int = 500, mode: str = "noise",
                        seed: int = 0, batch_size: int = 512, sampler_steps: int = 20) -> np.ndarray:
    """Activations (M, D) of ``layer`` for each condition in ``centers`` (M, 2), flattened.

    modes: ``"noise"`` — one forward pass at timestep ``t`` on one shared noise image (identical for all
    conditions, so only the condition varies); ``"noised"`` — on the ground-truth image of each condition
    noised to ``t`` with one shared noise draw; ``"sampling"`` — the mean over the steps of a deterministic
    DDIM run of ``sampler_steps`` steps from one shared x_T.
    """
    if mode not in ("noise", "noised", "sampling"):
        raise ValueError(f"mode must be 'noise', 'noised' or 'sampling', got {mode!r}")
    T = diffusion.T
    check_range("t", t, lo=0, hi=T - 1, integer=True)
    name = resolve_layer(layer)
    model = diffusion.model
    device = next(model.parameters()).device
    centers = torch.as_tensor(np.asarray(centers), dtype=torch.float32)
    M = centers.shape[0]
    n = model.cfg.image_size
    g = torch.Generator().manual_seed(seed)
    shared = torch.randn((1, model.cfg.in_channels, n, n), generator=g)
    if mode == "sampling":
        _, cap = diffusion.sample(centers, sampler="ddim", steps=sampler_steps, eta=0.0,
                                  x_T=shared.expand(M, -1, -1, -1), capture_layers=[name], batch_size=batch_size)
        acts = torch.stack(list(cap[name].values())).mean(0)
        return acts.reshape(M, -1).numpy()
    was = model.training
    model.eval()
    out = []
    try:
        for s in range(0, M, batch_size):
            c = centers[s:s + batch_size]
            b = c.shape[0]
            tt = torch.full((b,), int(t), dtype=torch.long)
            if mode == "noise":
                x = shared.expand(b, -1, -1, -1)
            else:
                x = diffusion.q_sample(render(c, n, 1.0).to(device), tt.to(device), shared.expand(b, -1, -1, -1).to(device))
            with model.capture([name]) as store:
                model(x.to(device), tt.to(device), c.to(device))
            out.append(store[name].reshape(b, -1).cpu())
    finally:
        model.train(was)
    return torch.cat(out).numpy()


# ------------------------------------------------------------------------------------------ order parameters

def embed(activations, seed: int = 0) -> np.ndarray:
    """(M, 3) UMAP embedding of (M, D) activations, reproducible for a given ``seed`` (single-threaded)."""
    import umap  # imported lazily: numba compilation takes a few seconds

    a = np.asarray(activations, dtype=np.float32)
    if a.ndim != 2 or a.shape[0] < 5:
        raise ValueError(f"activations must be (M, D) with M >= 5, got {a.shape}")
    nn_ = min(UMAP_PARAMS["n_neighbors"], a.shape[0] - 1)
    params = dict(UMAP_PARAMS, n_neighbors=nn_)
    if a.shape[0] <= params["n_components"] + 1:
        params["init"] = "random"
    reducer = umap.UMAP(random_state=int(seed), n_jobs=1, **params)
    with np.errstate(all="ignore"):
        import warnings
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return reducer.fit_transform(a).astype(np.float32)


def _r2(y, pred):
    ss = np.sum((y - y.mean()) ** 2)
    return float(1 - np.sum((y - pred) ** 2) / ss) if ss > 0 else float("nan")


def _linear_r2(X, y):
    A = np.c_[X, np.ones(len(X))]
    coef, *_ = np.linalg.lstsq(A, y, rcond=None)
    return _r2(y, A @ coef)


def _knn_r2(X, y, k=KNN_K, folds=KNN_FOLDS, seed=0):
    from sklearn.neighbors import KNeighborsRegressor
    from sklearn.model_selection import KFold, cross_val_predict

    k = min(k, len(X) - len(X) // folds - 1)
    pred = cross_val_predict(KNeighborsRegressor(n_neighbors=k), X, y,
                             cv=KFold(folds, shuffle=True, random_state=seed))
    return _r2(y, pred)


def intrinsic_dim(X, k: int = ID_K) -> float:
    """Levina–Bickel MLE of intrinsic dimension with the MacKay–Ghahramani averaging of inverses."""
    from sklearn.neighbors import NearestNeighbors

    X = np.asarray(X, dtype=np.float64)
    k = min(k, len(X) - 1)
    d, _ = NearestNeighbors(n_neighbors=k + 1).fit(X).kneighbors(X)
    d = np.maximum(d[:, 1:], 1e-12)
    inv = np.log(d[:, -1:] / d[:, :-1]).sum(1) / (k - 1)
    inv = inv[np.isfinite(inv) & (inv > 0)]
    return float(1.0 / inv.mean()) if inv.size else float("nan")


def order_parameters(activations, centers, seed: int = 0, embedding: np.ndarray | None = None) -> dict:
    """Order parameters of a latent (see the module docstring). ``embedding`` reuses a UMAP embedding."""
    from sklearn.manifold import trustworthiness

    A = np.asarray(activations, dtype=np.float64)
    C = np.asarray(centers, dtype=np.float64)
    if A.ndim != 2 or C.shape != (A.shape[0], 2):
        raise ValueError(f"activations (M, D) and centers (M, 2) must match, got {A.shape} and {C.shape}")
    # features on a common scale: centre, then divide by the overall std (keeps the geometry)
    A = A - A.mean(0)
    sd = A.std()
    A = A / sd if sd > 0 else A
    E = embed(A, seed=seed) if embedding is None else np.asarray(embedding)
    k = min(KNN_K, len(A) // 2 - 1)
    return {
        "r2_x": _linear_r2(E, C[:, 0]), "r2_y": _linear_r2(E, C[:, 1]),
        "knn_r2_x": _knn_r2(A, C[:, 0], seed=seed), "knn_r2_y": _knn_r2(A, C[:, 1], seed=seed),
        "trustworthiness": float(trustworthiness(C, A, n_neighbors=k)),
        "intrinsic_dim": intrinsic_dim(A),
        "embedding": E,
    }


def _gen_phase(s, th: PhaseThresholds):
    acc = s["accuracy"] if isinstance(s, dict) else s.accuracy
    single = (s["frac_single_wrong"] if isinstance(s, dict) else s.frac_single_wrong) + acc
    return "C" if acc >= th.acc_c else ("B" if single >= th.single_b else "A")


def _rep_phase(o, th: PhaseThresholds):
    if min(o["knn_r2_x"], o["knn_r2_y"]) >= th.knn_r2_c:
        return "C"
    return "B" if o["intrinsic_dim"] <= th.dim_b else "A"


def call_phase(score: Score | dict | None = None, order: dict | None = None,
               thresholds: PhaseThresholds = PHASE_THRESHOLDS, detail: bool = False):
    """Phase ``"A"``, ``"B"`` or ``"C"`` from a generation score and/or order parameters (module docstring).

    With ``detail=True`` returns ``(phase, phase_generation, phase_representation)`` (None where not given).
    """
    if score is None and order is None:
        raise ValueError("call_phase needs a score, order parameters, or both")
    g = _gen_phase(score, thresholds) if score is not None else None
    r = _rep_phase(order, thresholds) if order is not None else None
    phase = min(p for p in (g, r) if p is not None)
    return (phase, g, r) if detail else phase


def phase_sequence(records: list[dict], key: str = "phase") -> list[dict]:
    """The changes of a phase call over training: one entry per stretch of consecutive checkpoints with the same
    call, ``{"phase", "step", "epoch", "images_seen", "until_step"}`` (``step``… of the stretch's first
    checkpoint, ``until_step`` of its last). ``key`` picks the call: ``"phase"`` (combined),
    ``"phase_generation"`` or ``"phase_representation"``. Records are sorted by step first."""
    if key not in ("phase", "phase_generation", "phase_representation"):
        raise ValueError(f"key must be 'phase', 'phase_generation' or 'phase_representation', got {key!r}")
    out: list[dict] = []
    for r in sorted(records, key=lambda r: r["step"]):
        if not out or out[-1]["phase"] != r[key]:
            out.append({"phase": r[key], "step": r["step"], "epoch": r["epoch"], "images_seen": r["images_seen"]})
        out[-1]["until_step"] = r["step"]
    return out


def describe_sequence(seq: list[dict]) -> str:
    """``"A → B (step 600) → A (step 4,000)"`` for a :func:`phase_sequence`."""
    return " → ".join(e["phase"] if i == 0 else f"{e['phase']} (step {e['step']:,})" for i, e in enumerate(seq))


def phase_onsets(records: list[dict], key: str = "phase") -> dict:
    """First checkpoint record called B and first called C (None where never), by the call ``key``."""
    recs = sorted(records, key=lambda r: r["step"])
    return {ph: next((r for r in recs if r[key] == ph), None) for ph in ("B", "C")}


# ----------------------------------------------------------------------------------------- over learning

@dataclass(frozen=True)
class AnalysisConfig:
    """Every setting of an analysis, explicit (part of the results key)."""

    n_samples: int = 256            # generated samples per checkpoint, at random lattice centres
    sampler: str = "ddpm"           # "ddpm" (ancestral, all T steps) or "ddim"
    sampler_steps: int = 50         # DDIM steps (ignored for ddpm)
    eta: float = 0.0                # DDIM stochasticity
    tol: float = 1.0                # evaluator tolerance (pixels)
    layer: str = "down3"            # "layer 4"
    t: int = 500                    # timestep at which the latent is read
    mode: str = "noise"             # activation mode (collect_activations)
    max_conditions: int = 1024      # latent grid: the lattice, subsampled evenly to at most this many
    seed: int = 0                   # sampling, noise and UMAP seed
    weights: str = "ema"            # "ema" or "model"
    keep_samples: int = 16          # sample images kept per checkpoint in the bundle
    every: int = 1                  # analyse every k-th checkpoint (the last is always analysed)


ANALYSIS_PROFILES = {
    "smoke": AnalysisConfig(n_samples=16, sampler="ddim", sampler_steps=5, t=25, max_conditions=64, keep_samples=4),
    # CPU: DDIM (deterministic, 50 steps) over learning, to keep one checkpoint's analysis near a minute;
    # the final model is also scored with full DDPM (README, Results)
    "cpu": AnalysisConfig(n_samples=256, sampler="ddim", sampler_steps=50, t=500, max_conditions=1024),
    "paper": AnalysisConfig(n_samples=512, sampler="ddpm", t=500, max_conditions=1024),
}


def _grid(lattice: Lattice, max_conditions: int) -> np.ndarray:
    """The latent grid: the lattice itself if small enough, else a sub-lattice evenly spaced on each axis with
    about √max_conditions values per axis (so lattices of different densities are read on one spatial grid)."""
    if len(lattice) <= max_conditions:
        return lattice.centers()
    side = int(np.floor(np.sqrt(max_conditions)))
    kx = min(lattice.kx, side)
    ky = min(lattice.ky, max_conditions // kx)
    xs = lattice.xs()[np.linspace(0, lattice.kx - 1, kx).round().astype(int)]
    ys = lattice.ys()[np.linspace(0, lattice.ky - 1, ky).round().astype(int)]
    gy, gx = np.meshgrid(ys, xs, indexing="ij")
    return np.stack([gx.ravel(), gy.ravel()], axis=1)


def analyze_checkpoint(diffusion: Diffusion, cfg: TrainConfig, acfg: AnalysisConfig, device="cpu") -> dict:
    """Score generations and compute the order parameters and phase of one model. Returns a record whose
    array entries (``embedding``, ``samples``, ``sample_centers``, ``grid``) are numpy arrays."""
    t0 = time.perf_counter()
    sc, imgs = sample_and_score(diffusion, cfg.lattice.centers(), acfg.n_samples, seed=acfg.seed, sampler=acfg.sampler,
                                steps=acfg.sampler_steps, eta=acfg.eta, tol=acfg.tol)
    t_sample = time.perf_counter() - t0
    req = sc.requested
    lattice = cfg.lattice
    grid = _grid(lattice, acfg.max_conditions)
    acts = collect_activations(diffusion, grid, layer=acfg.layer, t=acfg.t, mode=acfg.mode, seed=acfg.seed)
    op = order_parameters(acts, grid, seed=acfg.seed)
    phase, pg, pr = call_phase(sc, op, detail=True)
    rec = sc.summary() | {k: v for k, v in op.items() if k != "embedding"}
    rec |= {"phase": phase, "phase_generation": pg, "phase_representation": pr, "sample_seconds": t_sample,
            "labels": {lab: int((sc.labels == lab).sum()) for lab in ("none", "multiple", "single_wrong", "correct")}}
    k = acfg.keep_samples
    arrays = {"embedding": op["embedding"].astype(np.float32), "grid": grid.astype(np.float32),
              "samples": imgs[:k, 0].numpy().astype(np.float16), "sample_centers": req[:k].astype(np.float32),
              "sample_estimated": sc.estimated[:k].astype(np.float32),
              "requested": req.astype(np.float32), "estimated": sc.estimated.astype(np.float32),
              "n_bumps": sc.n_bumps.astype(np.int16)}
    return rec, arrays


def layer_timestep_sweep(diffusion: Diffusion, grid, layers=("down1", "down2", "down3", "mid", "up1"),
                         timesteps=None, mode: str = "noise", seed: int = 0, progress: bool = True) -> list[dict]:
    """Order parameters of several layers at several timesteps (robustness of the latent read-out).

    ``timesteps`` defaults to 0.1, 0.3, 0.5, 0.7 and 0.9 of T (100 … 900 for T = 1000)."""
    if timesteps is None:
        timesteps = [int(round(f * diffusion.T)) for f in (0.1, 0.3, 0.5, 0.7, 0.9)]
    out = []
    combos = [(l, t) for l in layers for t in timesteps]
    for layer, t in tqdm(combos, desc="layers × timesteps", disable=not progress):
        acts = collect_activations(diffusion, grid, layer=layer, t=t, mode=mode, seed=seed)
        op = order_parameters(acts, grid, seed=seed)
        out.append({"layer": resolve_layer(layer), "t": int(t)} | {k: v for k, v in op.items() if k != "embedding"})
    return out


def bundle_dir(run_dir: Path, acfg: AnalysisConfig) -> Path:
    """Where the results bundle of (run, analysis settings) lives: results/<run dir name>/<analysis hash>."""
    return paths.results_dir() / Path(run_dir).name / f"analysis-{config_hash(acfg)}"


def analyze(run_dir, acfg: AnalysisConfig | str = "cpu", progress: bool = True, device="cpu",
            out_dir: Path | None = None) -> Path:
    """Analyse every checkpoint of a run and write its results bundle (``bundle.json`` + ``arrays.npz``).

    Each checkpoint's result is saved as soon as it is done (under ``data/analysis``), so an interrupted
    analysis resumes where it stopped. Returns the bundle directory.
    """
    if isinstance(acfg, str):
        if acfg not in ANALYSIS_PROFILES:
            raise ValueError(f"analysis profile must be one of {sorted(ANALYSIS_PROFILES)}, got {acfg!r}")
        acfg = ANALYSIS_PROFILES[acfg]
    run_dir = Path(run_dir)
    cfg = TrainConfig.from_dict(json.loads((run_dir / "config.json").read_text()))
    ckpts = list_checkpoints(run_dir)
    if not ckpts:
        raise ValueError(f"no checkpoints in {run_dir}")
    chosen = ckpts[::acfg.every]
    if chosen[-1] != ckpts[-1]:
        chosen.append(ckpts[-1])
    key = config_hash(acfg)
    work = paths.data_dir() / "analysis" / run_dir.name / f"analysis-{key}"
    work.mkdir(parents=True, exist_ok=True)
    records, arrays = [], {}
    for step, path in tqdm(chosen, desc=f"analyze {run_dir.name}", disable=not progress):
        jpath, npath = work / f"step_{step:07d}.json", work / f"step_{step:07d}.npz"
        rec = arr = None
        if jpath.exists() and npath.exists():
            try:
                rec = json.loads(jpath.read_text())
                with np.load(npath) as z:
                    arr = {k: z[k] for k in z.files}
            except Exception:  # corrupt partial result: recompute
                rec = arr = None
        if rec is None:
            diff, st = load_model(path, which=acfg.weights, device=device)
            rec, arr = analyze_checkpoint(diff, cfg, acfg, device=device)
            rec |= {"step": int(st["step"]), "epoch": float(st["epoch"]), "images_seen": int(st["images_seen"]),
                    "train_seconds": float(st["elapsed_s"])}
            atomic_savez(npath, **arr)
            atomic_write_json(jpath, rec)
        records.append(rec)
        for k_, v in arr.items():
            arrays[f"{k_}_{step:07d}"] = v
    out = Path(out_dir) if out_dir is not None else bundle_dir(run_dir, acfg)
    bundle = {"run": run_dir.name, "run_hash": cfg.hash(), "analysis_hash": key, "config": cfg.to_dict(),
              "analysis": asdict(acfg), "thresholds": asdict(PHASE_THRESHOLDS), "umap": UMAP_PARAMS,
              "checkpoints": records, "loss": _loss_log(run_dir), "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    if _same_bundle(out, bundle, arrays):  # nothing new: keep the committed files (and their "created") as they are
        return out
    atomic_savez(out / "arrays.npz", **arrays)
    atomic_write_json(out / "bundle.json", bundle)
    return out


def _json_text(obj) -> str:
    """``obj`` as canonical JSON text: compares records so that NaN equals NaN and key order does not matter."""
    return json.dumps(to_plain(obj), sort_keys=True)


def _same_bundle(out: Path, bundle: dict, arrays: dict) -> bool:
    """Whether the bundle at ``out`` already holds exactly ``bundle`` (up to its ``created`` time) and ``arrays``."""
    try:
        old, old_arrays = load_bundle(out)
    except Exception:  # absent or unreadable: rewrite
        return False
    def without_created(b):
        return {k: v for k, v in b.items() if k != "created"}
    if _json_text(without_created(old)) != _json_text(without_created(bundle)) or old_arrays.keys() != arrays.keys():
        return False
    def same(a, b):
        b = np.asarray(b)
        return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()
    return all(same(old_arrays[k], arrays[k]) for k in arrays)


def _loss_log(run_dir: Path, max_points: int = 400) -> dict:
    p = Path(run_dir) / "log.jsonl"
    if not p.exists():
        return {}
    recs = [json.loads(l) for l in p.read_text().splitlines() if l.strip()]
    if len(recs) > max_points:
        recs = [recs[i] for i in np.linspace(0, len(recs) - 1, max_points).round().astype(int)]
    return {k: [r[k] for r in recs] for k in ("step", "epoch", "loss", "images_per_s", "elapsed_s")}


def load_bundle(bundle_path) -> tuple[dict, dict]:
    """(bundle JSON, arrays) of a results bundle directory."""
    bundle_path = Path(bundle_path)
    bundle = json.loads((bundle_path / "bundle.json").read_text())
    with np.load(bundle_path / "arrays.npz") as z:
        arrays = {k: z[k] for k in z.files}
    return bundle, arrays


def merge_bundles(bundle_paths) -> tuple[dict, dict]:
    """One (bundle, arrays) from several bundles of the same run analysed in pieces (e.g. every 5th checkpoint
    first, then a finer window), as :func:`load_bundle` returns them.

    The bundles must agree on the run, its config, the phase thresholds and every analysis setting except
    ``every`` (which only selects checkpoints; a checkpoint's result does not depend on it); otherwise a
    ValueError names what differs. A step analysed in several bundles must have the same record in each.
    The merged bundle's ``analysis["every"]`` is None and ``analysed_steps`` lists the steps it holds."""
    bundle_paths = list(bundle_paths)
    loaded = [load_bundle(p) for p in bundle_paths]
    if not loaded:
        raise ValueError("bundle_paths must name at least one bundle")
    first = loaded[0][0]

    def must_agree(b):  # `every` only selects checkpoints, so it may differ
        return dict({k: b[k] for k in ("run", "config", "thresholds")},
                    analysis={k: v for k, v in b["analysis"].items() if k != "every"})
    for (b, _), p in zip(loaded[1:], bundle_paths[1:]):
        for what, v in must_agree(b).items():
            if v != must_agree(first)[what]:
                raise ValueError(f"bundle {p} differs from {bundle_paths[0]} in its {what}; cannot merge")
    records, arrays = {}, {}
    for b, arr in loaded:
        for r in b["checkpoints"]:
            if r["step"] in records and _json_text(records[r["step"]]) != _json_text(r):
                raise ValueError(f"step {r['step']} has different results in two bundles; cannot merge")
            records[r["step"]] = r
        arrays |= arr
    longest_loss = max((b.get("loss") or {} for b, _ in loaded), key=lambda l: len(l.get("step", [])))
    merged = dict(first, checkpoints=[records[s] for s in sorted(records)], loss=longest_loss,
                  analysis=dict(first["analysis"], every=None), analysed_steps=sorted(records),
                  merged_from=[Path(p).name for p in bundle_paths])
    return merged, arrays
