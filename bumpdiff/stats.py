"""Statistics over the runs of an experiment: crossings of per-axis accuracy, coupling verdicts, phase onsets."""
from __future__ import annotations

import numpy as np

from .phases import phase_onsets

__all__ = ["IMBALANCED_THRESHOLD", "crossing", "crossing_table", "coupling_summary", "phase_summary"]

IMBALANCED_THRESHOLD = 0.5   # an axis counts as learned when its per-axis accuracy reaches this


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
