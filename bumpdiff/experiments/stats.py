"""Statistics over the runs of an experiment: crossings of per-axis accuracy, coupling verdicts, phase onsets."""
from __future__ import annotations

from dataclasses import replace

import numpy as np

from ..analysis.phases import (
    LATENT_THRESHOLDS,
    PHASE_THRESHOLDS,
    PhaseThresholds,
    latent_call,
    phase_onsets,
    recall,
    representatives,
)

__all__ = ["IMBALANCED_THRESHOLD", "tally", "crossing", "crossing_table", "coupling_summary", "phase_summary",
           "compare_bundles", "COMPARED_FIELDS", "representative_run", "latent_after_generation", "initial_order",
           "shows_phase_a", "SENSITIVITY_DIMS", "SENSITIVITY_ORDERS", "threshold_sensitivity", "order_path",
           "NOT_YET", "finished_training", "calibrated_claim", "calibrated_sensitivity", "CALIBRATED_ORDERS",
           "CALIBRATED_LOCALS"]

IMBALANCED_THRESHOLD = 0.5   # an axis counts as learned when its per-axis accuracy reaches this

#: the thresholds the sensitivity table runs the latent rule over (the rule's own: dim_b = 4, knn_r2_c = 0.8)
SENSITIVITY_DIMS = (3.0, 3.5, 4.0, 4.5, 5.0, 6.0)
SENSITIVITY_ORDERS = (0.7, 0.8, 0.9)


def crossing(records: list[dict], key: str, threshold: float) -> dict | None:
    """The first checkpoint record whose ``key`` is at or above ``threshold`` (None if none is)."""
    return next((r for r in records if r[key] >= threshold), None)


def crossing_table(results: dict, threshold: float = IMBALANCED_THRESHOLD, keys=("acc_x", "acc_y")) -> list[dict]:
    """One row per run of an experiment: the step, epoch and images seen at which each key first reaches
    ``threshold`` (None when it does not), with the order parameters there, the run's group and seed (the bundles'
    own, as :func:`bumpdiff.store.results.load_experiment` gives them)."""
    rows = []
    for label, (bundle, _) in results.items():
        row = {"run": label, "group": bundle["group"], "seed": bundle["seed"],
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


COMPARED_FIELDS = ("accuracy", "frac_none", "frac_multiple", "frac_single_wrong", "acc_x", "acc_y",
                   "knn_r2_x", "knn_r2_y", "intrinsic_dim", "trustworthiness", "r2_x", "r2_y")


def compare_bundles(first: dict, second: dict, fields=COMPARED_FIELDS, upto: int | None = None) -> dict:
    """Number-by-number comparison of two bundles of the same run and analysis (e.g. a committed run and its
    retrain on another machine), over the checkpoints both analysed (at most ``upto``).

    Returns ``{"steps", "identical" (every field of every shared checkpoint equal, bit for bit), "fields":
    {field: {"identical": n equal, "n", "max_abs_diff", "mean_abs_diff"}}, "calls": {call: (first's sequence,
    second's sequence)}, "same_calls": {call: bool}, "loss": {"steps", "first", "second", "first_divergent_step"}}``
    where the loss part compares the training-loss logs step by step and names the first logged step whose
    losses differ by more than 1e-3 relative."""
    if (first["run_key"], first["analysis_key"]) != (second["run_key"], second["analysis_key"]):
        raise ValueError("bundles must be of the same run and analysis, got "
                         f"{first['run_key']}/{first['analysis_key']} and {second['run_key']}/{second['analysis_key']}")
    a = {r["step"]: r for r in first["checkpoints"]}
    b = {r["step"]: r for r in second["checkpoints"]}
    steps = sorted(s for s in set(a) & set(b) if upto is None or s <= upto)
    if not steps:
        raise ValueError("the bundles share no analysed checkpoint")
    out_fields = {}
    for f in fields:
        pairs = [(a[s].get(f), b[s].get(f)) for s in steps if a[s].get(f) is not None and b[s].get(f) is not None]
        d = np.array([abs(x - y) for x, y in pairs], dtype=float)
        out_fields[f] = {"n": len(pairs), "identical": int(sum(x == y for x, y in pairs)),
                         "max_abs_diff": float(d.max()) if d.size else None,
                         "mean_abs_diff": float(d.mean()) if d.size else None}
    calls, same = {}, {}
    for key in ("phase", "phase_generation", "phase_representation"):
        sa = [a[s][key] for s in steps]
        sb = [b[s][key] for s in steps]
        calls[key] = (sa, sb)
        same[key] = sa == sb
    la = dict(zip(first.get("loss", {}).get("step", []), first.get("loss", {}).get("loss", [])))
    lb = dict(zip(second.get("loss", {}).get("step", []), second.get("loss", {}).get("loss", [])))
    ls = sorted(s for s in set(la) & set(lb) if upto is None or s <= upto)
    div = next((s for s in ls if abs(la[s] - lb[s]) > 1e-3 * abs(la[s])), None)
    identical = all(v["identical"] == v["n"] for v in out_fields.values()) and all(same.values())
    return {"steps": steps, "identical": identical, "fields": out_fields, "calls": calls, "same_calls": same,
            "loss": {"steps": ls, "first": [la[s] for s in ls], "second": [lb[s] for s in ls],
                     "first_divergent_step": div}}


def representative_run(runs: dict) -> str:
    """The label of the run to show one checkpoint per phase of (Figure 3): the first run, in the experiment's
    order, whose :func:`~bumpdiff.analysis.phases.representatives` cover the most phases."""
    if not runs:
        raise ValueError("runs must hold at least one run")
    cover = {label: sum(r is not None for r in representatives(b["checkpoints"]).values())
             for label, (b, _) in runs.items()}
    return max(cover, key=lambda label: (cover[label], -list(cover).index(label)))


#: the verdicts of :func:`latent_after_generation` that say what a run never does, as said of a run still training
NOT_YET = {"generation never reaches C": "generation not C yet", "never ordered": "not ordered yet"}


def finished_training(bundle: dict) -> bool:
    """Whether a results bundle's run was trained to its budget (``trained_to`` ≥ the config's ``steps``): only then
    can a verdict say what the run *never* does."""
    return bundle["trained_to"] >= bundle["config"]["steps"]


def latent_after_generation(records: list[dict], thresholds: PhaseThresholds = PHASE_THRESHOLDS,
                            finished: bool = True) -> dict:
    """Does the latent call (the read-out layer's order parameters) say C once generation is correct, and does it
    stay so? Over one run's checkpoint records (in training order):

    ``generation_c`` / ``latent_c``: the first record with that call (None if none); ``after``: how many
    checkpoints there are from the generation-C onset on, ``latent_c_after``: how many of them the latent call
    puts in C; ``last``: the last record; ``verdict``: "generation never reaches C", "never ordered" (no latent
    C from the generation-C onset on), "persists" (latent C at every such checkpoint), "settles" (not at every
    one, but at each of the last ``settle`` = 3 checkpoints) or "transient" (otherwise). A run not ``finished``
    (trained short of its budget: a retrain under way) has not shown what it never does: its two "never" verdicts
    read "generation not C yet" and "not ordered yet" (:data:`NOT_YET`).

    Which half of the latent rule (:data:`~bumpdiff.analysis.phases.PHASE_THRESHOLDS`) keeps those checkpoints out of C:
    ``not_low_dim`` counts the ones whose intrinsic dimension is above ``dim_b`` (or NaN), ``not_ordered`` the ones
    whose worse axis has kNN R² below ``knn_r2_c`` (a checkpoint can fail both); ``dims`` and ``worse_axis`` are
    their intrinsic dimensions and min(kNN R² x, kNN R² y), in training order. The calls are the records' own;
    ``thresholds`` is what the two counts compare with (:func:`threshold_sensitivity` recalls the records first)."""
    if not records:
        raise ValueError("records must hold at least one checkpoint")
    gen_c = phase_onsets(records, "phase_generation")["C"]
    latent_c = phase_onsets(records, "phase_representation")["C"]
    after = [r for r in records if gen_c is not None and r["step"] >= gen_c["step"]]
    n_c = sum(r["phase_representation"] == "C" for r in after)
    settle = 3
    if gen_c is None:
        verdict = "generation never reaches C"
    elif n_c == 0:
        verdict = "never ordered"
    elif n_c == len(after):
        verdict = "persists"
    elif len(after) >= settle and all(r["phase_representation"] == "C" for r in after[-settle:]):
        verdict = "settles"
    else:
        verdict = "transient"
    if not finished:
        verdict = NOT_YET.get(verdict, verdict)
    th = thresholds
    dims = [float(r["intrinsic_dim"]) for r in after]
    worse = [min(float(r["knn_r2_x"]), float(r["knn_r2_y"])) for r in after]
    return {"generation_c": gen_c, "latent_c": latent_c, "after": len(after), "latent_c_after": n_c,
            "last": records[-1], "verdict": verdict, "steps": [r["step"] for r in after], "dims": dims,
            "worse_axis": worse, "not_low_dim": sum(not d <= th.dim_b for d in dims),
            "not_ordered": sum(not w >= th.knn_r2_c for w in worse)}


def initial_order(readouts: dict[str, dict[str, dict]], step: int = 0) -> list[dict]:
    """The order of the untrained network under each read-out: one row per architecture, read-out and run, from
    ``readouts`` = ``{arch: {label: {"shared": (bundle, arrays), "independent": (bundle, arrays), ...}}}`` (the
    store's ``load_readouts`` per architecture). Each row: ``arch``, ``noise``, ``label``, ``seed``, the step-``step``
    record's kNN R² x / y, UMAP R² x / y, intrinsic dimension and latent call, and ``worse_axis`` = min(kNN R² x, y).
    Runs whose bundles lack that step are left out."""
    rows = []
    for arch, runs in readouts.items():
        for label, pair in runs.items():
            for noise, value in pair.items():
                if noise == "source":
                    continue
                bundle = value[0]
                rec = next((r for r in bundle["checkpoints"] if r["step"] == step), None)
                if rec is None:
                    continue
                rows.append({"arch": arch, "noise": noise, "label": label, "seed": bundle["config"]["seed"],
                             "source": pair["source"], "step": step,
                             **{k: float(rec[k]) for k in ("knn_r2_x", "knn_r2_y", "r2_x", "r2_y", "intrinsic_dim")},
                             "worse_axis": min(float(rec["knn_r2_x"]), float(rec["knn_r2_y"])),
                             "latent_call": rec["phase_representation"]})
    return sorted(rows, key=lambda r: (list(readouts).index(r["arch"]), r["noise"] != "shared", r["seed"]))


def shows_phase_a(rows: list[dict], noise: str, archs, seeds) -> dict:
    """The test of the specification ("Which read-out can show phase A"): read-out ``noise`` passes when the
    untrained network is unordered — min(kNN R² x, y) < the order threshold ``knn_r2_c`` — in every seed of every
    architecture. ``rows``: :func:`initial_order`. Returns ``{"passes": bool or None (not every run is there),
    "ordered": [rows that are ordered at initialisation], "runs": how many rows, "expected": how many there must
    be}``."""
    mine = [r for r in rows if r["noise"] == noise]
    expected = len(archs) * len(seeds)
    ordered = [r for r in mine if not r["worse_axis"] < PHASE_THRESHOLDS.knn_r2_c]
    complete = {(r["arch"], r["seed"]) for r in mine} == {(a, s) for a in archs for s in seeds}
    return {"passes": (not ordered) if complete else (False if ordered else None), "ordered": ordered,
            "runs": len(mine), "expected": expected}


def threshold_sensitivity(records: list[dict], dims=SENSITIVITY_DIMS, orders=SENSITIVITY_ORDERS,
                          finished: bool = True) -> list[dict]:
    """How the layer-4 answer of one run moves with the old latent rule's two thresholds (the calibrated rule has its
    own, fitted on phantoms; records are called by the old rule here whatever they carry): for every order threshold
    ``knn_r2_c`` in ``orders`` and dimension threshold ``dim_b`` in ``dims`` (the other thresholds as in
    :data:`~bumpdiff.analysis.phases.PHASE_THRESHOLDS`), the records are called again under those thresholds and
    the row says where the latent call is first C (``latent_c_step``, None for never) and the
    :func:`latent_after_generation` verdict (``finished`` as there). One row per pair, orders outer; ``default``
    marks the rule's own."""
    if not records:
        raise ValueError("records must hold at least one checkpoint")
    rows = []
    for order in orders:
        for dim in dims:
            th = replace(PHASE_THRESHOLDS, dim_b=float(dim), knn_r2_c=float(order))
            v = latent_after_generation(recall(records, th, rule="old"), th, finished=finished)
            rows.append({"knn_r2_c": float(order), "dim_b": float(dim),
                         "latent_c_step": None if v["latent_c"] is None else v["latent_c"]["step"],
                         "verdict": v["verdict"],
                         "default": th.dim_b == PHASE_THRESHOLDS.dim_b and th.knn_r2_c == PHASE_THRESHOLDS.knn_r2_c})
    return rows


def order_path(records: list[dict]) -> dict[str, np.ndarray]:
    """One run's path through the phase portrait, in training order: ``step``, ``intrinsic_dim``, ``worse_axis`` =
    min(kNN R² x, y) (the project's order parameter) and ``umap_worse`` = min(UMAP R² x, y) (the paper's)."""
    recs = sorted(records, key=lambda r: r["step"])
    return {"step": np.array([r["step"] for r in recs], dtype=np.int64),
            "intrinsic_dim": np.array([float(r["intrinsic_dim"]) for r in recs]),
            "worse_axis": np.array([min(float(r["knn_r2_x"]), float(r["knn_r2_y"])) for r in recs]),
            "umap_worse": np.array([min(float(r["r2_x"]), float(r["r2_y"])) for r in recs])}


def tally(verdicts: list[str]) -> dict[str, int]:
    """How many times each verdict occurs, in the order the verdicts first occur."""
    return {v: verdicts.count(v) for v in dict.fromkeys(verdicts)}


def calibrated_claim(runs: dict[str, dict[str, dict]], readouts=("shared", "independent", "mean"),
                     phase_a: dict[str, bool] | None = None) -> dict:
    """The paper's central claim decided with the calibrated instruments, from ``{arch: {label: {read-out: (bundle,
    arrays)}}}`` (the store's ``load_calibrated`` per architecture). Per read-out: each run's
    :func:`latent_after_generation` verdict under the calibrated latent call and under the old rule on the same
    records (``old``), and the phase-A test: the untrained network (step 0) called A by the calibrated rule in every
    run (``phase_a``, ``{read-out: passes}``, gives the test's outcome from elsewhere — the phase-A study of the same
    initial weights — instead). ``decided_by``: the read-outs that pass the phase-A test (the claim is read on those);
    ``holds``: whether every run of every such read-out persists or settles in C (None when no read-out passes, or
    none is computed)."""
    out: dict = {"readouts": {}, "decided_by": [], "holds": None}
    for noise in readouts:
        rows = []
        for arch, by_label in runs.items():
            for label, ro in by_label.items():
                if noise not in ro:
                    continue
                b = ro[noise][0]
                recs = b["checkpoints"]
                fin = finished_training(b)
                old = [dict(r, phase_representation=r["phase_representation_old"]) for r in recs]
                first = next((r for r in recs if r["step"] == 0), None)
                rows.append({"arch": arch, "label": label, "seed": b["config"]["seed"], "finished": fin,
                             "verdict": latent_after_generation(recs, finished=fin)["verdict"],
                             "old": latent_after_generation(old, finished=fin)["verdict"],
                             "initial": None if first is None else first["phase_representation"],
                             "initial_old": None if first is None else first["phase_representation_old"],
                             "records": recs})
        if not rows:
            continue
        known = [r for r in rows if r["initial"] is not None]
        passes = bool(known) and len(known) == len(rows) and all(r["initial"] == "A" for r in known)
        if phase_a is not None and noise in phase_a:
            passes = bool(phase_a[noise])
        out["readouts"][noise] = {"rows": rows, "phase_a": passes,
                                  "ordered_at_init": sum(r["initial"] == "C" for r in known),
                                  "structured_at_init": sum(r["initial"] != "A" for r in known)}
        if passes:
            out["decided_by"].append(noise)
    decided = [r for n in out["decided_by"] for r in out["readouts"][n]["rows"]]
    if decided:
        out["holds"] = all(r["verdict"] in ("persists", "settles") for r in decided)
    return out


#: the calibrated rule's order thresholds the sensitivity table runs over (the fitted ones are among them)
CALIBRATED_ORDERS = (0.7, 0.75, 0.8, 0.83, 0.85, 0.9)
CALIBRATED_LOCALS = (0.45, 0.5, 0.56, 0.6)


def calibrated_sensitivity(records: list[dict], orders=CALIBRATED_ORDERS, locals_=CALIBRATED_LOCALS,
                           finished: bool = True) -> list[dict]:
    """How one run's verdict under the calibrated rule moves with its two order thresholds (the dimension threshold
    as fitted): one row per (``order_c``, ``local_c``) with the :func:`latent_after_generation` verdict and the first
    latent-C step. Records must carry the calibrated measures."""
    rows = []
    for order in orders:
        for local in locals_:
            th = replace(LATENT_THRESHOLDS, order_c=float(order), local_c=float(local))
            recs = [dict(r, phase_representation=latent_call(r, th)) for r in records]
            v = latent_after_generation(recs, finished=finished)
            rows.append({"order_c": float(order), "local_c": float(local), "verdict": v["verdict"],
                         "latent_c_step": None if v["latent_c"] is None else v["latent_c"]["step"],
                         "default": th == LATENT_THRESHOLDS})
    return rows
