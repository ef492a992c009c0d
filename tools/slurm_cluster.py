#!/usr/bin/env python3
"""A private single-node Slurm cluster for the tests: munge, MariaDB + slurmdbd (accounting, which submitit reads job
states from), slurmctld and slurmd, all in one folder, started without systemd and stopped by their process ids.

    python tools/slurm_cluster.py start [--dir DIR]    # prints `export SLURM_CONF=…`; idempotent
    python tools/slurm_cluster.py status [--dir DIR]   # exit 0 when it answers
    python tools/slurm_cluster.py stop [--dir DIR]     # stops exactly the processes `start` started

It needs the Debian packages slurmctld, slurmd, slurm-client, slurmdbd, munge and mariadb-server, and root (the
daemons run as root inside the folder). Every port is a free one picked at start; nothing outside DIR is written.
The default DIR is short (/tmp/bumpdiff-slurm): Unix socket paths are limited to about 100 characters, and munge
needs every folder above its socket to be world-executable.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

DEFAULT_DIR = Path("/tmp/bumpdiff-slurm")
BINARIES = ("munged", "mariadb-install-db", "mariadbd", "slurmdbd", "slurmctld", "slurmd", "sbatch", "sacct", "sinfo")
STATE = "cluster.json"


def _path() -> str:
    """PATH with the system folders the daemons live in (a non-login root shell may lack /usr/sbin)."""
    return ":".join(dict.fromkeys([*os.environ.get("PATH", "").split(":"), "/usr/sbin", "/sbin", "/usr/bin"]))


def missing_binaries() -> list[str]:
    return [b for b in BINARIES if shutil.which(b, path=_path()) is None]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:   # a zombie (exited, not yet reaped) is not alive
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0] != "Z"
    except OSError:
        return False


def _node_line() -> str:
    """The node as slurmd sees it: name, CPUs, sockets, cores, threads, memory."""
    out = subprocess.run(["slurmd", "-C"], capture_output=True, text=True, check=True,
                         env=dict(os.environ, PATH=_path())).stdout
    return out.splitlines()[0]


def _write(path: Path, text: str, mode: int = 0o644) -> None:
    path.write_text(text)
    path.chmod(mode)


def _configs(d: Path, ports: dict) -> None:
    host = socket.gethostname().split(".")[0]
    munge = d / "munge" / "munge.sock"
    _write(d / "slurm.conf", "\n".join([
        "ClusterName=bumpdiff", f"SlurmctldHost={host}", f"SlurmctldPort={ports['slurmctld']}",
        f"SlurmdPort={ports['slurmd']}", "AuthType=auth/munge", f"AuthInfo=socket={munge}", "CredType=cred/munge",
        "SlurmUser=root", "SlurmdUser=root", f"StateSaveLocation={d / 'state'}", f"SlurmdSpoolDir={d / 'spool'}",
        f"SlurmctldPidFile={d / 'slurmctld.pid'}", f"SlurmdPidFile={d / 'slurmd.pid'}",
        f"SlurmctldLogFile={d / 'log' / 'slurmctld.log'}", f"SlurmdLogFile={d / 'log' / 'slurmd.log'}",
        "ProctrackType=proctrack/linuxproc", "TaskPlugin=task/none", "JobAcctGatherType=jobacct_gather/none",
        "SelectType=select/cons_tres", "SelectTypeParameters=CR_CPU", "SchedulerType=sched/backfill",
        "SchedulerParameters=batch_sched_delay=0", "EnforcePartLimits=ALL", "MpiDefault=none", "ReturnToService=2",
        "KillWait=5", "OverTimeLimit=0", "InactiveLimit=0", "MinJobAge=300", "JobRequeue=1",
        "AccountingStorageType=accounting_storage/slurmdbd", "AccountingStorageHost=localhost",
        f"AccountingStoragePort={ports['slurmdbd']}", f"AccountingStoragePass={munge}", "JobCompType=jobcomp/none",
        f"{_node_line()} State=UNKNOWN", "PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP", ""]))
    _write(d / "slurmdbd.conf", "\n".join([
        "AuthType=auth/munge", f"AuthInfo=socket={munge}", "DbdHost=localhost", f"DbdPort={ports['slurmdbd']}",
        "SlurmUser=root", f"PidFile={d / 'slurmdbd.pid'}", f"LogFile={d / 'log' / 'slurmdbd.log'}",
        "StorageType=accounting_storage/mysql", "StorageHost=127.0.0.1", f"StoragePort={ports['mariadb']}",
        "StorageUser=root", "StorageLoc=slurm_acct_db", ""]), mode=0o600)


def _spawn(d: Path, name: str, argv: list[str], env: dict) -> int:
    """Start one daemon in the foreground of its own session, and record its id at once (so that ``stop`` finds it
    even when a later daemon fails to start)."""
    with open(d / "log" / f"{name}.out", "ab") as log:
        p = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
                             start_new_session=True)   # a Ctrl-C in the caller does not reach it
    state = _read_state(d) or {"pids": {}}
    state["pids"][name] = p.pid
    _write(d / STATE, json.dumps(state, indent=1))
    return p.pid


def _read_state(d: Path) -> dict | None:
    try:
        return json.loads((d / STATE).read_text())
    except (OSError, json.JSONDecodeError):
        return None


def _wait_for(what: str, test, timeout: float, d: Path) -> None:
    t0 = time.time()
    while time.time() - t0 < timeout:
        if test():
            return
        time.sleep(0.2)
    logs = "\n".join(f"--- {p.name}\n{p.read_text()[-1500:]}" for p in sorted((d / "log").glob("*")))
    raise RuntimeError(f"slurm cluster: {what} did not come up within {timeout:.0f} s\n{logs}")


def _node_state(env: dict) -> str | None:
    """The node's state as slurmctld reports it, without its flag suffixes; None when slurmctld does not answer."""
    r = subprocess.run(["sinfo", "-h", "-o", "%T"], capture_output=True, text=True, env=env)
    return r.stdout.strip().rstrip("*~#$@+%!^-") if r.returncode == 0 else None   # suffixes: not responding, …


def _answers(env: dict) -> bool:
    """slurmctld answers and its node can take jobs."""
    return _node_state(env) in ("idle", "mixed", "allocated", "completing")


def _controller_answers(env: dict) -> bool:
    """slurmctld answers, whatever state its node is in (a job's end can leave it completing or draining)."""
    return _node_state(env) is not None


def _accounting(env: dict) -> bool:
    return subprocess.run(["sacct", "-n", "-X", "-o", "JobID"], capture_output=True, env=env).returncode == 0


def environment(d: Path) -> dict:
    return dict(os.environ, SLURM_CONF=str(d / "slurm.conf"), PATH=_path())


def status(d: Path) -> dict | None:
    """The running cluster's state (its process ids and ports) when every one of its daemons is alive and the
    controller answers, else None (the node's state is not asked: a cluster with a busy or draining node is
    still this cluster, and starting another beside it would be wrong)."""
    state = _read_state(d)
    if not state or "slurm_conf" not in state or not all(_alive(pid) for pid in state["pids"].values()):
        return None
    return state if _controller_answers(environment(d)) else None


def start(d: Path = DEFAULT_DIR, timeout: float = 60.0) -> dict:
    """Start the cluster in ``d`` (or find it running there) and return its state: ``pids``, ``ports``,
    ``slurm_conf``, ``seconds`` (how long the start took)."""
    running = status(d)
    if running:
        return running
    if missing := missing_binaries():
        raise RuntimeError(f"slurm cluster: not installed ({', '.join(missing)} missing): apt-get install slurmctld "
                           "slurmd slurm-client slurmdbd munge mariadb-server")
    stop(d)   # whatever is left of an earlier one
    t0 = time.time()
    if d.exists():
        shutil.rmtree(d)
    for sub in ("munge", "state", "spool", "log", "db"):
        (d / sub).mkdir(parents=True)
    for p in (d, d / "munge"):
        p.chmod(0o755)
    ports = {k: _free_port() for k in ("slurmctld", "slurmd", "slurmdbd", "mariadb")}
    _configs(d, ports)
    _write(d / "munge" / "munge.key", os.urandom(1024).hex(), mode=0o400)
    env = environment(d)
    try:
        _launch(d, ports)
    except BaseException:
        stop(d)   # nothing is left half-started
        raise
    state = {"pids": _read_state(d)["pids"], "ports": ports, "slurm_conf": env["SLURM_CONF"],
             "seconds": round(time.time() - t0, 1)}
    _write(d / STATE, json.dumps(state, indent=1))
    return state


def _launch(d: Path, ports: dict) -> None:
    env = environment(d)
    m = d / "munge"
    _spawn(d, "munged", ["munged", "-F", f"--socket={m / 'munge.sock'}", f"--key-file={m / 'munge.key'}",
                         f"--pid-file={m / 'munged.pid'}", f"--seed-file={m / 'munged.seed'}",
                         f"--log-file={d / 'log' / 'munged.log'}"], env)
    _wait_for("munged", (d / "munge" / "munge.sock").exists, 10, d)
    subprocess.run(["mariadb-install-db", f"--datadir={d / 'db'}", "--user=root", "--skip-test-db",
                    "--auth-root-authentication-method=normal"], check=True, capture_output=True, env=env)
    _spawn(d, "mariadbd", ["mariadbd", "--no-defaults", f"--datadir={d / 'db'}", "--user=root",
                           "--bind-address=127.0.0.1", f"--port={ports['mariadb']}", "--skip-grant-tables",
                           f"--socket={d / 'db' / 'mysql.sock'}", f"--pid-file={d / 'db' / 'mariadbd.pid'}"], env)
    _wait_for("mariadbd", lambda: _port_open(ports["mariadb"]), 30, d)
    _spawn(d, "slurmdbd", ["slurmdbd", "-D"], env)   # slurmdbd.conf beside SLURM_CONF
    _wait_for("slurmdbd", lambda: _port_open(ports["slurmdbd"]), 30, d)
    _spawn(d, "slurmctld", ["slurmctld", "-D", "-i"], env)
    _spawn(d, "slurmd", ["slurmd", "-D"], env)
    _wait_for("slurmctld and slurmd (an idle node)", lambda: _answers(env), 30, d)
    _wait_for("accounting (sacct)", lambda: _accounting(env), 30, d)


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0


def _job_processes(d: Path) -> list[int]:
    """The processes this cluster runs jobs with: slurmstepd (which slurmd forks off, so it outlives slurmd) and the
    jobs' own processes, told apart from anything else by ``SLURM_CONF`` = this cluster's configuration in their
    environment, together with a job id or the slurmstepd name. Never this process or one of its ancestors."""
    conf = f"SLURM_CONF={d / 'slurm.conf'}".encode()
    mine, p = set(), os.getpid()
    while p > 1:   # this process and its ancestors
        mine.add(p)
        try:
            p = int(Path(f"/proc/{p}/stat").read_text().split(") ", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            break
    found = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            env = (proc / "environ").read_bytes().split(b"\0")
            name = (proc / "comm").read_text().strip()
        except OSError:
            continue
        pid = int(proc.name)
        if pid in mine or conf not in env:
            continue
        if name == "slurmstepd" or any(e.startswith(b"SLURM_JOB_ID=") for e in env):
            found.append(pid)
    return found


def _end(pid: int, timeout: float) -> None:
    if not _alive(pid):
        return
    os.kill(pid, signal.SIGTERM)
    t0 = time.time()
    while _alive(pid) and time.time() - t0 < timeout:
        time.sleep(0.1)
    if _alive(pid):
        os.kill(pid, signal.SIGKILL)
    try:
        os.waitpid(pid, os.WNOHANG)   # reap it when this process started it
    except ChildProcessError:
        pass


def stop(d: Path = DEFAULT_DIR, timeout: float = 15.0) -> list[int]:
    """Stop the cluster in ``d``: cancel its jobs, then end the daemons ``start`` recorded (SIGTERM, then SIGKILL
    after ``timeout``) in the reverse order of their start, then any job process of this cluster still alive
    (:func:`_job_processes`). Returns the ids of the processes it ended. Nothing else is touched."""
    state = _read_state(d) or {}
    pids = list(state.get("pids", {}).values())
    env = environment(d)
    if state.get("pids", {}).get("slurmctld") and _alive(state["pids"]["slurmctld"]):
        jobs = subprocess.run(["squeue", "-h", "-o", "%i"], capture_output=True, text=True, env=env).stdout.split()
        if jobs:
            subprocess.run(["scancel", *jobs], capture_output=True, env=env)
            t0 = time.time()
            while _job_processes(d) and time.time() - t0 < timeout:
                time.sleep(0.2)
    for pid in reversed(pids):
        _end(pid, timeout)
    left = _job_processes(d)
    for pid in left:
        _end(pid, timeout)
    if pids:
        (d / STATE).unlink(missing_ok=True)
    return pids + left


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("command", choices=("start", "status", "stop"))
    p.add_argument("--dir", type=Path, default=DEFAULT_DIR)
    a = p.parse_args(argv)
    if a.command == "start":
        state = start(a.dir)
        print(f"export SLURM_CONF={state['slurm_conf']}   # cluster up in {state['seconds']} s, "
              f"pids {' '.join(map(str, state['pids'].values()))}")
    elif a.command == "status":
        state = status(a.dir)
        print("running" if state else "not running")
        return 0 if state else 1
    else:
        print(f"stopped {' '.join(map(str, stop(a.dir))) or 'nothing'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
