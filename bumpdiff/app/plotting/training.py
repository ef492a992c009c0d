"""Figures 3-6 and 11: what happens over training — phases, learning curves, per-axis learning, robustness at a
checkpoint, held-out squares."""
from __future__ import annotations

import matplotlib.pyplot as plt  # headless, matplotlib picks a non-interactive backend by itself
import numpy as np

from ...analysis.evaluate import breakdown
from ...analysis.phases import shown_records
from ...store.bundles import step_arrays
from .panels import layer_profile, phase_bands, sample_grid, umap_panels
from .style import LABEL_COLORS, PHASE_COLORS, styled

__all__ = ["learning_curves", "seed_phases", "per_axis_curves", "holdout_curves", "phases_figure", "loss_curve",
           "robustness"]


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
