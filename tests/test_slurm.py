"""The Slurm executor against a real (single-node) Slurm: the smoke experiment as Slurm jobs gives the bundles of
``inline``; a job that raises, one cancelled mid-training, one that reaches its time limit and one that asks for
more than the node has each behave as the README says. The cluster is the ``slurm_cluster`` fixture's."""
import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from bumpdiff.store.bundles import load_bundle
from bumpdiff.store.compute_runs import compute_experiment
from bumpdiff.store.executors import SlurmOptions, run_jobs
from bumpdiff.store.results import index_path

# one worker runs every Slurm test (`make test` runs two workers): one private cluster per test session
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("slurm")]

JOBS = Path(__file__).resolve().parent / "jobs"
TIMING = {"sample_seconds", "train_seconds", "elapsed_s", "images_per_s"}   # wall time, never compared


def _options(**kw) -> SlurmOptions:
    """What the tests' jobs ask for: one CPU, a little memory, polled every second."""
    import os
    base = json.loads(Path(os.environ["BUMPDIFF_SLURM_OPTIONS"]).read_text()) \
        if os.environ.get("BUMPDIFF_SLURM_OPTIONS") else {}
    return SlurmOptions(**(dict(cpus=1, mem_gb=1, time_min=10, poll_s=1.0) | base | kw))


def _same(a: tuple, b: tuple) -> bool:
    (ba, aa), (bb, ab) = a, b
    strip = [[{k: v for k, v in r.items() if k not in TIMING} for r in x["checkpoints"]] for x in (ba, bb)]
    losses = [{k: v for k, v in x["loss"].items() if k not in TIMING} for x in (ba, bb)]
    return (strip[0] == strip[1] and losses[0] == losses[1] and aa.keys() == ab.keys()
            and all(aa[k].tobytes() == ab[k].tobytes() for k in aa))


@pytest.fixture
def work(monkeypatch):
    """The long smoke run's work function, importable by name in a job."""
    monkeypatch.syspath_prepend(str(JOBS))
    monkeypatch.setenv("PYTHONPATH", str(JOBS))
    import slurm_work
    return slurm_work


def _jobs_of_this_cluster() -> list[str]:
    """The ids of the cluster's pending and running jobs."""
    out = subprocess.run(["squeue", "-h", "-t", "PENDING,RUNNING", "-o", "%i"], capture_output=True, text=True,
                         check=True).stdout
    return out.split()


def test_the_smoke_experiment_as_slurm_jobs_matches_inline(slurm_cluster, tmp_path, monkeypatch):
    monkeypatch.setenv("BUMPDIFF_HOME", str(tmp_path / "inline"))
    inline = compute_experiment("phases", "smoke", threads=1, progress=False)
    monkeypatch.setenv("BUMPDIFF_HOME", str(tmp_path / "slurm"))
    import bumpdiff.store.compute_runs as results
    writes = []
    real = results.atomic_write_json
    monkeypatch.setattr(results, "atomic_write_json", lambda p, obj: (writes.append(Path(p)), real(p, obj)))
    slurm = compute_experiment("phases", "smoke", executor="slurm", threads=1, progress=False, options=_options())
    assert list(slurm) == list(inline)
    for label in inline:
        assert _same(slurm[label], inline[label]), label
    idx = index_path("phases", "smoke")
    assert writes == [idx], "the index is written once, by the submitting process"
    assert json.loads(idx.read_text())["runs"].keys() == inline.keys()
    assert not list(idx.parent.glob("*.tmp*")), "no temporary file is left beside the index"
    assert list((tmp_path / "slurm" / "data" / "scratch" / "jobs").glob("*/*_log.out"))


def test_a_failing_job_is_reported_with_its_log_and_leaves_the_index(slurm_cluster, home):
    with pytest.raises(RuntimeError, match=r"1 of 1 runs of phases/smoke failed: .*\(failed; log: .*_log\.err\)"):
        compute_experiment("phases", "smoke", until=999, executor="slurm", progress=False, options=_options())
    assert not index_path("phases", "smoke").exists()
    log = next((home / "data" / "scratch" / "jobs").glob("*/*_log.err")).read_text()
    assert "until must be" in log   # the job's own traceback, where the message says


def _run_in_thread(*args, **kw):
    box = {}
    t = threading.Thread(target=lambda: box.setdefault("failed", run_jobs(*args, **kw)), daemon=True)
    t.start()
    return t, box


def test_a_cancelled_job_is_reported_and_the_same_command_resumes_it(slurm_cluster, home, tmp_path, monkeypatch,
                                                                     work):
    steps = 60
    job = dict(steps=steps, label="long smoke run", threads=1)
    monkeypatch.setenv("BUMPDIFF_HOME", str(tmp_path / "uninterrupted"))
    reference = load_bundle(work.long_smoke_run(**job)["bundle"])
    monkeypatch.setenv("BUMPDIFF_HOME", str(home))
    from bumpdiff.core.train import run_dir
    last = run_dir(work.long_smoke_config(steps)) / "last.pt"
    done = []
    thread, box = _run_in_thread(work.long_smoke_run, [job], "slurm", _options(),
                                 on_done=lambda j, e: done.append(e))
    t0 = time.time()
    while not last.exists() and time.time() - t0 < 120:   # training has begun: a resume point is written
        time.sleep(0.1)
    assert last.exists(), "the job never started training"
    subprocess.run(["scancel", *_jobs_of_this_cluster()], check=True)
    thread.join(timeout=90)
    assert not thread.is_alive(), "the submitting process hangs on a cancelled job"
    (failed_job, log, state), = box["failed"]
    assert state == "CANCELLED" and log.endswith("_log.err") and done == []
    assert not (last.parent / "DONE").exists()
    again = run_jobs(work.long_smoke_run, [job], "slurm", _options(), on_done=lambda j, e: done.append(e))
    assert again == [] and done[0]["resumed_from"] > 0
    assert _same(load_bundle(done[0]["bundle"]), reference)


def test_a_job_at_its_time_limit_is_resumed_by_the_same_command(slurm_cluster, home, work):
    # Slurm's smallest limit is a minute, enforced up to half a minute late: a job paced by the clock (20 resume
    # points, 5 s of sleep after each: at least 100 s however fast the CPU or busy the other test worker) cannot finish
    # in its first attempt, and the rest takes under a minute (a fresh run of another length has its own folder)
    from bumpdiff.core.train import run_dir
    steps = 100
    job = dict(steps=steps, pause_s=5.0, label="paced smoke training", threads=1)
    done = []
    failed = run_jobs(work.paced_smoke_training, [job], "slurm", _options(time_min=1),
                      on_done=lambda j, e: done.append(e))
    assert [state for _, _, state in failed] == ["TIMEOUT"] and done == [], failed
    assert not (run_dir(work.long_smoke_config(steps)) / "DONE").exists()
    for _ in range(3):   # the same command again until the run is done: each attempt resumes where one stopped
        if not run_jobs(work.paced_smoke_training, [job], "slurm", _options(time_min=1),
                        on_done=lambda j, e: done.append(e)):
            break
    assert done and done[-1]["resumed_from"] > 0 and done[-1]["trained_to"] == steps


def test_an_impossible_request_fails_at_submission(slurm_cluster, home):
    node = subprocess.run(["sinfo", "-h", "-o", "%c"], capture_output=True, text=True, check=True).stdout
    cpus = int(node.split()[0])
    before, t0 = _jobs_of_this_cluster(), time.time()
    with pytest.raises(RuntimeError, match=r"Slurm refused the job for 'balanced \(dx=dy=1\) seed 0': .*"
                                           r"More processors requested than permitted.*--cpus"):
        compute_experiment("phases", "smoke", executor="slurm", progress=False, options=_options(cpus=cpus + 1))
    assert time.time() - t0 < 30 and _jobs_of_this_cluster() == before   # nothing is left pending
    assert not index_path("phases", "smoke").exists()


def test_the_cluster_script_starts_once_and_stops_what_it_started(slurm_cluster, tmp_path):
    if not slurm_cluster.startswith("/tmp/bumpdiff-slurm-"):
        pytest.skip("a cluster of your own (BUMPDIFF_SLURM_CONF): the script is not used")
    tool = Path(__file__).resolve().parent.parent / "tools" / "slurm_cluster.py"
    where = Path(slurm_cluster).parent
    before = json.loads((where / "cluster.json").read_text())["pids"]
    first = subprocess.run([sys.executable, tool, "start", "--dir", where], capture_output=True, text=True, check=True)
    assert first.stdout.startswith(f"export SLURM_CONF={slurm_cluster}")
    assert json.loads((where / "cluster.json").read_text())["pids"] == before   # the same cluster, not a new one
    assert subprocess.run([sys.executable, tool, "status", "--dir", where]).returncode == 0
