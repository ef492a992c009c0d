"""Calibration of the instruments, the reading half (no torch): the thresholds of :func:`~.phases.latent_phase`
fitted on the ``fit`` phantoms (:mod:`.phantoms`; each measured by :func:`.phantom_metrics.phantom_metrics`), the
rules' accuracy, which measure separates which phantoms, and the choice of the analysis sampler.

The fit is max-margin and needs no eye: the dimension threshold, per latent size, is the geometric mean of the
largest dimension of a manifold phantom (B or C) and the smallest of a cloud (A) of that size; the two order
thresholds are the pair on a 0.01 grid that separates the ordered sheets (C) from the disordered manifolds (B) with
the widest margin, where a phantom's margin is its distance to the boundary of the rule's region ("C iff order ≥ t₁
and agreement ≥ t₂"). The ``heldout`` split (other seeds, length scales, noise levels, block sizes, piece counts
and cloud spectra) then checks the fitted rule.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .phases import PHASE_THRESHOLDS, LatentThresholds, latent_call

__all__ = ["CalibrationSize", "old_call", "fit_thresholds", "rule_accuracy", "METRICS",
           "separable_up_to", "choose_sampler", "SAMPLER_TOLERANCE", "REFERENCE_SAMPLER",
           "CALIBRATION_SIZES"]

#: every measure the calibration reports per phantom: (key, label, higher means more order/structure)
METRICS = (("knn_r2", "kNN R² (min of x, y)", True), ("umap_r2", "UMAP R² (min of x, y)", True),
           ("trustworthiness", "trustworthiness", True), ("intrinsic_dim", "MLE dimension, k = 10 (old)", False),
           ("dimension_n1", "Gride dimension, n1 = 1 (TwoNN)", False),
           ("dimension", "Gride dimension at the sheet's scale", False),
           ("geodesic_order", "geodesic order ρ (global)", True),
           ("neighbourhood_agreement", "neighbourhood agreement (local)", True))


@dataclass(frozen=True)
class CalibrationSize:
    """One size of latent the profiles analyse: ``side`` conditions per axis, ``dim`` features (layer 4)."""

    name: str          # "fast", "cpu", "fast torus"
    side: int
    dim: int
    periodic: bool = False
    seeds: int = 2     # phantom seeds per split (the first `seeds` of the split's)
    umap_seeds: int = 1  # of which the first this many also get a UMAP (seconds each)


#: the sampler calibration's tolerance: a candidate agrees with the reference when its accuracy and each failure
#: fraction differ by at most this at every shipped checkpoint (n = 256 samples: about 1.5 binomial standard errors
#: of a difference at p = 0.5, on the same requested centres and initial noise)
SAMPLER_TOLERANCE = 0.05
#: the sampler calibration's reference: the paper's sampler, ancestral DDPM over all 1,000 steps
REFERENCE_SAMPLER = "DDPM 1000"

#: the sizes calibrated: layer 4 of the `fast` (16 × 16 lattice, 256 features) and `cpu` (32 × 32, 1,024 features)
#: profiles, and the `fast` torus
CALIBRATION_SIZES = (CalibrationSize("fast", 16, 256), CalibrationSize("fast torus", 16, 256, periodic=True),
                     CalibrationSize("cpu", 32, 1024, seeds=1, umap_seeds=0))


def old_call(m: dict) -> str:
    """The uncalibrated rule the project used before (kNN R² ≥ 0.8 and MLE dimension ≤ 4: C; dimension ≤ 4: B;
    else A), kept as the comparison."""
    if not m["intrinsic_dim"] <= PHASE_THRESHOLDS.dim_b:
        return "A"
    return "C" if m["knn_r2"] >= PHASE_THRESHOLDS.knn_r2_c else "B"


def fit_thresholds(rows: list[dict], step: float = 0.01) -> LatentThresholds:
    """The latent rule's thresholds fitted on calibration ``rows`` (dicts with ``truth``, ``conditions`` and the
    measures) by maximum margin (module docstring): the dimension threshold per size (number of conditions), the two
    order thresholds over all rows. Raises when the fit rows cannot be separated by the rule at all."""
    dim_a = []
    for m in sorted({r["conditions"] for r in rows}):
        manifold = [r["dimension"] for r in rows if r["conditions"] == m and r["truth"] != "A"]
        cloud = [r["dimension"] for r in rows if r["conditions"] == m and r["truth"] == "A"]
        if not manifold or not cloud or not max(manifold) < min(cloud):
            raise ValueError(f"fit rows: at {m} conditions the dimension does not separate the clouds (A) from the "
                             "manifolds (B, C)")
        dim_a.append((int(m), round(math.sqrt(max(manifold) * min(cloud)), 2)))
    c = np.array([(r["geodesic_order"], r["neighbourhood_agreement"]) for r in rows if r["truth"] == "C"])
    b = np.array([(r["geodesic_order"], r["neighbourhood_agreement"]) for r in rows if r["truth"] == "B"])
    grid = np.round(np.arange(0.0, 1.0 + step / 2, step), 10)
    t1, t2 = np.meshgrid(grid, grid, indexing="ij")
    # a C phantom's margin: how far inside both half-planes; a B phantom's: how far outside either
    margin_c = np.min(np.minimum(c[:, 0, None, None] - t1, c[:, 1, None, None] - t2), axis=0)
    margin_b = np.min(np.maximum(t1 - b[:, 0, None, None], t2 - b[:, 1, None, None]), axis=0)
    margin = np.minimum(margin_c, margin_b)
    i, j = np.unravel_index(np.argmax(margin), margin.shape)
    if not margin[i, j] > 0:
        raise ValueError("fit rows: no thresholds separate the ordered sheets (C) from the disordered manifolds (B)")
    return LatentThresholds(dim_a=tuple(dim_a), order_c=float(grid[i]), local_c=float(grid[j]))


def rule_accuracy(rows: list[dict], thresholds: LatentThresholds | None = None) -> dict:
    """Fraction of ``rows`` called right by the calibrated rule (under ``thresholds``) and by the old rule, overall
    and per truth: ``{"new": {"all": …, "A": …, "B": …, "C": …}, "old": {…}, "n": {…}}``."""
    th = thresholds or LatentThresholds()
    out: dict = {"new": {}, "old": {}, "n": {}}
    for group in ("all", "A", "B", "C"):
        sel = [r for r in rows if group == "all" or r["truth"] == group]
        out["n"][group] = len(sel)
        for name, call in (("new", lambda r: latent_call(r, th)), ("old", old_call)):
            out[name][group] = float(np.mean([call(r) == r["truth"] for r in sel])) if sel else float("nan")
    return out


def separable_up_to(rows: list[dict], metric: str, positive, negative, higher: bool) -> float | None:
    """The largest noise level up to which one threshold on ``metric`` separates the ``positive`` rows from the
    ``negative`` ones (predicates on a row), over every row with at most that noise; None when it fails even at
    the smallest noise. ``higher``: the positive rows are the ones above the threshold."""
    levels = sorted({r["phantom"]["noise"] for r in rows})
    best = None
    for level in levels:
        sel = [r for r in rows if r["phantom"]["noise"] <= level and r.get(metric) is not None
               and np.isfinite(r[metric])]
        pos = [r[metric] for r in sel if positive(r)]
        neg = [r[metric] for r in sel if negative(r)]
        if not pos or not neg:
            continue
        ok = min(pos) > max(neg) if higher else max(pos) < min(neg)
        if not ok:
            break
        best = level
    return best


def choose_sampler(rows: list[dict], reference: str, tol: float) -> dict:
    """The cheapest candidate (fewest steps; deterministic first on a tie) whose accuracy and failure fractions stay
    within ``tol`` of the ``reference`` sampler's at every checkpoint of ``rows`` (one row per checkpoint and sampler,
    as :func:`bumpdiff.store.calibrations.compute_sampler_calibration` writes them). Returns ``{"sampler": label,
    "max_diff": {label: largest absolute difference}, "agrees": {label: bool}}``; ``sampler`` is the reference
    itself when no candidate agrees."""
    fields = ("accuracy", "frac_none", "frac_multiple", "frac_single_wrong")
    ref = {(r["set"], r["step"]): r for r in rows if r["sampler"] == reference}
    diffs: dict = {}
    for r in rows:
        if r["sampler"] == reference:
            continue
        base = ref[(r["set"], r["step"])]
        d = max(abs(r[f] - base[f]) for f in fields)
        diffs[r["sampler"]] = max(diffs.get(r["sampler"], 0.0), d)
    cost = {r["sampler"]: (r["steps"] or 10 ** 6, r["eta"]) for r in rows}
    agrees = {s: d <= tol for s, d in diffs.items()}
    ok = sorted((s for s, a in agrees.items() if a), key=lambda s: cost[s])
    return {"sampler": ok[0] if ok else reference, "max_diff": diffs, "agrees": agrees, "tol": tol}
