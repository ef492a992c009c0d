"""``docs/RESULTS.md``: every result table of the documentation, generated from the committed results.

Nothing in it is typed by hand: ``python -m bumpdiff report`` rewrites it from ``data/results`` and
``tests/test_committed.py`` fails when the committed file differs from what the results give.
"""
from __future__ import annotations

import json

import numpy as np

from ..analysis.atlas import latent_calls
from ..analysis.phases import PHASE_THRESHOLDS, describe_sequence, phase_onsets, phase_sequence
from ..analysis.robustness import LayerSweep
from ..common import paths
from ..common.files import atomic_write_text
from ..core.diffusion import CPU_INFERENCE_CHUNK
from ..core.model import LAYER_ALIASES
from ..experiments.profiles import get_profile
from ..experiments.registry import ARCH_EXPERIMENTS, EXPERIMENTS, experiment_seeds, phases_label
from ..experiments.stats import (
    IMBALANCED_THRESHOLD,
    SENSITIVITY_DIMS,
    SENSITIVITY_ORDERS,
    compare_bundles,
    coupling_summary,
    crossing_table,
    initial_order,
    latent_after_generation,
    order_path,
    phase_summary,
    shows_phase_a,
    tally,
    threshold_sensitivity,
)
from ..store.bundles import BundleError, load_bundle
from ..store.reading import MissingResult
from ..store.readouts import READOUTS, load_readouts, readout_bundles
from ..store.results import load_experiment
from ..store.robustness_cache import load_study
from ..store.tracking import load_tracked_study

__all__ = ["render_report", "write_report", "phases_table", "checkpoint_table", "sweep_table", "lattice_table",
           "layer_table", "imbalanced_table", "readout_runs", "order_table", "sensitivity_table"]


def _table(header: list[str], rows: list[list]) -> str:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(out)


def _f(v, fmt=".2f"):
    return "—" if v is None else format(v, fmt)


def _ms(mean, sd):
    return "never" if mean is None else f"{mean:,.0f}" + ("" if sd is None else f" ± {sd:,.0f}")


def _prov(p: dict | None) -> str:
    if not p:
        return "—"
    return f"{p['commit']}{'+dirty' if p.get('dirty') else ''}"


def _provenance_rows(name: str, profile: str, runs: dict) -> list[list]:
    rows = []
    for label, (b, _) in runs.items():
        tp = b.get("training_provenance")
        analysis = ", ".join(sorted({_prov(p) for p in b["provenance"]}))
        rows.append([f"`{name}` / `{profile}`", label, f"`{b['run']}`",
                     f"{b['trained_to']:,} / {b['config']['steps']:,}",
                     len(b["checkpoints"]), _prov(tp), analysis, (tp or {}).get("device", "—")])
    return rows


def _pair(r: dict, what: str) -> list[str]:
    a, b = r.get(f"{what}_bumpdiff"), r.get(f"{what}_peer")
    return ["not measured", "—"] if a is None or b is None else [f"{a:.0f} / {b:.0f}", f"{a / b:.2f}×"]


def _at(recs, step):
    return next(r for r in recs if r["step"] == step)


def _phases_section(profile: str, runs: dict) -> list[str]:
    out = []
    recs_by = {label: b["checkpoints"] for label, (b, _) in runs.items()}
    a = next(iter(runs.values()))[0]["analysis"]
    out.append(f"Analysis: {a['n_samples']} samples per checkpoint ({a['sampler']}"
               f"{'-' + str(a['sampler_steps']) if a['sampler'] == 'ddim' else ''}), tolerance {a['tol']} px; latent "
               f"read at `{a['layer']}` (layer 4), t = {a['t']}, mode `{a['mode']}`.\n")
    rows = []
    for label, recs in recs_by.items():
        last = recs[-1]
        rows.append([label, f"{last['step']:,}", _f(last["accuracy"]),
                     describe_sequence(phase_sequence(recs, "phase_generation")),
                     describe_sequence(phase_sequence(recs, "phase_representation")),
                     describe_sequence(phase_sequence(recs, "phase"))])
    out.append(_table(["run", "last step", "final accuracy", "generation call", "latent call (layer 4)",
                       "combined call"], rows))
    out.append("")
    rows = []
    for label, recs in recs_by.items():
        c = phase_onsets(recs, "phase_generation")["C"]
        for what, r in (("generation-C onset", c), ("last checkpoint", recs[-1])):
            if r is None:
                rows.append([label, what, "—", "—", "—", "—", "—", "—", "—"])
                continue
            rows.append([label, what, f"{r['step']:,}", f"{r['images_seen']:,}", _f(r["accuracy"]),
                         f"{_f(r['knn_r2_x'])} / {_f(r['knn_r2_y'])}", f"{_f(r['r2_x'])} / {_f(r['r2_y'])}",
                         _f(r["intrinsic_dim"], ".1f"), r["phase_representation"]])
    out.append(_table(["run", "where", "step", "images seen", "accuracy", "kNN R² x / y", "UMAP R² x / y",
                       "intrinsic dim.", "latent call"], rows))
    if len(recs_by) > 1:
        out.append("")
        rows = []
        for key, by_phase in phase_summary(recs_by).items():
            for ph, o in by_phase.items():
                rows.append([f"`{key}`", ph, ", ".join("never" if s is None else f"{s:,}" for s in o["step"]),
                             _ms(o["mean_images"], o["sd_images"]), f"{o['n_reached']} of {o['n_runs']}"])
        out.append("Onsets over seeds (first checkpoint with each call; images seen as mean ± sample sd over the "
                   "runs that reach it):\n")
        out.append(_table(["call", "phase", "step per seed", "images seen", "runs reaching it"], rows))
    return out


def _imbalanced_section(runs: dict) -> list[str]:
    rows = []
    table = crossing_table(runs, IMBALANCED_THRESHOLD)
    for r in table:
        cells = []
        for k in ("acc_x", "acc_y"):
            c = r[k]
            cells.append("not crossed" if c is None
                         else f"{c['images_seen']:,} (step {c['step']:,}, epoch {c['epoch']:.1f})")
        stop = r["early_stop"]
        rows.append([r["run"], *cells, "—" if not stop else f"step {stop['step']:,}", f"{r['last_step']:,}"])
    out = [_table(["run", f"acc_x ≥ {IMBALANCED_THRESHOLD} at images seen", f"acc_y ≥ {IMBALANCED_THRESHOLD} at",
                   "early stop", "last analysed step"], rows), ""]
    rows = []
    for g in coupling_summary(table):
        rows.append([g["group"], ", ".join(map(str, g["seeds"])), _ms(g["acc_x"]["mean"], g["acc_x"]["sd"]),
                     _ms(g["acc_y"]["mean"], g["acc_y"]["sd"]), ", ".join(f"{x:,}" for x in g["gap_images"]),
                     ", ".join(f"{x:,}" for x in g["resolution_images"]), f"**{g['verdict']}**"])
    out.append(_table(["lattice", "seeds", "x crosses at (images)", "y crosses at (images)",
                       "gap y − x per seed", "resolution", "verdict"], rows))
    return out


def _sweep_table(rows: list[dict]) -> str:
    return _table(["layer", "t", "kNN R² x", "kNN R² y", "UMAP R² x", "UMAP R² y", "intrinsic dim.", "trustworthiness"],
                  [[f"`{r['layer']}`", r["t"], _f(r["knn_r2_x"]), _f(r["knn_r2_y"]), _f(r["r2_x"]), _f(r["r2_y"]),
                    _f(r["intrinsic_dim"], ".1f"), _f(r["trustworthiness"], ".3f")] for r in rows])


def _retrains() -> list[tuple]:
    """``[(bundle folder, bundle or the BundleError)]`` of every committed retrain
    (``data/results/retrains/<name>/analysis-<key>``), each read once for the whole report."""
    out = []
    for path in sorted((paths.results_dir() / "retrains").glob("*/analysis-*")):
        try:
            out.append((path, load_bundle(path)[0]))
        except BundleError as e:
            out.append((path, e))
    return out


def _retrain_sections(retrains: list[tuple]) -> list[str]:
    """One section per committed retrain compared number by number with the committed bundle of the same run and
    analysis."""
    parts = []
    for path, b2 in retrains:
        try:
            if isinstance(b2, BundleError):
                raise b2
            committed = paths.results_dir() / b2["run"] / path.name
            if not committed.exists():
                continue   # an analysis only of the retrain's weights (another read-out): nothing to compare it with
            b1, _ = load_bundle(committed)
        except BundleError as e:
            parts += [f"*Retrain `{paths.relative(path)}`: not comparable ({e}).*", ""]
            continue
        c = compare_bundles(b1, b2)
        t1, t2 = b1.get("training_provenance") or {}, b2.get("training_provenance") or {}
        steps = c["steps"]
        parts += [f"## Reproducibility: run `{b2['run']}` retrained from scratch", "",
                  f"The committed run (trained at commit {_prov(t1)} on {t1.get('device', '—')}) and its retrain "
                  f"(commit {_prov(t2)} on {t2.get('device', '—')}; bundle `{paths.relative(path)}`): same "
                  f"configuration and run key, same seed, data order and initial weights; compared over the "
                  f"{len(steps)} checkpoints both analysed (steps {steps[0]:,}–{steps[-1]:,}). "
                  f"**{'Identical, number for number.' if c['identical'] else 'Not identical.'}**", ""]
        lo = c["loss"]
        if lo["steps"]:
            first = ", ".join(f"step {s}: {x:.5f} vs {y:.5f}" for s, x, y in
                              list(zip(lo["steps"], lo["first"], lo["second"]))[:3])
            div = lo["first_divergent_step"]
            parts += [f"Training loss (committed vs retrain) {first}; first logged step differing by more than "
                      f"0.1 %: {'none' if div is None else f'{div:,}'}.", ""]
        parts += [_table(["quantity", "identical", "max abs diff", "mean abs diff"],
                         [[k, f"{v['identical']} / {v['n']}", _f(v["max_abs_diff"], ".3f"),
                           _f(v["mean_abs_diff"], ".3f")] for k, v in c["fields"].items() if v["n"]]), ""]
        shared = set(steps)
        for key, what in (("phase", "combined"), ("phase_generation", "generation")):
            s1 = describe_sequence(phase_sequence([r for r in b1["checkpoints"] if r["step"] in shared], key))
            s2 = describe_sequence(phase_sequence([r for r in b2["checkpoints"] if r["step"] in shared], key))
            parts += [f"- {what} call: committed {s1}; retrain {s2}" + (" (same)" if c["same_calls"][key] else "")]
        parts += [""]
    return parts


def experiment_heading(name: str, profile: str, done: int, n: int) -> str:
    """The heading of an experiment's section (the findings link to it by its anchor)."""
    return f"`{name}`, profile `{profile}` ({_count(done, n, 'seeds')})"


def initial_order_heading(profile: str) -> str:
    return f"Order at initialisation: which read-out can show phase A, profile `{profile}`"


def thresholds_heading(profile: str) -> str:
    return f"The layer-4 call against its thresholds, profile `{profile}`"


def layer4_heading(profile: str) -> str:
    return f"The layer-4 question, profile `{profile}`: `film` vs `additive`"


def imbalanced_heading(profile: str) -> str:
    return f"`imbalanced`, profile `{profile}`"


def _count(done: int, n: int, what: str) -> str:
    """A section heading's run count: "3 seeds" when all are there, "2 of 3 seeds so far" otherwise."""
    return f"{n} {what}" if done == n else f"{done} of {n} {what} so far"


def _onset(r: dict | None) -> str:
    return "never" if r is None else f"{r['step']:,} ({r['images_seen']:,} images)"


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
            v = latent_after_generation(b["checkpoints"])
            last = v["last"]
            if counted:
                verdicts.setdefault(arch, []).append(v["verdict"])
            rows.append([f"`{arch}`", seed, f"{b['trained_to']:,} / {b['config']['steps']:,}",
                         _onset(v["generation_c"]), _onset(v["latent_c"]),
                         f"{v['latent_c_after']} of {v['after']}" if v["after"] else "—",
                         f"{last['step']:,}: {_f(last['accuracy'])}, {_f(last['knn_r2_x'])} / {_f(last['knn_r2_y'])}, "
                         f"{_f(last['intrinsic_dim'], '.1f')}", f"**{v['verdict']}**"])
            if v["after"]:
                failing.append([f"`{arch}`", seed, f"{v['after']} ({v['steps'][0]:,}–{v['steps'][-1]:,})",
                                v["not_low_dim"], v["not_ordered"], " ".join(_f(d) for d in v["dims"]),
                                " ".join(_f(w) for w in v["worse_axis"])])
    if not rows:
        return []
    out = ["Layer 4 (`down3`) read as in the `phases` analysis; generation C and latent C as in the phase rule. "
           "\"Latent C from generation C on\" counts the analysed checkpoints from the generation-C onset to the last "
           "one whose latent call is C; verdict: *persists* (all of them), *settles* (the last three), *transient* "
           "(some), *never ordered* (none).", "",
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
    """From each run's atlas, at its last checkpoint: the layers whose cell the latent rule calls C."""
    cells, out = [], []
    for arch, name in ARCH_EXPERIMENTS.items():
        for seed in experiment_seeds(name, profile):
            try:
                data = load_tracked_study("atlas", profile, seed, quiet=True, arch=arch)
            except MissingResult:
                continue
            for readout in (*data["spec"]["timesteps"], "sampling"):
                calls = latent_calls(data, readout)
                step = max(calls)
                ordered = [f"`{layer}`" for layer, c in calls[step].items() if c == "C"]
                cells.append([f"`{arch}`", f"seed {seed} (`{data['source']}`), step {step:,}", readout,
                              ", ".join(ordered) or "none", calls[step].get("down3", "—")])
    if cells:
        out += ["Where the ordered sheet lives (the atlas of each run that has one, at its last checkpoint): the "
                "layers whose cell the latent rule calls C, per read-out (t, or along sampling):", "",
                _table(["arch", "checkpoint", "read-out", "layers called C", "layer 4 call"], cells), ""]
    return out


def _holdout_section(runs: dict) -> list[str]:
    """Seen vs held-out accuracy, the held-out failure breakdown and the latent placement, per run (last
    analysed checkpoint), and per square the mean ± sd over its seeds."""
    rows, by_square = [], {}
    for label, (bundle, _) in runs.items():
        last = bundle["checkpoints"][-1]
        h = last["heldout"]
        rows.append([label, f"{last['step']:,} / {bundle['config']['steps']:,}", _f(last["accuracy"]),
                     _f(h["accuracy"]),
                     _f(h["frac_none"]), _f(h["frac_multiple"]), _f(h["frac_single_wrong"]),
                     f"{h['latent_error_x']:.2f} / {h['latent_error_y']:.2f}", f"{h['latent_error_ordered']:.2f}"])
        by_square.setdefault(bundle["group"], []).append((last["accuracy"], h["accuracy"]))
    out = ["Last analysed checkpoint of each run; held-out accuracy from samples requested only at held-out "
           "centres (same detector and tolerance); latent error: kNN (fitted on the seen conditions) error of the "
           "held-out conditions' centres from their layer-4 activations, beside that of a perfectly ordered latent.",
           "",
           _table(["run", "step / budget", "seen accuracy", "held-out accuracy", "held-out none", "multiple",
                   "single-wrong", "latent error x / y (px)", "ordered latent (px)"], rows), ""]
    srows = []
    for square, v in by_square.items():
        a = np.array(v)
        ms = [f"{a[:, j].mean():.2f}" + (f" ± {a[:, j].std(ddof=1):.2f}" if len(a) > 1 else "") for j in (0, 1)]
        srows.append([square, len(a), *ms])
    return out + [_table(["square", "seeds", "seen accuracy", "held-out accuracy"], srows)]


def _torus_section(runs: dict, profile: str) -> list[str]:
    """The `torus` run's generation and layer-4 order, and its topology study (persistent homology)."""
    (bundle, _), = runs.values()
    recs = bundle["checkpoints"]
    last = recs[-1]
    out = [f"The `phases` run of seed 0 on a periodic canvas, trained to step {bundle['trained_to']:,} of "
           f"{bundle['config']['steps']:,}. Phases (combined call): {describe_sequence(phase_sequence(recs))}. "
           "Last analysed "
           f"checkpoint (step {last['step']:,}): accuracy {_f(last['accuracy'])}, circular kNN R² x / y "
           f"{_f(last['knn_r2_x'])} / {_f(last['knn_r2_y'])}, intrinsic dimension {_f(last['intrinsic_dim'], '.1f')}.",
           ""]
    try:
        data = load_tracked_study("topology", profile, experiment_name="torus", quiet=True)
    except MissingResult as e:
        return out + [f"*Topology study not available ({e}).*"]
    rows = []
    cks = list(data["checkpoints"].values())
    for c in cks:   # the learned layers at every tracked checkpoint, then the two ideal tori (the same every time)
        for r in c["rows"]:
            if "bottleneck" in r or c is cks[-1]:
                b = r.get("bottleneck", {})
                rows.append([f"{c['step']:,}" if b else "reference", r["layer"], r["h1"]["count"],
                             r["h2"]["count"] if "h2" in r else "–",
                             ", ".join(f"{v:.2f}" for v in r["h1"]["lifetimes"][:3]),
                             *(_f(b[h][name], ".3f") if h in b else "–" for h in ("h1", "h2")
                               for name in ("coupled", "factorised"))])
    spec = data["spec"]
    out += [f"Persistent homology (`bumpdiff.analysis.topology`; {spec['n_landmarks']} landmarks, "
            f"read-out t = {spec['t']}, "
            f"coupled torus radii {tuple(spec['torus_radii'])}); features counted at the largest gap of the sorted "
            "lifetimes; bottleneck distances between unit-RMS clouds' diagrams:", "",
            _table(["step", "cloud", "H1 features", "H2 features", "longest H1 lifetimes",
                    "H1 → coupled", "H1 → factorised", "H2 → coupled", "H2 → factorised"], rows)]
    return out


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


def _analysed(bundle: dict) -> str:
    steps = sorted(r["step"] for r in bundle["checkpoints"])
    return f"{steps[0]:,}" if len(steps) == 1 else f"{steps[0]:,}–{steps[-1]:,} ({len(steps)})"


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
          "generation never reaches C": "gen. not C"}


def sensitivity_table(runs: dict, order: float) -> str:
    """The layer-4 answer of every run (``runs``: :func:`readout_runs`) as the latent rule's dimension threshold
    runs over :data:`~bumpdiff.experiments.stats.SENSITIVITY_DIMS` at order threshold ``order``: each cell is the
    step latent C is first called (— for never) and the verdict of
    :func:`~bumpdiff.experiments.stats.latent_after_generation`; the rule's own column is in bold."""
    rows = []
    for arch, noise, seed, _, b in _readout_rows(runs):
        cells = {r["dim_b"]: r for r in threshold_sensitivity(b["checkpoints"], orders=(order,))}
        rows.append([f"`{arch}`", noise, seed, _analysed(b),
                     *(("—" if c["latent_c_step"] is None else f"{c['latent_c_step']:,}") + f" · {_SHORT[c['verdict']]}"
                       for c in cells.values())])
    head = [f"**dim ≤ {d:g}**" if d == PHASE_THRESHOLDS.dim_b and order == PHASE_THRESHOLDS.knn_r2_c else f"dim ≤ {d:g}"
            for d in SENSITIVITY_DIMS]
    return _table(["arch", "read-out", "seed", "analysed steps", *head], rows)


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
             "checkpoints). The rule's own thresholds are the bold column of the second table; the thresholds are "
             "not changed by this table.", ""]
    for order in SENSITIVITY_ORDERS:
        parts += [f"Order threshold: min kNN R² ≥ {order:g}.", "", sensitivity_table(runs, order), ""]
    return parts


def phases_table(runs: dict, profile: str) -> str:
    """The tables RESULTS.md gives for a `phases` experiment (``runs``: ``load_experiment``), as Markdown."""
    return "\n".join(_phases_section(profile, runs))


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


def imbalanced_table(runs: dict) -> str:
    """The crossing points and coupling verdicts RESULTS.md gives for the `imbalanced` experiment, as Markdown."""
    return "\n".join(_imbalanced_section(runs))


def _header() -> list[str]:
    th = PHASE_THRESHOLDS
    return ["# Results (generated)", "",
            "Generated by `python -m bumpdiff report` from the committed results in `data/results/`; do not edit by "
            "hand (`tests/test_committed.py` fails when this file and the results disagree). Definitions: "
            "[SPEC.md](SPEC.md). Phase thresholds: generation C at accuracy ≥ "
            f"{th.acc_c}, B at one-bump fraction ≥ {th.single_b}; latent C at min kNN R² ≥ {th.knn_r2_c} with "
            f"intrinsic dimension ≤ {th.dim_b}, B at intrinsic dimension ≤ {th.dim_b}; combined = the earlier of "
            "the two.", ""]


#: the experiments the report reads, and whether a partial one is reported
REPORTED = (("phases", "cpu", False), ("phases-additive", "cpu", True), ("imbalanced", "cpu", False),
            ("phases", "paper", True), ("torus", "cpu", True), ("holdout", "cpu", True))


def _load_reported() -> tuple[dict, list[list[str]], list[str]]:
    """(loaded experiments by (name, profile), provenance rows, lines saying which are not available)."""
    loaded, prov, lines = {}, [], []
    for name, profile, partial in REPORTED:
        try:
            loaded[(name, profile)] = load_experiment(name, profile, allow_partial=partial, quiet=True)
        except MissingResult as e:
            lines += [f"*{name} / {profile}: not available ({e}).*", ""]
            continue
        prov += _provenance_rows(name, profile, loaded[(name, profile)])
    return loaded, prov, lines


def _paper_section(runs: dict) -> list[str]:
    parts = ["## `phases`, profile `paper` (partial: one seed, on a GPU)", "", *_phases_section("paper", runs), ""]
    b = runs[phases_label(0)][0]
    try:
        sw = load_study(LayerSweep(timesteps=(100, 300, 500, 700)), "paper", 0, b["trained_to"], quiet=True)
        parts += [f"Layer × timestep sweep at step {sw['step']:,} (activation mode `{sw['spec']['mode']}`):", "",
                  _sweep_table(sw["result"]["rows"]), ""]
    except MissingResult as e:
        parts += [f"*Layer sweep not available ({e}).*", ""]
    return parts


def _robustness_section() -> list[str]:
    parts = ["## Robustness, profile `cpu` (seed 0, last checkpoint)", ""]
    sweep, samplers = get_profile("cpu").robustness
    try:
        sm = load_study(samplers, "cpu", quiet=True)
        parts += [f"Samplers at step {sm['step']:,} ({sm['result']['n']} samples each, tolerance {samplers.tol} px):",
                  "", _table(["sampler", "accuracy", "none", "multiple", "single-wrong"],
                             [[k, _f(v["accuracy"]), _f(v["frac_none"]), _f(v["frac_multiple"]),
                               _f(v["frac_single_wrong"])] for k, v in sm["result"]["samplers"].items()]), ""]
        sw = load_study(sweep, "cpu", quiet=True)
        parts += [f"Layer × timestep sweep at step {sw['step']:,}:", "", _sweep_table(sw["result"]["rows"]), ""]
    except MissingResult as e:
        parts += [f"*Not available ({e}).*", ""]
    return parts


def _experiment_sections(loaded: dict, retrains: dict) -> list[str]:
    parts = []
    if ("phases", "cpu") in loaded:
        runs = loaded[("phases", "cpu")]
        parts += [f"## {experiment_heading('phases', 'cpu', len(runs), len(runs))}", "", *_phases_section("cpu", runs),
                  ""]
    if ("phases-additive", "cpu") in loaded:
        runs = loaded[("phases-additive", "cpu")]
        n = len(EXPERIMENTS["phases-additive"].runs("cpu"))
        parts += [f"## {experiment_heading('phases-additive', 'cpu', len(runs), n)}", "",
                  *_phases_section("cpu", runs), ""]
    parts += _initial_order_section("cpu")
    parts += _thresholds_section("cpu")
    layer4 = _layer4_section(loaded, "cpu", retrains)
    if layer4:
        parts += [f"## {layer4_heading('cpu')}", "", *layer4]
    if ("imbalanced", "cpu") in loaded:
        parts += [f"## {imbalanced_heading('cpu')}", "",
                  "An axis is learned at the first checkpoint where its per-axis accuracy reaches "
                  f"{IMBALANCED_THRESHOLD}; two axes are learned *together* in a seed when their crossings are at "
                  "most one checkpoint apart.", "",
                  *_imbalanced_section(loaded[("imbalanced", "cpu")]), ""]
    if ("phases", "paper") in loaded:
        parts += _paper_section(loaded[("phases", "paper")])
    if ("phases", "cpu") in loaded:
        parts += _robustness_section()
    if ("holdout", "cpu") in loaded:
        runs = loaded[("holdout", "cpu")]
        n = len(EXPERIMENTS["holdout"].runs("cpu"))
        parts += [f"## Held-out squares, profile `cpu` ({_count(len(runs), n, 'runs')})", "",
                  *_holdout_section(runs), ""]
    if ("torus", "cpu") in loaded:
        parts += ["## Topology on a torus, profile `cpu`", "", *_torus_section(loaded[("torus", "cpu")], "cpu"), ""]
    return parts


def _throughput_sections() -> list[str]:
    parts = []
    for bench in sorted((paths.results_dir() / "benchmarks").glob("throughput-*.json")):
        b = json.loads(bench.read_text())
        where = b.get("provenance", {}).get("device") or b["device"]
        made = b.get("provenance", {}).get("commit", "before provenance was recorded")
        parts += [f"## Throughput benchmark (`benchmarks/throughput.py`; {where}; commit {made})", "",
                  f"bumpdiff's UNet against `diffusers.UNet2DModel` of about the same size, same device, batch and "
                  f"precision; raw numbers in `{paths.relative(bench)}`.", "",
                  _table(["profile", "arch", "precision", "params bumpdiff / peer", "train img/s bumpdiff / peer",
                          "ratio", "sampling img-steps/s bumpdiff / peer", "ratio"],
                         [[r["profile"], r.get("arch", "film"), r["precision"],
                           f"{r['params_bumpdiff'] / 1e6:.2f} M / {r['params_peer'] / 1e6:.2f} M",
                           *_pair(r, "train"), *_pair(r, "sample")] for r in b["rows"]]), ""]
    return parts


def _chunk_sections() -> list[str]:
    parts = []
    for bench in sorted((paths.results_dir() / "benchmarks").glob("chunk-*.json")):
        b = json.loads(bench.read_text())
        p = b["provenance"]
        chunks = sorted({r["chunk"] for r in b["rows"]})
        cases = list(dict.fromkeys((r["profile"], r["arch"]) for r in b["rows"]))
        cell = {(r["profile"], r["arch"], r["chunk"]): r for r in b["rows"]}
        worst = max(r["max_abs_diff_vs_whole"] for r in b["rows"])
        parts += [f"## Inference chunk (`benchmarks/chunk.py`; {p['device']}; commit {_prov(p)})", "",
                  f"Images per second of a no-grad forward pass (the latent read-out's: timestep 500, one shared noise "
                  f"image) over {b['rows'][0]['images']} images split into chunks of each size, {b['threads']} "
                  f"threads, median of {b['repeats']}; the largest difference of any output from the whole batch's "
                  f"at once: {worst:.1e}. On a CPU the library uses chunks of {CPU_INFERENCE_CHUNK} "
                  f"(`bumpdiff.core.diffusion.CPU_INFERENCE_CHUNK`). Raw numbers in `{paths.relative(bench)}`.", "",
                  _table(["profile", "arch", *(f"chunk {c}" for c in chunks)],
                         [[prof, arch, *(f"{cell[prof, arch, c]['images_per_s']:.0f}" if (prof, arch, c) in cell
                                         else "—" for c in chunks)] for prof, arch in cases]), ""]
    return parts


def _explorer_sections() -> list[str]:
    parts = []
    for bench in sorted((paths.results_dir() / "benchmarks").glob("explore-*.json")):
        b = json.loads(bench.read_text())
        p = b["provenance"]
        parts += [f"## Explorer response times (`benchmarks/explore.py`; {p['device']}; commit {_prov(p)})", "",
                  f"`notebooks/00_explore.ipynb` on the shipped `{b['profile']}` weights, {b['threads']} threads, one "
                  f"fresh process; loading the shipped set took {b['load_seconds']:.1f} s. Each answer = 8 samples "
                  "with their trajectory, plus the requested centre placed in the latent (computed once per "
                  f"checkpoint, layer and t). Raw numbers in `{paths.relative(bench)}`.", "",
                  _table(["interaction", "seconds"],
                         [[r["interaction"], f"{r['seconds']:.1f}"] for r in b["rows"]]), ""]
    return parts


def _provenance_section(prov: list[list[str]]) -> list[str]:
    experiments_listed = ", ".join(f"`{n}`" for n in EXPERIMENTS)
    return ["## Provenance", "",
            "Training commit: the commit the run's checkpoints were written at; analysis commit(s): the commits of "
            "the sessions that analysed its checkpoints (results migrated to the schema-1 layout keep the commit "
            "their old index recorded).", "",
            _table(["experiment", "run", "folder", "trained to / budget", "analysed checkpoints", "training commit",
                    "analysis commit(s)", "device"], prov), "",
            f"Experiments defined in the library: {experiments_listed}.", ""]


def render_report() -> str:
    """The text of ``docs/RESULTS.md`` from the committed results (pure: same results, same text)."""
    loaded, prov, unavailable = _load_reported()
    retrains = _retrains()
    parts = [*_header(), *unavailable, *_experiment_sections(loaded, retrains), *_retrain_sections(retrains),
             *_throughput_sections(), *_chunk_sections(), *_explorer_sections(), *_provenance_section(prov)]
    return "\n".join(parts)


def write_report(check: bool = False) -> tuple[str, bool]:
    """Write ``docs/RESULTS.md`` (unless ``check``); returns (its path relative to the root, whether it changed)."""
    path = paths.docs_dir() / "RESULTS.md"
    text = render_report()
    changed = not path.exists() or path.read_text() != text
    if changed and not check:
        atomic_write_text(path, text)
    return paths.relative(path), changed
