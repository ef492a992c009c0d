"""How long a new user waits for the figures: ``make env`` then ``make figures`` in a fresh clone of this checkout.

The clone is of the checkout's HEAD (committed files only, no build folder, no environment). ``make env`` builds its
environment from scratch (timed; it also compiles UMAP's numba kernels once); ``make figures`` then executes every
numbered notebook from the committed results (timed, with each notebook's own time from its log). The benchmark also
records whether the run left the clone's ``git status`` clean (figures re-rendered byte for byte) and every
error-level line of the log. It reports; it asserts nothing.

Usage: ``python benchmarks/figures.py [--clone DIR] [--env-only] [--json data/results/benchmarks/figures-cpu.json]``
(``--clone DIR`` keeps the clone, so that its environment can be built first with ``--env-only`` while the machine is
busy, and ``make figures`` timed later on idle cores: the environment's time is then reported from the first call).
"""
from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import tempfile
import time
from pathlib import Path

from bumpdiff.common import paths
from bumpdiff.common.files import atomic_write_json
from bumpdiff.core.provenance import provenance

NOTEBOOK_LINE = re.compile(r"figures \((\w+)\): (\S+\.ipynb) done in ([0-9.]+) s")
ERROR_LINE = re.compile(r"\b(ERROR|CRITICAL|Traceback)\b")


def _make(clone: Path, target: str) -> tuple[float, str, int]:
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH", "BUMPDIFF_HOME")}
    t0 = time.perf_counter()
    r = subprocess.run(["make", target], cwd=clone, env=env, capture_output=True, text=True, check=False)
    return time.perf_counter() - t0, r.stdout + r.stderr, r.returncode


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clone", default=None, help="where to clone (kept); default: a temporary folder")
    ap.add_argument("--env-only", action="store_true", help="build the clone's environment and stop")
    ap.add_argument("--json", default=None)
    ap.add_argument("--note", default="", help="what else ran on the machine meanwhile (said beside the numbers)")
    a = ap.parse_args(argv)
    tmp = None if a.clone else tempfile.TemporaryDirectory()
    clone = Path(a.clone or tmp.name) / "bumpdiff"
    state = clone.parent / "figures-benchmark-env.json"
    if not clone.exists():
        subprocess.run(["git", "clone", "--quiet", str(paths.root()), str(clone)], check=True)
    if not state.exists():
        seconds, out, rc = _make(clone, "env")
        if rc:
            raise SystemExit(f"make env failed:\n{out[-3000:]}")
        state.write_text(json.dumps({"env_seconds": round(seconds, 1)}))
    env_seconds = json.loads(state.read_text())["env_seconds"]
    if a.env_only:
        print(f"environment ready in {env_seconds:.0f} s: {clone}")
        return {}
    load = os.getloadavg()[0]
    seconds, out, rc = _make(clone, "figures")
    status = subprocess.run(["git", "status", "--porcelain"], cwd=clone, capture_output=True, text=True,
                            check=True).stdout.splitlines()
    result = {"commit": subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=clone, capture_output=True,
                                       text=True, check=True).stdout.strip(),
              "env_seconds": env_seconds, "figures_seconds": round(seconds, 1), "returncode": rc,
              "cores": os.cpu_count(), "load_before": round(load, 2), "note": a.note,
              "notebooks": {m.group(2): float(m.group(3)) for m in NOTEBOOK_LINE.finditer(out)},
              "error_lines": [line for line in out.splitlines() if ERROR_LINE.search(line)],
              "changed_files": status, "provenance": provenance("cpu")}
    print(json.dumps({k: v for k, v in result.items() if k != "provenance"}, indent=1))
    if a.json:
        atomic_write_json(Path(a.json), result)
    if tmp is not None:
        tmp.cleanup()
    return result


if __name__ == "__main__":
    main()
