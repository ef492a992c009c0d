"""Figures 14–16: the follow-up's stripes study — composition of held-out SOS from stripes, the data needed against
image size, and the percolation model beside terminal accuracy. Drawing only: every number comes from the loaded
bundles, :mod:`bumpdiff.experiments.stripes_stats` and the stored percolation model."""
from __future__ import annotations

from collections import defaultdict

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.ticker import FuncFormatter, NullFormatter, NullLocator

from ...core.stripes import margin_for
from ...experiments.stripes_stats import ACCURACY_LEVEL, efficiency_points, section_samples
from .style import styled

__all__ = ["composition_figure", "efficiency_figure", "percolation_figure", "SECTION_COLORS"]

SECTION_COLORS = {"outside": "#616161", "vertical arm": "#1565c0", "horizontal arm": "#ef6c00",
                  "intersection": "#c62828", "2-D": "#2e7d32", "stripes": "#8e24aa"}
CONDITION_STYLES = {"bumps": "-", "stripes + bumps": "--"}
SIZE_COLORS = ("#1565c0", "#2e7d32", "#c62828", "#8e24aa", "#ef6c00")


def _by_condition(runs: dict) -> dict:
    out = defaultdict(list)
    for bundle, arrays in runs.values():
        out[bundle["group"]].append((bundle, arrays))
    return out


@styled
def composition_figure(runs: dict, title: str | None = None):
    """Top: accuracy of each test section over training, one panel per condition (thin: each seed; thick: their
    mean). Bottom: the first seed's samples at its last analysed checkpoint, two per section, with the requested
    stripes marked."""
    conds = _by_condition(runs)
    fig = plt.figure(figsize=(4.0 * len(conds), 6.4), layout="constrained")
    top, bottom = fig.subfigures(2, 1, height_ratios=(1.25, 1))
    axes = top.subplots(1, len(conds), squeeze=False, sharey=True)[0]
    for ax, (cond, members) in zip(axes, conds.items()):
        sections = [s for s in SECTION_COLORS if s in members[0][0]["checkpoints"][-1]["sections"]]
        for section in sections:
            color = SECTION_COLORS[section]
            curves = []
            for bundle, _ in members:
                steps = [r["step"] for r in bundle["checkpoints"]]
                acc = [r["sections"][section]["accuracy"] for r in bundle["checkpoints"]]
                ax.plot(steps, acc, lw=0.6, alpha=0.45, color=color)
                curves.append((steps, acc))
            common = min(len(c[0]) for c in curves)
            ax.plot(curves[0][0][:common], np.mean([c[1][:common] for c in curves], axis=0), lw=2, color=color,
                    label=section)
        ax.axhline(ACCURACY_LEVEL, ls=":", lw=0.8, color="0.4")
        ax.set_title(f"{cond} ({len(members)} seed{'s' if len(members) > 1 else ''})")
        ax.set_xlabel("training step")
        ax.set_ylim(-0.03, 1.03)
    axes[0].set_ylabel("accuracy (both stripes within tolerance)")
    handles = {h.get_label(): h for ax in axes for h in ax.get_legend_handles_labels()[0]}
    axes[-1].legend(handles.values(), handles.keys(), fontsize=7, loc="lower right")
    sub = bottom.subfigures(1, len(conds), squeeze=False)[0]
    for sf, (cond, members) in zip(sub, conds.items()):
        bundle, arrays = min(members, key=lambda m: m[0]["seed"])
        shots = section_samples(bundle, arrays)
        rows = max(1, max(len(v[0]) for v in shots.values()))
        grid = sf.subplots(rows, len(shots), squeeze=False)
        for j, (section, (imgs, req)) in enumerate(shots.items()):
            for i in range(rows):
                ax = grid[i, j]
                ax.set_xticks([])
                ax.set_yticks([])
                if i >= len(imgs):
                    ax.axis("off")
                    continue
                ax.imshow(imgs[i, 0], cmap="gray", vmin=-1, vmax=1)
                n = imgs.shape[-1]
                m = margin_for(n)
                for k, coord in enumerate(req[i]):   # the requested stripes, where visible
                    if m <= coord < m + n:
                        (ax.axvline if k == 0 else ax.axhline)(coord - m - 0.5, color=SECTION_COLORS[section],
                                                                lw=0.7, ls=":")
                if i == 0:
                    ax.set_title(section, fontsize=7, color=SECTION_COLORS[section])
        sf.suptitle(f"{cond}, seed {bundle['seed']}, step {bundle['checkpoints'][-1]['step']:,}", fontsize=8)
    if title:
        fig.suptitle(title)
    return fig


@styled
def efficiency_figure(runs: dict, slopes: dict, title: str | None = None):
    """Left: terminal 2-D accuracy against the dataset size (training images) for each image size N (colour) and
    condition (line style), each seed's points and the mean line; dotted: the accuracy level. Right: the dataset size
    at which each seed reaches it, against N, log-log, with lines ∝ N and ∝ N² through the first bumps point and
    each condition's mean slope in the legend; a size the kept fractions do not bracket is drawn at its bound, ▲ where
    the level is never reached (the size lies above), ▼ where the smallest dataset reaches it already (below)."""
    pts = efficiency_points(runs)
    sizes_n = sorted({n for _, n, _ in pts})
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(10.5, 4.0), layout="constrained")
    for ci, n in enumerate(sizes_n):
        color = SIZE_COLORS[ci % len(SIZE_COLORS)]
        for cond, ls in CONDITION_STYLES.items():
            per_seed = [p for (c, nn, _), p in pts.items() if c == cond and nn == n]
            if not per_seed:
                continue
            for p in per_seed:
                ax.plot([q[0] for q in p], [q[2] for q in p], "o", ms=3, color=color, alpha=0.6,
                        mfc="none" if cond == "stripes + bumps" else color)
            common = min(len(p) for p in per_seed)
            ax.plot(np.mean([[q[0] for q in p[:common]] for p in per_seed], axis=0),
                    np.mean([[q[2] for q in p[:common]] for p in per_seed], axis=0), ls, color=color, lw=1.4,
                    label=f"{cond}, N = {n}")
    ax.axhline(ACCURACY_LEVEL, ls=":", color="0.4", lw=0.8)
    ax.set_xscale("log")
    plain = FuncFormatter(lambda v, _: f"{v:g}")         # log axes labelled with plain numbers
    ax.xaxis.set_major_formatter(plain)
    ax.set_xlabel("dataset size (training images)")
    ax.set_ylabel("2-D accuracy, last checkpoint")
    ax.set_ylim(-0.03, 1.03)
    ax.legend(fontsize=6, ncol=2)
    _size_panel(bx, slopes, sizes_n, plain)
    bx.set_xlabel("image size N (pixels)")
    bx.set_ylabel(f"dataset size for {ACCURACY_LEVEL:.0%} accuracy")
    bx.legend(fontsize=7)
    if title:
        fig.suptitle(title)
    return fig


def _size_panel(bx, slopes: dict, sizes_n: list, plain) -> None:
    """Figure 16's right panel: each seed's dataset size at the level per N (bounds where not bracketed), each
    condition's geometric-mean line with its slope, and the ∝ N, ∝ N² references."""
    anchor = None
    for cond, ls in CONDITION_STYLES.items():
        s = slopes.get(cond)
        if not s:
            continue
        marker, color = ("o", "k") if cond == "bumps" else ("s", "#8e24aa")
        xs, ys = [], []
        for n, vals in s["sizes"].items():
            for v in vals:
                if v:
                    bx.plot(n, v, marker, color=color, alpha=0.5, ms=4,
                            mfc="none" if cond == "stripes + bumps" else None)
                    xs.append(n)
                    ys.append(v)
        bounds = [c for c in s["censored"] if "bound" in c]   # sizes the kept fractions do not bracket
        for j, c in enumerate(bounds):
            bx.plot(c["n"], c["bound"], "^" if c["censored"] == "above" else "v", color=color, alpha=0.5, ms=5,
                    mfc="none", label=f"{cond}: bound (▲ above, ▼ below)" if j == 0 else None)
        if xs:
            ns = sorted(set(xs))
            means = [np.exp(np.mean(np.log([y for x, y in zip(xs, ys) if x == n]))) for n in ns]
            slope = (f"slope {s['slope']:.2f}" + (f" ± {s['spread']:.2f}" if s["spread"] is not None else "")
                     if s["slope"] is not None else "slope n/a")
            bx.plot(ns, means, ls, color=color, label=f"{cond} ({slope})")
            if cond == "bumps" and anchor is None:
                anchor = (ns[0], means[0])
    if anchor is not None:
        grid = np.array(sizes_n, dtype=float)
        for p, lab in ((1, "∝ N"), (2, "∝ N²")):
            bx.plot(grid, anchor[1] * (grid / anchor[0]) ** p, ":", color="0.5" if p == 1 else "0.2", lw=0.9,
                    label=lab)
    bx.set_xscale("log")
    bx.set_yscale("log")
    bx.set_xticks(sizes_n, [str(n) for n in sizes_n])
    bx.xaxis.set_minor_locator(NullLocator())            # the image sizes only
    bx.yaxis.set_major_formatter(plain)
    bx.yaxis.set_minor_formatter(plain if bx.get_ylim()[1] / max(bx.get_ylim()[0], 1e-9) < 20 else NullFormatter())


@styled
def percolation_figure(model: dict, points: dict, title: str | None = None):
    """Left: the overlap of neighbouring bumps against the lattice spacing for each σ, the two thresholds dashed.
    Middle: the largest connected cluster against the kept fraction λ (solid: threshold 0.05; dashed: 0.005). Right:
    the terminal 2-D accuracy of the runs trained at each σ and λ on the same canvas."""
    spec = model["spec"]
    sig_colors = dict(zip([f"{s:g}" for s in spec["sigmas"]], ("#616161", "#c62828", "#1565c0", "#2e7d32",
                                                              "#8e24aa")))
    fig, (a, b, c) = plt.subplots(1, 3, figsize=(12.5, 3.8), layout="constrained")
    for s, ov in model["overlap"].items():
        a.plot(spec["spacings"], ov, "-o", ms=3, color=sig_colors[s], label=f"σ = {s}")
    for th in spec["thresholds"]:
        a.axhline(th, ls="--", lw=0.8, color="0.4")
    a.set_yscale("symlog", linthresh=1e-3)
    a.set_ylim(0, 1.5)
    a.set_xlabel("lattice spacing d (pixels)")
    a.set_ylabel("overlap of neighbouring bumps")
    a.legend(fontsize=7)
    for th, ls in zip(sorted(model["clusters"], key=float, reverse=True), ("-", "--")):
        for s, curve in model["clusters"][th].items():
            b.errorbar(curve["kept"], curve["mean"], yerr=curve["std"], ls=ls, color=sig_colors[s], lw=1.1,
                       capsize=0, label=f"σ = {s}, threshold {th}")
    b.plot([0, 1], [0, 1], ":", color="0.6", lw=0.8)
    b.set_xlabel("kept fraction λ")
    b.set_ylabel("largest cluster / lattice sites")
    b.legend(fontsize=6)
    for s, p in points.items():
        c.plot([q[0] for q in p], [q[1] for q in p], "o-", ms=4, color=sig_colors.get(f"{s:g}", "k"),
               label=f"σ = {s:g}")
    if not points:   # the model is drawn; the runs beside it are said to be missing, never invented
        c.text(0.5, 0.5, "no percolation run computed yet", ha="center", va="center", transform=c.transAxes,
               color="0.4")
    c.axhline(ACCURACY_LEVEL, ls=":", color="0.4", lw=0.8)
    c.set_xlabel("kept fraction λ")
    c.set_ylabel("2-D accuracy, last checkpoint")
    c.set_ylim(-0.03, 1.03)
    if points:
        c.legend(fontsize=7)
    c.set_title(f"trained on {spec['n']} × {spec['n']} bumps", fontsize=9)
    if title:
        fig.suptitle(title)
    return fig
