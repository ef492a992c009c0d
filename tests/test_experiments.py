"""Experiment caching: a hit is announced, stale or corrupt entries are detected and recomputed."""
import json

from bumpdiff.experiments import cached, run_or_load


def test_run_or_load_hit_stale_and_corrupt(home, capsys):
    first = run_or_load("phases", "smoke", progress=False)
    assert "computing phases/smoke" in capsys.readouterr().out
    bundle, arrays = first["balanced (dx=dy=1)"]
    again = run_or_load("phases", "smoke", progress=False)
    assert "cache hit: phases/smoke" in capsys.readouterr().out
    assert again["balanced (dx=dy=1)"][0]["checkpoints"] == bundle["checkpoints"]
    index = home / "results" / "experiments" / "phases-smoke.json"
    rel = json.loads(index.read_text())["runs"]["balanced (dx=dy=1)"]
    (home / rel / "bundle.json").write_text("{ not json")            # corrupt
    run_or_load("phases", "smoke", progress=False)
    assert "corrupt bundle" in capsys.readouterr().out
    data = json.loads(index.read_text())
    data["key"] = "0000000000"                                         # stale
    index.write_text(json.dumps(data))
    out = run_or_load("phases", "smoke", progress=False)
    assert "stale results" in capsys.readouterr().out
    assert out["balanced (dx=dy=1)"][0]["checkpoints"] == bundle["checkpoints"]


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
