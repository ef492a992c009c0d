"""Panels more than one figure draws: a grid of samples, a UMAP embedding, phase bands, a layer profile."""
from __future__ import annotations

import matplotlib.pyplot as plt  # headless, matplotlib picks a non-interactive backend by itself
import numpy as np

from ...analysis.phases import PHASE_THRESHOLDS, call_phase
from .style import LABEL_COLORS, PHASE_COLORS, styled

__all__ = ["sample_grid", "umap_panels", "phase_bands", "layer_profile"]


@styled
def sample_grid(images, requested, estimated=None, labels=None, ncols: int = 8, title: str | None = None, axes=None):
    """Generated images with the requested centre (white ×) and the detected one (coloured ○ by label)."""
    images = np.asarray(images, dtype=np.float32)
    if images.ndim == 4:
        images = images[:, 0]
    k = len(images)
    nrows = int(np.ceil(k / ncols))
    if axes is None:
        fig, axes = plt.subplots(nrows, ncols, figsize=(1.1 * ncols, 1.1 * nrows + (0.3 if title else 0)))
    else:
        fig = np.ravel(axes)[0].figure
    axes = np.atleast_1d(axes).ravel()
    n = images.shape[-1]
    for i, ax in enumerate(axes):
        ax.set_axis_off()
        if i >= k:
            continue
        ax.imshow(images[i], cmap="gray", vmin=-1, vmax=1, extent=(0, n, n, 0), interpolation="nearest")
        ax.plot(requested[i][0], requested[i][1], "x", color="white", ms=6, mew=1.5)
        lab = labels[i] if labels is not None else None
        if estimated is not None and np.all(np.isfinite(estimated[i])):
            ax.plot(estimated[i][0], estimated[i][1], "o", mfc="none", mec=LABEL_COLORS.get(lab, "cyan"), ms=8, mew=1.2)
        if lab is not None:
            ax.set_title(lab.replace("_", "-"), fontsize=6, color=LABEL_COLORS.get(lab, "k"), pad=1)
    if title:
        fig.suptitle(title)
    return fig


@styled
def umap_panels(embedding, grid, axes=None, title: str = "", s: float = 4):
    """Two 3-D scatter panels of a UMAP embedding coloured by μx and by μy, with colour bars."""
    if axes is None:
        fig = plt.figure(figsize=(7, 3.2))
        axes = [fig.add_subplot(1, 2, i + 1, projection="3d") for i in range(2)]
    fig = axes[0].figure
    for ax, j, lab in zip(axes, (0, 1), ("μx (px)", "μy (px)")):
        points = ax.scatter(embedding[:, 0], embedding[:, 1], embedding[:, 2], c=grid[:, j], cmap="viridis", s=s,
                        vmin=0, vmax=float(np.ceil(grid.max())), depthshade=False)
        ax.set_xticks([]); ax.set_yticks([]); ax.set_zticks([])
        ax.set_xlabel("UMAP 1", labelpad=-12, fontsize=7); ax.set_ylabel("UMAP 2", labelpad=-12, fontsize=7)
        ax.set_zlabel("UMAP 3", labelpad=-12, fontsize=7)
        ax.set_title(f"{title}coloured by {lab.split()[0]}", fontsize=8)
        cb = fig.colorbar(points, ax=ax, shrink=0.6, pad=0.12)
        cb.set_label(lab, fontsize=7)
    return fig


@styled
def phase_bands(ax, x, phases):
    """Shade the background of ``ax`` by phase between consecutive x positions."""
    x = np.asarray(x, dtype=float)
    if len(x) == 0:
        return
    edges = np.r_[x[0], (x[1:] + x[:-1]) / 2, x[-1]]
    for i, ph in enumerate(phases):
        ax.axvspan(edges[i], edges[i + 1], color=PHASE_COLORS[ph], lw=0, zorder=0)
    for ph, col in PHASE_COLORS.items():
        ax.plot([], [], "s", color=col, ms=8, label=f"phase {ph}")


@styled
def layer_profile(ax, rows: list[dict], readout=500, title: str | None = None):
    """Where the ordered sheet lives at one checkpoint: a bar per layer (top to bottom in network order) of
    min(kNN R² x, kNN R² y) from the atlas rows of that checkpoint at ``readout``, coloured by the latent call of
    the phase rule, with the intrinsic dimension written beside it."""
    rs = [r for r in rows if r["readout"] == readout]
    if not rs:
        raise ValueError(f"readout must be one of the rows' read-outs {sorted({str(r['readout']) for r in rows})}, "
                         f"got {readout!r}")
    vals = [min(r["knn_r2_x"], r["knn_r2_y"]) for r in rs]
    calls = [call_phase(order=r) for r in rs]
    y = np.arange(len(rs))
    ax.barh(y, vals, color=[PHASE_COLORS[c] for c in calls], edgecolor="k", lw=0.5)
    for i, r in enumerate(rs):
        ax.text(1.02, i, f"{calls[i]} · ID {r['intrinsic_dim']:.1f}", va="center", fontsize=6, clip_on=False)
    ax.axvline(PHASE_THRESHOLDS.knn_r2_c, color="k", ls=":", lw=0.8)
    ax.set_yticks(y, [r["layer"] for r in rs], fontsize=7)
    ax.set_ylim(len(rs) - 0.5, -0.5)
    ax.set_xlim(0, 1)
    ax.set_xlabel("min(kNN R² x, y)", fontsize=7)
    ax.tick_params(axis="x", labelsize=6)
    ax.set_title(title or f"order by layer (t = {readout})", fontsize=8)
    return ax
