"""The results store end to end on the smoke profile: readers never compute, hits are announced, missing,
stale and corrupt results are errors that name the command, computing skips what exists and extends bundles."""
import json
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from bumpdiff.experiments import registry as experiments
from bumpdiff.experiments.profiles import get_profile
from bumpdiff.experiments.registry import EarlyStop, phases_label
from bumpdiff.store.compute_robustness import compute_study
from bumpdiff.store.compute_runs import compute_experiment
from bumpdiff.store.reading import MissingResult
from bumpdiff.store.results import is_available, load_experiment
from bumpdiff.store.robustness_cache import load_study

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


def test_readers_never_compute(home):
    with pytest.raises(MissingResult, match=r"python -m bumpdiff reproduce phases --profile smoke"):
        load_experiment("phases", "smoke")
    with pytest.raises(MissingResult, match="reproduce phases --profile smoke"):
        load_study(get_profile("smoke").robustness[0], "smoke")
    assert not is_available("phases", "smoke")
    assert not (home / "data" / "runs").exists()          # nothing was trained


def test_compute_load_hit_corrupt_and_stale(home, capsys):
    first = compute_experiment("phases", "smoke", progress=False)
    bundle = first[phases_label(0)][0]
    assert bundle["provenance"][0]["versions"]["torch"] and "commit" in bundle["provenance"][0]
    capsys.readouterr()
    again = load_experiment("phases", "smoke")
    assert "cache hit: phases/smoke" in capsys.readouterr().err
    assert again[phases_label(0)][0]["checkpoints"] == bundle["checkpoints"]
    # computing again skips the finished run and leaves its bundle byte for byte
    index = home / "data" / "results" / "experiments" / "phases-smoke.json"
    rel = json.loads(index.read_text())["runs"][phases_label(0)]["bundle"]
    before = (home / rel / "bundle.json").read_bytes()
    compute_experiment("phases", "smoke", progress=False)
    assert "already computed" in capsys.readouterr().err and (home / rel / "bundle.json").read_bytes() == before
    (home / rel / "bundle.json").write_text("{ not json")                       # corrupt
    with pytest.raises(MissingResult, match=r"corrupt results bundle.*reproduce phases --profile smoke --seeds 0"):
        load_experiment("phases", "smoke")
    (home / rel / "bundle.json").write_bytes(before)
    data = json.loads(index.read_text())
    index.write_text(json.dumps(data | {"key": "0000000000"}))                  # stale
    with pytest.raises(MissingResult, match="stale results"):
        load_experiment("phases", "smoke")
    index.write_text(json.dumps(data))
    shutil.rmtree(home / rel)                                                   # a bundle deleted by hand
    compute_experiment("phases", "smoke", progress=False)
    assert "not on disk: computing it again" in capsys.readouterr().err
    assert load_experiment("phases", "smoke")[phases_label(0)][0]["checkpoints"] == bundle["checkpoints"]


def test_partial_run_is_said_and_finished_later(home, capsys):
    compute_experiment("phases", "smoke", until=20, progress=False)
    got = load_experiment("phases", "smoke")[phases_label(0)][0]
    assert got["trained_to"] == 20 and [r["step"] for r in got["checkpoints"]] == [0, 10, 20]
    assert (got["group"], got["seed"]) == ("balanced (dx=dy=1)", 0)                # its RunSpec, not its label
    assert "partial run, analysed up to step 20 of 30" in capsys.readouterr().err
    assert got["job"]["resumed_at"] == 0 and got["job"]["seconds"] > 0         # started from scratch
    compute_experiment("phases", "smoke", progress=False)                      # resumes, extends the bundle
    done = load_experiment("phases", "smoke")[phases_label(0)][0]
    assert done["job"]["resumed_at"] == 20           # its time is the finishing job's, which says where it began
    assert [r["step"] for r in done["checkpoints"]] == [0, 10, 20, 30]
    assert done["checkpoints"][:3] == got["checkpoints"]
    # every analysed step is credited to the analysis session that added it (one machine and commit: one entry)
    assert [s for p in done["provenance"] for s in p["steps"]] == [0, 10, 20, 30]


def test_early_stop_trains_only_until_the_rule_is_met(home, capsys, monkeypatch):
    exp = replace(experiments.EXPERIMENTS["imbalanced"], early_stop={"smoke": EarlyStop(threshold=0.0)})
    monkeypatch.setitem(experiments.EXPERIMENTS, "imbalanced", exp)
    out = compute_experiment("imbalanced", "smoke", progress=False)
    label = "imbalanced (dx=0.1, dy=1) seed 0"
    assert [r["step"] for r in out[label][0]["checkpoints"]] == [0]
    assert out[label][0]["early_stop"]["step"] == 0
    run_path = next((home / "data" / "runs").glob("smoke-imb-*"))
    assert sorted(p.name for p in run_path.glob("ckpt_*")) == ["ckpt_0000000.pt"] and not (run_path / "DONE").exists()
    assert "stopped once acc_x and acc_y" in capsys.readouterr().err


def test_robustness_studies_are_keyed_by_their_settings(home, capsys):
    compute_experiment("phases", "smoke", progress=False)
    sweep, samplers = get_profile("smoke").robustness
    res = compute_study(sweep, "smoke", progress=False)
    want = {(l, t) for l in sweep.layers for t in sweep.timesteps}
    assert {(r["layer"], r["t"]) for r in res["result"]["rows"]} == want
    assert load_study(sweep, "smoke")["result"] == res["result"]
    assert "cache hit: layer-sweep" in capsys.readouterr().err
    other = replace(sweep, timesteps=(5, 25))            # other settings are another result, never a false hit
    with pytest.raises(MissingResult, match="--timesteps 5 25"):
        load_study(other, "smoke")
    s = compute_study(samplers, "smoke", progress=False)["result"]
    assert list(s["samplers"]) == [x[0] for x in samplers.samplers] and s["n"] == 16
    # the same study of the other architecture's run is its own result, and names that run's commands
    with pytest.raises(MissingResult, match=r"phases-additive-smoke.json is missing.*reproduce phases-additive"):
        load_study(samplers, "smoke", arch="additive")


def test_a_stored_robustness_study_is_kept_only_for_the_weights_it_measured(home, capsys):
    """The study's key is the run's key and step, which a retrain in a runs folder of the same name shares: the
    stored study is not passed off as one of the retrain's weights."""
    compute_experiment("phases", "smoke", progress=False)
    sweep = get_profile("smoke").robustness[0]
    first = compute_study(sweep, "smoke", progress=False)
    run = next((home / "data" / "runs").glob("smoke-*"))
    last, ck = run / f"ckpt_{first['step']:07d}.pt", run / "ckpt_0000000.pt"
    assert compute_study(sweep, "smoke", progress=False) == first                # the same weights: kept
    original = last.read_bytes()
    last.write_bytes(ck.read_bytes())                                           # other weights at that step
    with pytest.raises(MissingResult, match=r"measured another checkpoint.*--force"):
        compute_study(sweep, "smoke", progress=False)
    assert load_study(sweep, "smoke")["result"] == first["result"]  # a reader has no weights to compare: unchanged
    other = compute_study(sweep, "smoke", progress=False, force=True)
    assert other["checkpoint_sha256"] != first["checkpoint_sha256"] and other["result"] != first["result"]
    assert compute_study(sweep, "smoke", progress=False)["checkpoint_sha256"] == other["checkpoint_sha256"]
    # a study stored before the checkpoint's sha256 was recorded cannot be checked, and says so
    last.write_bytes(original)
    p = next((home / "data" / "results" / "cache" / "layer-sweep").glob("*/*.json"))
    p.write_text(json.dumps({k: v for k, v in json.loads(p.read_text()).items() if k != "checkpoint_sha256"}))
    capsys.readouterr()
    assert compute_study(sweep, "smoke", progress=False)["result"] == other["result"]
    assert "cannot be checked against" in capsys.readouterr().err


def test_cli_figures_name_a_missing_result_and_reproduce_computes_it(home):
    env = {"BUMPDIFF_HOME": str(home), "PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "MPLBACKEND": "Agg",
           "HOME": str(home)}
    shutil.copytree(ROOT / "notebooks", home / "notebooks")
    r = subprocess.run([sys.executable, "-m", "bumpdiff", "figures", "--profile", "smoke", "--only", "04"],
                       capture_output=True, text=True, env=env, timeout=300, check=False)
    # the figure is not drawn, the command that computes its results is named (the other figures would go on), and
    # the exit status says that not every figure was drawn
    assert r.returncode == 1 and "1 of 1 notebooks not drawn" in r.stderr
    assert "04_learning_dynamics.ipynb — " in r.stderr
    assert "python -m bumpdiff reproduce phases --profile smoke" in r.stderr
    assert not list((home / "figures").glob("**/fig4*"))
    r = subprocess.run([sys.executable, "-m", "bumpdiff", "reproduce", "phases", "--profile", "smoke", "--quiet"],
                       capture_output=True, text=True, env=env, timeout=300, check=False)
    assert r.returncode == 0, r.stderr
    assert (home / "data" / "results" / "experiments" / "phases-smoke.json").exists()
    r = subprocess.run([sys.executable, "-m", "bumpdiff", "robustness", "--profile", "smoke", "--quiet",
                        "--only", "samplers"], capture_output=True, text=True, env=env, timeout=300, check=False)
    assert r.returncode == 0, r.stderr
    r = subprocess.run([sys.executable, "-m", "bumpdiff", "sample", str(home / "no-such-run")],
                       capture_output=True, text=True, env=env, timeout=120, check=False)
    assert r.returncode == 2 and r.stderr.strip().count("\n") == 0 and "does not exist" in r.stderr


def test_an_index_written_after_its_runs_bundles_is_not_marked_dirty(home):
    """The index is written right after the bundles of its runs: in a checkout whose committed results those
    bundles update, they are outputs, not uncommitted inputs; any other change still marks it dirty."""
    from bumpdiff.store.compute_runs import _open_index, _record
    git = lambda *a: subprocess.run(["git", *a], cwd=home, check=True, capture_output=True)   # noqa: E731
    bundle = home / "data" / "results" / "run-x" / "analysis-y" / "bundle.json"
    bundle.parent.mkdir(parents=True)
    bundle.write_text("{}")
    (home / "code.py").write_text("a = 1\n")
    git("init", "-q"); git("add", "."); git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "c")
    bundle.write_text('{"updated": true}')
    index = _open_index("torus", "smoke")
    label = next(iter(experiments.experiment("torus").runs("smoke")))
    _record("torus", "smoke", index, label, {"bundle": "data/results/run-x/analysis-y"}, "cpu")
    assert index["provenance"]["dirty"] is False
    (home / "code.py").write_text("a = 2\n")
    _record("torus", "smoke", index, label, {"bundle": "data/results/run-x/analysis-y"}, "cpu")
    assert index["provenance"]["dirty"] is True


def test_training_and_analysis_provenance_ignore_uncommitted_results(home):
    """Training and analysis read code, configuration and checkpoints, not results: another job's bundle or the
    experiment index rewritten while they run must not mark them dirty; a code change still does, and a
    computation that reads results (an index, a figure) still sees the results' changes."""
    from bumpdiff.core.provenance import provenance
    git = lambda *a: subprocess.run(["git", *a], cwd=home, check=True, capture_output=True)   # noqa: E731
    index = home / "data" / "results" / "experiments" / "holdout-cpu.json"
    index.parent.mkdir(parents=True)
    index.write_text("{}")
    (home / "code.py").write_text("a = 1\n")
    git("init", "-q"); git("add", "."); git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "c")
    index.write_text('{"runs": {"a sibling": {}}}')
    assert provenance("cpu", reads_results=False)["dirty"] is False
    assert provenance("cpu")["dirty"] is True
    (home / "code.py").write_text("a = 2\n")
    assert provenance("cpu", reads_results=False)["dirty"] is True


def test_runs_are_chosen_by_label_from_the_command_line(home, capsys):
    """``reproduce --runs LABEL`` computes that run alone (the held-out squares share seed 0, so a seed cannot pick
    one); the command recorded for it, and offered to resume it, names it the same way; a label or seed that names
    no run is refused with the ones there are, before anything is trained."""
    from bumpdiff.app.cli import main
    from bumpdiff.store.commands import run_command
    from bumpdiff.store.results import index_path
    label = "balanced (dx=dy=1) seed 0"
    main(["reproduce", "imbalanced", "--profile", "smoke", "--quiet", "--runs", label])
    runs = json.loads(index_path("imbalanced", "smoke").read_text())["runs"]
    assert list(runs) == [label]
    assert runs[label]["command"] == ("python -m bumpdiff reproduce imbalanced --profile smoke "
                                      "--runs 'balanced (dx=dy=1) seed 0'")
    assert len(list((home / "data" / "runs").iterdir())) == 1
    with pytest.raises(ValueError,
                       match=r"runs must be labels of imbalanced/smoke \(imbalanced \(dx=0.1, dy=1\) seed 0;"):
        compute_experiment("imbalanced", "smoke", runs=["balanced seed 0"], progress=False)
    with pytest.raises(ValueError, match=r"seeds must name runs of imbalanced/smoke \(seeds \[0\]\), got \[0, 7\]"):
        compute_experiment("imbalanced", "smoke", seeds=[0, 7], progress=False)
    assert len(list((home / "data" / "runs").iterdir())) == 1
    # a seed that picks one run alone is named by the seed; one that picks several, by the labels
    assert run_command("holdout", "cpu", "interior W=8 seed 2").endswith("--seeds 2")
    assert run_command("holdout", "cpu", "corner W=8 seed 0").endswith("--runs 'corner W=8 seed 0'")
    assert run_command("holdout", "cpu", ["interior W=8 seed 0", "interior W=4 seed 0",
                                          "corner W=8 seed 0"]).endswith("--seeds 0")


def test_experiment_seeds_lists_each_training_seed_once():
    assert experiments.experiment_seeds("phases", "cpu") == [0, 1, 2]
    assert experiments.experiment_seeds("phases", "smoke") == [0]
    imb = experiments.experiment_seeds("imbalanced", "cpu")  # three runs per seed (dx = 0.1 and two controls)
    assert len(experiments.experiment_runs("imbalanced", "cpu")) > len(imb)
    assert imb == sorted(set(imb))
    with pytest.raises(ValueError, match="experiment must be one of"):
        experiments.experiment_seeds("nope", "cpu")


def test_both_read_outs_of_a_run_come_from_one_folder_of_weights(home, monkeypatch):
    from dataclasses import replace

    import bumpdiff.store.compute_bundle as bundles
    from bumpdiff.analysis.checkpoint import AnalysisConfig
    from bumpdiff.core.train import run_dir
    from bumpdiff.experiments.registry import experiment_runs
    from bumpdiff.store.compute_bundle import analyze
    from bumpdiff.store.readouts import load_readouts, missing_readouts, readout_analysis, readout_bundles
    calls, real = [], bundles.generate
    monkeypatch.setattr(bundles, "generate", lambda *a: calls.append(1) or real(*a))
    monkeypatch.setattr(bundles, "_GENERATED", {})
    compute_experiment("phases", "smoke", until=10, progress=False)       # both read-outs, in the run's folder
    label, cfg = next(iter(experiment_runs("phases", "smoke").items()))
    # the read-outs differ only in the latent's noise: each checkpoint is sampled once, and each bundle records
    # exactly what sampling on its own gives
    both = readout_bundles("phases", "smoke")[label]
    shared, independent = both["shared"][1]["checkpoints"], both["independent"][1]["checkpoints"]
    assert [r["step"] for r in shared] == [r["step"] for r in independent] == [0, 10] and len(calls) == 2
    analysis = AnalysisConfig(**{k: v for k, v in both["independent"][1]["analysis"].items() if k != "every"})
    alone = bundles.analyze_checkpoint(*_model_at(label, 10), analysis)[0]
    for field in ("accuracy", "acc_x", "acc_y", "frac_none", "frac_multiple", "labels"):
        assert independent[1][field] == alone[field] == shared[1][field]
    own = f"data/results/{run_dir(cfg).name}"
    assert load_readouts("phases", "smoke")[label]["source"] == own
    independent = readout_analysis("smoke", "independent")
    assert independent == replace(readout_analysis("smoke", "shared"), noise="independent")
    shutil.rmtree(home / own / f"analysis-{independent.key()}")             # the run's own folder: shared only
    assert load_readouts("phases", "smoke") == {} and missing_readouts("phases", "smoke") == [label]
    retrain = home / "data" / "results" / "retrains" / f"{run_dir(cfg).name}-retrain1"
    analyze(run_dir(cfg), independent, progress=False, out=retrain / f"analysis-{independent.key()}")
    assert load_readouts("phases", "smoke") == {}      # the retrain has one read-out only: never mixed with the run's
    each = readout_bundles("phases", "smoke")[label]   # ... but each read-out alone is read wherever it is
    assert each["shared"][0] == own and each["independent"][0].endswith("-retrain1")
    assert each["independent"][1]["analysis"]["noise"] == "independent"
    analyze(run_dir(cfg), readout_analysis("smoke", "shared"), progress=False,
            out=retrain / f"analysis-{readout_analysis('smoke', 'shared').key()}")
    got = load_readouts("phases", "smoke")[label]
    assert got["source"].endswith("-retrain1") and got["independent"][0]["analysis"]["noise"] == "independent"
    analyze(run_dir(cfg), independent, progress=False)                  # now the run's own folder holds both
    got = load_readouts("phases", "smoke")[label]
    assert got["source"] == f"data/results/{run_dir(cfg).name}"
    assert {n: f for n, (f, _) in readout_bundles("phases", "smoke")[label].items()} == {"shared": own,
                                                                                       "independent": own}
    assert got["shared"][0]["analysis_key"] != got["independent"][0]["analysis_key"]


def _wait_for(predicate, proc, what: str, limit: float = 120.0):
    import time
    t0 = time.monotonic()
    while not predicate():
        if proc.poll() is not None:
            pytest.fail(f"reproduce ended (rc {proc.returncode}) before {what}: {proc.stderr.read()}")
        if time.monotonic() - t0 > limit:
            proc.kill()
            pytest.fail(f"no {what} after {limit} s")
        time.sleep(0.02)


def test_killed_reproduce_resumes_from_a_runs_folder_outside_the_checkout(home, tmp_path, monkeypatch,
                                                                         trained_smoke):
    """Runs kept outside the checkout ($BUMPDIFF_RUNS), every checkpoint analysed under both read-outs as training
    writes it: a reproduce killed mid-run loses at most the checkpoint in progress, and the next one finishes it
    without redoing finished work, to the weights of one uninterrupted run."""
    import os
    import signal

    import torch

    from bumpdiff.core.train import list_checkpoints, load_checkpoint, run_dir
    from bumpdiff.store.bundles import load_bundle
    from bumpdiff.store.readouts import load_readouts, readout_analysis
    runs = tmp_path / "elsewhere" / "runs"
    monkeypatch.setenv("BUMPDIFF_RUNS", str(runs))
    cfg = get_profile("smoke").train
    assert run_dir(cfg).parent == runs
    bundles = {n: home / "data" / "results" / run_dir(cfg).name / f"analysis-{readout_analysis('smoke', n).key()}"
               for n in ("shared", "independent")}

    def analysed(noise):
        try:
            return [r["step"] for r in json.loads((bundles[noise] / "bundle.json").read_text())["checkpoints"]]
        except (OSError, json.JSONDecodeError):
            return []
    threads = os.environ["BUMPDIFF_TEST_THREADS"]          # the count conftest trained the reference run with
    proc = subprocess.Popen([sys.executable, "-m", "bumpdiff", "reproduce", "phases", "--profile", "smoke", "--quiet",
                             "--threads", threads], env=dict(os.environ), stderr=subprocess.PIPE, text=True)
    _wait_for(lambda: len(analysed("independent")) >= 2, proc, "two checkpoints analysed under both read-outs")
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    before = {n: {r["step"]: r for r in load_bundle(bundles[n])[0]["checkpoints"]} for n in bundles}
    trained = max(s for s, _ in list_checkpoints(run_dir(cfg)))
    assert trained - max(before["shared"]) <= 10            # at most one checkpoint's work was not yet analysed
    assert not (home / "data" / "runs").exists()            # nothing went into the checkout's runs folder
    mtimes = {s: p.stat().st_mtime_ns for s, p in list_checkpoints(run_dir(cfg))}

    compute_experiment("phases", "smoke", progress=False)
    for n in bundles:                                        # finished checkpoints were kept, not recomputed
        after = {r["step"]: r for r in load_bundle(bundles[n])[0]["checkpoints"]}
        assert sorted(after) == [0, 10, 20, 30]
        assert all(after[s] == rec for s, rec in before[n].items())
    assert all(p.stat().st_mtime_ns == mtimes[s] for s, p in list_checkpoints(run_dir(cfg)) if s in mtimes)
    got = load_checkpoint(run_dir(cfg) / "ckpt_0000030.pt")["ema"]
    ref = load_checkpoint(Path(trained_smoke) / "ckpt_0000030.pt")["ema"]
    assert all(torch.equal(got[k], ref[k]) for k in ref)     # the weights of one uninterrupted run
    assert set(load_readouts("phases", "smoke")[phases_label(0)]) == {"source", "shared", "independent"}
    index = json.loads((home / "data" / "results" / "experiments" / "phases-smoke.json").read_text())
    assert set(index["runs"][phases_label(0)]["readouts"]) == {"shared", "independent"}


def test_prune_keeps_what_shipping_and_the_atlas_need(home, capsys):
    from bumpdiff.core.train import list_checkpoints, run_dir
    from bumpdiff.store.bundles import load_bundle
    from bumpdiff.store.weights import choose_checkpoints
    compute_experiment("phases", "smoke", progress=False, prune=True)
    cfg = get_profile("smoke").train
    bundle = load_experiment("phases", "smoke")[phases_label(0)][0]
    keep = {r["step"] for _, r in choose_checkpoints(load_bundle(home / json.loads(
        (home / "data/results/experiments/phases-smoke.json").read_text())["runs"][phases_label(0)]["bundle"])[0][
        "checkpoints"])} | {30}
    assert {s for s, _ in list_checkpoints(run_dir(cfg))} == keep and len(keep) < 4
    assert [r["step"] for r in bundle["checkpoints"]] == [0, 10, 20, 30]   # every checkpoint was analysed first
    assert (run_dir(cfg) / "last.pt").exists()


def _model_at(label: str, step: int):
    from bumpdiff.core.train import list_checkpoints, load_model, run_dir
    from bumpdiff.experiments.registry import experiment_runs
    cfg = experiment_runs("phases", "smoke")[label]
    diff, _ = load_model(dict(list_checkpoints(run_dir(cfg)))[step], which="ema")
    return diff, cfg


def test_two_processes_recording_runs_of_one_experiment_keep_each_others(home):
    """Two ``reproduce`` commands of one experiment, each given other runs, open the index before either records:
    each run they finish is in the index on disk afterwards, whichever records last."""
    from bumpdiff.store.compute_runs import _open_index, _record
    from bumpdiff.store.results import index_path
    labels = list(experiments.experiment("imbalanced").runs("smoke"))[:2]
    for k in range(2):
        b = home / "data" / "results" / f"run-{k}" / "analysis-y" / "bundle.json"
        b.parent.mkdir(parents=True)
        b.write_text("{}")
    first, second = _open_index("imbalanced", "smoke"), _open_index("imbalanced", "smoke")
    _record("imbalanced", "smoke", first, labels[0], {"bundle": "data/results/run-0/analysis-y"}, "cpu")
    _record("imbalanced", "smoke", second, labels[1], {"bundle": "data/results/run-1/analysis-y"}, "cpu")
    on_disk = json.loads(index_path("imbalanced", "smoke").read_text())
    assert [on_disk["runs"][lab]["bundle"] for lab in labels] == ["data/results/run-0/analysis-y",
                                                                  "data/results/run-1/analysis-y"]
    assert not set(labels) & set(on_disk["missing"])
