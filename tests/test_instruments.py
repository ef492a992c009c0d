"""The other instruments: the trial-averaged read-out, the sampler choice, the calibrated read-outs of a run end to end
on `smoke`, and the claim decided from them."""
import json

import numpy as np
import pytest
import torch

from bumpdiff.analysis.activations import collect_layers, condition_noise, trial_activations
from bumpdiff.analysis.calibration import choose_sampler
from bumpdiff.analysis.manifold import noise_ratio
from bumpdiff.analysis.specs import AnalysisConfig
from bumpdiff.core.diffusion import Diffusion
from bumpdiff.core.model import UNet
from bumpdiff.experiments.profiles import CALIBRATED_READOUTS, get_profile
from bumpdiff.experiments.stats import calibrated_claim


@pytest.fixture(scope="module")
def tiny():
    torch.manual_seed(0)
    cfg = get_profile("smoke").train
    return Diffusion(UNet(cfg.model), cfg.diffusion).eval()


def test_trial_zero_is_the_independent_read_outs_image_and_other_trials_differ():
    c = np.array([[1.5, 2.5], [3.5, 0.5]])
    old = condition_noise(c, (1, 4, 4), seed=3)
    assert torch.equal(condition_noise(c, (1, 4, 4), seed=3, trial=0), old)
    assert not torch.equal(condition_noise(c, (1, 4, 4), seed=3, trial=1), old)
    with pytest.raises(ValueError, match="trial must be"):
        condition_noise(c, (1, 4, 4), trial=-1)


def test_the_mean_read_out_is_the_mean_over_its_trials(tiny):
    grid = np.stack(np.meshgrid(np.arange(4) * 4 + 2.0, np.arange(4) * 4 + 2.0), -1).reshape(-1, 2)
    X = trial_activations(tiny, grid, t=25, trials=3)
    mean = collect_layers(tiny, grid, ("down3",), t=25, noise="mean", trials=3)["down3"]
    one = collect_layers(tiny, grid, ("down3",), t=25, noise="independent")["down3"]
    assert X.shape == (3, 16, mean.shape[1])
    np.testing.assert_allclose(mean, X.mean(0), rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(X[0], one)
    assert noise_ratio(X) > 0
    with pytest.raises(ValueError, match="noise must be one of"):
        collect_layers(tiny, grid, ("down3",), t=25, noise="average")
    with pytest.raises(ValueError, match="trials must be"):
        AnalysisConfig(noise="mean", trials=0)


def test_a_mean_read_out_gets_its_own_key_and_the_others_keep_theirs():
    base = AnalysisConfig()
    assert AnalysisConfig(trials=8).key() == base.key()   # trials only matters to the mean read-out...
    assert AnalysisConfig(noise="mean").key() != base.key()
    assert AnalysisConfig(noise="mean", trials=8).key() != AnalysisConfig(noise="mean").key()   # ...where it does


def _row(sampler, steps, eta, acc, none=0.0, step=0, s="fast-film-seed0"):
    return {"set": s, "step": step, "sampler": sampler, "steps": steps, "eta": eta, "accuracy": acc,
            "frac_none": none, "frac_multiple": 0.0, "frac_single_wrong": 1 - acc - none}


def test_the_cheapest_sampler_that_agrees_everywhere_is_chosen():
    rows = [_row("DDPM 1000", 0, 0.0, 0.9), _row("DDIM 25, η=0", 25, 0.0, 0.7), _row("DDIM 50, η=1", 50, 1.0, 0.88),
            _row("DDIM 100, η=1", 100, 1.0, 0.9),
            _row("DDPM 1000", 0, 0.0, 0.5, step=450), _row("DDIM 25, η=0", 25, 0.0, 0.5, step=450),
            _row("DDIM 50, η=1", 50, 1.0, 0.52, step=450), _row("DDIM 100, η=1", 100, 1.0, 0.4, step=450)]
    got = choose_sampler(rows, "DDPM 1000", tol=0.05)
    assert got["sampler"] == "DDIM 50, η=1"
    assert got["agrees"] == {"DDIM 25, η=0": False, "DDIM 50, η=1": True, "DDIM 100, η=1": False}
    assert got["max_diff"]["DDIM 25, η=0"] == pytest.approx(0.2)
    assert choose_sampler(rows, "DDPM 1000", tol=0.001)["sampler"] == "DDPM 1000"   # none agrees: the reference


def _bundle(calls, calls_old, steps=(0, 10, 20, 30), trained_to=30):
    recs = [{"step": s, "epoch": 0.0, "images_seen": s, "phase_generation": g, "phase_representation": r,
             "phase_representation_old": o, "intrinsic_dim": 2.0, "knn_r2_x": 1.0, "knn_r2_y": 1.0}
            for s, g, r, o in zip(steps, *calls, calls_old)]
    return {"checkpoints": recs, "trained_to": trained_to, "config": {"steps": 30, "seed": 0}}


def test_the_claim_is_read_on_the_read_outs_that_pass_the_phase_a_test():
    gen = ["A", "B", "C", "C"]
    runs = {"film": {"seed 0": {
        "shared": (_bundle((gen, ["C", "C", "C", "C"]), ["C"] * 4), {}),          # ordered at step 0: fails phase A
        "independent": (_bundle((gen, ["A", "B", "C", "C"]), ["A", "A", "A", "A"]), {}),
        "mean": (_bundle((gen, ["A", "B", "B", "C"]), ["A", "A", "A", "B"]), {})}}}
    claim = calibrated_claim(runs)
    assert claim["decided_by"] == ["independent", "mean"]
    assert not claim["readouts"]["shared"]["phase_a"] and claim["readouts"]["shared"]["ordered_at_init"] == 1
    rows = {n: claim["readouts"][n]["rows"][0] for n in CALIBRATED_READOUTS}
    assert rows["independent"]["verdict"] == "persists" and rows["independent"]["old"] == "never ordered"
    assert rows["mean"]["verdict"] == "settles" or rows["mean"]["verdict"] == "transient"
    assert claim["holds"] is (rows["mean"]["verdict"] in ("persists", "settles"))


@pytest.mark.slow
def test_recompute_analyses_a_smoke_run_under_every_calibrated_read_out(smoke_run, capsys):
    """End to end through the command line: the smoke run's checkpoints under the calibrated analysis, three
    read-outs, each bundle keeping its latent; the report's claim table reads them."""
    from bumpdiff.app.cli import main
    from bumpdiff.app.report.instruments import claim_table
    from bumpdiff.store.calibrated import load_calibrated

    args = ["recompute", "--profile", "smoke", "--arch", "film", "--every", "3", "--quiet", "--device", "cpu"]
    assert main(args) == 0
    got = load_calibrated("smoke", "film")
    (label, readouts), = got.items()
    assert set(readouts) == set(CALIBRATED_READOUTS)
    bundle, arrays = readouts["mean"]
    assert bundle["analysis"]["noise"] == "mean" and bundle["analysis"]["sampler"] == "ddpm"
    steps = [r["step"] for r in bundle["checkpoints"]]
    assert steps == [0, 30]   # every third checkpoint, and the last
    for r in bundle["checkpoints"]:
        assert r["phase_representation"] in "ABC" and {"geodesic_order", "dimension", "conditions"} <= set(r)
        assert arrays[f"latent_{r['step']:07d}"].shape == (64, 32)
        assert arrays[f"latent_{r['step']:07d}"].dtype == np.float16
    # the read-outs of one checkpoint score the same generated samples
    first = {n: b[0]["checkpoints"][-1]["accuracy"] for n, b in readouts.items()}
    assert len(set(first.values())) == 1
    claim = calibrated_claim({"film": got})
    assert set(claim["readouts"]) == set(CALIBRATED_READOUTS)
    assert "`mean`" in claim_table(claim)
    json.dumps([r["verdict"] for r in claim["readouts"]["mean"]["rows"]])


def test_the_phase_a_verdicts_recall_the_stored_measures_under_the_current_rule():
    from bumpdiff.app.report.instruments import phase_a_table, phase_a_verdicts

    cloud = {"geodesic_order": 0.0, "neighbourhood_agreement": 0.05, "dimension": 30.0, "conditions": 256}
    sheet = {"geodesic_order": 0.99, "neighbourhood_agreement": 0.95, "dimension": 2.0, "conditions": 256}
    cal = {"trials": 16, "rows": [{"arch": "film", "seed": s, "noise_ratio": 50.0, "shared": sheet,
                                   "independent": cloud, "mean": cloud if s else sheet} for s in range(3)]}
    v = phase_a_verdicts(cal)
    assert v["independent"] == {"passes": True, "not_a": 0, "ordered": 0, "runs": 3}
    assert not v["shared"]["passes"] and v["shared"]["ordered"] == 3
    assert not v["mean"]["passes"] and v["mean"]["not_a"] == 1
    assert phase_a_table(cal).count("\n") == 2 + 3 - 1


def test_each_calibrated_profiles_sampler_is_its_committed_calibrations_choice():
    """The profile's calibrated analysis follows the sampler calibration: the cheapest candidate that agrees with
    DDPM-1000 at every shipped checkpoint (a profile whose sampler is not calibrated has no calibrated analysis)."""
    from bumpdiff.analysis.calibration import REFERENCE_SAMPLER, SAMPLER_TOLERANCE
    from bumpdiff.app.report.instruments import available_calibrations
    from bumpdiff.store.calibrations import sampler_coverage

    found, _ = available_calibrations("sampler")
    for profile in ("fast", "cpu"):
        a = get_profile(profile).calibrated
        if profile not in found or not sampler_coverage(found[profile])["complete"]:
            assert a is None       # no calibration, or one of some shipped checkpoints only: nothing is chosen
            continue
        cal = found[profile]
        choice = choose_sampler(cal["rows"], REFERENCE_SAMPLER, SAMPLER_TOLERANCE)
        row = next(r for r in cal["rows"] if r["sampler"] == choice["sampler"])
        assert (a.sampler, a.sampler_steps if a.sampler == "ddim" else 0, a.eta) == (row["name"], row["steps"],
                                                                                     row["eta"])
        assert a.n_samples == cal["n"] and a.tol == cal["tol"]


def test_the_shipped_checkpoints_say_what_they_can_where_no_run_is_at_hand(monkeypatch):
    """A profile without checkpoints of its runs still reads its shipped ones: layer 4 at those shipped as C and at
    the finals, under the calibrated rule, per read-out, with the DDPM-1000 accuracy where it is calibrated."""
    from bumpdiff.app.report import shipped
    from bumpdiff.store.reading import MissingResult

    sheet = {"geodesic_order": 0.99, "neighbourhood_agreement": 0.95, "dimension": 2.0, "conditions": 256}
    fold = {"geodesic_order": 0.5, "neighbourhood_agreement": 0.9, "dimension": 2.0, "conditions": 256}
    rows = [{"set": "x-film-seed0", "step": s, "label": lab, "mean_by_trials": {"1": m1, "4": m4}}
            for s, lab, m1, m4 in ((100, "A", sheet, sheet), (300, "C", fold, sheet), (900, "final", fold, fold))]
    cals = {"noise": {"trials": 4, "rows": rows},
            "sampler": {"rows": [{"set": "x-film-seed0", "step": 900, "sampler": "DDPM 1000", "accuracy": 0.97}]}}

    def load(kind, profile, quiet=False):
        if kind not in cals:
            raise MissingResult(f"no {kind} calibration")
        return cals[kind]

    monkeypatch.setattr(shipped, "load_calibration", load)
    got = shipped.shipped_latent_calls("x")
    assert [(r["independent"]["call"], r["mean"]["call"]) for r in got] == [("C", "C"), ("B", "C"), ("B", "B")]
    assert [r["reference_accuracy"] for r in got] == [None, None, 0.97]
    said = shipped.shipped_sentence("x")
    assert "step 100" not in said                       # phase A says nothing about the claim
    assert "step 300 (shipped as C): B / C" in said and "DDPM-1000 accuracy 0.97" in said
    assert said.endswith("1 of 2 carry an ordered latent under at least one read-out")
    cals["noise"]["rows"][1]["mean_by_trials"]["4"] = fold
    assert shipped.shipped_sentence("x").endswith("none of them carries an ordered latent")
    del cals["noise"]
    assert shipped.shipped_latent_calls("x") is None and shipped.shipped_sentence("x") == ""


def test_the_sampler_calibration_runs_by_steps_side_by_side_and_writes_the_union(home, tiny, monkeypatch):
    """``--steps`` computes only those shipped checkpoints; each write holds every checkpoint computed so far (by any
    process), so a calibration split across processes ends complete; cached results are not computed again."""
    from bumpdiff.store import compute_calibrations as cc

    cfg = get_profile("smoke").train.to_dict()
    ckpts = [("film", 0, {"config": cfg}, {"step": step, "label": label}, lambda: tiny)
             for step, label in ((10, "A"), (20, "final"))]
    monkeypatch.setattr(cc, "_shipped_checkpoints", lambda profile: iter(ckpts))
    # the reference and one candidate, both within smoke's 50 diffusion steps
    monkeypatch.setattr(cc, "SAMPLER_CANDIDATES", (("DDPM 50", "ddpm", 0, 0.0), ("DDIM 5, η=1", "ddim", 5, 1.0)))
    sampled = []
    real = cc.sample_and_score
    monkeypatch.setattr(cc, "sample_and_score", lambda *a, **k: sampled.append(k["sampler"]) or real(*a, **k))

    def steps_in(path):
        return sorted({r["step"] for r in json.loads(path.read_text())["rows"]})

    assert steps_in(cc.compute_sampler_calibration("smoke", n=2, progress=False, steps=[20])) == [20]
    assert len(sampled) == 2
    path = cc.compute_sampler_calibration("smoke", n=2, progress=False, steps=[10])         # "another process"
    assert steps_in(path) == [10, 20] and len(json.loads(path.read_text())["rows"]) == 2 * 2
    before = json.loads(path.read_text())["rows"]
    cc.compute_sampler_calibration("smoke", n=2, progress=False)                           # all cached
    assert len(sampled) == 4 and json.loads(path.read_text())["rows"] == before
    with pytest.raises(ValueError, match=r"steps must be steps of shipped smoke checkpoints \(\[10, 20\]\)"):
        cc.compute_sampler_calibration("smoke", n=2, progress=False, steps=[7])


def test_when_no_candidate_agrees_the_report_says_the_reference_samples(monkeypatch):
    from bumpdiff.app.report import instruments

    def row(step, sampler, acc):
        name, steps, eta = ("ddpm", 0, 0.0) if sampler == "DDPM 1000" else ("ddim", 100, 1.0)
        return {"set": "x-film-seed0", "step": step, "label": "B", "sampler": sampler, "name": name, "steps": steps,
                "eta": eta, "accuracy": acc, "frac_none": 0.0, "frac_multiple": 0.0, "frac_single_wrong": 1 - acc}
    cal = {"n": 8, "seed": 0, "tol": 1.0, "provenance": {"commit": "abc1234"},
           "rows": [row(5, "DDPM 1000", 0.40), row(5, "DDIM 100, η=1", 0.30)]}
    monkeypatch.setattr(instruments, "CALIBRATED_PROFILES", ("x",))
    monkeypatch.setattr(instruments, "load_calibration", lambda kind, profile, quiet=False: cal)
    monkeypatch.setattr(instruments, "sampler_coverage", lambda c: {"complete": True, "done": 1, "total": 1})
    text = "\n".join(instruments._sampler_section())
    assert "no candidate agrees at every checkpoint (the closest, DDIM 100, η=1, is off by 0.100)" in text
    assert "samples with the reference itself, **DDPM 1000**" in text
    cal["rows"][1] = row(5, "DDIM 100, η=1", 0.39)
    assert "the cheapest candidate that agrees is **DDIM 100, η=1**" in "\n".join(instruments._sampler_section())
