"""The results bundle of a run's analysis: where it lives and reading it back (never computing it: that is
:func:`bumpdiff.store.compute_bundle.analyze`).

A run's analysis lives in one **results bundle**, ``data/results/<run folder>/analysis-<analysis key>/``
(``bundle.json`` + ``arrays.npz``). The analysis key is the identity of :class:`AnalysisConfig` — which
checkpoints are visited (``every``, ``steps``) is not part of it, because a checkpoint's result does not
depend on which others are analysed. Analysing more checkpoints of a run therefore *extends* its bundle.
Every bundle records its keys, the full configs, the phase thresholds, and the provenance of the training and of
each analysis session that added records.
"""
from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import numpy as np

from ..analysis.evaluate import breakdown
from ..analysis.phases import PHASE_THRESHOLDS, recall
from ..analysis.specs import AnalysisConfig
from ..common import paths

__all__ = ["load_bundle", "bundle_dir", "select_checkpoints", "BundleError", "step_arrays", "tolerance_curves"]


class BundleError(ValueError):
    """A results bundle is missing, unreadable, or belongs to another run or analysis."""


def bundle_dir(run_dir: Path, analysis_cfg: AnalysisConfig) -> Path:
    """Where the bundle of (run, analysis) lives: ``data/results/<run folder>/analysis-<analysis key>``."""
    return paths.results_dir() / Path(run_dir).name / f"analysis-{analysis_cfg.key()}"


def select_checkpoints(ckpts: list[tuple[int, Path]], every: int = 1, steps=None) -> list[tuple[int, Path]]:
    """The checkpoints to analyse: ``steps`` if given (each must exist), else every ``every``-th and the last."""
    if steps is not None:
        have = dict(ckpts)
        missing = sorted(set(steps) - set(have))
        if missing:
            raise ValueError(f"steps must be checkpoints of the run ({sorted(have)}), got {missing} which are not")
        return [(s, have[s]) for s in sorted(set(steps))]
    chosen = ckpts[::every]
    if chosen and chosen[-1] != ckpts[-1]:
        chosen.append(ckpts[-1])
    return chosen


def load_bundle(bundle_path, recall_phases: bool = True) -> tuple[dict, dict]:
    """(bundle JSON, arrays) of a results bundle directory. With ``recall_phases`` (the default) the phase calls of its
    records are recomputed from their stored scores and order parameters under the current
    :data:`~bumpdiff.analysis.phases.PHASE_THRESHOLDS` (:func:`bumpdiff.analysis.phases.recall`). Raises
    :class:`BundleError` when the bundle is missing or unreadable."""
    bundle_path = Path(bundle_path)
    try:
        bundle = json.loads((bundle_path / "bundle.json").read_text())
        with np.load(bundle_path / "arrays.npz") as z:
            arrays = {k: z[k] for k in z.files}
    except FileNotFoundError as e:
        raise BundleError(f"missing results bundle {bundle_path} ({Path(e.filename).name})") from e
    except Exception as e:  # noqa: BLE001
        raise BundleError(f"corrupt results bundle {bundle_path} ({type(e).__name__}: {e})") from e
    if recall_phases and bundle.get("kind") != "stripes":   # a stripes bundle holds no phase calls
        bundle["checkpoints"] = recall(bundle["checkpoints"])
        bundle["thresholds"] = asdict(PHASE_THRESHOLDS)
    return bundle, arrays


def step_arrays(arrays: dict, step: int) -> dict:
    """The arrays a bundle holds for one checkpoint, by their own names (``{"embedding": …, "grid": …,
    "samples": …}``): the bundle stores them as ``<name>_<step, 7 digits>``."""
    tail = f"_{int(step):07d}"
    out = {k[:-len(tail)]: v for k, v in arrays.items() if k.endswith(tail)}
    if not out:
        raise BundleError(f"no arrays of step {step} in the bundle")
    return out


def tolerance_curves(bundle: dict, arrays: dict, tols) -> dict[float, list[float]]:
    """Accuracy at each checkpoint of ``bundle`` re-scored from its stored detections at each tolerance of ``tols``
    (pixels): ``{tol: [accuracy per checkpoint, in the bundle's order]}``."""
    out = {tol: [] for tol in tols}
    for r in bundle["checkpoints"]:
        a = step_arrays(arrays, r["step"])   # once per checkpoint, scored at every tolerance
        for tol in tols:
            out[tol].append(breakdown(a["n_bumps"], a["estimated"], a["requested"], tol)["accuracy"])
    return out
