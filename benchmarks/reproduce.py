"""How long a study takes to recompute from nothing, and whether it gives the committed numbers: ``make env`` then
``python -m bumpdiff reproduce EXPERIMENTS --profile P --force --executor local`` in a fresh clone of this checkout,
with an empty runs folder.

The clone is of the checkout's HEAD (committed files only, no runs, no environment); its runs and scratch folders are
new folders beside it, so nothing is reused from an earlier run. ``make env`` builds the environment (timed);
``reproduce`` then trains and analyses every run of the experiments again, in parallel processes (timed as a whole,
and each run's job time from the clone's index). Every bundle it writes — each run under each read-out — is then
compared number by number with the checkout's committed bundle of the same run and analysis
(:func:`bumpdiff.experiments.stats.compare_bundles`). It reports; it asserts nothing.

Long: the ``fast`` phases study is six runs of 20–30 min. Calling it again with the same ``--clone`` resumes an
interrupted recomputation (each run from its last checkpoint, finished runs skipped) and reports each run's time
since it resumed (``resumed_at`` in the JSON); the recomputation is forced only on the first call.

Usage: ``python benchmarks/reproduce.py --clone DIR [--profile fast] [--experiments phases phases-additive]
[--json data/results/benchmarks/reproduce-fast.json] [--note "..."]``
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import time
from pathlib import Path

from bumpdiff.common import paths
from bumpdiff.common.files import atomic_write_json
from bumpdiff.core.provenance import provenance
from bumpdiff.experiments.stats import compare_bundles
from bumpdiff.store.bundles import load_bundle


def _env(clone: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH", "BUMPDIFF_HOME")}
    return dict(env, BUMPDIFF_RUNS=str(clone.parent / "runs"), BUMPDIFF_SCRATCH=str(clone.parent / "scratch"))


def _comparison(clone: Path, entry: dict) -> dict:
    """Each read-out's bundle of one recomputed run against the checkout's committed bundle of it."""
    out = {}
    for noise, rel in entry["readouts"].items():
        mine, theirs = clone / rel, paths.root() / rel
        if not (theirs / "bundle.json").exists():
            out[noise] = {"committed": False}
            continue
        c = compare_bundles(load_bundle(theirs)[0], load_bundle(mine)[0])
        out[noise] = {"committed": True, "identical": c["identical"], "checkpoints": len(c["steps"]),
                      "same_calls": c["same_calls"], "first_divergent_loss_step": c["loss"]["first_divergent_step"],
                      "max_abs_diff": {k: v["max_abs_diff"] for k, v in c["fields"].items() if v["n"]}}
    return out


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clone", required=True, help="a new folder: the clone goes in DIR/bumpdiff, its runs beside it")
    ap.add_argument("--profile", default="fast")
    ap.add_argument("--experiments", nargs="+", default=["phases", "phases-additive"])
    ap.add_argument("--json", default=None)
    ap.add_argument("--note", default="", help="what else ran on the machine meanwhile (said beside the numbers)")
    a = ap.parse_args(argv)
    clone = Path(a.clone) / "bumpdiff"
    state_path = clone.parent / "reproduce-benchmark.json"
    if not clone.exists():
        subprocess.run(["git", "clone", "--quiet", str(paths.root()), str(clone)], check=True)
    state = json.loads(state_path.read_text()) if state_path.exists() else {}
    if "env_seconds" not in state:
        t0 = time.perf_counter()
        r = subprocess.run(["make", "env"], cwd=clone, env=_env(clone), capture_output=True, text=True, check=False)
        if r.returncode:
            raise SystemExit(f"make env failed:\n{(r.stdout + r.stderr)[-3000:]}")
        state["env_seconds"] = round(time.perf_counter() - t0, 1)
        state_path.write_text(json.dumps(state))
    cmd = [".venv/bin/python", "-m", "bumpdiff", "reproduce", *a.experiments, "--profile", a.profile,
           "--executor", "local"]
    first = "calls" not in state
    state.setdefault("calls", []).append({"forced": first, "started": time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                                                                   time.gmtime())})
    state_path.write_text(json.dumps(state))
    log_path = clone.parent / "reproduce.log"   # the jobs' progress, to follow while it runs
    t0 = time.perf_counter()
    with open(log_path, "a") as log:
        rc = subprocess.run(cmd + (["--force"] if first else []), cwd=clone, env=_env(clone), stdout=log,
                            stderr=subprocess.STDOUT, check=False).returncode
    state["calls"][-1].update(seconds=round(time.perf_counter() - t0, 1), returncode=rc)
    state_path.write_text(json.dumps(state))
    if rc:
        raise SystemExit(f"reproduce failed (run this again to resume); its log: {log_path}")
    runs = {}
    for name in a.experiments:
        index = json.loads((clone / "data" / "results" / "experiments" / f"{name}-{a.profile}.json").read_text())
        for label, e in index["runs"].items():
            runs[f"{name} / {label}"] = {"seconds": e["seconds"], "resumed_at": e["resumed_at"],
                                         "trained_to": e["trained_to"], "analysed": len(e["analysed_steps"]),
                                         "device": e["device"], "compared": _comparison(clone, e)}
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=clone, capture_output=True, text=True,
                            check=True).stdout.strip()
    result = {"commit": commit, "profile": a.profile, "experiments": a.experiments, "cores": os.cpu_count(),
              "command": "python " + " ".join(cmd[1:]) + " --force", "env_seconds": state["env_seconds"],
              "calls": state["calls"], "runs": runs, "note": a.note, "provenance": provenance("cpu")}
    print(json.dumps({k: v for k, v in result.items() if k != "provenance"}, indent=1))
    if a.json:
        atomic_write_json(Path(a.json), result)
    return result


if __name__ == "__main__":
    main()
