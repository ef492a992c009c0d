"""Figure 13: the instruments calibrated — every latent measure on phantoms of known phase against their noise, the
noise of the real latents, and the generation accuracy of each candidate sampler against DDPM-1000."""
from __future__ import annotations

import matplotlib.pyplot as plt
import matplotlib.ticker as mticker
import numpy as np

from ...analysis.phases import LATENT_THRESHOLDS, LatentThresholds, dim_threshold
from .style import styled

__all__ = ["phantom_measures", "noise_and_samplers", "calibrated_portrait"]

#: one colour per phantom kind; the truth of each is in the legend
KIND_COLORS = {"sheet": "#2e7d32", "scrambled": "#c62828", "blocks": "#ef6c00", "folded": "#8e24aa",
               "torn": "#1565c0", "cloud": "#616161"}
#: the measures drawn, with the threshold of the rule each belongs to: (key, label, log scale, rule threshold key)
PANELS = (("knn_r2", "kNN R², worse axis (old rule)", False, "knn_r2_c"),
          ("intrinsic_dim", "MLE dimension, k = 10 (old rule)", True, "dim_b"),
          ("dimension", "Gride dimension, sheet's scale", True, "dim_a"),
          ("geodesic_order", "geodesic order ρ (global)", False, "order_c"),
          ("neighbourhood_agreement", "neighbourhood agreement (local)", False, "local_c"))


@styled
def phantom_measures(calibration: dict, old_thresholds: dict, sizes=("fast", "cpu"), title: str | None = None):
    """One row per phantom size, one panel per measure: the measure against the phantom's noise, the median over
    every phantom of a kind (both splits) with its range shaded; dashed: the threshold of the rule that reads it;
    dotted: the edge of the noise range the real latents show."""
    rows = calibration["rows"]
    th = dict(calibration["thresholds"]) | old_thresholds
    fitted = LatentThresholds(**dict(calibration["thresholds"],
                                     dim_a=tuple(tuple(p) for p in calibration["thresholds"]["dim_a"])))
    fig, axes = plt.subplots(len(sizes), len(PANELS), figsize=(3.0 * len(PANELS), 2.6 * len(sizes)), squeeze=False,
                             layout="constrained")
    for i, size in enumerate(sizes):
        mine = [r for r in rows if r["size"] == size]
        for j, (key, label, log, tkey) in enumerate(PANELS):
            ax = axes[i, j]
            for kind, color in KIND_COLORS.items():
                sel = [r for r in mine if r["kind"] == kind and r.get(key) is not None and np.isfinite(r[key])]
                levels = sorted({r["phantom"]["noise"] for r in sel})
                if not levels:
                    continue
                vals = [[r[key] for r in sel if r["phantom"]["noise"] == lv] for lv in levels]
                ax.plot(levels, [np.median(v) for v in vals], "-o", ms=2.5, lw=1.2, color=color,
                        label=f"{kind} ({sel[0]['truth']})")
                ax.fill_between(levels, [min(v) for v in vals], [max(v) for v in vals], color=color, alpha=0.12, lw=0)
            side = mine[0]["phantom"]["side"] if mine else 16
            level = dim_threshold(fitted, side * side) if tkey == "dim_a" else th[tkey]
            ax.axhline(level, ls="--", lw=0.9, color="k")
            ax.axvline(calibration["noise_range"], ls=":", lw=0.9, color="0.4")
            if log:
                ax.set_yscale("log")
            ax.set_title(label if i == 0 else "", fontsize=9)
            ax.set_xlabel("noise / feature scale" if i == len(sizes) - 1 else "")
            if j == 0:
                side = mine[0]["phantom"]["side"] if mine else "?"
                dim = mine[0]["phantom"]["dim"] if mine else "?"
                ax.set_ylabel(f"{size}: {side}×{side} conditions,\n{dim} features")
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncol=len(KIND_COLORS), fontsize=8, frameon=False)
    if title:
        fig.suptitle(title)
    return fig


@styled
def noise_and_samplers(noise: dict[str, dict], samplers: dict[str, dict], noise_range: float, tolerance: float,
                       title: str | None = None):
    """Left: the noise fraction (√ within / between variance) of layer 4 at every shipped checkpoint, with the noise
    range the phantoms calibrate (shaded). Right: for every candidate sampler and calibrated checkpoint, the largest
    absolute difference from DDPM-1000 in accuracy or a failure fraction (what the tolerance, shaded, bounds)."""
    labels = [f"{profile} {r['set'].removeprefix(profile + '-')} step {r['step']:,} ({r['label']})"
              for profile, cal in noise.items() for r in cal["rows"]]
    fracs = [r["noise_fraction"] for cal in noise.values() for r in cal["rows"]]
    fig, (a, b) = plt.subplots(1, 2, figsize=(12, max(3.4, 0.24 * len(labels) + 1.2)), layout="constrained",
                               gridspec_kw={"width_ratios": [1, 1.3]})
    y = np.arange(len(labels))
    a.axvspan(1e-4, noise_range, color="#d9ead3", alpha=0.7, lw=0, label="phantoms' noise range", zorder=0)
    a.barh(y, fracs, color="#607d8b", zorder=2)
    a.set_xscale("log")
    a.set_xlim(min([f for f in fracs if f > 0], default=1e-3) / 2, max(fracs, default=1.0) * 2)
    a.set_yticks(y, labels, fontsize=7)
    a.invert_yaxis()
    a.set_xlabel("noise fraction of layer 4 (independent read-out)")
    a.legend(fontsize=7, frameon=False, loc="lower right")
    fields = ("accuracy", "frac_none", "frac_multiple", "frac_single_wrong")
    for profile, cal in samplers.items():
        rows = cal["rows"]
        names = list(dict.fromkeys(r["sampler"] for r in rows))
        ref = {(r["set"], r["step"]): r for r in rows if r["sampler"] == names[0]}
        for key, base in ref.items():
            vals = [max(abs(r[f] - base[f]) for f in fields)
                    for s in names[1:] for r in rows if (r["set"], r["step"]) == key and r["sampler"] == s]
            b.plot(range(len(names) - 1), vals, "-o", ms=3, lw=1,
                   label=f"{profile} {key[0].removeprefix(profile + '-')} step {key[1]:,}")
        b.set_xticks(range(len(names) - 1), names[1:], rotation=25, fontsize=7)
    b.axhspan(0, tolerance, color="#d9ead3", alpha=0.7, lw=0, zorder=0)
    b.set_ylabel("largest |difference| from DDPM-1000\n(accuracy or a failure fraction)")
    if samplers:
        b.legend(fontsize=6, frameon=False, ncol=2)
    else:
        b.text(0.5, 0.5, "no sampler calibration computed yet", ha="center", va="center", transform=b.transAxes)
    if title:
        fig.suptitle(title)
    return fig


@styled
def calibrated_portrait(runs: dict, title: str | None = None, readouts=("shared", "independent", "mean")):
    """Layer 4 of every recomputed run under the calibrated rule: one panel per architecture × read-out, the Gride
    dimension (log) against the geodesic order at each analysed checkpoint, one path per seed coloured by training
    step, the untrained network ringed; hollow markers fail the local-agreement threshold. Dashed: the fitted
    thresholds; shaded: where the rule can call C."""
    archs = [a for a in runs if runs[a]]
    fig, axes = plt.subplots(len(archs), len(readouts), figsize=(3.4 * len(readouts), 2.9 * len(archs)),
                             squeeze=False, layout="constrained")
    th = LATENT_THRESHOLDS
    top = max((r["step"] for a in archs for ro in runs[a].values() for b, _ in ro.values()
               for r in b["checkpoints"]), default=1) or 1
    for i, arch in enumerate(archs):
        for j, noise in enumerate(readouts):
            ax = axes[i, j]
            dim_line = None
            for ro in runs[arch].values():
                if noise not in ro:
                    continue
                recs = sorted(ro[noise][0]["checkpoints"], key=lambda r: r["step"])
                x = np.array([r["dimension"] for r in recs])
                y = np.array([r["geodesic_order"] for r in recs])
                ok = np.array([r["neighbourhood_agreement"] >= th.local_c for r in recs])
                c = plt.cm.viridis(np.array([r["step"] for r in recs]) / top)
                ax.plot(x, y, "-", color="0.7", lw=0.8, zorder=1)
                ax.scatter(x[ok], y[ok], c=c[ok], s=18, zorder=2)
                ax.scatter(x[~ok], y[~ok], facecolors="none", edgecolors=c[~ok], s=18, zorder=2)
                if recs and recs[0]["step"] == 0:
                    ax.scatter(x[:1], y[:1], s=90, facecolors="none", edgecolors="k", lw=1.0, zorder=3)
                dim_line = dim_threshold(th, recs[0]["conditions"]) if recs else dim_line
            if dim_line is not None:
                ax.axvline(dim_line, ls="--", lw=0.9, color="k")
                ax.fill_between([1.0, dim_line], th.order_c, 1.05, color="#d9ead3", alpha=0.6, lw=0, zorder=0)
            ax.axhline(th.order_c, ls="--", lw=0.9, color="k")
            ax.set_xscale("log")
            ax.set_xlim(1.0, 100.0)
            ax.xaxis.set_minor_formatter(mticker.NullFormatter())
            ax.xaxis.set_major_formatter(mticker.FormatStrFormatter("%g"))
            ax.set_ylim(-0.1, 1.05)
            ax.set_title(f"{arch}, `{noise}`", fontsize=9)
            if i == len(archs) - 1:
                ax.set_xlabel("Gride dimension at the sheet's scale")
            if j == 0:
                ax.set_ylabel("geodesic order ρ")
    sm = plt.cm.ScalarMappable(cmap="viridis", norm=plt.Normalize(0, top))
    fig.colorbar(sm, ax=axes, label="training step", shrink=0.8)
    if title:
        fig.suptitle(title)
    return fig
