"""The small tables the notebooks print under their figures, and the two read-outs' tables."""
from __future__ import annotations

from ...analysis.phases import PHASE_THRESHOLDS, describe_sequence, phase_sequence
from ...core.config import LAYER_ALIASES
from ...experiments.registry import ARCH_EXPERIMENTS
from ...experiments.stats import (
    SENSITIVITY_DIMS,
    finished_training,
    order_path,
    threshold_sensitivity,
)
from ...store.readouts import READOUTS, readout_bundles
from .format import _analysed, _f, _sweep_table, _table


def readout_runs(profile: str = "cpu") -> dict[str, dict[str, dict[str, tuple[str, dict]]]]:
    """``{arch: {label: {noise: (folder, bundle)}}}``: every read-out computed for the runs of both architectures'
    experiments (the paper's architecture first), each from the folder that analysed it furthest
    (:func:`bumpdiff.store.readouts.readout_bundles`)."""
    return {arch: readout_bundles(ARCH_EXPERIMENTS[arch], profile) for arch in ("additive", "film")}


def _readout_rows(runs: dict):
    for arch, by_label in runs.items():
        for noise in READOUTS:
            for label, per in by_label.items():
                if noise in per:
                    folder, bundle = per[noise]
                    yield arch, noise, bundle["config"]["seed"], folder, bundle


def order_table(runs: dict) -> str:
    """Per architecture, read-out and seed (``runs``: :func:`readout_runs`): the paper's order metric (linear R² of
    the centres from a 3-D UMAP, worse axis) and the project's (kNN R², worse axis) with the intrinsic dimension at
    the first and last analysed checkpoint, and the project's latent call over training."""
    rows = []
    for arch, noise, seed, folder, b in _readout_rows(runs):
        p = order_path(b["checkpoints"])
        rows.append([f"`{arch}`", noise, seed, f"`{folder}`", _analysed(b),
                     f"{p['umap_worse'][0]:.2f} → {p['umap_worse'][-1]:.2f}",
                     f"{p['worse_axis'][0]:.2f} → {p['worse_axis'][-1]:.2f}",
                     f"{p['intrinsic_dim'][0]:.1f} → {p['intrinsic_dim'][-1]:.1f}",
                     describe_sequence(phase_sequence(b["checkpoints"], "phase_representation"))])
    return _table(["arch", "read-out", "seed", "weights from", "analysed steps (checkpoints)",
                   "UMAP R², worse axis: first → last", "kNN R², worse axis: first → last",
                   "intrinsic dim.: first → last", "latent call over training"], rows)


_SHORT = {"persists": "persists", "settles": "settles", "transient": "transient", "never ordered": "never",
          "generation never reaches C": "gen. not C", "not ordered yet": "not yet",
          "generation not C yet": "gen. not C yet"}


def sensitivity_table(runs: dict, order: float) -> str:
    """The layer-4 answer of every run (``runs``: :func:`readout_runs`) as the latent rule's dimension threshold
    runs over :data:`~bumpdiff.experiments.stats.SENSITIVITY_DIMS` at order threshold ``order``: each cell is the
    step latent C is first called (— for never) and the verdict of
    :func:`~bumpdiff.experiments.stats.latent_after_generation`; the rule's own column is in bold."""
    rows = []
    for arch, noise, seed, _, b in _readout_rows(runs):
        cells = {r["dim_b"]: r for r in threshold_sensitivity(b["checkpoints"], orders=(order,),
                                                               finished=finished_training(b))}
        rows.append([f"`{arch}`", noise, seed, _analysed(b),
                     *(("—" if c["latent_c_step"] is None else f"{c['latent_c_step']:,}") + f" · {_SHORT[c['verdict']]}"
                       for c in cells.values())])
    head = [f"**dim ≤ {d:g}**" if d == PHASE_THRESHOLDS.dim_b and order == PHASE_THRESHOLDS.knn_r2_c else f"dim ≤ {d:g}"
            for d in SENSITIVITY_DIMS]
    return _table(["arch", "read-out", "seed", "analysed steps", *head], rows)


def checkpoint_table(records: list[dict]) -> str:
    """Every analysed checkpoint of one run: training progress, generation scores, order parameters and calls."""
    return _table(["step", "epoch", "images", "accuracy", "none", "multiple", "single-wrong", "UMAP R² x / y",
                   "kNN R² x / y", "intrinsic dim.", "call (generation / latent)"],
                  [[f"{r['step']:,}", f"{r['epoch']:.1f}", f"{r['images_seen']:,}", _f(r["accuracy"]),
                    _f(r["frac_none"]), _f(r["frac_multiple"]), _f(r["frac_single_wrong"]),
                    f"{_f(r['r2_x'])} / {_f(r['r2_y'])}", f"{_f(r['knn_r2_x'])} / {_f(r['knn_r2_y'])}",
                    _f(r["intrinsic_dim"], ".1f"), f"{r['phase']} ({r['phase_generation']} / "
                    f"{r['phase_representation']})"] for r in records])


def sweep_table(rows: list[dict]) -> str:
    """A layer × timestep sweep's rows (the robustness study) as Markdown."""
    return _sweep_table(rows)


def lattice_table(lattices: dict) -> str:
    """The lattices of centres ({label: Lattice}): cells per axis and images."""
    return _table(["lattice", "Kx", "Ky", "images"], [[label, lat.kx, lat.ky, f"{len(lat):,}"]
                                                    for label, lat in lattices.items()])


def layer_table(model) -> str:
    """Every named layer of ``model`` with its alias and output shape, and the parameter count."""
    shapes = model.layer_shapes()
    return (f"{model.num_parameters():,} parameters, widths {model.cfg.widths}, attention {model.cfg.attn}\n\n"
            + _table(["layer", "name", "output (C × H × W)"],
                     [[k, f"`{name}`", "×".join(map(str, shapes[name]))] for k, name in LAYER_ALIASES.items()]))
