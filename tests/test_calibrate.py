"""benchmarks/calibrate.py end to end on the smoke profile: a candidate is trained with the project's loop, scored
as it goes, written as one JSON, and the report turns the JSONs into the calibration table."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


def test_a_candidate_is_trained_scored_and_tabled(home):
    out = home / "data" / "results" / "benchmarks"
    r = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "calibrate.py"), "tiny", "--base", "smoke",
                        "--set", "steps=20", "lr_schedule=cosine", "--every", "10", "--n", "8", "--sampler-steps", "3",
                        "--target", "0.0", "--hold", "5", "--json-dir", str(out)],
                       capture_output=True, text=True, timeout=600, check=False,
                       env={"BUMPDIFF_HOME": str(home), "PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)})
    assert r.returncode == 0, r.stderr
    got = json.loads((out / "calibration-tiny.json").read_text())
    assert [e["step"] for e in got["evals"]] == [10, 20]          # scored every 10 steps, to the last
    assert got["config"]["lr_schedule"] == "cosine" and got["config"]["steps"] == 20
    assert got["reached"] == got["evals"][0]                      # target 0: reached at the first evaluation
    assert got["params"] > 0 and got["provenance"]["commit"]
    assert not list((home / "data" / "scratch" / "calibration").glob("*/ckpt_*.pt"))   # its run is removed

    from bumpdiff.app.report.machine import _calibration_sections
    text = "\n".join(_calibration_sections())
    row = next(line for line in text.splitlines() if line.startswith("| `tiny` |"))
    assert "| `tiny` | 10 | 32 px | film |" in row and "| 0.001, cosine | 16 | 160 (0 min) |" in row, row
    assert "| its last step |" in row   # the target was met once, not at 5 evaluations in a row
