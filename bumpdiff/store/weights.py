"""Shipped weights: a few trained checkpoints small enough to commit, loadable in a second with no training.

A *shipped set* is one training run's EMA weights at a few checkpoints chosen by the run's phase call (not by
hand): for every phase, the middle checkpoint of the longest stretch that the combined call and the generation
call both put in that phase (:func:`bumpdiff.analysis.phases.representatives`), plus the last analysed checkpoint
(``"final"``). Each is stored in half precision as a safetensors file (no pickle), beside a
``manifest.json`` holding the run's config, the analysis bundle the checkpoints were chosen from, each file's
sha256 and the numbers that bundle measured on the full-precision weights (so a test can check that the
shipped weights reproduce them), and the provenance of the training and of the export.

Layout: ``data/pretrained/<profile>-<arch>-seed<seed>/{manifest.json, step_XXXXXXX.safetensors}``.

    >>> diffusion = bumpdiff.pretrained("cpu", phase="final")      # a ready Diffusion, fp32, eval mode
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from ..analysis.activations import collect_activations, latent_grid
from ..analysis.order import order_parameters
from ..analysis.phases import representatives
from ..common import paths
from ..common.files import atomic_write_json, atomic_write_text, file_sha256
from ..common.identity import SCHEMA
from ..core.config import TrainConfig
from ..core.diffusion import Diffusion
from ..core.provenance import provenance
from ..core.train import list_checkpoints, load_checkpoint, load_model
from .bundles import load_bundle

__all__ = ["pretrained", "shipped", "shipped_dir", "shipped_sets", "choose_checkpoints", "export", "own_bundle",
           "PretrainedMissing",
           "REFERENCE_FIELDS", "MAX_FILE_BYTES"]

REFERENCE_FIELDS = ("accuracy", "acc_x", "acc_y", "knn_r2_x", "knn_r2_y", "intrinsic_dim", "trustworthiness")
MAX_FILE_BYTES = 5 * 2 ** 20


class PretrainedMissing(LookupError):
    """No shipped set (or no checkpoint of that phase in it); the message names what exists."""


def shipped_dir(profile: str = "cpu", arch: str = "film", seed: int = 0) -> Path:
    return paths.data_dir() / "pretrained" / f"{profile}-{arch}-seed{seed}"


def shipped_sets(profile: str) -> list[tuple[str, int]]:
    """``(arch, seed)`` of every shipped set of ``profile``, read from their manifests, in folder-name order."""
    manifests = [json.loads(p.read_text()) for p in sorted((paths.data_dir() / "pretrained").glob("*/manifest.json"))]
    return [(m["arch"], int(m["seed"])) for m in manifests if m["profile"] == profile]


def shipped(profile: str = "cpu", arch: str = "film", seed: int = 0) -> dict:
    """The manifest of a shipped set (raises :class:`PretrainedMissing` naming the sets that exist)."""
    p = shipped_dir(profile, arch, seed) / "manifest.json"
    if not p.exists():
        have = sorted(q.parent.name for q in (paths.data_dir() / "pretrained").glob("*/manifest.json"))
        raise PretrainedMissing(f"no shipped weights for profile={profile!r}, arch={arch!r}, seed={seed}; "
                                f"shipped sets: {have or 'none'}")
    return json.loads(p.read_text())


def _entry(manifest: dict, phase: str | None, step: int | None) -> dict:
    entries = manifest["checkpoints"]
    if step is not None:
        hit = [e for e in entries if e["step"] == step]
        if not hit:
            raise PretrainedMissing(f"step must be one of {[e['step'] for e in entries]}, got {step}")
        return hit[0]
    hit = [e for e in entries if e["label"] == phase]
    if not hit:
        raise PretrainedMissing(f"phase must be one of {[e['label'] for e in entries]}, got {phase!r}")
    return hit[0]


def pretrained(profile: str = "cpu", phase: str | None = "final", arch: str = "film", seed: int = 0,
               step: int | None = None, device="cpu", info: bool = False):
    """A ready :class:`Diffusion` (fp32, eval mode) from shipped weights: the checkpoint labelled ``phase``
    (a phase of the run's call, e.g. ``"A"``, ``"B"``, ``"C"``, or ``"final"``) or the one at ``step``. With
    ``info=True`` returns ``(diffusion, entry)`` where ``entry`` is its manifest record (step, phase calls, the
    reference numbers, file hash). A file whose sha256 differs from the manifest is refused."""
    manifest = shipped(profile, arch, seed)
    entry = _entry(manifest, phase, step)
    path = shipped_dir(profile, arch, seed) / entry["file"]
    if file_sha256(path) != entry["sha256"]:
        raise ValueError(f"{paths.relative(path)} does not match its manifest (sha256); refusing to load it")
    ema = {k: v.float() for k, v in load_file(path).items()}
    diffusion, _ = load_model({"config": manifest["config"], "ema": ema}, which="ema", device=device)
    return (diffusion, entry) if info else diffusion


def choose_checkpoints(records: list[dict], call: str = "phase", agree: str | None = "phase_generation"
                       ) -> list[tuple[str, dict]]:
    """``(label, record)`` pairs chosen from a bundle's records by its phase call
    (:func:`bumpdiff.analysis.phases.representatives`): for each phase some checkpoint is in by both the call ``call``
    and the generation call ``agree``, in order of phase, the middle of its longest such stretch; then the last
    record, labelled ``"final"``."""
    if not records:
        raise ValueError("records must hold at least one analysed checkpoint")
    reps = representatives(records, call, agree)
    last = max(records, key=lambda r: r["step"])
    return [(ph, r) for ph, r in reps.items() if r is not None] + [("final", last)]


def own_bundle(run_dir, bundle) -> bool:
    """Whether ``bundle`` (a bundle folder) is one of the run's own, in ``data/results/<run folder>/``: the weights the
    run's committed studies (``robustness``, keyed by run and step) measured. A retrain's bundle
    (``data/results/retrains/<run folder>-<name>/``) shares the run's key and steps but not its weights."""
    return Path(bundle).resolve().parent == (paths.results_dir() / Path(run_dir).name).resolve()


def export(run_dir, bundle, dest: Path | None = None, call: str = "phase",
           agree: str | None = "phase_generation", samplers: dict | None = None) -> Path:
    """Ship the run's checkpoints chosen by :func:`choose_checkpoints` from its analysis ``bundle`` (a bundle
    folder): EMA weights in float16 safetensors (each under 5 MB) and a manifest; returns the folder. ``samplers``,
    the run's stored samplers study (``robustness --only samplers``) at its last checkpoint, adds the final
    weights' accuracy under each sampler to the manifest: the analysis measures with one sampler only."""
    run_dir = Path(run_dir)
    b, _ = load_bundle(bundle)
    cfg = TrainConfig.from_dict(json.loads((run_dir / "config.json").read_text()))
    if b["run_key"] != cfg.key():
        raise ValueError(f"bundle must belong to the run: {bundle} is of run {b['run_key']}, not {cfg.key()}")
    dest = Path(dest) if dest is not None else shipped_dir(cfg.name, cfg.model.arch, cfg.seed)
    dest.mkdir(parents=True, exist_ok=True)
    ckpts = dict(list_checkpoints(run_dir))
    entries, written = [], {}
    for label, rec in choose_checkpoints(b["checkpoints"], call, agree):
        src = ckpts.get(rec["step"])
        if src is None:
            raise ValueError(f"the run has no checkpoint at step {rec['step']} (the bundle analysed one)")
        name = f"step_{rec['step']:07d}.safetensors"
        if name in written:   # one file per step, written once (a step can be a phase's and the final one)
            entries.append(dict(written[name], label=label))
            continue
        state = load_checkpoint(src)
        half = {k: v.detach().to(torch.float16).contiguous() for k, v in state["ema"].items()}
        tmp = dest / f".{name}.tmp"
        # one metadata entry: safetensors writes its metadata map in hash order, which changes from one call to the
        # next, so several entries made the same weights different bytes (and a new sha256) at every export
        save_file(half, str(tmp), metadata={"bumpdiff": json.dumps({"step": rec["step"], "run_key": b["run_key"],
                                                                    "weights": "ema", "dtype": "float16"},
                                                                   sort_keys=True)})
        if tmp.stat().st_size > MAX_FILE_BYTES:
            tmp.unlink()
            raise ValueError(f"{name} would be {tmp.stat().st_size} bytes, over the {MAX_FILE_BYTES} allowed")
        tmp.replace(dest / name)
        entries.append({"label": label, "step": rec["step"], "epoch": rec["epoch"], "images_seen": rec["images_seen"],
                        "phase": rec["phase"], "phase_generation": rec["phase_generation"],
                        "phase_representation": rec["phase_representation"], "file": name,
                        "sha256": file_sha256(dest / name), "source_sha256": file_sha256(src),
                        "reference": {k: rec[k] for k in REFERENCE_FIELDS if k in rec},
                        "training_provenance": state.get("provenance")})
        written[name] = entries[-1]
    if samplers is not None:
        final = next(e for e in entries if e["label"] == "final")
        if samplers.get("run_key") != b["run_key"] or samplers.get("step") != final["step"]:
            raise ValueError(f"samplers must be a study of this run's final step ({b['run_key']}, step "
                             f"{final['step']}), got run {samplers.get('run_key')}, step {samplers.get('step')}")
        final["samplers"] = {"command": samplers["command"], "n": samplers["result"]["n"],
                             "results": samplers["result"]["samplers"]}
    manifest = {"schema": SCHEMA, "profile": cfg.name, "arch": cfg.model.arch, "seed": cfg.seed,
                "run_key": b["run_key"], "analysis_key": b["analysis_key"], "analysis": b["analysis"],
                "bundle": paths.relative(Path(bundle)), "call": call, "agree": agree,
                "rule": ("per phase, the middle checkpoint of the longest stretch that the combined and the generation "
                         "call both put in it; then the last analysed checkpoint"),
                "config": cfg.to_dict(), "checkpoints": entries, "provenance": provenance("cpu", dest)}
    for stale in set(dest.glob("step_*.safetensors")) - {dest / e["file"] for e in entries}:
        stale.unlink()
    atomic_write_json(dest / "manifest.json", manifest)
    atomic_write_text(dest / "README.md", _readme(manifest))
    return dest


def _readme(m: dict) -> str:
    rows = "\n".join(f"| {e['label']} | {e['step']} | {e['phase']} / {e['phase_generation']} | "
                     f"{e['reference'].get('accuracy', float('nan')):.3f} | "
                     f"{e['reference'].get('knn_r2_x', float('nan')):.3f} / "
                     f"{e['reference'].get('knn_r2_y', float('nan')):.3f} | "
                     f"`{e['file']}` |" for e in m["checkpoints"])
    prov = m["provenance"]
    final = next(e for e in m["checkpoints"] if e["label"] == "final")
    sam = final.get("samplers")
    by_sampler = "" if sam is None else (
        f"The final weights under each sampler ({sam['n']} samples each, `{sam['command']}`): "
        + "; ".join(f"{k}: accuracy {v['accuracy']:.3f}" for k, v in sam["results"].items())
        + f". The table's accuracies use the analysis's sampler ({_sampler(m['analysis'])}).\n\n")
    return (f"# Shipped weights: profile `{m['profile']}`, arch `{m['arch']}`, seed {m['seed']} "
            f"(run `{m['run_key']}`)\n\n"
            f"EMA weights in float16 safetensors, chosen by the run's phase call ({m['rule']}); numbers measured by "
            f"the analysis bundle `{m['bundle']}` on the full-precision weights. Load with "
            f"`bumpdiff.pretrained({m['profile']!r}, phase=..., arch={m['arch']!r}, seed={m['seed']})`.\n\n"
            "| label | step | call (combined / generation) | accuracy | kNN R² x / y | file |\n"
            "|---|---|---|---|---|---|\n" + rows + "\n\n" + by_sampler +
            f"Exported at commit `{prov.get('commit')}` on {prov.get('device')}. Generated by "
            "`python -m bumpdiff ship`; do not edit.\n")


def _sampler(a: dict) -> str:
    return f"DDIM {a['sampler_steps']} steps, η={a['eta']:g}" if a["sampler"] == "ddim" else "DDPM, all T steps"


def reference_check(diffusion: Diffusion, manifest: dict) -> dict:
    """Recompute the order parameters of the bundle's analysis (layer, t, read-out, grid, seed) on ``diffusion``
    without UMAP: ``{field: value}`` for the kNN R² and intrinsic-dimension fields of :data:`REFERENCE_FIELDS`."""
    a = manifest["analysis"]
    cfg = TrainConfig.from_dict(manifest["config"])
    grid = latent_grid(cfg.lattice, a["max_conditions"])
    acts = collect_activations(diffusion, grid, layer=a["layer"], t=a["t"], mode=a["mode"], seed=a["seed"],
                               lattice=cfg.lattice, noise=a.get("noise", "shared"))
    op = order_parameters(acts, grid, seed=a["seed"], umap=False, period=cfg.lattice.period)
    return {k: float(np.asarray(op[k])) for k in ("knn_r2_x", "knn_r2_y", "intrinsic_dim", "trustworthiness")}
