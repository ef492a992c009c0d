"""Statistics and verdicts of the stripes study from its bundles (no torch, no computing): the composition table,
the data-efficiency crossings and slopes, and percolation's terminal accuracies.

- **Composition**: a section *composes* in a run when its accuracy at the last analysed checkpoint is at least
  :data:`ACCURACY_LEVEL` (the follow-up's 60 %); per condition and section the verdict is ``yes`` (every seed),
  ``no`` (none) or ``k of n``. The claim "composes from stripes" holds when `stripes + rim` composes on all three
  sections of the held-out cross and `stripes` alone does not compose the intersection.
- **Data efficiency**: per condition, size N and seed, the dataset size (training images: kept 2-D examples plus
  every 1-D stripe) at which the terminal 2-D accuracy first reaches :data:`ACCURACY_LEVEL`, interpolated linearly in
  log size between the two kept fractions that bracket it; censored (``None``, with the side) when no kept fraction
  brackets it. The slope of log size against log N is the least-squares slope over the sizes, per seed; reported as
  mean and spread over seeds. The claim "with stripes mixed in, the data needed grows more slowly with N" holds when
  it does beyond the seed-to-seed spread: every seed's `stripes + bumps` slope below every seed's `bumps` slope (no
  threshold to choose; ranges that overlap say the two are not told apart at this scale); the gap of the mean
  exponents is reported beside it, against the 1 that separates linear from quadratic growth. A cell's crossing is
  *settled* once every kept fraction of the experiment's grid below the first one at or above the level is computed:
  a run at a larger fraction cannot move where accuracy first reaches the level. The claim is decided once every
  cell of the grid is settled; the runs above the crossings only fill in the accuracy curves.
"""
from __future__ import annotations

import math
from collections import defaultdict

import numpy as np

from ..core.stripes import CROSS_SECTIONS, SECTIONS, StripeLattice
from .registry import experiment

__all__ = ["ACCURACY_LEVEL", "FAILURE_GROUPS", "terminal", "section_samples", "composition_table",
           "composition_claim", "composition_failures", "efficiency_points", "size_at_level", "size_cell",
           "efficiency_grid", "efficiency_slopes", "efficiency_claim", "efficiency_decided", "efficiency_ratios",
           "percolation_points", "sampler_check"]

#: the accuracy level of the follow-up's data-efficiency figure, and of a section that composes
ACCURACY_LEVEL = 0.6


def terminal(bundle: dict) -> dict:
    """The last analysed checkpoint's record of a stripes bundle."""
    return bundle["checkpoints"][-1]


def _cond(bundle: dict) -> str:
    return bundle["group"]


def composition_table(runs: dict, level: float = ACCURACY_LEVEL) -> dict:
    """``{condition: {section: {"accs": [...per seed], "mean", "sd", "verdict", "peaks": [(accuracy, step) per
    seed]}}}`` from the composition experiment's ``{label: (bundle, arrays)}``: the verdict is read on the terminal
    accuracies per seed; ``peaks`` (each seed's best analysed checkpoint) say whether a section composed for a while
    during training and lost it, and decide nothing."""
    accs = defaultdict(lambda: defaultdict(list))
    peaks = defaultdict(lambda: defaultdict(list))
    for bundle, _ in sorted(runs.values(), key=lambda r: r[0].get("seed", 0)):
        for section, s in terminal(bundle)["sections"].items():
            accs[_cond(bundle)][section].append(s["accuracy"])
            best = max((r for r in bundle["checkpoints"] if section in r.get("sections", {})),
                       key=lambda r: (r["sections"][section]["accuracy"], -r["step"]))
            peaks[_cond(bundle)][section].append((best["sections"][section]["accuracy"], best["step"]))
    out = {}
    for cond, secs in accs.items():
        out[cond] = {}
        for section, a in secs.items():
            k = sum(x >= level for x in a)
            verdict = "yes" if k == len(a) else "no" if k == 0 else f"{k} of {len(a)}"
            out[cond][section] = {"accs": a, "mean": float(np.mean(a)), "sd": float(np.std(a)), "verdict": verdict,
                                  "seeds": len(a), "peaks": peaks[cond][section]}
    return out


#: how an axis of a stripes sample fails (the detector's verdicts grouped): drawn at the wrong place, not drawn, or
#: drawn more than once or where the coordinate is hidden
FAILURE_GROUPS = {"wrong place": ("wrong",), "missing": ("missing",), "extra": ("multiple", "spurious")}


def composition_failures(runs: dict, sections=CROSS_SECTIONS) -> dict:
    """``{condition: {section: {axis: {"correct" | failure group: mean fraction over seeds}}}}`` at the last analysed
    checkpoint: where the held-out cross is not composed, what the samples draw instead."""
    acc = defaultdict(lambda: defaultdict(lambda: defaultdict(lambda: defaultdict(list))))
    for bundle, _ in runs.values():
        secs = terminal(bundle)["sections"]
        for section in sections:
            if section not in secs:
                continue
            s = secs[section]
            for axis in ("x", "y"):
                cell = acc[_cond(bundle)][section][axis]
                cell["correct"].append(s[f"{axis}_correct"] + s[f"{axis}_absent"])
                for group, labels in FAILURE_GROUPS.items():
                    cell[group].append(sum(s[f"{axis}_{lab}"] for lab in labels))
    return {cond: {sec: {axis: {k: float(np.mean(v)) for k, v in cell.items()} for axis, cell in axes.items()}
                   for sec, axes in secs.items()} for cond, secs in acc.items()}


def composition_claim(table: dict) -> dict:
    """Whether the composition claim holds on ``table`` (module docstring): ``{"holds": bool | None, "why": str}``;
    None when a needed cell is missing."""
    rim, alone = table.get("stripes + rim", {}), table.get("stripes", {})
    if not all(s in rim for s in CROSS_SECTIONS) or "intersection" not in alone:
        return {"holds": None, "why": "not every condition and section is computed"}
    rim_ok = all(rim[s]["verdict"] == "yes" for s in CROSS_SECTIONS)
    alone_fails = alone["intersection"]["verdict"] != "yes"
    parts = ", ".join(f"{s} {rim[s]['verdict']}" for s in CROSS_SECTIONS)
    why = (f"stripes + rim composes the {'whole cross' if rim_ok else 'cross only in part'} "
           f"({parts}); stripes alone "
           f"{'does not compose' if alone_fails else 'composes'} the intersection ({alone['intersection']['verdict']})")
    return {"holds": rim_ok and alone_fails, "why": why}


def _efficiency_cell(st: dict) -> tuple[str, float]:
    """The condition and kept fraction of a data-efficiency run's stripes lattice (the stripes alone: λ = 0)."""
    return ("bumps" if st["kind"] == "2d" else "stripes + bumps"), (0.0 if st["kind"] == "stripes" else st["kept"])


def efficiency_points(runs: dict) -> dict:
    """``{(condition, N, seed): [(dataset size, kept λ, terminal 2-D accuracy), ...]}`` by dataset size."""
    out = defaultdict(list)
    for bundle, _ in runs.values():
        st = bundle["config"]["stripes"]
        cond, kept = _efficiency_cell(st)
        size = _dataset_size(st)
        out[cond, st["n"], bundle["seed"]].append((size, kept, terminal(bundle)["sections"]["2-D"]["accuracy"]))
    return {k: sorted(v) for k, v in out.items()}


def efficiency_grid(profile: str) -> dict:
    """``{(condition, N, seed): (kept λ, ...)}``: the runs the profile's data-efficiency experiment holds."""
    out = defaultdict(list)
    for cfg in experiment("stripes-efficiency").runs(profile).values():
        st = cfg.stripes
        cond, kept = _efficiency_cell({"kind": st.kind, "kept": st.kept})
        out[cond, st.n, cfg.seed].append(kept)
    return {k: tuple(sorted(v)) for k, v in out.items()}


def _settled(points, kept: tuple, level: float) -> bool:
    """Whether a cell's crossing can no longer move: every fraction of its grid ``kept`` below the first computed one at
    or above ``level`` is computed (all of them when none reaches it)."""
    hit = next((lam for _, lam, a in points if a >= level), None)
    return {k for k in kept if hit is None or k < hit} <= {lam for _, lam, _ in points}


def _dataset_size(st: dict) -> int:
    """Training images of a stripes lattice (its config as stored): 1-D stripes plus kept 2-D examples."""
    return len(StripeLattice(**{k: tuple(v) if k == "band" else v for k, v in st.items()}).labels())


def size_at_level(points, level: float = ACCURACY_LEVEL) -> dict:
    """The dataset size at which accuracy first reaches ``level`` (module docstring) from ``[(size, λ, acc)]`` sorted by
    size: ``{"size": float | None, "censored": None | "below" | "above"}`` ("below": reached at the smallest size
    already; "above": never reached)."""
    if not points:
        return {"size": None, "censored": "above"}
    if points[0][2] >= level:
        return {"size": None, "censored": "below", "bound": float(points[0][0])}
    for (s0, _, a0), (s1, _, a1) in zip(points, points[1:]):
        if a0 < level <= a1:
            f = (level - a0) / (a1 - a0)
            return {"size": float(math.exp(math.log(s0) + f * (math.log(s1) - math.log(s0)))), "censored": None}
    return {"size": None, "censored": "above", "bound": float(points[-1][0])}


def size_cell(r: dict) -> str:
    """A :func:`size_at_level` result as text: the size, or its bound ("> 26": never reached; "≤ 22": reached at the
    smallest size already)."""
    if r["size"]:
        return f"{r['size']:,.0f}"
    return f"{'>' if r['censored'] == 'above' else '≤'} {r['bound']:,.0f}" if "bound" in r else "—"


def efficiency_slopes(runs: dict, level: float = ACCURACY_LEVEL, grid: dict | None = None) -> dict:
    """Per condition: ``{"sizes": {N: [size at level per seed]}, "cells": {N: [that size or its bound, as text, per
    seed]}, "slopes": [per seed], "slope": mean, "spread": sd, "censored": [...], "settled": bool, "open": [(N,
    seed)]}`` — a seed's slope needs an uncensored size at every N (every N of ``grid``, :func:`efficiency_grid`'s,
    when given); ``settled``: every cell of ``grid`` has a settled crossing (module docstring; False without a grid),
    ``open`` the cells that have not."""
    pts = efficiency_points(runs)
    by = defaultdict(lambda: defaultdict(dict))
    for (cond, n, seed), p in pts.items():
        by[cond][seed][n] = size_at_level(p, level)
    open_ = defaultdict(list)                      # per condition, the (N, seed) cells whose crossing may still move
    for (cond, n, seed), kept in (grid or {}).items():
        if not _settled(pts.get((cond, n, seed), []), kept, level):
            open_[cond].append((n, seed))
    settled = {cond: not open_[cond] for cond, _, _ in grid} if grid else {}
    sizes_of = {(c, seed): {n for cc, n, ss in grid if (cc, ss) == (c, seed)} for c, _, seed in grid} if grid else {}
    out = {}
    for cond in dict.fromkeys([*by, *settled]):
        seeds = by.get(cond, {})
        sizes, cells, slopes, censored = defaultdict(list), defaultdict(list), [], []
        for seed, per_n in sorted(seeds.items()):
            for n, r in sorted(per_n.items()):
                sizes[n].append(r["size"])
                cells[n].append(size_cell(r))
                if r["censored"]:
                    censored.append({"seed": seed, "n": n, **r})
            ok = {n: r["size"] for n, r in per_n.items() if r["size"]}
            if len(ok) >= 3 and len(ok) == len(per_n) and set(ok) >= sizes_of.get((cond, seed), set()):
                x, y = np.log(sorted(ok)), np.log([ok[n] for n in sorted(ok)])
                slopes.append(float(np.polyfit(x, y, 1)[0]))
        out[cond] = {"sizes": dict(sorted(sizes.items())), "cells": dict(sorted(cells.items())), "slopes": slopes,
                     "slope": float(np.mean(slopes)) if slopes else None,
                     "spread": float(np.std(slopes)) if len(slopes) > 1 else None, "censored": censored,
                     "settled": settled.get(cond, False), "open": sorted(open_.get(cond, []))}
    return out


def efficiency_claim(slopes: dict) -> dict:
    """Whether the data-efficiency claim holds on :func:`efficiency_slopes`'s result (module docstring):
    ``{"holds": bool | None, "why": str}``; None while either condition has no seed with a slope."""
    b = slopes.get("bumps", {}).get("slopes") or []
    m = slopes.get("stripes + bumps", {}).get("slopes") or []
    if not b or not m:
        return {"holds": None, "why": "a slope needs every image size of a seed bracketed, in both conditions"}

    def span(v):
        return f"{min(v):.2f}" if len(v) == 1 else f"{min(v):.2f} to {max(v):.2f}"

    gap = float(np.mean(b) - np.mean(m))               # the effect's size, on the scale of the figure's references
    said = (f"slopes over seeds: `stripes + bumps` {span(m)}, `bumps` {span(b)}; the mean exponents differ by "
            f"{gap:.2f}, where linear and quadratic growth differ by 1")
    if max(m) < min(b):
        return {"holds": True,
                "why": f"the data needed grows more slowly with stripes mixed in, in every seed ({said})"}
    if min(m) >= max(b):
        return {"holds": False, "why": f"the data needed grows at least as fast with stripes mixed in ({said})"}
    return {"holds": False, "why": f"the two growth rates are not told apart beyond the seed-to-seed spread ({said})"}


def efficiency_decided(slopes: dict) -> bool:
    """Whether :func:`efficiency_slopes`'s result (with a grid) decides the claim: every cell's crossing is settled."""
    return bool(slopes) and all(s["settled"] for s in slopes.values())


def efficiency_ratios(slopes: dict) -> dict:
    """Per image size N: the data `stripes + bumps` needs over what `bumps` needs, as the ratio of the geometric means
    over seeds of :func:`efficiency_slopes`'s sizes (``{N: ratio}``; a size left out while any seed of either
    condition is censored there). Where the two slopes differ, this says at which sizes the difference lies."""
    b = slopes.get("bumps", {}).get("sizes", {})
    m = slopes.get("stripes + bumps", {}).get("sizes", {})
    out = {}
    for n in sorted(set(b) & set(m)):
        if b[n] and m[n] and all(b[n]) and all(m[n]):
            out[n] = float(np.exp(np.mean(np.log(m[n])) - np.mean(np.log(b[n]))))
    return out


def sampler_check(check: dict, runs: dict) -> dict:
    """The stored stripes-sampler check (each composition run's last checkpoint re-scored with DDPM over every step)
    read against the composition ``runs``: ``{"rows": [...], "checked": [labels], "max_diff": float | None,
    "cells": {condition: {section: {"analysis": [...], "reference": [...]}}}, "claim": composition_claim under the
    reference sampler, or None until every run is checked}``. A row whose run changed since (another run key or last
    step) is left out: it is not about these bundles."""
    current = {lab: (b["checkpoints"][-1]["step"], b.get("run_key")) for lab, (b, _) in runs.items()}
    rows = [r for r in check.get("rows", []) if current.get(r["label"]) == (r["step"], r["run_key"])]
    cells = defaultdict(lambda: defaultdict(lambda: {"analysis": [], "reference": []}))
    for r in sorted(rows, key=lambda r: r["seed"]):
        cells[r["group"]][r["section"]]["analysis"].append(r["analysis_accuracy"])
        cells[r["group"]][r["section"]]["reference"].append(r["reference_accuracy"])
    checked = sorted({r["label"] for r in rows})
    diffs = [abs(r["analysis_accuracy"] - r["reference_accuracy"]) for r in rows]
    claim = None
    if runs and set(checked) == set(runs):
        by = defaultdict(dict)
        for r in rows:
            by[r["label"]][r["section"]] = {"accuracy": r["reference_accuracy"]}
        as_ref = {lab: ({"group": b["group"], "seed": b["seed"],
                         "checkpoints": [{"step": current[lab][0], "sections": by[lab]}]}, {})
                  for lab, (b, _) in runs.items()}
        claim = composition_claim(composition_table(as_ref))
    return {"rows": rows, "checked": checked, "max_diff": max(diffs) if diffs else None,
            "cells": {c: dict(v) for c, v in cells.items()}, "claim": claim}


def percolation_points(runs: dict) -> dict:
    """``{σ: [(λ, terminal 2-D accuracy), ...]}`` by λ, from the percolation experiment's runs."""
    out = defaultdict(list)
    for bundle, _ in runs.values():
        st = bundle["config"]["stripes"]
        out[float(st["sigma"])].append((float(st["kept"]), terminal(bundle)["sections"]["2-D"]["accuracy"]))
    return {s: sorted(v) for s, v in sorted(out.items())}


def section_samples(bundle: dict, arrays: dict, step: int | None = None) -> dict:
    """``{section: (images (k, 1, n, n) float32, requested labels (k, 2))}`` kept at ``step`` (default: the last
    analysed checkpoint), in the order the sections were analysed."""
    rec = next(r for r in bundle["checkpoints"] if r["step"] == step) if step is not None else terminal(bundle)
    tail = f"_{rec['step']:07d}"
    names = [s for s in SECTIONS if s in rec["sections"]]   # the analysis's order (the JSON record is sorted)
    return {name: (arrays[f"samples_{k}{tail}"].astype(np.float32), arrays[f"requested_{k}{tail}"])
            for k, name in enumerate(names) if f"samples_{k}{tail}" in arrays}
