"""The sections of the report about experiments: phases, imbalanced, held-out, torus, paper, robustness,
retrains, and the provenance rows of each."""
from __future__ import annotations

import numpy as np

from ...analysis.phases import describe_sequence, phase_onsets, phase_sequence
from ...analysis.specs import LayerSweep
from ...common import paths
from ...experiments.profiles import get_profile
from ...experiments.registry import EXPERIMENTS, phases_experiment, phases_label
from ...experiments.stats import (
    IMBALANCED_THRESHOLD,
    compare_bundles,
    coupling_summary,
    crossing_table,
    phase_summary,
)
from ...store.bundles import BundleError, load_bundle
from ...store.reading import MissingResult
from ...store.results import load_experiment
from ...store.robustness_cache import load_study
from ...store.tracking import load_tracked_study
from .format import _count, _f, _host, _ms, _prov, _sweep_table, _table
from .headings import experiment_heading, imbalanced_heading, layer4_heading
from .readouts import _initial_order_section, _layer4_section, _thresholds_section


def _provenance_rows(name: str, profile: str, runs: dict) -> list[list]:
    rows = []
    for label, (b, _) in runs.items():
        tp = b.get("training_provenance")
        analysis = ", ".join(sorted({_prov(p) for p in b["provenance"]}))
        rows.append([f"`{name}` / `{profile}`", label, f"`{b['run']}`",
                     f"{b['trained_to']:,} / {b['config']['steps']:,}",
                     len(b["checkpoints"]), _time(b), _prov(tp), analysis, (tp or {}).get("device", "—")])
    return rows


def _time(b: dict) -> str:
    """A run's training time (over all its sessions) and the wall time of the job that finished it (training what
    was left, and every analysis), with the step it started from when it resumed an earlier session's run."""
    train = b["checkpoints"][-1].get("train_seconds") if b["checkpoints"] else None
    job = b.get("job") or {}
    out = f"{train / 60:.0f} min" if train is not None else "—"
    if job.get("seconds") is None:
        return out
    out += f" / {job['seconds'] / 60:.0f} min"
    start = job.get("resumed_at")
    if start is None:
        return out + " (start not recorded)"
    return out + (f" from step {start:,}" if start else "")


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
                  f"The committed run (trained at commit {_prov(t1)} on {_host(t1, b1)}) and its retrain "
                  f"(commit {_prov(t2)} on {_host(t2, b2)}; bundle `{paths.relative(path)}`): same "
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


def phases_table(runs: dict, profile: str) -> str:
    """The tables RESULTS.md gives for a `phases` experiment (``runs``: ``load_experiment``), as Markdown."""
    return "\n".join(_phases_section(profile, runs))


def imbalanced_table(runs: dict) -> str:
    """The crossing points and coupling verdicts RESULTS.md gives for the `imbalanced` experiment, as Markdown."""
    return "\n".join(_imbalanced_section(runs))


#: the experiments the report reads, and whether a partial one is reported
REPORTED = (("phases", "cpu", False), ("phases-additive", "cpu", True), ("imbalanced", "cpu", False),
            ("phases", "fast", True), ("phases-additive", "fast", True), ("imbalanced", "fast", True),
            ("phases", "paper", True), ("torus", "cpu", True), ("holdout", "cpu", True), ("torus", "fast", True),
            ("holdout", "fast", True))
#: the profiles whose phases studies are reported in full, one after the other (the reference first)
STUDIED = ("cpu", "fast")


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


def _sampler_rows(result: dict) -> list[list[str]]:
    """sampler, accuracy and the three failure fractions of a samplers study's result, one row per sampler."""
    return [[k, _f(v["accuracy"]), _f(v["frac_none"]), _f(v["frac_multiple"]), _f(v["frac_single_wrong"])]
            for k, v in result["samplers"].items()]


def _robustness_section() -> list[str]:
    parts = ["## Robustness, profile `cpu` (seed 0, last checkpoint)", ""]
    sweep, samplers = get_profile("cpu").robustness
    try:
        sm = load_study(samplers, "cpu", quiet=True)
        parts += [f"Samplers at step {sm['step']:,} ({sm['result']['n']} samples each, tolerance {samplers.tol} px):",
                  "", _table(["sampler", "accuracy", "none", "multiple", "single-wrong"],
                             _sampler_rows(sm["result"])), ""]
        sw = load_study(sweep, "cpu", quiet=True)
        parts += [f"Layer × timestep sweep at step {sw['step']:,}:", "", _sweep_table(sw["result"]["rows"]), ""]
    except MissingResult as e:
        parts += [f"*Not available ({e}).*", ""]
    return parts


def _final_samplers_section(loaded: dict, profile: str) -> list[str]:
    """Every computed samplers study of a run's last checkpoint, both architectures: the analysis scores with one
    sampler, and this says what the final weights do under the others."""
    samplers = get_profile(profile).samplers
    rows = []
    for arch in ("film", "additive"):
        for b, _ in loaded.get((phases_experiment(arch), profile), {}).values():
            try:
                sm = load_study(samplers, profile, b["seed"], b["checkpoints"][-1]["step"], quiet=True, arch=arch)
            except MissingResult:
                continue
            rows += [[f"`{arch}` seed {b['seed']}", f"{sm['step']:,}", *r] for r in _sampler_rows(sm["result"])]
    if not rows:
        return []
    a = next(b for (_, pr), runs in loaded.items() if pr == profile for b, _ in runs.values())["analysis"]
    used = f"DDIM {a['sampler_steps']}" if a["sampler"] == "ddim" else "DDPM"
    return [f"## The final weights under each sampler, profile `{profile}`", "",
            f"The analysis above scores every checkpoint with one sampler ({used}); the samplers study "
            f"(`python -m bumpdiff robustness --profile {profile} --only samplers --arch ARCH --run-seed SEED`) "
            f"draws {samplers.n} samples of the last checkpoint under each ({samplers.tol:g} px tolerance).", "",
            _table(["run", "step", "sampler", "accuracy", "none", "multiple", "single-wrong"], rows), ""]


def _study_sections(loaded: dict, retrains: dict, profile: str) -> list[str]:
    """The phases study of one profile: both architectures, phase A, the thresholds, layer 4, imbalance."""
    parts = []
    for name in ("phases", "phases-additive"):
        if (name, profile) in loaded:
            runs = loaded[(name, profile)]
            n = len(EXPERIMENTS[name].runs(profile))
            parts += [f"## {experiment_heading(name, profile, len(runs), n)}", "", *_phases_section(profile, runs), ""]
    if not any((name, profile) in loaded for name in ("phases", "phases-additive")):
        return parts
    parts += _initial_order_section(profile)
    parts += _thresholds_section(profile)
    if profile != "cpu":      # `cpu` has its robustness section (seed 0, both studies)
        parts += _final_samplers_section(loaded, profile)
    layer4 = _layer4_section(loaded, profile, retrains)
    if layer4:
        parts += [f"## {layer4_heading(profile)}", "", *layer4]
    if ("imbalanced", profile) in loaded:
        parts += [f"## {imbalanced_heading(profile)}", "",
                  "An axis is learned at the first checkpoint where its per-axis accuracy reaches "
                  f"{IMBALANCED_THRESHOLD}; two axes are learned *together* in a seed when their crossings are at "
                  "most one checkpoint apart.", "",
                  *_imbalanced_section(loaded[("imbalanced", profile)]), ""]
    return parts


def _experiment_sections(loaded: dict, retrains: dict) -> list[str]:
    parts = [line for profile in STUDIED for line in _study_sections(loaded, retrains, profile)]
    if ("phases", "paper") in loaded:
        parts += _paper_section(loaded[("phases", "paper")])
    if ("phases", "cpu") in loaded:
        parts += _robustness_section()
    for profile in STUDIED:
        if ("holdout", profile) in loaded:
            runs = loaded[("holdout", profile)]
            n = len(EXPERIMENTS["holdout"].runs(profile))
            parts += [f"## Held-out squares, profile `{profile}` ({_count(len(runs), n, 'runs')})", "",
                      *_holdout_section(runs), ""]
    for profile in STUDIED:
        if ("torus", profile) in loaded:
            parts += [f"## Topology on a torus, profile `{profile}`", "",
                      *_torus_section(loaded[("torus", profile)], profile), ""]
    return parts
