"""Figures 1 and 2: the dataset and the UNet."""
from __future__ import annotations

import matplotlib.pyplot as plt  # headless, matplotlib picks a non-interactive backend by itself
import numpy as np
from matplotlib.patches import FancyBboxPatch

from ...core.config import LAYER_ALIASES, LAYER_NAMES
from ...core.lattice import render
from .style import styled

__all__ = ["data_figure", "model_figure"]


@styled
def data_figure(base, lattices: dict, seed: int = 0):
    """Figure 1: eight example images of ``base`` (a :class:`~bumpdiff.core.data.Lattice`) at centres drawn with
    ``seed``, and the 4 × 4 px corner of the first two of ``lattices`` ({label: Lattice})."""
    fig = plt.figure(figsize=(10, 4.2))
    gs = fig.add_gridspec(2, 7, width_ratios=[1, 1, 1, 1, 0.25, 1.6, 1.6])
    rng = np.random.default_rng(seed)
    examples = base.centers()[rng.choice(len(base), 8, replace=False)]
    n = base.n
    imgs = render(examples, n, base.sigma)
    for k in range(8):
        ax = fig.add_subplot(gs[k // 4, k % 4])
        ax.imshow(imgs[k, 0], cmap="gray", vmin=-1, vmax=1, extent=(0, n, n, 0))
        ax.plot(*examples[k], "x", color="tab:red", ms=5)
        ax.set_title(f"μ=({examples[k][0]:.1f}, {examples[k][1]:.1f})", fontsize=7)
        ax.set_xticks([0, n // 2, n]); ax.set_yticks([0, n // 2, n]); ax.tick_params(labelsize=6)
        if k % 4 == 0:
            ax.set_ylabel("y (px)", fontsize=7)
        if k // 4 == 1:
            ax.set_xlabel("x (px)", fontsize=7)
    for col, (label, lat) in zip((5, 6), list(lattices.items())[:2]):
        ax = fig.add_subplot(gs[:, col])
        c = lat.centers()
        sel = (c[:, 0] < 4) & (c[:, 1] < 4)
        ax.scatter(c[sel, 0], c[sel, 1], s=3, color="k")
        ax.set_xlim(0, 4); ax.set_ylim(4, 0); ax.set_aspect("equal")
        ax.set_title(f"{label}\n{len(lat):,} images (4×4 px corner shown)", fontsize=7)
        ax.set_xlabel("μx (px)"); ax.set_ylabel("μy (px)")
    fig.suptitle("Figure 1 · Gaussian-bump images (left) and lattices of centres (right)")
    return fig


#: where Figure 2 draws each named layer (network order left to right, depth downwards)
_MODEL_POS = {"stem": (0, 3), "down1": (1, 2.2), "down2": (2, 1.4), "down3": (3, 0.6), "mid": (4, 0),
              "up1": (5, 0.6), "up2": (6, 1.4), "up3": (7, 2.2), "out": (8, 3)}


@styled
def model_figure(model, title: str = ""):
    """Figure 2: the UNet drawn from the model itself — each named layer with its alias, attention and output
    shape, the skips, and layer 4 highlighted."""
    cfg = model.cfg
    shapes = model.layer_shapes()
    fig, ax = plt.subplots(figsize=(10, 3.6))
    attn = {"down1": cfg.attn[0], "down2": cfg.attn[1], "down3": cfg.attn[2], "mid": cfg.mid_attn,
            "up1": cfg.attn[2], "up2": cfg.attn[1], "up3": cfg.attn[0]}
    for k, name in LAYER_ALIASES.items():
        x, y = _MODEL_POS[name]
        hl = name == "down3"
        ax.add_patch(FancyBboxPatch((x - 0.42, y - 0.3), 0.84, 0.6, boxstyle="round,pad=0.02",
                                    fc="#ffd966" if hl else "#cfe2f3", ec="k", lw=1.5 if hl else 0.8))
        s = shapes[name]
        ax.text(x, y + 0.1, f"{k}: {name}" + (" +attn" if attn.get(name) else ""), ha="center", fontsize=7,
                weight="bold" if hl else None)
        ax.text(x, y - 0.15, f"{s[0]}×{s[1]}×{s[2]}", ha="center", fontsize=7)
    for a, b in zip(LAYER_NAMES, LAYER_NAMES[1:]):
        (xa, ya), (xb, yb) = _MODEL_POS[a], _MODEL_POS[b]
        ax.annotate("", xy=(xb - 0.43, yb), xytext=(xa + 0.43, ya),
                    arrowprops=dict(arrowstyle="->", lw=0.9, shrinkA=0, shrinkB=0))
    for a, b in (("stem", "out"), ("down1", "up3"), ("down2", "up2"), ("down3", "up1")):
        (xa, ya), (xb, yb) = _MODEL_POS[a], _MODEL_POS[b]
        ax.annotate("", xy=(xb - 0.42, yb + 0.32), xytext=(xa + 0.42, ya + 0.32),
                    arrowprops=dict(arrowstyle="->", ls="--", color="gray", lw=0.8, connectionstyle="arc3,rad=-0.15"))
    ax.text(4, 3.3, "condition: [sin-enc(t), sin-enc(μx), sin-enc(μy)] → MLP → scale/shift in every res block",
            ha="center", fontsize=8, style="italic")
    ax.text(3, -0.05, "layer 4 (studied latent)", ha="center", fontsize=7, color="#7f6000")
    ax.set_xlim(-0.6, 8.6); ax.set_ylim(-0.5, 3.6); ax.axis("off")
    ax.set_title(title)
    return fig
