"""Experiment caching: a hit is announced, stale or corrupt entries are detected and recomputed."""
import json

import pytest
from hypothesis import given, settings, strategies as st

from bumpdiff import experiments
from bumpdiff.experiments import (EarlyStop, cached, coupling_summary, crossing, crossing_table, is_cached, phase_summary,
                                  phases_label, run_or_load)


def test_run_or_load_hit_stale_and_corrupt(home, capsys):
    first = run_or_load("phases", "smoke", progress=False)
    assert "computing phases/smoke" in capsys.readouterr().out
    bundle, arrays = first[phases_label(0)]
    again = run_or_load("phases", "smoke", progress=False)
    assert "cache hit: phases/smoke" in capsys.readouterr().out
    assert again[phases_label(0)][0]["checkpoints"] == bundle["checkpoints"]
    index = home / "results" / "experiments" / "phases-smoke.json"
    rel = json.loads(index.read_text())["runs"][phases_label(0)]
    (home / rel / "bundle.json").write_text("{ not json")            # corrupt
    run_or_load("phases", "smoke", progress=False)
    assert "corrupt bundle" in capsys.readouterr().out
    data = json.loads(index.read_text())
    data["key"] = "0000000000"                                         # stale
    index.write_text(json.dumps(data))
    out = run_or_load("phases", "smoke", progress=False)
    assert "stale results" in capsys.readouterr().out
    assert out[phases_label(0)][0]["checkpoints"] == bundle["checkpoints"]


def test_cached_helper(home, capsys):
    calls = []
    def compute():
        calls.append(1)
        return {"value": 3}, {}
    assert cached("thing", {"a": 1}, compute)[0]["value"] == 3
    assert cached("thing", {"a": 1}, compute)[0]["value"] == 3
    assert len(calls) == 1 and "cache hit: thing" in capsys.readouterr().out
    cached("thing", {"a": 2}, compute)
    assert len(calls) == 2


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.floats(0, 1), st.floats(0, 1)), min_size=1, max_size=30), st.floats(0.05, 0.95))
def test_early_stop_is_the_later_of_the_two_crossings(values, thr):
    recs = [{"step": 100 * i, "acc_x": x, "acc_y": y} for i, (x, y) in enumerate(values)]
    cx, cy = crossing(recs, "acc_x", thr), crossing(recs, "acc_y", thr)
    hit = EarlyStop(thr).reached(recs)
    if cx is None or cy is None:
        assert hit is None
    else:
        assert hit["step"] == max(cx["step"], cy["step"])
        assert all(r["acc_x"] < thr for r in recs if r["step"] < cx["step"]) and cx["acc_x"] >= thr
        # nothing before the stop point has both axes over the threshold at their first crossings
        assert hit["acc_y" if cy["step"] >= cx["step"] else "acc_x"] >= thr


def test_early_stop_trains_only_until_the_rule_is_met(home, capsys, monkeypatch):
    # threshold 0: every axis "crosses" at step 0, so the run must stop at its first checkpoint
    monkeypatch.setitem(experiments.EARLY_STOP, ("imbalanced", "smoke"), EarlyStop(threshold=0.0))
    label = "imbalanced (dx=0.1, dy=1) seed 0"
    out = run_or_load("imbalanced", "smoke", progress=False, labels=[label])
    bundle = out[label][0]
    assert [r["step"] for r in bundle["checkpoints"]] == [0]
    assert bundle["early_stop"]["step"] == 0 and bundle["early_stop"]["max_steps"] == bundle["config"]["steps"]
    rdir = next((home / "data" / "runs").glob("smoke-imb-*"))
    assert not (rdir / "DONE").exists() and sorted(p.name for p in rdir.glob("ckpt_*")) == ["ckpt_0000000.pt"]
    assert "stopped once acc_x and acc_y" in capsys.readouterr().out
    rows = crossing_table(out, threshold=0.0)
    assert rows[0]["acc_x"]["step"] == 0 and rows[0]["seed"] == 0 and rows[0]["group"] == "imbalanced (dx=0.1, dy=1)"


def test_partial_experiment_index(home, capsys, monkeypatch):
    monkeypatch.setitem(experiments.EARLY_STOP, ("imbalanced", "smoke"), EarlyStop(threshold=0.0))
    first = "imbalanced (dx=0.1, dy=1) seed 0"
    run_or_load("imbalanced", "smoke", progress=False, labels=[first])
    capsys.readouterr()
    assert not is_cached("imbalanced", "smoke") and is_cached("imbalanced", "smoke", allow_partial=True)
    got = run_or_load("imbalanced", "smoke", progress=False, allow_partial=True)
    out = capsys.readouterr().out
    assert list(got) == [first] and "partial experiment, 1 of 3 runs" in out and "stopped once" in out
    index = json.loads((home / "results" / "experiments" / "imbalanced-smoke.json").read_text())
    assert list(index["runs"]) == [first] and len(index["missing"]) == 2
    with pytest.raises(ValueError, match="labels must be runs"):
        run_or_load("imbalanced", "smoke", labels=["no such run"])
    # asking for the whole experiment computes only the missing runs, and completes the index
    run_or_load("imbalanced", "smoke", progress=False)
    assert "2 of 3 runs not computed yet" in capsys.readouterr().out
    assert is_cached("imbalanced", "smoke")
    assert json.loads((home / "results" / "experiments" / "imbalanced-smoke.json").read_text())["missing"] == []


def _fake_results(crossings: dict[str, list[tuple[int, int]]], every: int = 100, batch: int = 128) -> dict:
    """Bundles whose acc_x / acc_y jump from 0 to 1 at the given steps (one (x step, y step) per seed)."""
    out = {}
    for group, seeds in crossings.items():
        for seed, (sx, sy) in enumerate(seeds):
            recs = [{"step": s, "epoch": s / 10, "images_seen": s * batch, "accuracy": 0.0,
                     "acc_x": float(s >= sx), "acc_y": float(s >= sy), "r2_x": 0.5, "r2_y": 0.5,
                     "knn_r2_x": 0.9, "knn_r2_y": 0.9} for s in range(0, 2001, every)]
            out[f"{group} seed {seed}"] = ({"checkpoints": recs}, {})
    return out


def test_coupling_summary_verdicts_and_spread():
    res = _fake_results({"same": [(1300, 1300), (1600, 1600), (1200, 1200)],
                         "one apart": [(1200, 1300), (1300, 1300)],          # within one checkpoint: together
                         "x first": [(500, 1500), (600, 1200)],
                         "y first": [(1500, 500), (1500, 700)],
                         "mixed": [(500, 1500), (1500, 500)],
                         "lone": [(800, 900)]})
    got = {g["group"]: g for g in coupling_summary(crossing_table(res, threshold=0.5))}
    assert got["same"]["verdict"] == "together" and got["one apart"]["verdict"] == "together"
    assert got["x first"]["verdict"] == "apart: acc_x first" and got["y first"]["verdict"] == "apart: acc_y first"
    assert got["mixed"]["verdict"] == "mixed over seeds"
    s = got["same"]["acc_x"]
    assert s["images_seen"] == [166_400, 204_800, 153_600] and s["mean"] == pytest.approx(174_933.33, abs=0.01)
    assert s["sd"] == pytest.approx(26_645.32, abs=0.01)                    # sample sd (ddof = 1) over seeds
    assert got["one apart"]["gap_images"] == [12_800, 0] and got["one apart"]["resolution_images"] == [12_800] * 2
    assert got["lone"]["acc_x"]["sd"] is None and got["lone"]["acc_x"]["mean"] == 800 * 128
    never = _fake_results({"never": [(5000, 1000)]})                           # x never crosses within 2,000 steps
    g = coupling_summary(crossing_table(never, threshold=0.5))[0]
    assert g["verdict"] == "no seed crossed on both axes" and g["acc_x"]["mean"] is None


def _phased(calls: str, gen: str | None = None, every: int = 100) -> list[dict]:
    """Checkpoint records every ``every`` steps whose combined / generation call is given by one letter each."""
    gen = gen or calls
    return [{"step": i * every, "epoch": i * every / 8, "images_seen": i * every * 128, "phase": p,
             "phase_generation": g, "phase_representation": p} for i, (p, g) in enumerate(zip(calls, gen))]


def test_phase_summary_onsets_and_spread():
    runs = {"s0": _phased("AABBBCC"), "s1": _phased("ABBBBBC", gen="ABBBCCC"), "s2": _phased("AAABBBA", gen="AABCCCC")}
    got = phase_summary(runs)
    b, c = got["phase"]["B"], got["phase"]["C"]
    assert b["step"] == [200, 100, 300] and b["images_seen"] == [25_600, 12_800, 38_400] and b["epoch"] == [25, 12.5, 37.5]
    assert b["mean_images"] == pytest.approx(25_600) and b["sd_images"] == pytest.approx(12_800)  # ddof = 1
    assert c["step"] == [500, 600, None] and c["n_reached"] == 2 and c["n_runs"] == 3   # s2 falls back to A, never C
    assert c["mean_images"] == pytest.approx(550 * 128) and c["sd_images"] == pytest.approx(50 * 128 * 2 ** 0.5)
    assert got["phase_generation"]["C"]["step"] == [500, 400, 300]                 # the generation call alone
    lone = phase_summary({"only": _phased("ABB")})["phase"]
    assert lone["B"]["sd_images"] is None and lone["C"]["mean_images"] is None and lone["C"]["step"] == [None]


def test_commit_stamp_ignores_rendered_figures_and_named_outputs(tmp_path, monkeypatch):
    import subprocess
    from bumpdiff.experiments import commit_stamp
    git = lambda *a: subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *a], cwd=tmp_path,
                                    check=True, capture_output=True)
    (tmp_path / "figures").mkdir()
    (tmp_path / "figures" / "fig.png").write_bytes(b"old")
    (tmp_path / "code.py").write_text("x = 1\n")
    (tmp_path / "index.json").write_text("{}\n")
    git("init", "-q"); git("add", "."); git("commit", "-qm", "init")
    monkeypatch.setenv("BUMPDIFF_HOME", str(tmp_path))
    sha = commit_stamp()
    assert sha and "+dirty" not in sha and sha != "unknown"
    (tmp_path / "figures" / "fig.png").write_bytes(b"new")      # a freshly rendered figure: still clean
    assert commit_stamp() == sha
    (tmp_path / "index.json").write_text('{"run": 1}\n')      # an output being written: named, so still clean
    assert commit_stamp(tmp_path / "index.json") == sha
    assert commit_stamp() == sha + "+dirty"                     # … but not ignored unless named
    (tmp_path / "index.json").write_text("{}\n")
    (tmp_path / "code.py").write_text("x = 2\n")                 # a changed source file: dirty
    assert commit_stamp() == sha + "+dirty"


def test_committed_pieces_reads_only(home):
    from bumpdiff.experiments import committed_pieces
    assert committed_pieces("paper") is None  # nothing committed under this empty root, and nothing is trained
    assert not (home / "data").exists()
