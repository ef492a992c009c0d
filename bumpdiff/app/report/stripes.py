"""The report's sections on the follow-up's stripes study (composition, data efficiency, percolation), from the
committed bundles of the `stripes-*` experiments and the stored percolation model; reads only."""
from __future__ import annotations

from collections import defaultdict

import numpy as np

from ...core.stripes import SECTIONS
from ...experiments.profiles import get_profile
from ...experiments.registry import COMPOSITION_GROUPS, STRIPE_EXPERIMENTS, experiment
from ...experiments.stripes_stats import (
    ACCURACY_LEVEL,
    FAILURE_GROUPS,
    composition_claim,
    composition_failures,
    composition_table,
    efficiency_claim,
    efficiency_decided,
    efficiency_grid,
    efficiency_points,
    efficiency_ratios,
    efficiency_slopes,
    percolation_points,
    sampler_check,
)
from ...store.calibrations import CALIBRATION_COMMANDS, load_calibration
from ...store.commands import run_command
from ...store.percolation import load_percolation
from ...store.reading import MissingResult
from ...store.results import load_experiment
from .format import _f, _prov, _table
from .headings import composition_heading, efficiency_heading, percolation_heading

__all__ = ["stripe_sections", "stripe_runs", "composition_md", "efficiency_md", "percolation_md", "run_seconds",
           "sampler_check_sentence", "efficiency_verdict", "STRIPE_PROFILES"]

#: the profiles whose stripes study the report shows (smoke's is CI's, never committed)
STRIPE_PROFILES = ("fast",)


def stripe_runs(name: str, profile: str) -> dict:
    """The computed runs of a stripes experiment (``{}`` when none is)."""
    try:
        return load_experiment(name, profile, allow_partial=True, quiet=True)
    except MissingResult:
        return {}


def _missing(name: str, profile: str, runs: dict) -> list[str]:
    want = experiment(name).runs(profile)
    left = [label for label in want if label not in runs]
    if not left:
        return []
    return [f"*Not computed yet: {len(left)} of {len(want)} runs* (`{run_command(name, profile, left[:1])}` and "
            f"the like; `python -m bumpdiff reproduce {name} --profile {profile}` computes them all).", ""]


def run_seconds(bundle: dict) -> float | None:
    """A stripes run's compute time from its bundle: training to its last analysed checkpoint (cumulative over
    resumes) plus the analysis of every checkpoint — unlike the job's wall time, the same for a resumed run, and for a
    run that another experiment trained (None without the times)."""
    recs = bundle.get("checkpoints") or []
    if not recs or recs[-1].get("train_seconds") is None:
        return None
    return float(recs[-1]["train_seconds"]) + sum(float(r.get("seconds") or 0.0) for r in recs)


#: what the time per run is, said beside it
_TIME_NOTE = "as each bundle records it; a run that shared its core or was paused reads longer than it cost"


def _seconds(runs: dict, size_key: str | None = None) -> str:
    """The runs' compute time (:func:`run_seconds`) as a median with its range, per value of the stripes config's
    ``size_key`` (e.g. ``"n"``) when given: a run that shared its core, or was paused, reads longer than it cost, and
    the median is the typical run."""
    groups = defaultdict(list)
    for b, _ in runs.values():
        t = run_seconds(b)
        if t:
            groups[b["config"]["stripes"][size_key] if size_key else None].append(t / 60)

    def one(v):
        lo, med, hi = (f"{x:.0f}" for x in (min(v), float(np.median(v)), max(v)))
        return f"{med} min" if lo == hi else f"median {med} min ({lo}–{hi})"
    if not groups:
        return "—"
    if size_key is None:
        return one(groups[None]) + " per run"
    name = {"n": "N", "sigma": "σ"}.get(size_key, size_key)
    return "; ".join(f"{name} = {k:g}: {one(v)}" for k, v in sorted(groups.items())) + " per run"


def composition_md(runs: dict) -> str:
    """The composition table: per condition and section, the terminal accuracy (mean ± sd over seeds, each seed),
    whether it composes (≥ the accuracy level in every seed), and each seed's best checkpoint (which decides
    nothing)."""
    table = composition_table(runs)
    rows = []
    for cond in COMPOSITION_GROUPS:
        for section in SECTIONS:
            c = table.get(cond, {}).get(section)
            if c is None:
                continue
            rows.append([cond, section, f"{c['mean']:.2f} ± {c['sd']:.2f}", ", ".join(f"{a:.2f}" for a in c["accs"]),
                         c["verdict"], ", ".join(f"{a:.2f} ({step:,})" for a, step in c["peaks"])])
    return _table(["condition", "section", "accuracy, last checkpoint", "per seed", f"≥ {ACCURACY_LEVEL:g}",
                   "best checkpoint per seed (step)"], rows)


def failures_md(runs: dict) -> str:
    """Per condition, cross section and axis: the fraction of samples right and how the others fail, mean over
    seeds at the last checkpoint."""
    fails = composition_failures(runs)
    groups = ("correct", *FAILURE_GROUPS)
    rows = []
    for cond in COMPOSITION_GROUPS:
        for section, axes in fails.get(cond, {}).items():
            for axis, cell in axes.items():
                rows.append([cond, section, "vertical stripe (x)" if axis == "x" else "horizontal stripe (y)",
                             *(f"{cell[g]:.2f}" for g in groups)])
    return _table(["condition", "section", "axis", *groups], rows)


def sampler_check_md(profile: str, runs: dict) -> list[str]:
    """The composition verdict's sampler checked on the stripe models: each run's last checkpoint re-scored with
    DDPM over every step, beside the analysis sampler's accuracy (or a line naming the command)."""
    cmd = CALIBRATION_COMMANDS["stripes-sampler"].format(profile=profile)
    head = "**The sampler behind the verdict.** "
    try:
        chk = sampler_check(load_calibration("stripes-sampler", profile, quiet=True), runs)
    except MissingResult:
        return [head + f"The analysis sampler was calibrated on bump models; its check on these stripe models is not "
                f"computed yet (`{cmd}`).", ""]
    if not chk["rows"]:
        return [head + f"No run's last checkpoint re-scored for these bundles yet (`{cmd}`).", ""]
    said = (f"under DDPM the claim {'holds' if chk['claim']['holds'] else 'does not hold'}: {chk['claim']['why']}"
            if chk["claim"] else f"the claim under DDPM needs every run checked ({len(chk['checked'])} of {len(runs)})")
    rows = [[cond, sec, ", ".join(f"{a:.2f}" for a in c["analysis"]), ", ".join(f"{a:.2f}" for a in c["reference"])]
            for cond in COMPOSITION_GROUPS for sec in SECTIONS
            for c in [chk["cells"].get(cond, {}).get(sec)] if c is not None]
    return [head + f"The analysis sampler was calibrated on bump models; here the last checkpoint of "
            f"{len(chk['checked'])} of {len(runs)} composition runs is re-scored with ancestral DDPM over every step "
            f"(same sections, labels and sample count; `{cmd}`). Largest difference in a section's accuracy: "
            f"{chk['max_diff']:.2f}; {said}.", "",
            _table(["condition", "section", "analysis sampler, per checked seed", "DDPM, per checked seed"], rows), ""]


def sampler_check_sentence(profile: str, runs: dict) -> str:
    """One sentence for the findings row: the composition verdict under DDPM over every step, once every run's last
    checkpoint is re-scored ("" until then)."""
    try:
        chk = sampler_check(load_calibration("stripes-sampler", profile, quiet=True), runs)
    except MissingResult:
        return ""
    if not chk["claim"]:
        return ""
    same = chk["claim"]["holds"] == composition_claim(composition_table(runs))["holds"]
    return (f" Re-scored with ancestral DDPM over all its steps (every run's last checkpoint): "
            f"{'the same verdict' if same else 'another verdict: ' + chk['claim']['why']} (sections differ by at "
            f"most {chk['max_diff']:.2f}).")


def efficiency_verdict(runs: dict, profile: str) -> str:
    """The data-efficiency claim as the settled crossings decide it (or which crossings are still open)."""
    slopes = efficiency_slopes(runs, grid=efficiency_grid(profile))
    claim = efficiency_claim(slopes)
    if not efficiency_decided(slopes):
        cells = "; ".join(f"`{cond}` " + ", ".join(f"N = {n} seed {seed}" for n, seed in s["open"])
                          for cond, s in slopes.items() if s["open"])
        return (f"The data-efficiency claim is not decided yet: the crossings of {cells} can still move (a kept "
                f"fraction below the first that reaches {ACCURACY_LEVEL:.0%} is not computed).")
    if claim["holds"] is None:
        return f"The data-efficiency claim is undecided at this scale: every crossing is settled, but {claim['why']}."
    return (f"The data-efficiency claim {'holds' if claim['holds'] else 'does not hold'}: {claim['why']}. Every "
            f"crossing is settled (the runs at larger kept fractions fill in the curves and cannot move it).")


def efficiency_md(runs: dict, profile: str) -> str:
    """Per condition and size: the dataset size at the accuracy level per seed, and the slope over sizes; then, per
    size, how much data the stripes + bumps condition needs relative to bumps alone."""
    slopes = efficiency_slopes(runs, grid=efficiency_grid(profile))
    rows = []
    for cond, s in slopes.items():
        rows += [[cond, n, ", ".join(cells)] for n, cells in s["cells"].items()]
        slope = "—" if s["slope"] is None else f"{s['slope']:.2f}" + (
            f" ± {s['spread']:.2f} ({len(s['slopes'])} seeds)" if s["spread"] is not None else " (1 seed)")
        rows.append([cond, "slope of log size vs log N", slope])
    rows += [["`stripes + bumps` / `bumps`", n, f"× {r:.2f} (geometric means over seeds)"]
             for n, r in efficiency_ratios(slopes).items()]
    return _table(["condition", "N", f"dataset size for {ACCURACY_LEVEL:.0%} accuracy, per seed"], rows)


def _accuracy_grid(runs: dict) -> str:
    pts = efficiency_points(runs)
    rows = []
    for (cond, n, seed), p in sorted(pts.items()):
        rows.append([cond, n, seed, "; ".join(f"λ {lam:g}: {size:,} img, {acc:.2f}" for size, lam, acc in p)])
    return _table(["condition", "N", "seed", "kept fraction: dataset size, 2-D accuracy"], rows)


def percolation_md(runs: dict, model: dict | None) -> str:
    """Per σ of the model (and of the runs): the neighbour overlap at spacing 1, the largest cluster at the runs' kept
    fractions under each threshold, and the runs' terminal 2-D accuracy at each."""
    pts = percolation_points(runs)
    sigmas = sorted(set(model["spec"]["sigmas"] if model else []) | set(pts))
    kept = sorted({lam for p in pts.values() for lam, _ in p}) or [0.1, 0.25, 0.5, 1.0]
    rows = []
    for sigma in sigmas:
        key = f"{sigma:g}"
        over = model["overlap"].get(key) if model else None
        d1 = over[model["spec"]["spacings"].index(1.0)] if over else None
        acc = dict(pts.get(sigma, []))
        cells = []
        for lam in kept:
            cl = []
            for th in sorted(model["clusters"], key=float) if model else []:
                c = model["clusters"][th].get(key)
                if c and lam in c["kept"]:
                    cl.append(f"{c['mean'][c['kept'].index(lam)]:.2f}")
            cells.append(f"λ {lam:g}: cluster {' / '.join(cl) or '—'}, accuracy {_f(acc.get(lam))}")
        rows.append([key, _f(d1, ".3f"), "; ".join(cells)])
    ths = " / ".join(sorted(model["clusters"], key=float)) if model else "—"
    return _table(["σ", "neighbour overlap at d = 1", f"largest cluster (threshold {ths}) and terminal 2-D accuracy"],
                  rows)


def stripe_sections() -> list[str]:
    """Every stripes section of the report, per profile of :data:`STRIPE_PROFILES`."""
    parts = []
    for profile in STRIPE_PROFILES:
        study = get_profile(profile).stripes
        loaded = {name: stripe_runs(name, profile) for name in STRIPE_EXPERIMENTS}
        comp, eff, perc = (loaded[n] for n in STRIPE_EXPERIMENTS)
        n_comp = len(experiment("stripes-composition").runs(profile))
        a = study.analysis
        how = (f"Each analysed checkpoint (every {study.every}rd scheduled one and the last) draws {a.n_per_section} "
               f"samples per test section with DDIM {a.sampler_steps}, η = {a.eta:g} (the profile's calibrated "
               f"sampler); a sample is correct when each visible stripe (or the bump) is found within {a.tol:g} px "
               "and no stripe appears where the coordinate is hidden.")
        parts += [f"## {composition_heading(profile, len(comp), n_comp)}", "", how, ""]
        if comp:
            claim = composition_claim(composition_table(comp))
            verdict = {True: "holds", False: "does not hold", None: "is not decided yet"}[claim["holds"]]
            if len(comp) < n_comp and claim["holds"] is not None:
                verdict = f"is not decided yet ({len(comp)} of {n_comp} runs); so far it {verdict}"
            first = next(iter(comp.values()))[0]
            commits = sorted({_prov(b.get("training_provenance")) for b, _ in comp.values()})
            parts += [f"The composition claim {verdict}: {claim['why']}. Training: {first['config']['steps']:,} steps "
                      f"of {first['config']['batch_size']} images; {_seconds(comp)} (train and analyse, 1 thread); "
                      f"trained at commit {', '.join(commits)}.", "", composition_md(comp), "",
                      "What the samples draw on the held-out cross, per axis (mean over seeds, last checkpoint): "
                      "right, at the wrong place (more than the tolerance off), missing, or extra (more than one, or "
                      "one where the coordinate is hidden):", "", failures_md(comp), "",
                      *sampler_check_md(profile, comp)]
        parts += _missing("stripes-composition", profile, comp)
        n_eff = len(experiment("stripes-efficiency").runs(profile))
        parts += [f"## {efficiency_heading(profile, len(eff), n_eff)}", "",
                  f"Image sizes N = {', '.join(map(str, study.sizes))}; kept fractions λ = "
                  f"{', '.join(f'{k:g}' for k in study.kept)} of the 2-D lattice (the 1-D stripes are all kept); "
                  f"every run sees {study.steps:,} × {get_profile(profile).train.batch_size} images. The dataset size "
                  f"for {ACCURACY_LEVEL:.0%} accuracy is interpolated in log size between the kept fractions that "
                  "bracket it; '>' and '≤' mark a size the fractions do not bracket.", ""]
        if eff:
            parts += [efficiency_verdict(eff, profile), "", efficiency_md(eff, profile), "",
                      "Every run's terminal accuracy:", "", _accuracy_grid(eff), "",
                      f"Time (train and analyse, {_TIME_NOTE}): {_seconds(eff, 'n')}.", ""]
        parts += _missing("stripes-efficiency", profile, eff)
        n_perc = len(experiment("stripes-percolation").runs(profile))
        try:
            model = load_percolation(profile, quiet=True)
        except MissingResult as e:
            model = None
            parts += [f"*Percolation model not available ({e}).*", ""]
        parts += [f"## {percolation_heading(profile, len(perc), n_perc)}", ""]
        if perc or model:
            parts += [percolation_md(perc, model), ""]
        if perc:
            parts += [f"Time (train and analyse, {_TIME_NOTE}): {_seconds(perc, 'sigma')}.", ""]
        parts += _missing("stripes-percolation", profile, perc)
    return parts
