"""Figures 7-10: the studies tracked over training — commitment, spectrum, atlas, torus topology."""
from __future__ import annotations

import matplotlib.pyplot as plt  # headless, matplotlib picks a non-interactive backend by itself
import numpy as np
from matplotlib.colors import ListedColormap

from .panels import phase_bands, sample_grid
from .style import PHASE_COLORS, styled

__all__ = ["commitment_over_training", "spectrum_over_training", "atlas_heatmaps", "TORUS_STYLE",
           "torus_topology"]


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
