"""The sections about the layer-4 latent: the two read-outs, ordered layers, initial order, threshold
sensitivity."""
from __future__ import annotations

from ...analysis.atlas_cells import latent_calls
from ...analysis.phases import PHASE_THRESHOLDS
from ...experiments.registry import ARCH_EXPERIMENTS, experiment_seeds
from ...experiments.stats import (
    SENSITIVITY_ORDERS,
    finished_training,
    initial_order,
    latent_after_generation,
    shows_phase_a,
    tally,
)
from ...store.reading import MissingResult
from ...store.readouts import READOUTS, load_readouts
from ...store.tracking import load_tracked_study
from .format import _f, _onset, _table
from .headings import initial_order_heading, thresholds_heading
from .tables import order_table, readout_runs, sensitivity_table


def _layer4_section(loaded: dict, profile: str, retrains: list[tuple]) -> list[str]:
    """Per architecture and seed: does layer 4's latent call reach C once generation is correct, and does it stay
    there (:func:`bumpdiff.experiments.stats.latent_after_generation`); and, from the atlas, the layers whose cell
    the same rule calls C at the last atlas checkpoint."""
    rows, failing, verdicts = [], [], {}
    for arch, name in ARCH_EXPERIMENTS.items():
        runs = [(str(b["seed"]), b, True) for b, _ in loaded.get((name, profile), {}).values()]
        folders = {b["run"]: seed for seed, b, _ in runs}
        keys = {b["analysis_key"] for _, b, _ in runs}
        for path, b in retrains:  # retrains of the same runs, under the same analysis
            # (a retrain trained only to step 0 is read by the initial-order table, not here)
            if (isinstance(b, dict) and b["run"] in folders and b["analysis_key"] in keys and b["trained_to"] > 0
                    and path.name == f"analysis-{b['analysis_key']}"):
                runs.append((f"{folders[b['run']]} (retrain `{path.parent.name}`)", b, False))
        for seed, b, counted in runs:
            # a run stopped short of its budget has not shown what it "never" does: say how far it got instead
            finished = finished_training(b)
            v = latent_after_generation(b["checkpoints"], finished=finished)
            last, verdict = v["last"], v["verdict"]
            if counted:
                verdicts.setdefault(arch, []).append(verdict)
            rows.append([f"`{arch}`", seed, f"{b['trained_to']:,} / {b['config']['steps']:,}",
                         *(f"not by {b['trained_to']:,}" if not finished and r is None else _onset(r)
                           for r in (v["generation_c"], v["latent_c"])),
                         f"{v['latent_c_after']} of {v['after']}" if v["after"] else "—",
                         f"{last['step']:,}: {_f(last['accuracy'])}, {_f(last['knn_r2_x'])} / {_f(last['knn_r2_y'])}, "
                         f"{_f(last['intrinsic_dim'], '.1f')}",
                         f"**{verdict}**" + ("" if finished else " (training unfinished)")])
            if v["after"]:
                failing.append([f"`{arch}`", seed, f"{v['after']} ({v['steps'][0]:,}–{v['steps'][-1]:,})",
                                v["not_low_dim"], v["not_ordered"], " ".join(_f(d) for d in v["dims"]),
                                " ".join(_f(w) for w in v["worse_axis"])])
    if not rows:
        return []
    out = ["Layer 4 (`down3`) read as in the `phases` analysis; generation C and latent C as in the phase rule. "
           "\"Latent C from generation C on\" counts the analysed checkpoints from the generation-C onset to the last "
           "one whose latent call is C; verdict: *persists* (all of them), *settles* (the last three), *transient* "
           "(some), *never ordered* (none). A run trained short of its budget (a retrain under way) is marked "
           "*training unfinished*, and what it has not reached is *not by* its last step or *not yet*, never *never*.",
           "",
           _table(["arch", "seed", "trained to / budget", "generation C from step", "latent C first at step",
                   "latent C from generation C on", "last checkpoint: accuracy, kNN R² x / y, intrinsic dim.",
                   "verdict"], rows), ""]
    per_arch = [f"`{arch}` — " + ", ".join(f"{v} in {n} of {len(vs)}" for v, n in tally(vs).items())
                for arch, vs in verdicts.items()]
    out += ["Over the seeds of each experiment (retrains not counted): " + "; ".join(per_arch) + ".", ""]
    th = PHASE_THRESHOLDS
    out += [f"What keeps layer 4 out of C once generation is correct: of the checkpoints from the generation-C onset "
            f"on, how many are not low-dimensional (intrinsic dimension above {th.dim_b:g}) and how many are not "
            f"ordered (the worse axis's kNN R² below {th.knn_r2_c:g}); then both quantities at each of those "
            "checkpoints, in training order.", "",
            _table(["arch", "seed", "checkpoints (steps)", "not low-dimensional", "not ordered",
                    "intrinsic dim.", "worse axis's kNN R²"], failing), ""]
    return out + _ordered_layers_section(profile)


def _ordered_layers_section(profile: str) -> list[str]:
    """From each run's atlas under each read-out noise, at its last checkpoint: the layers whose cell the latent rule
    calls C, the two read-outs side by side."""
    cells = []
    for arch, name in ARCH_EXPERIMENTS.items():
        for seed in experiment_seeds(name, profile):
            atlases = {}
            for noise in READOUTS:
                try:
                    atlases[noise] = load_tracked_study("atlas", profile, seed, quiet=True, arch=arch, noise=noise)
                except MissingResult:
                    continue
            if not atlases:
                continue
            final, last = {}, {}   # per noise: read-out → layer → call at the atlas's last checkpoint; that step
            for noise, data in atlases.items():
                calls = {readout: latent_calls(data, readout) for readout in (*data["spec"]["timesteps"], "sampling")}
                final[noise] = {readout: c[max(c)] for readout, c in calls.items()}
                last[noise] = max(next(iter(calls.values())))
            if len(set(last.values())) == 1:
                steps = f"{next(iter(last.values())):,}"
            else:
                steps = " / ".join(f"{step:,} ({noise})" for noise, step in last.items())
            sources = ", ".join(f"`{s}`" for s in sorted({data["source"] for data in atlases.values()}))
            for readout in dict.fromkeys(r for f in final.values() for r in f):
                got = [final.get(noise, {}).get(readout) for noise in READOUTS]   # None: that atlas not computed
                ordered = ["—" if g is None else ", ".join(f"`{layer}`" for layer, c in g.items() if c == "C") or "none"
                           for g in got]
                layer4 = " / ".join((g or {}).get("down3", "—") for g in got)
                cells.append([f"`{arch}`", f"seed {seed} ({sources}), step {steps}", readout, *ordered, layer4])
    if not cells:
        return []
    return ["Where the ordered sheet lives (the atlas of each run that has one, at its last checkpoint): the layers "
            "whose cell the latent rule calls C, per read-out (t, or along sampling), under each read-out noise — "
            "one noise image for every condition (`shared`) or one each (`independent`), as the input at t and as "
            "the start of the sampling read-out's DDIM runs (—: that atlas is not computed):", "",
            _table(["arch", "checkpoint", "read-out", *(f"layers called C, {noise}" for noise in READOUTS),
                    "layer 4 call (" + " / ".join(READOUTS) + ")"], cells), ""]


def _initial_order_section(profile: str = "cpu") -> list[str]:
    """Order of the untrained network (step 0) under both read-outs, per architecture and seed, and the verdict of
    the specification's test for which read-out can show phase A."""
    archs = ("additive", "film")   # the paper's architecture first
    readouts = {arch: load_readouts(ARCH_EXPERIMENTS[arch], profile) for arch in archs}
    rows = initial_order(readouts)
    if not rows:
        return []
    seeds = experiment_seeds(ARCH_EXPERIMENTS["film"], profile)
    th = PHASE_THRESHOLDS.knn_r2_c
    parts = [f"## {initial_order_heading(profile)}", "",
             "Layer 4 (`down3`), t = 500, at step 0 (the untrained network), under the shared read-out (one noise "
             "image for every condition) and the independent one (each condition its own noise image); both "
             "read-outs of a run come from one set of weights, named in the last column. The specification's test "
             f"(SPEC.md, \"Which read-out can show phase A\"): a read-out passes when min(kNN R² x, y) < {th} in "
             "every seed of both architectures.", "",
             _table(["arch", "read-out", "seed", "kNN R² x / y", "UMAP R² x / y", "intrinsic dim", "latent call",
                     "weights from"],
                    [[r["arch"], r["noise"], r["seed"], f"{r['knn_r2_x']:.2f} / {r['knn_r2_y']:.2f}",
                      f"{r['r2_x']:.2f} / {r['r2_y']:.2f}", f"{r['intrinsic_dim']:.1f}", r["latent_call"],
                      f"`{r['source']}`"] for r in rows]), ""]
    for noise in READOUTS:
        v = shows_phase_a(rows, noise, archs, seeds)
        state = {True: "**passes**", False: "**fails**", None: "not decided yet"}[v["passes"]]
        per_arch = "; ".join(f"`{arch}` {sum(r['arch'] == arch for r in v['ordered'])} of "
                             f"{sum(r['arch'] == arch and r['noise'] == noise for r in rows)}" for arch in archs)
        parts += [f"- `{noise}`: {state} — ordered at initialisation (min kNN R² ≥ {th}) in {len(v['ordered'])} of "
                  f"{v['runs']} runs computed ({v['expected']} needed): {per_arch}."]
    return parts + [""]


def _thresholds_section(profile: str = "cpu") -> list[str]:
    """The paper's metric, the project's rule and how its layer-4 answer moves with the thresholds, for both
    architectures under every read-out computed."""
    runs = readout_runs(profile)
    if not any(runs.values()):
        return []
    th = PHASE_THRESHOLDS
    parts = [f"## {thresholds_heading(profile)}", "",
             "Layer 4 (`down3`), t = 500, for each architecture, read-out and seed, each read from the folder that "
             "analysed it furthest (a read-out computed so far only at step 0 has one checkpoint). First the paper's "
             "order metric beside the project's, at the first and last analysed checkpoint, and the project's latent "
             f"call (C: min kNN R² ≥ {th.knn_r2_c:g} and intrinsic dimension ≤ {th.dim_b:g}; B: dimension ≤ "
             f"{th.dim_b:g}; else A) over training:", "", order_table(runs), "",
             "Then the same bundles called again with other thresholds: in each cell, the step at which layer 4 is "
             "first called C (— for never) and the verdict from the generation-C onset on (*persists*, *settles*, "
             "*transient*, *never* ordered; *gen. not C* where generation never reaches C in the analysed "
             "checkpoints; *not yet* and *gen. not C yet* instead of a run trained short of its budget). The "
             "rule's own thresholds are the bold column of the second table; the thresholds are "
             "not changed by this table.", ""]
    for order in SENSITIVITY_ORDERS:
        parts += [f"Order threshold: min kNN R² ≥ {order:g}.", "", sensitivity_table(runs, order), ""]
    return parts
