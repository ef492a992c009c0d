"""The stripes study: training on stripes, the section instrument on models of known answer, the experiments on
`smoke`, the percolation model and the verdicts' statistics."""
import math

import numpy as np
import pytest
import torch

from bumpdiff.analysis.percolation import largest_cluster, neighbour_overlap, overlap_matrix, percolation_curve
from bumpdiff.analysis.specs import StripeAnalysis
from bumpdiff.analysis.stripe_eval import evaluate_stripes, sections
from bumpdiff.core.config import TrainConfig
from bumpdiff.core.data import StripeDataset, dataset_for
from bumpdiff.core.stripes import StripeLattice
from bumpdiff.experiments import stripes_stats as ss
from bumpdiff.experiments.registry import composition_band, experiment, experiments_of


class _Oracle(torch.nn.Module):
    """A 'model' whose sampler draws exactly the requested labels (or a blank canvas): an instrument must score it
    1 (or 0) on every section."""

    def __init__(self, st, blank=False):
        super().__init__()
        self.model = torch.nn.Linear(1, 1)
        self.st, self.blank = st, blank

    def sample(self, centers, generator=None, sampler=None, batch_size=None, **kw):
        imgs = self.st.render(centers)
        return (-torch.ones_like(imgs) if self.blank else imgs), {}


@pytest.mark.parametrize("kind, shape", [("2d", "sos"), ("stripes+rim", "sos"), ("stripes+2d", "bump")])
def test_the_instrument_scores_a_perfect_model_1_and_a_blank_one_0(kind, shape):
    st = StripeLattice(n=16, kind=kind, shape=shape, band=composition_band(16) if shape == "sos" else ())
    spec = StripeAnalysis(n_per_section=24, keep_samples=2)
    rec, arrays = evaluate_stripes(_Oracle(st), st, spec)
    assert set(rec["sections"]) == set(sections(st))
    assert all(s["accuracy"] == 1.0 for s in rec["sections"].values())
    blank, _ = evaluate_stripes(_Oracle(st, blank=True), st, spec)
    assert all(s["accuracy"] == 0.0 for s in blank["sections"].values())
    assert arrays["samples_0"].shape == (2, 1, 16, 16) and arrays["samples_0"].dtype == np.float16


def test_the_sections_split_the_window_by_the_cross():
    st = StripeLattice(n=16, kind="stripes+rim", band=composition_band(16))
    sec = sections(st)
    assert list(sec) == ["outside", "vertical arm", "horizontal arm", "intersection", "stripes"]
    two = np.concatenate([sec[k] for k in ("outside", "vertical arm", "horizontal arm", "intersection")])
    assert len(two) == 256 and len({tuple(x) for x in two}) == 256
    assert len(sec["intersection"]) == 9 and len(sec["vertical arm"]) == 3 * 13   # a 3-px band at 16 px
    assert st.in_band(sec["vertical arm"]).all() and not st.in_band(sec["outside"]).any()
    # no 2-D training example lies in the cross
    assert not st.in_band(st.two_d()).any()


def test_a_stripes_run_trains_on_its_lattice_and_keeps_bump_runs_keys():
    st = StripeLattice(n=32, d=4.0, kind="stripes+rim", band=composition_band(32))
    base = experiment("phases").runs("smoke")
    cfg = next(iter(base.values()))
    from dataclasses import replace
    with_stripes = replace(cfg, stripes=st)
    ds = dataset_for(with_stripes)
    assert isinstance(ds, StripeDataset) and len(ds) == len(st.labels()) == with_stripes.images_per_epoch
    x, c = ds.batch(torch.arange(4))
    np.testing.assert_allclose(x.numpy(), st.render(st.labels()[:4]), atol=1e-6)
    assert with_stripes.key() != cfg.key()
    assert replace(with_stripes, stripes=None).key() == cfg.key()          # a field added at its neutral value
    assert "stripes" not in cfg.to_dict() and TrainConfig.from_dict(with_stripes.to_dict()) == with_stripes
    with pytest.raises(ValueError, match="stripes.n"):
        replace(cfg, stripes=StripeLattice(n=16))


def test_the_study_runs_where_a_profile_sizes_it():
    assert "stripes-composition" in experiments_of("fast") and "stripes-composition" not in experiments_of("cpu")
    with pytest.raises(ValueError, match="profile must run the stripes study"):
        experiment("stripes-composition").analysis("cpu")
    runs = experiment("stripes-efficiency").runs("fast")
    sizes = {cfg.model.image_size for cfg in runs.values()}
    assert sizes == {8, 16, 24}
    # an equal budget of images seen for every run of the data-efficiency and percolation experiments
    budgets = {cfg.steps * cfg.batch_size for name in ("stripes-efficiency", "stripes-percolation")
               for cfg in experiment(name).runs("fast").values()}
    assert len(budgets) == 1
    # the σ = 1 percolation runs are data-efficiency runs (one folder each)
    eff = {cfg.key() for cfg in runs.values()}
    perc = [cfg for cfg in experiment("stripes-percolation").runs("fast").values() if cfg.lattice.sigma == 1.0]
    assert perc and all(cfg.key() in eff for cfg in perc)


def test_the_smoke_study_computes_and_reads_back(home):
    from bumpdiff.store.compute_runs import compute_experiments
    from bumpdiff.store.results import load_experiment
    out = compute_experiments(["stripes-composition"], "smoke", progress=False)
    comp = out["stripes-composition"]
    assert len(comp) == 3
    for bundle, arrays in comp.values():
        assert bundle["kind"] == "stripes" and bundle["checkpoints"][-1]["step"] == 30
        assert {"outside", "intersection"} <= set(bundle["checkpoints"][-1]["sections"])
    table = ss.composition_table(load_experiment("stripes-composition", "smoke", quiet=True))
    assert set(table) == {"2-D SOS without the cross", "stripes + rim", "stripes"}
    shots = ss.section_samples(*comp["stripes + rim seed 0"])
    assert list(shots) == ["outside", "vertical arm", "horizontal arm", "intersection", "stripes"]
    assert all(imgs.shape == (2, 1, 32, 32) and req.shape == (2, 2) for imgs, req in shots.values())
    # the verdict's sampler checked on these stripe models: the last checkpoints re-scored under DDPM, run by run
    from bumpdiff.app.report.stripes import sampler_check_md, sampler_check_sentence
    from bumpdiff.store.calibrations import load_calibration
    from bumpdiff.store.compute_stripe_check import compute_stripe_sampler_check
    assert "not computed yet" in sampler_check_md("smoke", comp)[0] and sampler_check_sentence("smoke", comp) == ""
    compute_stripe_sampler_check("smoke", runs=["stripes seed 0"], progress=False)
    chk = ss.sampler_check(load_calibration("stripes-sampler", "smoke", quiet=True), comp)
    assert chk["checked"] == ["stripes seed 0"] and chk["claim"] is None and len(chk["rows"]) == 5
    assert sampler_check_sentence("smoke", comp) == ""                # the findings row waits for every run
    compute_stripe_sampler_check("smoke", progress=False)          # the rest; the first is not re-sampled
    chk = ss.sampler_check(load_calibration("stripes-sampler", "smoke", quiet=True), comp)
    assert len(chk["checked"]) == 3 and chk["claim"]["holds"] in (True, False)
    assert 0 <= chk["max_diff"] <= 1 and "re-scored with ancestral DDPM" in sampler_check_md("smoke", comp)[0]
    same = chk["claim"]["holds"] == ss.composition_claim(ss.composition_table(comp))["holds"]
    assert ("the same verdict" if same else "another verdict") in sampler_check_sentence("smoke", comp)
    # a run retrained since (another last step) is no longer checked
    moved = {lab: ({**b, "checkpoints": b["checkpoints"][:-1]}, a) if lab == "stripes seed 0" else (b, a)
             for lab, (b, a) in comp.items()}
    assert "stripes seed 0" not in ss.sampler_check(load_calibration("stripes-sampler", "smoke", quiet=True),
                                                    moved)["checked"]
    with pytest.raises(ValueError, match="runs must be computed runs"):
        compute_stripe_sampler_check("smoke", runs=["no such run"], progress=False)


def _bundle(group, seed, sections, stripes=None):
    return {"group": group, "seed": seed, "config": {"stripes": stripes or {}},
            "checkpoints": [{"step": 0, "sections": {}}, {"step": 9, "sections": sections}]}


def test_the_composition_verdicts():
    acc = lambda a: {"accuracy": a}   # noqa: E731
    runs = {}
    for seed, (v, h, i) in enumerate([(0.9, 0.8, 0.7), (0.95, 0.7, 0.65), (0.9, 0.9, 0.5)]):
        runs[f"r{seed}"] = (_bundle("stripes + rim", seed, {"vertical arm": acc(v), "horizontal arm": acc(h),
                                                              "intersection": acc(i)}), {})
        runs[f"s{seed}"] = (_bundle("stripes", seed, {"intersection": acc(0.1)}), {})
    table = ss.composition_table(runs)
    assert table["stripes + rim"]["vertical arm"]["verdict"] == "yes"
    assert table["stripes + rim"]["intersection"]["verdict"] == "2 of 3"
    assert table["stripes"]["intersection"]["verdict"] == "no"
    claim = ss.composition_claim(table)
    assert claim["holds"] is False and "in part" in claim["why"]
    assert table["stripes + rim"]["intersection"]["peaks"] == [(0.7, 9), (0.65, 9), (0.5, 9)]   # seed order


def test_the_best_checkpoint_is_reported_and_the_verdict_stays_terminal():
    """A section that composes mid-training and loses it keeps its terminal verdict; its peak and step are said."""
    b = _bundle("stripes + rim", 0, {"intersection": {"accuracy": 0.3}})
    b["checkpoints"].insert(1, {"step": 5, "sections": {"intersection": {"accuracy": 0.8}}})
    b["checkpoints"].insert(1, {"step": 4, "sections": {"intersection": {"accuracy": 0.8}}})
    cell = ss.composition_table({"r": (b, {})})["stripes + rim"]["intersection"]
    assert cell["verdict"] == "no" and cell["peaks"] == [(0.8, 4)]   # the earliest of equal peaks


def test_the_failures_on_the_cross_are_grouped_per_axis_and_averaged_over_seeds():
    def sec(**frac):
        out = {f"{a}_{lab}": 0.0 for a in "xy" for lab in ("correct", "absent", "wrong", "missing", "multiple",
                                                             "spurious")}
        return out | frac
    runs = {f"s{k}": (_bundle("stripes", k, {"intersection": sec(x_correct=c, x_missing=1 - c, y_wrong=0.5,
                                                                    y_multiple=0.25, y_spurious=0.25)}), {})
            for k, c in enumerate((0.6, 0.2))}
    got = ss.composition_failures(runs)["stripes"]["intersection"]
    assert got["x"] == pytest.approx({"correct": 0.4, "wrong place": 0.0, "missing": 0.6, "extra": 0.0})
    assert got["y"] == pytest.approx({"correct": 0.0, "wrong place": 0.5, "missing": 0.0, "extra": 0.5})
    assert all(sum(axis.values()) == pytest.approx(1.0) for axis in got.values())


def test_size_at_level_interpolates_in_log_size_and_says_when_censored():
    pts = [(10, 0.1, 0.2), (100, 0.5, 0.8)]
    r = ss.size_at_level(pts, 0.5)
    assert r["censored"] is None and r["size"] == pytest.approx(math.exp(math.log(10) + 0.5 * math.log(10)))
    assert ss.size_at_level([(10, 0.1, 0.7)], 0.6)["censored"] == "below"
    assert ss.size_at_level([(10, 0.1, 0.1), (20, 1.0, 0.3)], 0.6)["censored"] == "above"


def test_efficiency_slopes_recover_power_laws():
    """Synthetic runs whose accuracy crosses 0.6 at size c·N^p: the fitted slope is p for each condition."""
    runs = {}
    for cond, kind, c, p in (("bumps", "2d", 0.5, 2.0), ("stripes + bumps", "stripes+2d", 5.0, 1.0)):
        for seed in (0, 1):
            for n in (8, 16, 24):
                st = {"n": n, "sigma": 1.0, "d": 1.0, "kind": kind, "shape": "bump", "band": [], "rim": 2.0,
                      "seed": seed}
                for kept in (0.1, 0.25, 0.5, 1.0):
                    size = len(StripeLattice(**{**st, "band": (), "kept": kept}).labels())
                    target = c * n ** p * (1 + 0.05 * seed)     # inside the sizes each N spans
                    a = float(np.clip(0.6 + 0.3 * math.log(size / target), 0, 1))
                    runs[f"{cond}{n}{kept}{seed}"] = (_bundle(cond, seed, {"2-D": {"accuracy": a}},
                                                              {**st, "kept": kept}), {})
    got = ss.efficiency_slopes(runs)
    assert got["bumps"]["slope"] == pytest.approx(2.0, abs=0.05)
    assert got["stripes + bumps"]["slope"] == pytest.approx(1.0, abs=0.05)
    assert len(got["bumps"]["slopes"]) == 2
    claim = ss.efficiency_claim(got)
    assert claim["holds"] is True and "every seed" in claim["why"]
    # decided once every crossing is settled: the runs above a crossing cannot move it, one below it can
    grid = {(cond, n, seed): (0.1, 0.25, 0.5, 1.0) for cond in got for n in (8, 16, 24) for seed in (0, 1)}
    assert ss.efficiency_decided(ss.efficiency_slopes(runs, grid=grid))
    assert not ss.efficiency_decided(ss.efficiency_slopes(runs))                   # no grid: nothing to settle
    pts = ss.efficiency_points(runs)
    hit = {cell: next(lam for _, lam, a in p if a >= 0.6) for cell, p in pts.items()}
    below = {lab: r for lab, r in runs.items()
             if ss._efficiency_cell(r[0]["config"]["stripes"])[1] <= hit[
                 ss._efficiency_cell(r[0]["config"]["stripes"])[0], r[0]["config"]["stripes"]["n"], r[0]["seed"]]}
    assert len(below) < len(runs)
    fewer = ss.efficiency_slopes(below, grid=grid)
    assert ss.efficiency_decided(fewer) and fewer["bumps"]["slopes"] == got["bumps"]["slopes"]
    cell = next(c for c, lam in hit.items() if lam > 0.1)              # a cell whose crossing is above λ = 0.1
    gap = {lab: r for lab, r in below.items() if not (
        (ss._efficiency_cell(r[0]["config"]["stripes"])[0], r[0]["config"]["stripes"]["n"], r[0]["seed"]) == cell
        and r[0]["config"]["stripes"]["kept"] == 0.1)}
    opened = ss.efficiency_slopes(gap, grid=grid)
    assert not ss.efficiency_decided(opened) and opened[cell[0]]["open"] == [cell[1:]]


def test_figure_16_draws_a_size_the_fractions_do_not_bracket_at_its_bound():
    """N = 8 crosses 60 % between λ = 0.1 and 0.25 (a point); N = 16 never does: ▲ at its largest dataset size."""
    from bumpdiff.app.plotting.stripes import efficiency_figure
    runs = {}
    for n, accs in ((8, (0.2, 0.9)), (16, (0.1, 0.3))):
        st = {"n": n, "sigma": 1.0, "d": 1.0, "kind": "2d", "shape": "bump", "band": [], "rim": 2.0, "seed": 0}
        for kept, a in zip((0.1, 0.25), accs):
            runs[f"{n}{kept}"] = (_bundle("bumps", 0, {"2-D": {"accuracy": a}}, {**st, "kept": kept}), {})
    largest = len(StripeLattice(**{**st, "band": (), "kept": 0.25}).labels())     # N = 16 at its largest λ
    fig = efficiency_figure(runs, ss.efficiency_slopes(runs))
    bound = [ln for ln in fig.axes[1].lines if ln.get_marker() == "^"]
    assert len(bound) == 1 and list(bound[0].get_xdata()) == [16] and list(bound[0].get_ydata()) == [largest]
    assert not [ln for ln in fig.axes[1].lines if ln.get_marker() == "v"]


def test_the_efficiency_verdict_needs_the_slopes_apart_beyond_the_seed_spread():
    def slopes(b, m):
        return {"bumps": {"slopes": b}, "stripes + bumps": {"slopes": m}}
    apart = ss.efficiency_claim(slopes([2.0, 1.9], [1.0, 1.2]))
    assert apart["holds"] is True and "differ by 0.85" in apart["why"]      # the effect's size is said beside it
    overlap = ss.efficiency_claim(slopes([2.0, 1.1], [1.0, 1.2]))
    assert overlap["holds"] is False and "not told apart" in overlap["why"]
    assert ss.efficiency_claim(slopes([1.0, 1.1], [1.5, 1.6]))["holds"] is False
    assert ss.efficiency_claim(slopes([2.0], []))["holds"] is None
    assert ss.efficiency_claim({})["holds"] is None


def test_the_efficiency_ratio_says_at_which_sizes_stripes_cost_or_save_data():
    slopes = {"bumps": {"sizes": {8: [20.0, 20.0], 16: [50.0, 72.0], 24: [100.0, 90.0]}},
              "stripes + bumps": {"sizes": {8: [40.0, 10.0], 16: [60.0, None], 24: [50.0, 45.0]}}}
    got = ss.efficiency_ratios(slopes)
    assert set(got) == {8, 24}                               # N = 16 has a censored seed: no ratio there
    assert got[8] == pytest.approx(1.0) and got[24] == pytest.approx(0.5)   # geometric means: √(40·10) = 20
    assert ss.efficiency_ratios({"bumps": slopes["bumps"]}) == {}


def test_neighbour_overlap_is_the_gaussian_formula_for_resolved_bumps():
    for sigma, d in ((1.0, 1.0), (2.0, 1.0), (1.5, 2.0)):
        assert neighbour_overlap(32, sigma, d) == pytest.approx(math.exp(-d * d / (4 * sigma * sigma)), abs=2e-3)
    assert neighbour_overlap(16, 0.1, 1.0) < 1e-6          # narrower than a pixel: neighbours never overlap


def test_largest_cluster_percolates_with_the_kept_fraction():
    grid = np.array([[x + 0.5, y + 0.5] for y in range(8) for x in range(8)])
    ov = overlap_matrix(grid, 8, 1.0)
    assert largest_cluster(np.ones(64, bool), ov, 0.05) == 1.0
    assert largest_cluster(np.zeros(64, bool), ov, 0.05) == 0.0
    assert largest_cluster(np.ones(64, bool), overlap_matrix(grid, 8, 0.1), 0.05) == pytest.approx(1 / 64)
    curve = percolation_curve(16, 0.5, [0.1, 0.5, 1.0], threshold=0.05, trials=5)
    assert curve["mean"] == sorted(curve["mean"]) and curve["mean"][-1] == 1.0
    assert all(m <= k + 1e-9 for m, k in zip(curve["mean"], curve["kept"]))


def test_the_percolation_command_stores_its_model_once(home, capsys):
    from bumpdiff.app.cli import main
    from bumpdiff.store.percolation import load_percolation, percolation_path
    assert main(["percolation", "--profile", "smoke"]) == 0
    first = percolation_path("smoke").read_bytes()
    assert main(["percolation", "--profile", "smoke"]) == 0          # a hit: announced, not recomputed
    assert "cache hit: percolation model" in capsys.readouterr().err
    assert percolation_path("smoke").read_bytes() == first
    model = load_percolation("smoke", quiet=True)
    assert set(model["clusters"]) == {"0.005", "0.05"} and "0.1" in model["overlap"]
    assert main(["percolation", "--profile", "cpu"]) == 2           # the study is not sized there


def test_an_experiment_that_gains_a_run_keeps_its_finished_ones(home, monkeypatch):
    """Adding a run changes the experiment's key; the finished runs stay in its index as they were (with the time
    each took), and only the new one is computed."""
    from dataclasses import replace

    from bumpdiff.experiments import registry
    from bumpdiff.store.compute_runs import compute_experiments
    from bumpdiff.store.results import read_index
    compute_experiments(["stripes-percolation"], "smoke", progress=False)
    before = read_index("stripes-percolation", "smoke")
    exp = registry.EXPERIMENTS["stripes-percolation"]
    extra = registry.RunSpec(registry.percolation_group(1.0, 0.25), 0,
                             registry._efficiency_run("smoke", "bumps", 32, 0.25, 1.0, 0))
    grown = replace(exp, make_runs=lambda profile: exp.make_runs(profile) + [extra])
    monkeypatch.setitem(registry.EXPERIMENTS, "stripes-percolation", grown)
    compute_experiments(["stripes-percolation"], "smoke", progress=False)
    after = read_index("stripes-percolation", "smoke")
    assert after["key"] != before["key"] and len(after["runs"]) == len(before["runs"]) + 1
    for label, entry in before["runs"].items():
        assert after["runs"][label] == entry


def test_the_stripes_alone_start_the_stripes_curve_at_no_2d_example():
    runs = experiment("stripes-efficiency").runs("fast")
    alone = runs["stripes + bumps N=16 λ=0 seed 0"]
    assert alone.stripes.kind == "stripes" and len(alone.stripes.labels()) == 32
    assert not any(lab.startswith("bumps") and "λ=0 " in lab for lab in runs)


def test_a_runs_time_is_read_from_its_bundle_whatever_its_job_took():
    """Training to the last checkpoint (cumulative over resumes) plus every checkpoint's analysis: a resumed job's
    wall time, or the seconds a run another experiment trained took to record, do not enter."""
    from bumpdiff.app.report.stripes import run_seconds
    b = {"checkpoints": [{"step": 0, "train_seconds": 0.0, "seconds": 2.0},
                         {"step": 9, "train_seconds": 100.0, "seconds": 3.0}], "job": {"seconds": 0.4}}
    assert run_seconds(b) == 105.0
    assert run_seconds({"checkpoints": []}) is None


def test_the_time_per_run_is_a_median_per_size_that_one_slow_run_does_not_move():
    from bumpdiff.app.report.stripes import _seconds

    def run(n, minutes):
        return ({"config": {"stripes": {"n": n}},
                 "checkpoints": [{"step": 9, "train_seconds": minutes * 60.0, "seconds": 0.0}]}, {})
    runs = {"a": run(8, 4), "b": run(8, 5), "c": run(8, 40), "d": run(16, 12)}   # c was paused for half an hour
    assert _seconds(runs, "n") == "N = 8: median 5 min (4–40); N = 16: 12 min per run"
    assert _seconds(runs) == "median 8 min (4–40) per run"
    assert _seconds({}) == "—"
