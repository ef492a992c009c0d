"""Where the runs of an experiment are computed: here, in parallel local processes, or as Slurm jobs.

An experiment is a set of independent runs, each "train, then analyse" (the store's ``run_job``, handed in).
:func:`run_jobs` hands them to an executor and calls back as each finishes, so that the one submitting process
writes the experiment index:

- ``inline``: one after the other in this process (the default);
- ``local``: parallel subprocesses through submitit's local executor, each limited to ``threads`` torch threads
  and at most ``cpu_count // threads`` at a time, so that the jobs do not thrash the cores;
- ``slurm``: one Slurm job per run through submitit, with partition, GPUs, CPUs, memory and time limit from
  :class:`SlurmOptions` (command line or a JSON file). Logs go to ``data/scratch/jobs/<job id>_*``.

Re-running the same command skips finished runs (they are in the index) and resumes interrupted ones from their
last checkpoint; a failed job is reported with its log and changes nothing in the index.
"""
from __future__ import annotations

import json
import os
import shlex
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, fields
from pathlib import Path

from ..common import paths
from ..common.checks import check_range
from ..common.log import get_logger

__all__ = ["EXECUTORS", "SlurmOptions", "run_jobs", "waits", "slurm_executor", "submission_script", "jobs_dir"]

log = get_logger()

EXECUTORS = ("inline", "local", "slurm")


def jobs_dir() -> Path:
    return paths.scratch_dir() / "jobs"


@dataclass(frozen=True)
class SlurmOptions:
    """What each Slurm job asks for. ``setup``: shell lines run before the job (e.g. activating an environment)."""

    partition: str | None = None
    gpus: int = 0                 # GPUs per job (one node)
    cpus: int = 8                 # CPUs per task
    mem_gb: int = 32
    time_min: int = 240
    account: str | None = None
    qos: str | None = None
    setup: tuple = ()
    wait: bool = True             # wait for the jobs and write the index (else: submit and return)
    poll_s: float = 10.0          # how often the jobs' states are asked of Slurm (sacct) while waiting

    def __post_init__(self):
        object.__setattr__(self, "setup", tuple(self.setup))
        check_range("gpus", self.gpus, lo=0, integer=True)
        check_range("cpus", self.cpus, lo=1, integer=True)
        check_range("mem_gb", self.mem_gb, lo=1, integer=True)
        check_range("time_min", self.time_min, lo=1, integer=True)
        check_range("poll_s", self.poll_s, lo=0.1)

    @classmethod
    def from_file(cls, path, **overrides) -> SlurmOptions:
        """Options from a JSON file (keys as the fields), then ``overrides`` that are not None."""
        data = json.loads(Path(path).read_text()) if path else {}
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"slurm config keys must be among {sorted(known)}, got {unknown} in {path}")
        return cls(**(data | {k: v for k, v in overrides.items() if v is not None}))


def _slurm_params(options: SlurmOptions) -> dict:
    params = dict(job_name="bumpdiff", time=options.time_min, cpus_per_task=options.cpus, mem=f"{options.mem_gb}GB",
                  nodes=1, ntasks_per_node=1, setup=list(options.setup))
    if options.gpus:
        params["gpus_per_node"] = options.gpus
    for name in ("partition", "account", "qos"):
        if getattr(options, name):
            params[name] = getattr(options, name)
    return params


def slurm_executor(options: SlurmOptions, folder: Path | None = None):
    """A submitit SlurmExecutor set up from ``options`` (nothing is submitted; needs Slurm's ``srun``)."""
    import submitit  # optional (the cluster executors only): imported when a job is submitted

    ex = submitit.SlurmExecutor(folder=str(folder or jobs_dir() / "%j"))
    ex.update_parameters(**_slurm_params(options))
    return ex


def submission_script(options: SlurmOptions, folder: Path | None = None) -> str:
    """The sbatch script that :func:`slurm_executor` has submitit write for one run with ``options``, built by
    submitit's own ``_make_sbatch_string`` from the same parameters, so it can be checked without a cluster."""
    from submitit.slurm.slurm import _make_sbatch_string  # optional, as above

    folder = Path(folder or jobs_dir() / "%j")
    command = f"{shlex.quote(sys.executable)} -u -m submitit.core._submit {shlex.quote(str(folder))}"
    return _make_sbatch_string(command=command, folder=folder, **_slurm_params(options))


def _collect(running: list, failed: list, on_done, slurm: bool) -> int:
    """Move the finished jobs out of ``running``: successes to ``on_done``, failures (with their log and state) to
    ``failed``; returns how many succeeded."""
    done = 0
    for job, sj in list(running):
        if not sj.done():
            continue
        running.remove((job, sj))
        # a job Slurm stopped wrote no result: say so now, rather than wait for one (submitit waits 15 s)
        state = str(sj.state).split()[0] if slurm else ""
        try:
            if state in _STOPPED:
                raise RuntimeError(state)
            entry = sj.result()
        except Exception:  # noqa: BLE001 — any failure of the job is reported with its log
            state = state if state in _STOPPED else _final_state(sj, slurm)
            failed.append((job, str(sj.paths.stderr), state))
            log.info(f"job {sj.job_id} ('{job['label']}') {state.lower()}; log: {sj.paths.stderr}")
        else:
            done += 1
            on_done(job, entry)
    return done


class _UntilKilled:
    """A Slurm job's work, run through to its time limit: submitit's warning signal (SIGUSR2, sent up to a minute
    early at Slurm's resolution) would end a job that cannot requeue itself at once; the project's resume makes
    that unnecessary: the job trains until Slurm stops it (``TIMEOUT``), and the same command resumes it from its
    last resume point."""

    def __init__(self, work: Callable[..., dict]):
        self.work = work

    def __call__(self, **job) -> dict:
        signal.signal(signal.SIGUSR2, signal.SIG_IGN)
        return self.work(**job)


def _submit(ex, work, job: dict, executor: str):
    try:
        return ex.submit(_UntilKilled(work) if executor == "slurm" else work, **job)
    except Exception as e:  # noqa: BLE001 — submitit's FailedJobError carries sbatch's message
        if executor != "slurm":
            raise
        raise RuntimeError(f"Slurm refused the job for '{job.get('label', job)}': {e} (ask for fewer CPUs, less "
                           "memory or a shorter time, or another partition: --cpus, --mem-gb, --time-min, "
                           "--partition)") from None


_STOPPED = ("CANCELLED", "TIMEOUT", "OUT_OF_MEMORY", "NODE_FAIL", "PREEMPTED", "BOOT_FAIL", "DEADLINE")
_TERMINAL = ("FAILED", "CANCELLED", "TIMEOUT", "OUT_OF_MEMORY", "NODE_FAIL", "PREEMPTED", "BOOT_FAIL", "DEADLINE",
             "COMPLETED", "FINISHED", "INTERRUPTED")


def _final_state(sj, slurm: bool, patience_s: float = 15.0) -> str:
    """How a job that did not succeed ended, as its executor says: for Slurm, the accounting's final state (asked
    again for up to ``patience_s`` while it still says the job runs: the job writes its result before Slurm records
    the end). A job that completed with an error, or whose state cannot be read, is ``FAILED``."""
    t0 = time.time()
    while True:
        try:
            if slurm:
                sj.get_info(mode="force")
            state = str(sj.state).split()[0]
        except Exception:  # noqa: BLE001
            return "FAILED"
        if not slurm or state in _TERMINAL or time.time() - t0 > patience_s:
            break
        time.sleep(0.5)
    return "FAILED" if state in ("COMPLETED", "FINISHED", "DONE", "UNKNOWN", "RUNNING", "COMPLETING") else state


def _threads_per_job(n_jobs: int, threads: int | None) -> int:
    cores = os.cpu_count() or 1
    return int(threads) if threads else max(1, cores // max(1, min(n_jobs, cores)))


def waits(executor: str, options: dict | SlurmOptions | None = None) -> bool:
    """Whether :func:`run_jobs` waits for its jobs to finish (all executors but ``slurm`` with ``wait=False``)."""
    if executor != "slurm":
        return True
    return (options if isinstance(options, SlurmOptions) else SlurmOptions(**(options or {}))).wait


def run_jobs(work: Callable[..., dict], jobs: list[dict], executor: str = "inline",
             options: dict | SlurmOptions | None = None,
             on_done: Callable[[dict, dict], None] = lambda job, entry: None,
             poll_s: float = 1.0) -> list[tuple[dict, str, str]]:
    """Run ``work(**job)`` for each job with ``executor`` (``work`` must be importable by name, so that a
    subprocess or a Slurm job can unpickle it); call ``on_done(job, entry)`` in this process as each succeeds.
    Returns ``[(job, log path, state)]`` of the jobs that did not succeed — ``state`` as the executor says it
    (Slurm: ``FAILED``, ``CANCELLED``, ``TIMEOUT``, ``OUT_OF_MEMORY``, …) — (inline: an exception propagates). A job
    that Slurm refuses at submission (e.g. more CPUs than a node has) raises RuntimeError with sbatch's reason."""
    if executor not in EXECUTORS:
        raise ValueError(f"executor must be one of {EXECUTORS}, got {executor!r}")
    if not jobs:
        return []
    if executor == "inline":
        for job in jobs:
            on_done(job, work(**job))
        return []
    import submitit  # optional, as above

    folder = jobs_dir() / "%j"
    wait = True
    if executor == "local":
        threads = _threads_per_job(len(jobs), jobs[0].get("threads"))
        at_once = max(1, (os.cpu_count() or 1) // threads)
        ex = submitit.LocalExecutor(folder=str(folder))
        ex.update_parameters(timeout_min=24 * 60)
        jobs = [dict(job, threads=threads, progress=False) for job in jobs]
    else:
        opts = options if isinstance(options, SlurmOptions) else SlurmOptions(**(options or {}))
        ex = slurm_executor(opts, folder)
        at_once, wait, poll_s = len(jobs), opts.wait, opts.poll_s  # Slurm schedules them
    waiting, running, failed, done = list(jobs), [], [], 0
    last = None
    while waiting or running:
        while waiting and len(running) < at_once:
            job = waiting.pop(0)
            running.append((job, _submit(ex, work, job, executor)))
        if not wait:
            log.info(f"submitted {len(running)} Slurm jobs ({', '.join(j.job_id for _, j in running)}); "
                  "run the same command again once they finish to record them in the index")
            return []
        if executor == "slurm" and running:  # one sacct call for all jobs, at the pace asked for
            running[0][1].get_info(mode="force")
        done += _collect(running, failed, on_done, executor == "slurm")
        state = (done, len(running), len(failed), len(waiting))
        if state != last:
            log.info(f"jobs ({executor}): {done} done, {len(running)} running, {len(failed)} failed, "
                  f"{len(waiting)} waiting")
            last = state
        if running:
            time.sleep(poll_s)
    return failed
