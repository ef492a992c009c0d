"""The sections about the instruments: the latent rule calibrated on phantoms, the noise of real latents with the
trial-averaged read-out's convergence, and the analysis sampler calibrated against DDPM-1000."""
from __future__ import annotations

from ...analysis.calibration import METRICS, REFERENCE_SAMPLER, SAMPLER_TOLERANCE, choose_sampler, separable_up_to
from ...analysis.phantoms import KINDS, NOISE_RANGE, TRUTH
from ...analysis.phases import PHASE_THRESHOLDS, describe_sequence, latent_call, phase_sequence
from ...experiments.profiles import get_profile
from ...experiments.registry import ARCH_EXPERIMENTS, experiment
from ...experiments.stats import calibrated_claim, calibrated_sensitivity, tally
from ...store.calibrated import load_calibrated, recompute_command
from ...store.calibrations import CALIBRATION_COMMANDS, calibration_path, load_calibration, sampler_coverage
from ...store.reading import MissingResult
from .format import _prov, _table
from .headings import calibrated_heading, phase_a_heading
from .shipped import meanwhile

__all__ = ["instrument_sections", "available_calibrations", "phantom_table", "separation_table", "noise_table",
           "sampler_table", "claim_table", "phase_a_verdicts", "phase_a_passes", "phase_a_table", "calibrated_runs",
           "sampler_verdict",
           "CALIBRATED_PROFILES", "REFERENCE_SAMPLER"]

#: the profiles whose shipped models are calibrated (the others ship no weights)
CALIBRATED_PROFILES = ("fast", "cpu")


def _pct(x) -> str:
    return "–" if x != x else f"{100 * x:.0f} %"


def _noise(x) -> str:
    return "not even at 0" if x is None else f"≤ {x:g}"


def phantom_table(cal: dict, split: str = "heldout") -> str:
    """Per phantom kind and noise level of ``split``: the fraction called right by the calibrated and the old rule."""
    rows = [r for r in cal["rows"] if r["split"] == split]
    levels = sorted({r["phantom"]["noise"] for r in rows})
    out = []
    for kind in KINDS:
        cells = [f"{kind} ({TRUTH[kind]})"]
        for lv in levels:
            sel = [r for r in rows if r["kind"] == kind and r["phantom"]["noise"] == lv]
            new = sum(r["call"] == r["truth"] for r in sel) / len(sel)
            old = sum(r["old_call"] == r["truth"] for r in sel) / len(sel)
            cells.append(f"{_pct(new)} / {_pct(old)}")
        out.append(cells)
    head = ["kind (truth)", *(f"noise {lv:g}" + (" (beyond)" if lv > cal["noise_range"] else "") for lv in levels)]
    return _table(head, out)


def separation_table(cal: dict) -> str:
    """Per measure: the largest noise up to which one threshold on it separates the clouds (A) from the manifolds,
    and the intact sheets (C) from each kind of disordered manifold (B), over every phantom of both splits."""
    rows = cal["rows"]
    out = []
    for key, label, higher in METRICS:
        if not any(r.get(key) is not None for r in rows):
            continue
        cells = [label]
        cells.append(_noise(separable_up_to(rows, key, lambda r: r["truth"] != "A", lambda r: r["truth"] == "A",
                                            higher=higher)))
        for kind in ("scrambled", "blocks", "folded", "torn"):
            cells.append(_noise(separable_up_to(rows, key, lambda r: r["kind"] == "sheet",
                                                lambda r, k=kind: r["kind"] == k, higher=higher)))
        out.append(cells)
    return _table(["measure", "manifold vs cloud (B, C vs A)", "sheet vs scrambled", "sheet vs blocks",
                   "sheet vs folded", "sheet vs torn"], out)


def _dims(dim_a) -> str:
    return " and ".join(f"{t:g} at {m:,} conditions" for m, t in dim_a) + " (log-log between)"


def _latent_section() -> list[str]:
    head = "## The latent rule, calibrated on phantoms (`python -m bumpdiff calibrate latent`)"
    try:
        cal = load_calibration("latent", quiet=True)
    except MissingResult:
        return [head, "", f"Not computed: `{CALIBRATION_COMMANDS['latent']}`.", ""]
    th, acc = cal["thresholds"], cal["accuracy"]
    sizes = ", ".join(f"`{s['name']}` ({s['side']}×{s['side']} conditions, {s['dim']} features"
                      f"{', torus' if s['periodic'] else ''})" for s in cal["sizes"])
    acc_rows = [[split, rng, str(a["n"]["all"]), _pct(a["new"]["all"]), _pct(a["old"]["all"]),
                 *(f"{_pct(a['new'][t])} / {_pct(a['old'][t])}" for t in "ABC")]
                for split in ("fit", "heldout") for rng, a in (("in range", acc[split]["in_range"]),
                                                               ("beyond", acc[split]["beyond"]))]
    return [head, "",
            f"Phantoms of known phase (`bumpdiff.analysis.phantoms`, version {cal['phantom_version']}) at the sizes "
            f"the profiles analyse: {sizes}. The calibrated rule's thresholds are fitted by maximum margin on the "
            f"`fit` phantoms with noise ≤ {cal['noise_range']:g} (the noise range of the real latents, next section) "
            "and checked on the `heldout` ones (other seeds, length scales, noise levels, block sizes, piece counts "
            f"and cloud spectra). Fitted: **A** when the Gride dimension at the sheet's scale is above "
            f"{_dims(th['dim_a'])}; **C** when the geodesic order is ≥ {th['order_c']:g} and the "
            f"neighbourhood agreement ≥ {th['local_c']:g}; **B** otherwise. The old rule (min kNN R² ≥ "
            f"{PHASE_THRESHOLDS.knn_r2_c}, MLE dimension ≤ {PHASE_THRESHOLDS.dim_b}) is the comparison. Key "
            f"`{cal['key']}`; {_prov(cal['provenance'])}.",
            "", _table(["split", "noise", "phantoms", "calibrated rule right", "old rule right",
                        "A: calibrated / old", "B: calibrated / old", "C: calibrated / old"], acc_rows), "",
            "Held-out phantoms called right, per kind and noise level (calibrated / old rule):", "",
            phantom_table(cal), "",
            "Which measure sees which phase, up to which noise: the largest noise level up to which one threshold on "
            "the measure alone (the same at every size) separates the two groups, over every phantom of both splits "
            "and sizes:", "",
            separation_table(cal), ""]


def available_calibrations(kind: str, profiles=CALIBRATED_PROFILES) -> tuple[dict, list[str]]:
    """``({profile: calibration}, [a line per profile not computed yet, with its command])`` for ``kind`` ("noise" or
    "sampler"); a corrupt or stale calibration raises :class:`MissingResult`, as every reader does."""
    found, missing = {}, []
    for profile in profiles:
        if calibration_path(kind, profile).exists():
            found[profile] = load_calibration(kind, profile, quiet=True)
        else:
            missing.append(f"the {kind} calibration of profile `{profile}` "
                           f"(`{CALIBRATION_COMMANDS[kind].format(profile=profile)}`)")
    return found, missing


def noise_table(cal: dict) -> str:
    """Per shipped checkpoint: the noise ratio and fraction, and the calibrated call (from the stored measures, under
    the rule's current thresholds) of the independent read-out and of the trial-averaged one at each number of
    images."""
    ks = sorted(cal["rows"][0]["mean_by_trials"], key=int) if cal["rows"] else []
    out = []
    for r in cal["rows"]:
        m = r["mean_by_trials"]
        out.append([r["set"], f"{r['step']:,}", r["label"], f"{r['noise_ratio']:.3g}", f"{r['noise_fraction']:.3g}",
                    *(f"{latent_call(m[k])} ({m[k]['geodesic_order']:.2f}, {m[k]['neighbourhood_agreement']:.2f}, "
                      f"{m[k]['dimension']:.1f})" for k in ks)])
    return _table(["set", "step", "shipped as", "within / between variance", "noise fraction",
                   *(f"K = {k}: call (order, agreement, dim.)" for k in ks)], out)


def _noise_section() -> list[str]:
    parts = ["## The noise of real latents, and the trial-averaged read-out (`python -m bumpdiff calibrate noise`)", "",
             "Layer 4 of every shipped checkpoint read on K independent noise images per condition (t and grid of the "
             "profile's analysis). The within- over between-condition variance is the real latents' noise on the "
             "phantoms' scale (noise fraction = its square root); K = 1 is the `independent` read-out, the mean over "
             "K images the trial-averaged (`mean`) read-out, called by the calibrated rule. The trial-averaged "
             "read-out's residual noise ratio is the ratio over K.", ""]
    for profile in CALIBRATED_PROFILES:
        try:
            cal = load_calibration("noise", profile, quiet=True)
        except MissingResult:
            parts += [f"Profile `{profile}`: not computed (`{CALIBRATION_COMMANDS['noise'].format(profile=profile)}`).",
                      ""]
            continue
        trained = [r for r in cal["rows"] if r["step"] > 0 and r["label"] != "A"]
        top = max((r["noise_fraction"] for r in trained), default=float("nan"))
        parts += [f"**Profile `{profile}`** ({cal['trials']} images per condition; {_prov(cal['provenance'])}): the "
                  f"largest noise fraction at a shipped checkpoint past phase A is {top:.2f} (the phantoms' range is "
                  f"0–{NOISE_RANGE:g}).", "", noise_table(cal), ""]
    return parts


def sampler_table(cal: dict) -> tuple[str, dict]:
    """Per shipped checkpoint and candidate: accuracy and failure fractions; and :func:`choose_sampler`'s choice."""
    rows = cal["rows"]
    names = list(dict.fromkeys(r["sampler"] for r in rows))
    keys = list(dict.fromkeys((r["set"], r["step"], r["label"]) for r in rows))
    out = []
    for s, step, label in keys:
        cells = [s, f"{step:,}", label]
        for name in names:
            r = next(r for r in rows if (r["set"], r["step"], r["sampler"]) == (s, step, name))
            cells.append(f"{r['accuracy']:.2f} ({r['frac_none']:.2f}/{r['frac_multiple']:.2f}/"
                         f"{r['frac_single_wrong']:.2f})")
        out.append(cells)
    choice = choose_sampler(rows, REFERENCE_SAMPLER, SAMPLER_TOLERANCE)
    out.append(["largest difference from DDPM-1000", "", "", "–",
                *(f"{choice['max_diff'][n]:.3f} ({'agrees' if choice['agrees'][n] else 'differs'})"
                  for n in names[1:])])
    return _table(["set", "step", "shipped as", *names], out), choice


def sampler_verdict(cal: dict, profile: str) -> str:
    """What a sampler calibration chooses, in a sentence: the cheapest candidate that agrees with the reference at
    every shipped checkpoint, the reference itself when none does, or nothing yet for a partial calibration."""
    choice = choose_sampler(cal["rows"], REFERENCE_SAMPLER, SAMPLER_TOLERANCE)
    cover = sampler_coverage(cal)
    if cover["complete"] and choice["sampler"] == REFERENCE_SAMPLER:
        best = min(choice["max_diff"], key=choice["max_diff"].get)
        return (f"no candidate agrees at every checkpoint (the closest, {best}, is off by "
                f"{choice['max_diff'][best]:.3f}), so the analysis samples with the reference itself, "
                f"**{REFERENCE_SAMPLER}**.")
    if cover["complete"]:
        return f"the cheapest candidate that agrees is **{choice['sampler']}**."
    cmd = CALIBRATION_COMMANDS["sampler"].format(profile=profile)
    return (f"{cover['done']} of {cover['total']} shipped checkpoints calibrated so far, so no sampler is "
            f"chosen yet (the cheapest that agrees at these is {choice['sampler']}; the candidates part at the "
            f"checkpoints where the phases change). Not yet: {', '.join(cover['missing'])} (`{cmd}`, resumable).")


def _sampler_section() -> list[str]:
    parts = ["## The analysis sampler, calibrated against DDPM-1000 (`python -m bumpdiff calibrate sampler`)", "",
             "Generation accuracy (and the none / multiple / single-wrong fractions) of the same requested centres and "
             "initial noise under the paper's sampler, ancestral DDPM over all 1,000 steps (the reference), and under "
             f"each candidate. A candidate agrees when accuracy and every failure fraction stay within "
             f"{SAMPLER_TOLERANCE:g} of the reference's at every calibrated checkpoint; the profile's analysis sampler "
             "is the cheapest that agrees, or the reference itself when none does.", ""]
    for profile in CALIBRATED_PROFILES:
        try:
            cal = load_calibration("sampler", profile, quiet=True)
        except MissingResult:
            parts += [f"Profile `{profile}`: not computed "
                      f"(`{CALIBRATION_COMMANDS['sampler'].format(profile=profile)}`).", ""]
            continue
        table, _ = sampler_table(cal)
        said = sampler_verdict(cal, profile)
        parts += [f"**Profile `{profile}`** ({cal['n']} samples per checkpoint and sampler, seed {cal['seed']}, "
                  f"tolerance {cal['tol']:g} px; {_prov(cal['provenance'])}): {said}", "", table, ""]
    return parts


def phase_a_verdicts(cal: dict) -> dict[str, dict]:
    """Per read-out: ``{"passes": every untrained network called A, "not_a": how many are not, "runs": how many}``
    from a ``phase-a`` calibration, under the rule's current thresholds (recalled from the stored measures)."""
    out = {}
    for noise in ("shared", "independent", "mean"):
        calls = [latent_call(r[noise]) for r in cal["rows"]]
        out[noise] = {"passes": all(c == "A" for c in calls), "not_a": sum(c != "A" for c in calls),
                      "ordered": sum(c == "C" for c in calls), "runs": len(calls)}
    return out


def phase_a_passes(profile: str) -> dict[str, bool] | None:
    """``{read-out: passes}`` of the committed calibrated phase-A test of ``profile``, None when not computed."""
    try:
        return {n: v["passes"] for n, v in phase_a_verdicts(load_calibration("phase-a", profile, quiet=True)).items()}
    except MissingResult:
        return None


def phase_a_table(cal: dict) -> str:
    """Per untrained network: its noise ratio and the calibrated call (order, agreement, dimension) per read-out."""
    out = []
    for r in cal["rows"]:
        out.append([r["arch"], str(r["seed"]), f"{r['noise_ratio']:.3g}",
                    *(f"{latent_call(r[n])} ({r[n]['geodesic_order']:.2f}, {r[n]['neighbourhood_agreement']:.2f}, "
                      f"{r[n]['dimension']:.1f})" for n in ("shared", "independent", "mean"))])
    return _table(["arch", "seed", "within / between variance", "`shared`: call (order, agreement, dim.)",
                   "`independent`", f"`mean` ({cal['trials']} images)"], out)


def _phase_a_sections() -> list[str]:
    parts = []
    for profile in CALIBRATED_PROFILES:
        head = f"## {phase_a_heading(profile)}"
        try:
            cal = load_calibration("phase-a", profile, quiet=True)
        except MissingResult:
            parts += [head, "", f"Not computed: `{CALIBRATION_COMMANDS['phase-a'].format(profile=profile)}`.", ""]
            continue
        v = phase_a_verdicts(cal)
        said = "; ".join(f"`{n}` {'passes' if x['passes'] else 'fails'} ({x['not_a']} of {x['runs']} not A, "
                         f"{x['ordered']} called C)" for n, x in v.items())
        parts += [head, "",
                  f"The untrained network (step 0: the initial weights of every `phases` run of both architectures) "
                  f"read at layer 4 (`{cal['layer']}`, t = {cal['t']}) under each read-out and called by the "
                  f"calibrated rule. A read-out passes when every untrained network is called A (no structure). "
                  f"{said}. {_prov(cal['provenance'])}.", "", phase_a_table(cal), ""]
    return parts


def instrument_sections() -> list[str]:
    """Every instrument section of ``docs/RESULTS.md``."""
    return [*_latent_section(), *_noise_section(), *_sampler_section(), *_phase_a_sections(), *_claim_sections()]


def calibrated_runs(profile: str) -> dict:
    """``{arch: {label: {read-out: (bundle, arrays)}}}``: the calibrated read-outs of the profile's `phases` runs."""
    return {arch: load_calibrated(profile, arch) for arch in ("additive", "film")}


def claim_table(claim: dict) -> str:
    """Per read-out and run: the calibrated latent call's path, the verdict from the generation-C onset on (old rule
    on the same records beside it) and the untrained network's call."""
    out = []
    for noise, ro in claim["readouts"].items():
        for r in ro["rows"]:
            recs = r["records"]
            out.append([f"`{noise}`", r["arch"], str(r["seed"]), _analysed_range(recs),
                        describe_sequence(phase_sequence(recs, "phase_generation")),
                        describe_sequence(phase_sequence(recs, "phase_representation")),
                        f"**{r['verdict']}** ({r['old']})", f"{r['initial']} ({r['initial_old']})"])
    return _table(["read-out", "arch", "seed", "analysed", "generation", "layer 4, calibrated rule",
                   "verdict from generation C on (old rule)", "step 0: calibrated (old)"], out)


def calibrated_sensitivity_table(claim: dict) -> str:
    """The verdicts of every run of each read-out, tallied, as the calibrated rule's two order thresholds move (the
    fitted pair in bold; the dimension threshold as fitted)."""
    cols, cells = [], {}
    for noise, ro in claim["readouts"].items():
        for arch in dict.fromkeys(r["arch"] for r in ro["rows"]):
            runs = [r for r in ro["rows"] if r["arch"] == arch]
            cols.append(f"`{noise}` {arch}")
            for r in runs:
                for row in calibrated_sensitivity(r["records"], finished=r["finished"]):
                    cells.setdefault((row["order_c"], row["local_c"], row["default"]), {}).setdefault(
                        cols[-1], []).append(row["verdict"])
    out = []
    for (order, local, default), by in cells.items():
        mark = (lambda t: f"**{t}**") if default else (lambda t: t)
        out.append([mark(f"{order:g}"), mark(f"{local:g}"),
                    *(", ".join(f"{v} {n}" for v, n in tally(by.get(c, [])).items()) for c in cols)])
    return _table(["geodesic order ≥", "agreement ≥", *cols], out)


def _analysed_range(recs) -> str:
    steps = sorted(r["step"] for r in recs)
    return f"{steps[0]:,}–{steps[-1]:,} ({len(steps)})"


def _claim_sections() -> list[str]:
    parts = []
    for profile in CALIBRATED_PROFILES:
        head = f"## {calibrated_heading(profile)}"
        if get_profile(profile).calibrated is None:
            parts += [head, "", f"Not recomputed: profile `{profile}` has no calibrated analysis yet (its sampler is "
                      "not calibrated at every shipped checkpoint, and no checkpoints of its runs are at hand)"
                      + meanwhile(profile), ""]
            continue
        runs = calibrated_runs(profile)
        if not any(runs.values()):
            parts += [head, "", f"Not recomputed yet: `{recompute_command(profile)}`" + meanwhile(profile), ""]
            continue
        a = get_profile(profile).calibrated
        claim = calibrated_claim(runs, phase_a=phase_a_passes(profile))
        n = {arch: len(experiment(ARCH_EXPERIMENTS[arch]).runs(profile)) for arch in runs}
        have = ", ".join(f"`{arch}` {len(v)} of {n[arch]} seeds" for arch, v in runs.items())
        tests = "; ".join(f"`{noise}` {'passes' if ro['phase_a'] else 'fails'} (step 0 not A in "
                          f"{ro['structured_at_init']} of {len(ro['rows'])} runs, C in {ro['ordered_at_init']})"
                          for noise, ro in claim["readouts"].items())
        parts += [head, "",
                  f"Every checkpoint of the `phases` runs recomputed ({have}) with the calibrated instruments: "
                  f"generation under {_sampler_name(a)} ({a.n_samples} samples, the sampler calibration above), layer "
                  f"4 (`{a.layer}`, t = {a.t}) under three read-outs — `shared` (one noise image for all conditions), "
                  f"`independent` (each its own), `mean` (the mean over {a.trials} images of each condition's own) — "
                  "called by the calibrated latent rule; the old rule's verdict on the same records in brackets. "
                  f"The phase-A test (the untrained network called A, in every run): {tests}. A verdict says what "
                  "happens from the generation-C onset on: persists (C at every checkpoint), settles (C at the last "
                  "three), transient, never ordered.", "", claim_table(claim), "",
                  "The verdicts as the calibrated rule's order thresholds move (count of runs per verdict; the fitted "
                  "thresholds in bold):", "", calibrated_sensitivity_table(claim), ""]
    return parts


def _sampler_name(a) -> str:
    return "DDPM over all steps" if a.sampler == "ddpm" else f"DDIM {a.sampler_steps}, η={a.eta:g}"
