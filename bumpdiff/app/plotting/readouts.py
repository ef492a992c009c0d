"""Figures 12 and 12b: the two read-outs of every run, as a phase portrait and over training."""
from __future__ import annotations

import matplotlib.pyplot as plt  # headless, matplotlib picks a non-interactive backend by itself
import numpy as np

from ...analysis.phases import PHASE_THRESHOLDS
from ...experiments.stats import order_path
from .style import PHASE_COLORS, styled

__all__ = ["phase_portrait", "order_over_training"]


_SEED_MARKERS = "osD^v<>"


def _readout_grid(runs: dict, title: str, sharey: bool = True):
    """One panel per architecture (rows) × read-out (columns) of ``runs`` = ``{arch: {label: {noise: (folder,
    bundle)}}}`` (:func:`bumpdiff.app.report.readout_runs`); returns (figure, axes, cells), each cell (axis, arch,
    noise, [(seed, path), ...]) with each seed's :func:`~bumpdiff.experiments.stats.order_path`, sorted by seed."""
    archs = list(runs)
    noises = list(dict.fromkeys(n for by_label in runs.values() for per in by_label.values() for n in per))
    noises = noises or ["shared"]
    fig, axes = plt.subplots(len(archs), len(noises), figsize=(4.2 * len(noises), 3.4 * len(archs)),
                             squeeze=False, sharey=sharey, layout="constrained")
    if title:
        fig.suptitle(title, fontsize=10)
    cells = []
    for i, arch in enumerate(archs):
        for j, noise in enumerate(noises):
            seeds = sorted(((per[noise][1]["config"]["seed"], order_path(per[noise][1]["checkpoints"]))
                            for per in runs[arch].values() if noise in per), key=lambda sp: sp[0])
            axes[i, j].set_title(f"{arch} · {noise} read-out", fontsize=9)
            if not seeds:
                axes[i, j].text(0.5, 0.5, "not computed", ha="center", va="center", transform=axes[i, j].transAxes,
                                color="#777777")
            cells.append((axes[i, j], arch, noise, seeds))
    return fig, axes, cells


@styled
def phase_portrait(runs: dict, title: str = "", max_step: int | None = None):
    """Figure 12 · the phase portrait: intrinsic dimension (log scale) against the project's order parameter,
    min(kNN R² x, y), one path per seed coloured by training step, the untrained network ringed, and the latent
    rule's thresholds drawn with the region it calls C shaded; one panel per architecture × read-out (``runs``:
    :func:`bumpdiff.app.report.readout_runs`)."""
    th = PHASE_THRESHOLDS
    fig, axes, cells = _readout_grid(runs, title)
    top = max_step or max((int(p["step"].max()) for *_, seeds in cells for _, p in seeds), default=1) or 1
    norm = plt.Normalize(0, top)
    dims = [d for *_, seeds in cells for _, p in seeds for d in p["intrinsic_dim"] if np.isfinite(d)]
    lo, hi = (min(dims + [th.dim_b]) / 1.3, max(dims + [th.dim_b]) * 1.3) if dims else (1, 100)
    for ax, _, _, seeds in cells:
        ax.set_xscale("log")
        ax.set_xlim(lo, hi)
        ax.set_ylim(-0.15, 1.05)
        ax.fill_between([lo, th.dim_b], th.knn_r2_c, 1.05, color=PHASE_COLORS["C"], lw=0, zorder=0)
        ax.axvline(th.dim_b, color="#555555", ls=":", lw=0.9)
        ax.axhline(th.knn_r2_c, color="#555555", ls=":", lw=0.9)
        for k, (seed, p) in enumerate(seeds):
            ax.plot(p["intrinsic_dim"], p["worse_axis"], "-", color="#999999", lw=0.7, zorder=1)
            ax.scatter(p["intrinsic_dim"], p["worse_axis"], c=p["step"], cmap="viridis", norm=norm, s=16,
                            marker=_SEED_MARKERS[k % len(_SEED_MARKERS)], zorder=2, label=f"seed {seed}")
            if p["step"][0] == 0:
                ax.scatter(p["intrinsic_dim"][:1], p["worse_axis"][:1], s=90, facecolors="none", edgecolors="k",
                           lw=1.0, zorder=3)
        if seeds:
            ax.legend(fontsize=6, loc="lower left", frameon=False)
        ax.set_xlabel("intrinsic dimension (TwoNN)")
    for ax in axes[:, 0]:
        ax.set_ylabel("min(kNN R² x, y)")
    axes[0, 0].text(lo * 1.05, th.knn_r2_c - 0.06, f"C: dim ≤ {th.dim_b:g}, R² ≥ {th.knn_r2_c:g}", fontsize=6,
                    color="#555555")
    fig.colorbar(plt.cm.ScalarMappable(norm=norm, cmap="viridis"), ax=axes, shrink=0.6, label="training step "
                 "(ringed: untrained)")
    return fig


@styled
def order_over_training(runs: dict, title: str = ""):
    """Figure 12b · the paper's order metric over training: min(UMAP R² x, y) (solid) beside the project's
    min(kNN R² x, y) (dashed), per seed, one panel per architecture × read-out (as :func:`phase_portrait`)."""
    th = PHASE_THRESHOLDS
    fig, axes, cells = _readout_grid(runs, title)
    top = max((int(p["step"].max()) for *_, seeds in cells for _, p in seeds), default=1) or 1
    for n, (ax, _, _, seeds) in enumerate(cells):
        ax.set_xlim(-0.03 * top, 1.03 * top)
        ax.axhline(th.knn_r2_c, color="#555555", ls=":", lw=0.9)
        for k, (seed, p) in enumerate(seeds):
            m = _SEED_MARKERS[k % len(_SEED_MARKERS)]
            ax.plot(p["step"], p["umap_worse"], "-", marker=m, ms=3, color=f"C{k}", lw=1.1,
                    label=f"seed {seed}: UMAP R² (paper)")
            ax.plot(p["step"], p["worse_axis"], "--", marker=m, ms=2, color=f"C{k}", lw=0.8, alpha=0.7,
                    label=f"seed {seed}: kNN R²")
        ax.set_ylim(-0.15, 1.05)
        ax.set_xlabel("optimiser steps")
        if seeds and n == 0:
            ax.legend(fontsize=5, loc="lower right", frameon=False)
    for ax in axes[:, 0]:
        ax.set_ylabel("order, worse axis")
    return fig
