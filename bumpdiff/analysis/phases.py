"""The phase call: A, B or C from the generation breakdown and the order parameters, never from the epoch.

Thresholds live in :data:`PHASE_THRESHOLDS`, in this one place:

- from generation (a :class:`~bumpdiff.analysis.evaluate.Score` or its summary): **C** if accuracy ≥ ``acc_c``; else
  **B** if one-bump samples (correct + single-wrong) ≥ ``single_b``; else **A**;
- from the latent (order parameters): **C** — an ordered *and* low-dimensional manifold — if
  min(knn_r2_x, knn_r2_y) ≥ ``knn_r2_c`` and intrinsic_dim ≤ ``dim_b``; else **B** — a low-dimensional
  manifold that is not ordered — if intrinsic_dim ≤ ``dim_b``; else **A** (not a low-dimensional manifold,
  whether or not neighbours happen to share centres);
- combined: the earlier of the two (a checkpoint is in C only when it both generates correctly and has an
  ordered low-dimensional latent).

Calls stored in a results bundle are recomputed from its order parameters by :func:`recall` whenever it is
loaded, so a change of rule or threshold reaches every committed result without new analysis.

**The calibrated latent rule** (:func:`latent_phase`, thresholds :data:`LATENT_THRESHOLDS`), chosen on phantoms
of known phase (:mod:`.phantoms`; ``python -m bumpdiff calibrate latent`` fits the thresholds on one set and checks
them on another) rather than by eye: **A** — no low-dimensional manifold: the multi-scale (Gride) dimension at the
sheet's scale is above ``dim_a`` (fitted per latent size: :func:`dim_threshold`); **C** — an ordered sheet: the
global geodesic order is at least ``order_c`` *and* the local neighbourhood agreement at least ``local_c``; **B** —
a low-dimensional manifold that is scrambled, folded or torn. The rule above (kNN R², k = 10 MLE dimension) is kept
as the comparison ("old rule").
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .manifold import geodesic_order, multiscale_dimension, neighbourhood_agreement

__all__ = ["representatives", "middle_of_longest_stretch", "PhaseThresholds", "PHASE_THRESHOLDS", "call_phase",
           "LatentThresholds", "LATENT_THRESHOLDS", "latent_phase", "latent_call", "latent_metrics", "dim_threshold",
           "recall", "phase_sequence", "describe_sequence",
           "phase_onsets", "shown_records"]


@dataclass(frozen=True)
class PhaseThresholds:
    acc_c: float = 0.5        # generation: accuracy at or above → C
    single_b: float = 0.5     # generation: fraction of one-bump samples at or above → at least B
    knn_r2_c: float = 0.8     # latent: min(knn_r2_x, knn_r2_y) at or above (and low-dimensional) → C
    dim_b: float = 4.0        # latent: intrinsic dimension at or below → a low-dimensional manifold (B or C)


PHASE_THRESHOLDS = PhaseThresholds()


@dataclass(frozen=True)
class LatentThresholds:
    """The calibrated latent rule's thresholds, as fitted on the ``fit`` phantoms by
    :func:`bumpdiff.analysis.calibration.fit_thresholds` (the committed calibration must reproduce them: a test).

    ``dim_a`` is fitted per latent size, ``((conditions, threshold), ...)``: a dimension estimate from M points
    grows with M (the same cloud reads higher with more points), so the threshold for M conditions is interpolated
    between the fitted sizes on log-log axes (the nearest one outside them): :func:`dim_threshold`."""

    dim_a: tuple = ((256, 5.51), (1024, 8.3))  # Gride dimension above this → A (no low-dimensional manifold)
    order_c: float = 0.83     # geodesic order (Spearman ρ) at or above, with local agreement → C
    local_c: float = 0.56     # neighbourhood agreement at or above, with geodesic order → C


LATENT_THRESHOLDS = LatentThresholds()


def dim_threshold(thresholds: LatentThresholds, conditions: int) -> float:
    """The dimension threshold of ``thresholds`` for a latent of ``conditions`` rows (:class:`LatentThresholds`)."""
    pts = sorted((float(m), float(t)) for m, t in thresholds.dim_a)
    logm = np.log([m for m, _ in pts])
    return float(np.exp(np.interp(np.log(conditions), logm, np.log([t for _, t in pts]))))


def latent_metrics(activations, centers, period: float | None = None) -> dict:
    """The measures the calibrated latent rule reads (:mod:`.manifold`): ``geodesic_order``,
    ``neighbourhood_agreement``, ``dimension`` (Gride at the sheet's scale) and its ``dimension_scale`` (n1), and
    ``conditions`` (M, which the dimension threshold depends on)."""
    A = np.asarray(activations, dtype=np.float64)
    C = np.asarray(centers, dtype=np.float64)
    if A.ndim != 2 or C.shape != (A.shape[0], 2):
        raise ValueError(f"activations (M, D) and centers (M, 2) must match, got {A.shape} and {C.shape}")
    ms = multiscale_dimension(A)
    return {"geodesic_order": geodesic_order(A, C, period=period),
            "neighbourhood_agreement": neighbourhood_agreement(A, C, period=period),
            "dimension": ms["dimension"], "dimension_scale": ms["scale"], "conditions": int(len(A))}


def latent_call(metrics: dict, thresholds: LatentThresholds = LATENT_THRESHOLDS) -> str:
    """``"A"``, ``"B"`` or ``"C"`` from :func:`latent_metrics` (module docstring); NaN measures (activations that do
    not depend on the condition) give A."""
    if not metrics["dimension"] <= dim_threshold(thresholds, metrics["conditions"]):
        return "A"
    ordered = metrics["geodesic_order"] >= thresholds.order_c and \
        metrics["neighbourhood_agreement"] >= thresholds.local_c
    return "C" if ordered else "B"


def latent_phase(activations, centers, period: float | None = None,
                 thresholds: LatentThresholds = LATENT_THRESHOLDS) -> dict:
    """The calibrated latent call of any latent: ``activations`` (M, D), one row per condition, from this project's
    networks or anyone else's, and their ``centers`` (M, 2) (on a torus of side ``period`` when given). Returns
    ``{"phase": "A" | "B" | "C", **latent_metrics}``: the call and the values behind it (module docstring)."""
    m = latent_metrics(activations, centers, period)
    return {"phase": latent_call(m, thresholds), **m}


def _gen_phase(s, th: PhaseThresholds):
    acc = s["accuracy"] if isinstance(s, dict) else s.accuracy
    single = (s["frac_single_wrong"] if isinstance(s, dict) else s.frac_single_wrong) + acc
    return "C" if acc >= th.acc_c else ("B" if single >= th.single_b else "A")


RULES = ("auto", "calibrated", "old")


def _rep_phase(o, th: PhaseThresholds, rule: str = "auto"):
    """The latent call: the calibrated rule where its measures are there (``rule="auto"``) or asked for, else the
    old rule (kNN R² and the k = 10 MLE dimension, under ``th``)."""
    if rule not in RULES:
        raise ValueError(f"rule must be one of {RULES}, got {rule!r}")
    if rule == "calibrated" or (rule == "auto" and o.get("geodesic_order") is not None):
        return latent_call(o)
    if not o["intrinsic_dim"] <= th.dim_b:  # written so that a NaN dimension (degenerate activations) is A
        return "A"
    return "C" if min(o["knn_r2_x"], o["knn_r2_y"]) >= th.knn_r2_c else "B"


def call_phase(score=None, order: dict | None = None, thresholds: PhaseThresholds = PHASE_THRESHOLDS,
               detail: bool = False, rule: str = "auto"):
    """Phase ``"A"``, ``"B"`` or ``"C"`` from a generation score and/or order parameters (module docstring). The
    latent part is the calibrated rule (:func:`latent_call`) when ``order`` holds its measures, the old rule
    otherwise (``rule`` forces one: ``"calibrated"`` or ``"old"``).

    With ``detail=True`` returns ``(phase, phase_generation, phase_representation)`` (None where not given).
    """
    if score is None and order is None:
        raise ValueError("call_phase needs a score, order parameters, or both")
    g = _gen_phase(score, thresholds) if score is not None else None
    r = _rep_phase(order, thresholds, rule) if order is not None else None
    phase = min(p for p in (g, r) if p is not None)
    return (phase, g, r) if detail else phase


def recall(records: list[dict], thresholds: PhaseThresholds = PHASE_THRESHOLDS, rule: str = "auto") -> list[dict]:
    """Checkpoint records with ``phase``, ``phase_generation`` and ``phase_representation`` recomputed from
    their stored scores and order parameters under ``thresholds`` (new dicts; the input is not changed), and
    ``phase_representation_old``: the old rule's latent call, for comparison. ``rule`` as in :func:`call_phase`."""
    out = []
    for r in records:
        p, g, rep = call_phase(r, r, thresholds, detail=True, rule=rule)
        old = _rep_phase(r, thresholds, "old")
        out.append(dict(r, phase=p, phase_generation=g, phase_representation=rep, phase_representation_old=old))
    return out


def phase_sequence(records: list[dict], key: str = "phase") -> list[dict]:
    """The changes of a phase call over training: one entry per stretch of consecutive checkpoints with the same
    call, ``{"phase", "step", "epoch", "images_seen", "until_step"}`` (``step``… of the stretch's first
    checkpoint, ``until_step`` of its last). ``key`` picks the call: ``"phase"`` (combined),
    ``"phase_generation"`` or ``"phase_representation"``. Records are sorted by step first."""
    if key not in ("phase", "phase_generation", "phase_representation", "phase_representation_old"):
        raise ValueError("key must be 'phase', 'phase_generation', 'phase_representation' or "
                         f"'phase_representation_old', got {key!r}")
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


def middle_of_longest_stretch(records: list[dict], predicate) -> dict | None:
    """Among records sorted by step, the middle one of the longest run of consecutive records for which
    ``predicate(record)`` holds (the earliest such run on a tie; the earlier middle of an even run); None when
    it holds for none."""
    recs = sorted(records, key=lambda r: r["step"])
    best, i = None, 0
    while i < len(recs):
        if not predicate(recs[i]):
            i += 1
            continue
        j = i
        while j + 1 < len(recs) and predicate(recs[j + 1]):
            j += 1
        if best is None or j - i > best[1] - best[0]:
            best = (i, j)
        i = j + 1
    return None if best is None else recs[(best[0] + best[1]) // 2]


def representatives(records: list[dict], key: str = "phase", agree: str | None = "phase_generation") -> dict:
    """One checkpoint record per phase, chosen by the call, for figures and shipped weights: for phase P, the
    middle of the longest stretch of checkpoints that the call ``key`` puts in P **and** (unless ``agree`` is
    None) the call ``agree`` puts in P too — so that, with the default, no checkpoint is shown as phase P while
    its samples say otherwise. ``{"A": record | None, "B": …, "C": …}``."""
    return {ph: middle_of_longest_stretch(records, lambda r, ph=ph: r[key] == ph and (agree is None or r[agree] == ph))
            for ph in "ABC"}


_RANK = {"A": 0, "B": 1, "C": 2}


def shown_records(records: list[dict]) -> dict[str, tuple[dict, bool]]:
    """The checkpoint Figure 3 shows for each phase: ``{phase: (record, exact)}``, the :func:`representatives` record
    (``exact`` True) or, where no checkpoint is in that phase by both the combined and the generation call, the
    latest one whose two calls come closest to it (``exact`` False, and the figure says so)."""
    if not records:
        raise ValueError("records must hold at least one checkpoint")
    out = {}
    for ph, r in representatives(records).items():
        if r is not None:
            out[ph] = (r, True)
            continue
        near = min(records, key=lambda q: (abs(_RANK[q["phase"]] - _RANK[ph])
                                           + abs(_RANK[q["phase_generation"]] - _RANK[ph]), -q["step"]))
        out[ph] = (near, False)
    return out
