"""The explorer's view (notebook 00): samples, trajectory and latent of one answer."""
from __future__ import annotations

import matplotlib.pyplot as plt  # headless, matplotlib picks a non-interactive backend by itself
import numpy as np

from .panels import sample_grid, umap_panels
from .style import styled

__all__ = ["explorer_view"]


@styled
def explorer_view(gen, lat, loc, title: str = "", n_traj: int = 8):
    """The explorer's answer: samples with the detector's marks, the denoising trajectory of the first sample,
    and the latent's UMAP coloured by μx and μy with the requested centre (★) placed in it."""
    fig = plt.figure(figsize=(11, 7.2))
    outer = fig.add_gridspec(3, 1, height_ratios=[1.0, 1.0, 2.6], hspace=0.35)
    k = len(gen.images)
    top = outer[0].subgridspec(1, k)
    sample_grid(gen.images, gen.requested, gen.estimated, gen.labels, ncols=k,
                axes=np.array([fig.add_subplot(top[0, i]) for i in range(k)]))
    ts = sorted(gen.trajectory, reverse=True)
    pick = [ts[i] for i in np.linspace(0, len(ts) - 1, min(n_traj, len(ts))).round().astype(int)]
    mid = outer[1].subgridspec(1, len(pick))
    n = gen.images.shape[-1]
    for i, t in enumerate(pick):
        ax = fig.add_subplot(mid[0, i])
        ax.imshow(gen.trajectory[t], cmap="gray", vmin=-1, vmax=1, extent=(0, n, n, 0), interpolation="nearest")
        ax.plot(*gen.requested[0], "x", color="white", ms=5, mew=1.2)
        ax.set_axis_off()
        ax.set_title(f"x̂0 at t={t}", fontsize=7, pad=1)
    bottom = outer[2].subgridspec(1, 2)
    axes = [fig.add_subplot(bottom[0, i], projection="3d") for i in range(2)]
    umap_panels(lat.embedding, lat.grid, axes=axes, title=f"{lat.layer}, t={lat.t}: ", s=6)
    for ax in axes:
        ax.scatter(*loc["point"], marker="*", s=260, c="red", edgecolors="k", depthshade=False, zorder=10)
    o = lat.order
    fig.text(0.5, 0.06, f"kNN R² x / y = {o['knn_r2_x']:.2f} / {o['knn_r2_y']:.2f} · UMAP R² x / y = "
             f"{o['r2_x']:.2f} / {o['r2_y']:.2f} · intrinsic dim {o['intrinsic_dim']:.1f} · ★ = requested centre, its "
             f"{len(loc['neighbours'])} nearest grid centres are {loc['neighbour_error']:.1f} px away on average",
             ha="center", fontsize=8)
    fig.suptitle(f"{title}{gen.verdict}", fontsize=9)
    return fig
