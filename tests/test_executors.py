"""Executors: the smoke experiment through real local subprocesses gives the same results as inline; a failed
job is reported with its log and leaves the index alone; the Slurm submission is what was asked for."""
import json

import numpy as np
import pytest

from bumpdiff.store.compute_runs import compute_experiment, compute_experiments
from bumpdiff.store.executors import SlurmOptions, submission_script
from bumpdiff.store.results import index_path

TIMING = {"sample_seconds", "train_seconds"}


def _strip(bundle):
    return [{k: v for k, v in r.items() if k not in TIMING} for r in bundle["checkpoints"]]


@pytest.mark.slow
def test_local_executor_in_subprocesses_matches_inline(tmp_path, monkeypatch, capsys):
    names = ["imbalanced", "phases"]
    monkeypatch.setenv("BUMPDIFF_HOME", str(tmp_path / "inline"))
    inline = compute_experiments(names, "smoke", threads=1, progress=False)
    monkeypatch.setenv("BUMPDIFF_HOME", str(tmp_path / "local"))
    local = compute_experiments(names, "smoke", executor="local", threads=1, progress=False)
    out = capsys.readouterr().err
    # 2 cores, 1 thread each: 2 at a time, the two experiments' four runs in one pool
    assert "jobs (local): 0 done, 2 running, 0 failed, 2 waiting" in out
    assert "jobs (local): 4 done, 0 running, 0 failed, 0 waiting" in out
    assert [list(r) for r in local.values()] == [list(r) for r in inline.values()] and len(local["imbalanced"]) == 3
    for name in names:
        for label in inline[name]:
            (bi, ai), (bl, al) = inline[name][label], local[name][label]
            assert _strip(bl) == _strip(bi), label
            assert ai.keys() == al.keys() and all(ai[k].tobytes() == al[k].tobytes() for k in ai), label
    assert len(list((tmp_path / "local" / "data" / "scratch" / "jobs").glob("*/*_log.out"))) == 4
    # resubmitting skips what is finished
    compute_experiment("imbalanced", "smoke", executor="local", threads=1, progress=False)
    assert capsys.readouterr().err.count("is already computed") == 3


@pytest.mark.slow
def test_a_failed_job_is_reported_with_its_log_and_changes_no_index(home):
    idx = index_path("phases", "smoke")
    with pytest.raises(RuntimeError, match=r"1 of 1 runs of phases/smoke failed: .*\(\w+; log: .*_log\.err\)"):
        compute_experiment("phases", "smoke", until=999, executor="local", progress=False)   # past the budget
    assert not idx.exists()
    compute_experiment("phases", "smoke", until=10, executor="local", progress=False)
    before = idx.read_text()
    with pytest.raises(RuntimeError, match="failed"):
        compute_experiment("phases", "smoke", until=999, executor="local", progress=False)
    assert idx.read_text() == before and json.loads(before)["runs"]


@pytest.mark.slow
def test_a_run_two_experiments_share_is_trained_by_one_job_then_recorded_by_the_other(home, capsys):
    # on `fast`, imbalanced holds phases' balanced runs: this label is one run folder for both experiments
    shared = "balanced (dx=dy=1) seed 0"
    out = compute_experiments(["phases", "imbalanced"], "fast", runs=[shared], until=0, executor="local", threads=1,
                              progress=False)
    err = capsys.readouterr().err
    # two waves of one job each: were both jobs in one wave, they would train the same folder at once
    assert err.count("jobs (local): 0 done, 1 running, 0 failed, 0 waiting") == 2
    assert "2 running" not in err
    (first, _), (second, _) = out["phases"][shared], out["imbalanced"][shared]
    assert first["checkpoints"] == second["checkpoints"]
    assert json.loads(index_path("imbalanced", "fast").read_text())["runs"][shared]["bundle"] == \
        json.loads(index_path("phases", "fast").read_text())["runs"][shared]["bundle"]


def test_slurm_submission_script_is_what_was_asked(home, tmp_path):
    cfg = tmp_path / "slurm.json"
    cfg.write_text(json.dumps({"partition": "gpu", "gpus": 2, "mem_gb": 64, "setup": ["module load cuda"]}))
    opts = SlurmOptions.from_file(cfg, gpus=1, cpus=8, time_min=120, partition=None)   # flags override the file
    assert (opts.partition, opts.gpus, opts.cpus, opts.mem_gb, opts.time_min) == ("gpu", 1, 8, 64, 120)
    text = submission_script(opts)
    for line in ("#SBATCH --partition=gpu", "#SBATCH --gpus-per-node=1", "#SBATCH --cpus-per-task=8",
                 "#SBATCH --mem=64GB", "#SBATCH --time=120", "#SBATCH --nodes=1", "module load cuda"):
        assert line in text, line
    assert f"--output={home}/data/scratch/jobs/%j/%j_0_log.out" in text
    assert "submitit.core._submit" in text
    cpu_only = submission_script(SlurmOptions(cpus=4))
    assert "gpus" not in cpu_only and "#SBATCH --cpus-per-task=4" in cpu_only
    cfg.write_text(json.dumps({"partitoin": "gpu"}))
    with pytest.raises(ValueError, match="partitoin"):
        SlurmOptions.from_file(cfg)
    with pytest.raises(ValueError, match="cpus"):
        SlurmOptions(cpus=0)


def test_unknown_executor_is_named(home):
    with pytest.raises(ValueError, match="executor must be one of"):
        compute_experiment("phases", "smoke", executor="ray", progress=False)


def test_threads_never_oversubscribe_the_cores():
    import os

    from bumpdiff.store.executors import _threads_per_job
    cores = os.cpu_count()
    assert _threads_per_job(1, None) == cores and _threads_per_job(100, None) == 1
    assert _threads_per_job(3, 2) == 2 and np.all([_threads_per_job(n, None) * min(n, cores) <= cores
                                                   for n in range(1, 9)])
