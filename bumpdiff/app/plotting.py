"""Figure helpers. Notebooks call these; they never compute results, only draw them."""
from __future__ import annotations

import functools
from pathlib import Path

import matplotlib.pyplot as plt  # headless, matplotlib picks a non-interactive backend by itself
import numpy as np
from matplotlib.colors import ListedColormap
from matplotlib.patches import FancyBboxPatch

from ..analysis.evaluate import breakdown
from ..analysis.phases import PHASE_THRESHOLDS, call_phase, shown_records
from ..common import paths
from ..core.data import render
from ..core.model import LAYER_ALIASES, LAYER_NAMES
from ..experiments.stats import order_path
from ..store.bundles import step_arrays

PHASE_COLORS = {"A": "#f4cccc", "B": "#fff2cc", "C": "#d9ead3"}
LABEL_COLORS = {"none": "#999999", "multiple": "#e06666", "single_wrong": "#f6b26b", "correct": "#6aa84f"}

#: The figures' look, applied by :func:`style` around each drawing function (never to matplotlib's global state:
#: importing this module leaves the caller's rcParams as they were).
STYLE = {"figure.dpi": 110, "savefig.dpi": 200, "font.size": 9, "axes.titlesize": 10,
         "axes.spines.top": False, "axes.spines.right": False}


def style():
    """A context in which matplotlib draws with :data:`STYLE` (``with plotting.style(): ...``)."""
    return plt.rc_context(STYLE)


def styled(draw):
    """Decorator: ``draw`` runs inside :func:`style`."""
    @functools.wraps(draw)
    def wrapper(*args, **kwargs):
        with style():
            return draw(*args, **kwargs)
    return wrapper


def figure_dir(profile: str) -> Path:
    """figures/ for the reference ``cpu`` profile, figures/<profile>/ for the others."""
    d = paths.figures_dir() if profile == "cpu" else paths.figures_dir() / profile
    d.mkdir(parents=True, exist_ok=True)
    return d


def save(fig, name: str, profile: str, stamp: str | None = None) -> list[Path]:
    """Save ``fig`` as PNG and PDF under a stable name, stamped with profile and commit."""
    if stamp:
        fig.text(0.995, 0.005, stamp, ha="right", va="bottom", fontsize=6, color="#777777")
    d = figure_dir(profile)
    out = []
    for ext in ("png", "pdf"):
        p = d / f"{name}.{ext}"
        fig.savefig(p, dpi=STYLE["savefig.dpi"], bbox_inches="tight",
                    metadata={"Creator": "bumpdiff"} if ext == "png" else None)
        out.append(p)
    return out


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
        sc = ax.scatter(embedding[:, 0], embedding[:, 1], embedding[:, 2], c=grid[:, j], cmap="viridis", s=s,
                        vmin=0, vmax=float(np.ceil(grid.max())), depthshade=False)
        ax.set_xticks([]); ax.set_yticks([]); ax.set_zticks([])
        ax.set_xlabel("UMAP 1", labelpad=-12, fontsize=7); ax.set_ylabel("UMAP 2", labelpad=-12, fontsize=7)
        ax.set_zlabel("UMAP 3", labelpad=-12, fontsize=7)
        ax.set_title(f"{title}coloured by {lab.split()[0]}", fontsize=8)
        cb = fig.colorbar(sc, ax=ax, shrink=0.6, pad=0.12)
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
def learning_curves(records, x: str = "epoch", axes=None, title: str | None = None):
    """Accuracy and failure breakdown (top), order parameters (bottom), phase bands on both."""
    r = {k: np.array([c[k] for c in records]) for k in records[0] if not isinstance(records[0][k], dict)}
    xs = r[x]
    if axes is None:
        fig, axes = plt.subplots(2, 1, figsize=(8, 5), sharex=True)
    fig = axes[0].figure
    ax = axes[0]
    phase_bands(ax, xs, r["phase"])
    ax.stackplot(xs, r["accuracy"], r["frac_single_wrong"], r["frac_multiple"], r["frac_none"],
                 colors=[LABEL_COLORS[k] for k in ("correct", "single_wrong", "multiple", "none")], alpha=0.55,
                 labels=["correct", "single-wrong", "multiple", "none"])
    ax.plot(xs, r["accuracy"], "k-", lw=1.5, label="accuracy")
    ax.set_ylim(0, 1); ax.set_ylabel("fraction of samples")
    ax.legend(fontsize=6, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    ax = axes[1]
    phase_bands(ax, xs, r["phase"])
    for k, st, lab in (("r2_x", "C0-", "R²x (UMAP)"), ("r2_y", "C1-", "R²y (UMAP)"),
                       ("knn_r2_x", "C0--", "kNN R²x (raw)"), ("knn_r2_y", "C1--", "kNN R²y (raw)")):
        ax.plot(xs, np.clip(r[k], -0.1, 1), st, lw=1.2, label=lab)
    ax.set_ylim(-0.1, 1.02); ax.set_ylabel("R²")
    ax.set_xlabel({"epoch": "training epochs", "images_seen": "training images seen", "step": "optimiser steps"}[x])
    ax.legend(fontsize=6, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    if title:
        axes[0].set_title(title, fontsize=9)
    return fig


@styled
def seed_phases(runs: dict, x: str = "epoch", title: str | None = None):
    """One row per run (``{label: checkpoint records}``): the combined phase call as background bands, the
    generation and latent calls as two thin strips above, accuracy and kNN R²x / R²y as lines."""
    fig, axes = plt.subplots(len(runs), 1, figsize=(8, 1.5 * len(runs) + 0.6), sharex=True, squeeze=False)
    for ax, (label, recs) in zip(axes[:, 0], runs.items()):
        recs = sorted(recs, key=lambda r: r["step"])
        xs = np.array([r[x] for r in recs], dtype=float)
        phase_bands(ax, xs, [r["phase"] for r in recs])
        if len(xs) > 1:
            edges = np.r_[xs[0], (xs[1:] + xs[:-1]) / 2, xs[-1]]
            for row, key in ((1.10, "phase_generation"), (1.04, "phase_representation")):
                for i, r in enumerate(recs):
                    ax.fill_between(edges[i:i + 2], row, row + 0.05, color=PHASE_COLORS[r[key]], lw=0, clip_on=False)
            ax.text(1.005, 1.125, "generation", transform=ax.transAxes, fontsize=5, va="center")
            ax.text(1.005, 1.065, "latent", transform=ax.transAxes, fontsize=5, va="center")
        ax.plot(xs, [r["accuracy"] for r in recs], "k-", lw=1.4, label="accuracy")
        ax.plot(xs, np.clip([r["knn_r2_x"] for r in recs], -0.1, 1), "C0--", lw=1.0, label="kNN R²x (raw)")
        ax.plot(xs, np.clip([r["knn_r2_y"] for r in recs], -0.1, 1), "C1--", lw=1.0, label="kNN R²y (raw)")
        ax.set_ylim(-0.1, 1.0)
        ax.set_ylabel(label.replace(" seed", "\nseed"), fontsize=7)
    axes[0, 0].legend(fontsize=6, loc="upper left", bbox_to_anchor=(1.01, 0.9), frameon=False)
    axes[-1, 0].set_xlabel({"epoch": "training epochs", "images_seen": "training images seen",
                            "step": "optimiser steps"}[x])
    if title:
        axes[0, 0].set_title(title, fontsize=9, pad=14)
    fig.tight_layout()
    return fig


@styled
def per_axis_curves(results: dict, groups: list[str], threshold: float, x: str = "images_seen"):
    """Figure 5: per-axis accuracy (top) and per-axis order parameters (bottom) against training, one column
    per group of runs (e.g. lattice), every seed drawn, its crossings of ``threshold`` marked.

    ``results`` maps run labels to (bundle, arrays) as loaded (each bundle with its ``group`` and ``seed``); a group
    without runs gets an explicit "not run"
    panel; a run stopped by an early-stop rule ends in a marker and says so in its panel."""
    scale = 1e3 if x == "images_seen" else 1.0
    fig, axes = plt.subplots(2, len(groups), figsize=(3.9 * len(groups) + 1.2, 5.6), sharey="row", squeeze=False)
    for j, group in enumerate(groups):
        runs = {b["seed"]: b for b, _ in results.values() if b["group"] == group}
        top, bottom = axes[0, j], axes[1, j]
        top.set_title(group, fontsize=8)
        if not runs:
            for ax in (top, bottom):
                ax.text(0.5, 0.5, "not run for this profile", ha="center", va="center", transform=ax.transAxes,
                        color="#777777", fontsize=8)
            continue
        stops = []
        for seed, b in sorted(runs.items()):
            recs = b["checkpoints"]
            xs = np.array([r[x] for r in recs]) / scale
            for key, col in (("acc_x", "C0"), ("acc_y", "C1")):
                ys = np.array([r[key] for r in recs])
                top.plot(xs, ys, color=col, lw=1.0, alpha=0.85,
                         label=f"{key.replace('_', ' ')}" if seed == min(runs) else None)
                c = next((r for r in recs if r[key] >= threshold), None)
                if c is not None:
                    top.axvline(c[x] / scale, color=col, lw=0.6, ls=":", alpha=0.9)
            for key, col, st in (("r2_x", "C0", "-"), ("r2_y", "C1", "-"), ("knn_r2_x", "C0", "--"),
                                 ("knn_r2_y", "C1", "--")):
                lab = {"r2_x": "R²x (UMAP)", "r2_y": "R²y (UMAP)", "knn_r2_x": "kNN R²x (raw)",
                       "knn_r2_y": "kNN R²y (raw)"}[key]
                bottom.plot(xs, np.clip([r[key] for r in recs], -0.1, 1), color=col, ls=st, lw=0.9, alpha=0.8,
                            label=lab if seed == min(runs) else None)
            if b.get("early_stop"):
                stops.append(b["early_stop"])
                r = next(r for r in recs if r["step"] == b["early_stop"]["step"])
                top.plot(r[x] / scale, max(r["acc_x"], r["acc_y"]), "kv", ms=5)
        top.axhline(threshold, color="gray", ls="-", lw=0.6)
        note = (f"{len(runs)} seed{'s' if len(runs) > 1 else ''} ({', '.join(map(str, sorted(runs)))}); "
                f"dotted: crossings of {threshold}")
        if stops:
            note += f"\n{len(stops)} run(s) {stops[0]['rule']} (▼)"
            stopped = [b for b in runs.values() if b.get("early_stop")]
            if any(b["checkpoints"][-1]["step"] > b["early_stop"]["step"] for b in stopped):
                note += "\ncurves go on past ▼ where a run was trained further"
        top.set_title(f"{group}\n{note}", fontsize=7)
        top.set_ylim(-0.02, 1.02); bottom.set_ylim(-0.1, 1.02)
        bottom.set_xlabel({"images_seen": "training images seen (thousands)", "epoch": "training epochs",
                           "step": "optimiser steps"}[x])
    axes[0, 0].set_ylabel("per-axis accuracy")
    axes[1, 0].set_ylabel("R² of μx, μy (layer 4)")
    for i in (0, 1):  # one legend per row, from the first panel that has curves, right of the last panel
        src = next((ax for ax in axes[i] if ax.get_legend_handles_labels()[0]), None)
        if src is not None:
            axes[i, -1].legend(*src.get_legend_handles_labels(), fontsize=6, loc="upper left",
                               bbox_to_anchor=(1.01, 1.0), frameon=False)
    return fig


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


def _ordered(data: dict) -> list[dict]:
    """A tracked study's checkpoint entries in training order (JSON keeps its keys sorted as strings)."""
    return sorted(data["checkpoints"].values(), key=lambda c: c["step"])


def _steps_and_phases(data: dict, records: list[dict] | None):
    steps = np.array([c["step"] for c in _ordered(data)])
    by_step = {r["step"]: r for r in (records or [])}
    phases = [by_step[s]["phase"] if s in by_step else None for s in steps]
    return steps, (phases if all(p is not None for p in phases) else None)


@styled
def commitment_over_training(data: dict, records: list[dict] | None = None, show_steps: int = 4):
    """(a) commitment time of x, y and both over training (median, interquartile band) and (b) the fraction of
    samples committed, with the phase bands of ``records`` (the same run's bundle); (c) the mean number of bumps
    in x̂0 along the reverse process at ``show_steps`` checkpoints."""
    steps, phases = _steps_and_phases(data, records)
    cks = _ordered(data)
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6), gridspec_kw={"width_ratios": [1.3, 1, 1]})
    ax = axes[0]
    if phases:
        phase_bands(ax, steps, phases)
    for axis, col in (("x", "C0"), ("y", "C1"), ("both", "k")):
        q = np.array([c[f"t_commit_{axis}"] or [np.nan] * 3 for c in cks], dtype=float)
        ax.plot(steps, q[:, 1], "-o", color=col, ms=3, lw=1.3, label=f"{axis}: median")
        if axis != "both":
            ax.fill_between(steps, q[:, 0], q[:, 2], color=col, alpha=0.18, lw=0)
    ax.set_ylim(0, cks[0]["timesteps"][0] + 20)
    ax.set_xlabel("optimiser steps"); ax.set_ylabel("commitment time t (reverse process: high t → 0)")
    ax.legend(fontsize=7, loc="upper left", frameon=False)
    ax.set_title("(a) when the position is decided (IQR shaded)", fontsize=9)
    ax = axes[1]
    if phases:
        phase_bands(ax, steps, phases)
    for axis, col in (("x", "C0"), ("y", "C1"), ("both", "k")):
        ax.plot(steps, [c[f"committed_{axis}"] for c in cks], "-o", color=col, ms=3, lw=1.3, label=axis)
    same = [np.nan if c["same_step_xy"] is None else c["same_step_xy"] for c in cks]
    ax.plot(steps, same, ":", color="C2", lw=1.5, label="x and y at the same step")
    ax.set_ylim(0, 1.02); ax.set_xlabel("optimiser steps"); ax.set_ylabel("fraction of samples")
    ax.legend(fontsize=7, loc="upper left", frameon=False)
    ax.set_title("(b) committed by the end", fontsize=9)
    ax = axes[2]
    pick = [cks[i] for i in np.linspace(0, len(cks) - 1, min(show_steps, len(cks))).round().astype(int)]
    cmap = plt.get_cmap("viridis")
    for i, c in enumerate(pick):
        ax.plot(c["timesteps"], c["mean_bumps"], "-", color=cmap(i / max(1, len(pick) - 1)), lw=1.4,
                label=f"step {c['step']:,}")
    ax.axhline(1, color="#999999", lw=0.8, ls="--")
    ax.invert_xaxis(); ax.set_xlabel("t along the reverse process"); ax.set_ylabel("mean number of bumps in x̂0")
    ax.legend(fontsize=7, frameon=False)
    ax.set_title("(c) bumps along the reverse process", fontsize=9)
    fig.tight_layout()
    return fig


@styled
def spectrum_over_training(data: dict, records: list[dict] | None = None):
    """(a) participation ratio of each layer over training, beside the analysis's intrinsic dimension of layer 4
    (from ``records``), and (b) the variance explained by the top k principal components, with phase bands."""
    steps, phases = _steps_and_phases(data, records)
    cks = _ordered(data)
    layers = [r["layer"] for r in cks[0]["rows"]]
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.6))
    ax = axes[0]
    if phases:
        phase_bands(ax, steps, phases)
    for j, layer in enumerate(layers):
        ax.plot(steps, [c["rows"][j]["participation_ratio"] for c in cks], "-o", ms=3, lw=1.3, color=f"C{j}",
                label=f"{layer}: participation ratio")
    if records:
        by_step = {r["step"]: r for r in records}
        ax.plot(steps, [by_step[s]["intrinsic_dim"] if s in by_step else np.nan for s in steps], "k--", lw=1.2,
                label="down3: intrinsic dim. (analysis)")
    ax.set_ylim(bottom=0); ax.set_xlabel("optimiser steps"); ax.set_ylabel("dimension")
    ax.legend(fontsize=7, frameon=False, loc="upper right")
    ax.set_title("(a) effective dimension of the latent grid", fontsize=9)
    ax = axes[1]
    if phases:
        phase_bands(ax, steps, phases)
    ks = list(cks[0]["rows"][0]["explained"])
    for j, layer in enumerate(layers):
        for k, ls in zip(ks, ["-", "--", ":", "-.", (0, (1, 3))]):
            if k in ("2", "10"):
                ax.plot(steps, [c["rows"][j]["explained"][k] for c in cks], ls=ls, color=f"C{j}", lw=1.3,
                        label=f"{layer}: top {k}")
    ax.set_ylim(0, 1.02); ax.set_xlabel("optimiser steps"); ax.set_ylabel("fraction of variance")
    ax.legend(fontsize=7, frameon=False, loc="lower right", ncol=2)
    ax.set_title("(b) variance in the top principal components", fontsize=9)
    fig.tight_layout()
    return fig


@styled
def atlas_heatmaps(data: dict, records: list[dict] | None = None, readouts=None):
    """Layer × training-step heat maps of an atlas (one column per read-out: each t, and the ``sampling``
    read-out as a row of its own): top, min(kNN R² x, kNN R² y) — how well the layer orders *both* axes; bottom,
    the intrinsic dimension; a strip of the phase call of ``records`` (the same run's bundle) above each."""
    cks = _ordered(data)
    steps = [c["step"] for c in cks]
    ts = [r for r in dict.fromkeys(r["readout"] for r in cks[0]["rows"]) if r != "sampling"]
    readouts = ts + ["sampling"] if readouts is None else readouts
    layers = [r["layer"] for r in cks[0]["rows"] if r["readout"] == readouts[0]]
    ims = {}
    fig, axes = plt.subplots(2, len(readouts), figsize=(2.6 * len(readouts) + 1.2, 6.4), squeeze=False,
                             sharey="row")
    by_step = {r["step"]: r for r in (records or [])}
    strip = [by_step[s]["phase"] if s in by_step else None for s in steps]
    cmap_ph = ListedColormap([PHASE_COLORS[p] for p in "ABC"])
    for j, ro in enumerate(readouts):
        for i, (what, cmap, vmin, vmax) in enumerate((("knn", "viridis", 0, 1), ("dim", "magma_r", 1, 12))):
            M = np.full((len(layers), len(steps)), np.nan)
            for k, c in enumerate(cks):
                for r in c["rows"]:
                    if r["readout"] == ro and r["layer"] in layers:
                        v = min(r["knn_r2_x"], r["knn_r2_y"]) if what == "knn" else r["intrinsic_dim"]
                        M[layers.index(r["layer"]), k] = v
            ax = axes[i, j]
            im = ax.imshow(M, aspect="auto", cmap=cmap, vmin=vmin, vmax=vmax, interpolation="nearest",
                           extent=(-0.5, len(steps) - 0.5, len(layers) - 0.5, -0.5))
            if all(p is not None for p in strip):
                ax.imshow(np.array([["ABC".index(p) for p in strip]]), aspect="auto", cmap=cmap_ph, vmin=0, vmax=2,
                          extent=(-0.5, len(steps) - 0.5, -0.5, -1.1), interpolation="nearest")
                ax.set_ylim(len(layers) - 0.5, -1.1)
            ax.set_yticks(range(len(layers)), layers, fontsize=7)
            tick = np.linspace(0, len(steps) - 1, min(5, len(steps))).round().astype(int)
            ax.set_xticks(tick, [f"{steps[k]:,}" for k in tick], fontsize=6, rotation=45)
            if i == 0:
                ax.set_title(f"t = {ro}" if ro != "sampling" else "along sampling", fontsize=9)
            if i == 1:
                ax.set_xlabel("optimiser steps", fontsize=8)
            ims[i] = im
    for i, lab in enumerate(("min(kNN R² x, kNN R² y)", "intrinsic dimension")):
        fig.colorbar(ims[i], ax=axes[i, :].tolist(), shrink=0.85, label=lab)
    return fig


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


TORUS_STYLE = {"coupled": ("#7f7f7f", "coupled torus (3-D)"), "factorised": ("#17becf", "factorised torus (4-D)")}


@styled
def torus_topology(data: dict, records: list[dict], arrays: dict | None = None, n_samples: int = 8,
                   step: int | None = None):
    """The topology study of a run on a periodic canvas (:mod:`bumpdiff.analysis.topology`): top, generated samples
    whose requested centre is nearest an edge (so the bump wraps) from ``arrays`` of the run's bundle; middle, (a)
    accuracy and the circular kNN R² of the analysis layer over training (``records``) with the phase bands,
    (b) the longest H1 lifetimes of each layer and of the two ideal tori at the last tracked checkpoint, (c) the
    bottleneck distance of each layer's diagrams to each ideal torus over the tracked checkpoints; bottom, the
    H1 and H2 persistence diagrams at the last tracked checkpoint, one panel per layer and ideal torus. ``step``
    picks another tracked checkpoint for the samples, (b) and the diagrams."""
    cks = _ordered(data)
    tracked = [c["step"] for c in cks]
    if step is None:
        step = tracked[-1]
    if step not in tracked:
        raise ValueError(f"step must be one of the tracked checkpoints {tracked}, got {step!r}")
    rows = cks[tracked.index(step)]["rows"]
    fig = plt.figure(figsize=(12, 8.6))
    gs = fig.add_gridspec(3, 1, height_ratios=[0.8, 1.3, 1.3], hspace=0.45)
    top = gs[0].subgridspec(1, n_samples, wspace=0.08)
    mid = gs[1].subgridspec(1, 3, wspace=0.3)
    bot = gs[2].subgridspec(1, len(rows), wspace=0.3)
    if arrays is not None and f"samples_{step:07d}" in arrays:
        _edge_samples([fig.add_subplot(top[0, i]) for i in range(n_samples)], arrays, records, step)
    _torus_learning(fig.add_subplot(mid[0, 0]), records)
    _h1_lifetimes(fig.add_subplot(mid[0, 1]), rows, step)
    learned = [r["layer"] for r in rows if r["layer"] not in TORUS_STYLE]
    _bottleneck_over_training(fig.add_subplot(mid[0, 2]), cks, learned)
    for j, r in enumerate(rows):
        _persistence_diagram(fig.add_subplot(bot[0, j]), r, j)
    return fig


def _edge_samples(axs, arrays: dict, records: list[dict], step: int) -> None:
    """Generated samples of ``step`` whose requested centre is nearest an edge (so the bump wraps)."""
    key = f"{step:07d}"
    imgs, req = arrays[f"samples_{key}"], arrays[f"sample_centers_{key}"]
    est = arrays[f"sample_estimated_{key}"]
    n = imgs.shape[-1]
    edge = np.minimum(req, n - req).min(1)                      # distance of the request to the nearest edge
    pick = np.argsort(edge, kind="stable")[:len(axs)]
    by_step = {r["step"]: r for r in records}
    sample_grid(imgs[pick], req[pick], est[pick], axes=axs)
    axs[0].set_title(f"samples at step {step} requested nearest an edge (× requested, ○ detected); "
                     f"accuracy over all {by_step[step]['n']}: {by_step[step]['accuracy']:.2f}",
                     fontsize=8, loc="left")


def _torus_learning(ax, records: list[dict]) -> None:
    """(a) accuracy and the circular kNN R² over training, with the phase bands."""
    xs = np.array([r["step"] for r in records])
    phase_bands(ax, xs, [r["phase"] for r in records])
    ax.plot(xs, [r["accuracy"] for r in records], "k-", lw=1.5, label="accuracy")
    ax.plot(xs, [r["knn_r2_x"] for r in records], "C0--", lw=1.2, label="kNN R²x (circular)")
    ax.plot(xs, [r["knn_r2_y"] for r in records], "C1--", lw=1.2, label="kNN R²y (circular)")
    ax.set_ylim(-0.1, 1.02); ax.set_xlabel("optimiser steps")
    ax.legend(fontsize=6, frameon=False, loc="lower right")
    ax.set_title("(a) generation and layer-4 order on the torus", fontsize=9)


def _h1_lifetimes(ax, rows: list[dict], step: int) -> None:
    """(b) the longest H1 lifetimes of each layer and ideal torus at one checkpoint."""
    for j, r in enumerate(rows):
        col, lab = TORUS_STYLE.get(r["layer"], (f"C{j}", r["layer"]))
        life = r["h1"]["lifetimes"][:10]
        ax.plot(np.arange(1, len(life) + 1), life, "-o", ms=3, color=col,
                label=f"{lab}: {r['h1']['count']} in H1, {r['h2']['count'] if 'h2' in r else '–'} in H2")
    ax.set_xlabel("bar (longest first)"); ax.set_ylabel("H1 lifetime (unit-RMS cloud)")
    ax.legend(fontsize=6, frameon=False)
    ax.set_title(f"(b) H1 lifetimes, step {step}", fontsize=9)


def _bottleneck_over_training(ax, cks: list[dict], layers: list[str]) -> None:
    """(c) bottleneck distance of each layer's diagrams to each ideal torus over the tracked checkpoints."""
    tracked = [c["step"] for c in cks]
    for j, layer in enumerate(layers):
        for name, ls in (("coupled", "-"), ("factorised", "--")):
            for h, mk in (("h1", "o"), ("h2", "s")):
                ys = [next(r for r in c["rows"] if r["layer"] == layer)["bottleneck"].get(h, {}).get(name, np.nan)
                      for c in cks]
                ax.plot(tracked, ys, ls=ls, marker=mk, ms=3, color=f"C{j}", label=f"{layer} {h.upper()} → {name}")
    ax.set_ylim(bottom=0); ax.set_xlabel("optimiser steps"); ax.set_ylabel("bottleneck distance")
    ax.legend(fontsize=5.5, frameon=False, ncol=2)
    ax.set_title("(c) distance to each ideal torus (smaller: closer)", fontsize=9)


def _persistence_diagram(ax, r: dict, j: int) -> None:
    """The H1 and H2 persistence diagram of one layer or ideal torus."""
    col, lab = TORUS_STYLE.get(r["layer"], (f"C{j}", f"learned: {r['layer']}"))
    hi = 0.0
    for h, mk, c in (("h1", "o", "C3"), ("h2", "^", "C2")):
        d = np.asarray(r.get(h, {}).get("diagram", []), dtype=float).reshape(-1, 2)
        if len(d):
            ax.scatter(d[:, 0], d[:, 1], s=8, marker=mk, color=c, label=f"{h.upper()} ({r[h]['count']})")
            hi = max(hi, float(d.max()))
    hi = hi * 1.05 or 1.0
    ax.plot([0, hi], [0, hi], color="#999999", lw=0.8)
    ax.set_xlim(0, hi); ax.set_ylim(0, hi); ax.set_xlabel("birth"); ax.set_ylabel("death")
    ax.legend(fontsize=6, frameon=False, loc="lower right")
    ax.set_title(lab, fontsize=8, color=col if r["layer"] in TORUS_STYLE else "k")


@styled
def holdout_curves(runs: dict, x: str = "step"):
    """The held-out-square study, one column per square (the runs' group): top, accuracy on
    the seen centres (dashed) and on the held-out ones (solid) over training, one line per seed; middle, the
    held-out samples' failure breakdown at the last checkpoint of each seed; bottom, where the latent puts the
    held-out conditions (kNN error from the seen ones, px) against the error of a perfectly ordered latent."""
    groups: dict = {}
    for bundle, _ in runs.values():
        groups.setdefault(bundle["group"], []).append((bundle["seed"], bundle))
    fig, axes = plt.subplots(3, len(groups), figsize=(4.2 * len(groups), 8.2), squeeze=False,
                             gridspec_kw={"height_ratios": [1.2, 0.8, 1.0]})
    xlabel = {"epoch": "training epochs", "images_seen": "training images seen", "step": "optimiser steps"}[x]
    for j, (square, seeds) in enumerate(groups.items()):
        ax, axb, axl = axes[0, j], axes[1, j], axes[2, j]
        ticks = []  # each bar's seed and the step of the checkpoint it was drawn from
        for k, (seed, b) in enumerate(sorted(seeds, key=lambda sb: sb[0])):
            recs = [r for r in b["checkpoints"] if "heldout" in r]
            ticks.append(f"seed {seed} (step {recs[-1]['step']:,})")
            xs = [r[x] for r in recs]
            ax.plot(xs, [r["accuracy"] for r in recs], "--", color=f"C{k}", lw=1.1, label=f"seed {seed}: seen")
            ax.plot(xs, [r["heldout"]["accuracy"] for r in recs], "-", color=f"C{k}", lw=1.6,
                    label=f"seed {seed}: held out")
            last = recs[-1]["heldout"]
            left = 0.0
            for lab in ("correct", "single_wrong", "multiple", "none"):
                v = last["labels"][lab] / last["n"]
                axb.barh(k, v, left=left, color=LABEL_COLORS[lab], label=lab.replace("_", "-") if k == 0 else None)
                left += v
            axl.plot(xs, [(r["heldout"]["latent_error_x"] + r["heldout"]["latent_error_y"]) / 2 for r in recs],
                     "-o", ms=2.5, color=f"C{k}", label=f"seed {seed}")
            axl.axhline(recs[-1]["heldout"]["latent_error_ordered"], color="#777777", ls=":", lw=1)
        ax.set_ylim(0, 1.02); ax.set_xlabel(xlabel); ax.set_ylabel("accuracy")
        ax.set_title(f"{square}: seen vs held-out centres", fontsize=9)
        ax.legend(fontsize=6, frameon=False)
        axb.set_yticks(range(len(ticks)), ticks, fontsize=7)
        axb.set_xlim(0, 1); axb.set_xlabel("held-out samples at the last checkpoint")
        axb.legend(fontsize=6, frameon=False, ncol=4, loc="upper center", bbox_to_anchor=(0.5, -0.45))
        axl.set_ylim(bottom=0); axl.set_xlabel(xlabel); axl.set_ylabel("latent error of held-out (px)")
        axl.set_title("where the latent puts the hole\n(dotted: a perfectly ordered latent)", fontsize=8)
        axl.legend(fontsize=6, frameon=False)
    fig.tight_layout()
    return fig


@styled
def phases_figure(bundle: dict, arrays: dict, atlas: dict | None = None, title: str = ""):
    """Figure 3: one row per phase at the checkpoint :func:`~bumpdiff.analysis.phases.shown_records` picks — the
    layer-4 UMAP coloured by μx and μy, where the ordered sheet lives in the network (from ``atlas``, the run's own
    atlas, when it has that checkpoint), and generated samples with the requested centres marked."""
    fig = plt.figure(figsize=(14, 3.3 * 3))
    sub = fig.subfigures(3, 1)
    for row, (ph, (r, exact)) in enumerate(shown_records(bundle["checkpoints"]).items()):
        _phase_row(sub[row], ph, r, exact, bundle, arrays, atlas)
    fig.suptitle(title, y=1.01)
    return fig


def _phase_row(sf, ph: str, r: dict, exact: bool, bundle: dict, arrays: dict, atlas: dict | None) -> None:
    head = (f"phase {ph} (combined and generation call)" if exact else
            f"no checkpoint is phase {ph} by both calls; closest shown (combined {r['phase']}, generation "
            f"{r['phase_generation']}, latent {r['phase_representation']})")
    a = step_arrays(arrays, r["step"])
    axs = [sf.add_subplot(1, 5, 1, projection="3d"), sf.add_subplot(1, 5, 2, projection="3d")]
    umap_panels(a["embedding"], a["grid"], axes=axs)
    lax = sf.add_axes([0.5, 0.18, 0.07, 0.66])
    cell = (atlas or {}).get("checkpoints", {}).get(str(r["step"]))
    if cell is not None:
        t_read = min(atlas["spec"]["timesteps"], key=lambda t: abs(t - bundle["analysis"]["t"]))  # layer 4's t
        layer_profile(lax, cell["rows"], readout=t_read)
    else:
        lax.set_axis_off()
        lax.text(0, 0.5, "no atlas of this run\nat this checkpoint", fontsize=7, va="center")
    inner = sf.add_gridspec(3, 4, left=0.68, right=0.99, wspace=0.05, hspace=0.3)
    gax = np.array([[sf.add_subplot(inner[i, j]) for j in range(4)] for i in range(3)])
    est = a["sample_estimated"]
    labels = breakdown(a["n_bumps"][:len(est)], est, a["sample_centers"], bundle["analysis"]["tol"])["labels"]
    sample_grid(a["samples"][:12], a["sample_centers"], est, labels, axes=gax)
    sf.suptitle(f"{head} — step {r['step']:,}, epoch {r['epoch']:.0f}: accuracy {r['accuracy']:.2f}, "
                f"none {r['frac_none']:.2f}, multiple {r['frac_multiple']:.2f}, single-wrong "
                f"{r['frac_single_wrong']:.2f}; layer-4 kNN R² x/y {r['knn_r2_x']:.2f}/{r['knn_r2_y']:.2f}, "
                f"ID {r['intrinsic_dim']:.1f}", fontsize=8)


@styled
def loss_curve(loss: dict, title: str = "training loss"):
    """The training loss of a run against epochs (a bundle's ``loss`` log)."""
    fig, ax = plt.subplots(figsize=(5, 2.5))
    ax.semilogy(loss["epoch"], loss["loss"], lw=0.8)
    ax.set_xlabel("training epochs"); ax.set_ylabel("ε-MSE loss (batch)")
    ax.set_title(title)
    return fig


@styled
def robustness(records: list[dict], tolerance: dict, sweep: dict, samplers: dict, title: str = ""):
    """Figure 6: (a) accuracy over training at each evaluator tolerance (``tolerance``: ``{tol: accuracies}``, the
    store's ``tolerance_curves``), (b) the layer × timestep sweep's mean kNN R² and (c) the samplers' failure
    breakdown at one checkpoint (the results of the two robustness studies)."""
    fig, axes = plt.subplots(1, 3, figsize=(14, 3.6), gridspec_kw={"wspace": 0.45})
    ax = axes[0]
    for tol, acc in tolerance.items():
        ax.plot([r["epoch"] for r in records], acc, label=f"tol {tol} px", lw=2 if tol == 1.0 else 1)
    ax.set_xlabel("training epochs"); ax.set_ylabel("accuracy"); ax.legend(fontsize=6, frameon=False)
    ax.set_title("(a) evaluator tolerance")
    step = records[-1]["step"]
    _sweep_heatmap(fig, axes[1], sweep["rows"], step)
    _sampler_bars(axes[2], samplers, step)
    fig.suptitle(title, y=1.03)
    return fig


def _sweep_heatmap(fig, ax, rows: list[dict], step: int) -> None:
    layers = list(dict.fromkeys(r["layer"] for r in rows))
    ts = sorted({r["t"] for r in rows})
    cell = {(r["layer"], r["t"]): r for r in rows}
    M = np.array([[cell[l, t]["knn_r2_x"] * 0.5 + cell[l, t]["knn_r2_y"] * 0.5 for t in ts] for l in layers])
    im = ax.imshow(M, vmin=0, vmax=1, cmap="viridis", aspect="auto")
    ax.set_xticks(range(len(ts)), ts); ax.set_yticks(range(len(layers)), layers)
    ax.set_xlabel("timestep t"); ax.set_title(f"(b) mean kNN R² (μx, μy) at step {step}")
    for i in range(len(layers)):
        for j in range(len(ts)):
            ax.text(j, i, f"{M[i, j]:.2f}", ha="center", va="center", fontsize=6, color="w" if M[i, j] < 0.6 else "k")
    fig.colorbar(im, ax=ax, shrink=0.8, label="mean kNN R²")


def _sampler_bars(ax, samplers: dict, step: int) -> None:
    names = list(samplers["samplers"])
    parts = ["accuracy", "frac_single_wrong", "frac_multiple", "frac_none"]
    bottom = np.zeros(len(names))
    for part, col in zip(parts, [LABEL_COLORS[k] for k in ("correct", "single_wrong", "multiple", "none")]):
        v = np.array([samplers["samplers"][n][part] for n in names])
        ax.bar(range(len(names)), v, bottom=bottom, color=col,
               label="correct" if part == "accuracy" else part.replace("frac_", ""))
        bottom += v
    ax.set_xticks(range(len(names)), names, rotation=20, fontsize=7); ax.set_ylim(0, 1)
    ax.set_ylabel("fraction of samples"); ax.set_title(f"(c) sampler, step {step}, n={samplers['n']}")
    ax.legend(fontsize=6, frameon=False, loc="upper left", bbox_to_anchor=(1.01, 1.0))


@styled
def data_figure(base, lattices: dict, seed: int = 0):
    """Figure 1: eight example images of ``base`` (a :class:`~bumpdiff.core.data.Lattice`) at centres drawn with
    ``seed``, and the 4 × 4 px corner of the first two of ``lattices`` ({label: Lattice})."""
    fig = plt.figure(figsize=(10, 4.2))
    gs = fig.add_gridspec(2, 7, width_ratios=[1, 1, 1, 1, 0.25, 1.6, 1.6])
    rng = np.random.default_rng(seed)
    examples = base.centers()[rng.choice(len(base), 8, replace=False)]
    imgs = render(examples)
    for k in range(8):
        ax = fig.add_subplot(gs[k // 4, k % 4])
        ax.imshow(imgs[k, 0], cmap="gray", vmin=-1, vmax=1, extent=(0, 32, 32, 0))
        ax.plot(*examples[k], "x", color="tab:red", ms=5)
        ax.set_title(f"μ=({examples[k][0]:.1f}, {examples[k][1]:.1f})", fontsize=7)
        ax.set_xticks([0, 16, 32]); ax.set_yticks([0, 16, 32]); ax.tick_params(labelsize=6)
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
