"""One-time migration of the committed results to identity schema 1 (kept as the record of what was done).

Before schema 1, run folders and bundles were keyed by a hash of the *whole* config (device, threads, logging
and the analysis's ``every`` included), bundles carried no provenance, and the partial ``paper`` run existed as
two bundles (every 5th checkpoint, then every one up to step 2,000). This script, run once from the repository
root, rewrote them **without retraining or re-analysing**:

- every bundle moves to ``data/results/<name>-<run key>/analysis-<analysis key>/`` with the new keys;
  its phase calls are recomputed from its stored order parameters under the current rule (latent C needs an
  ordered *and* low-dimensional manifold); every array is kept byte for byte;
- the two ``paper`` bundles become one (their records agree wherever both hold a step);
- experiment indexes are rewritten with the new experiment keys, and a ``phases-paper`` index records the
  partial ``paper`` run; Figure 6's cached studies become keyed study results;
- each artefact gets a ``provenance`` entry saying it was migrated, from which commit it came (as the old index
  recorded it), on which device and with which package versions it was made (the lock file the environment
  was built from for ``cpu``; the GPU session's own record for ``paper``).
"""
from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bumpdiff import paths  # noqa: E402
from bumpdiff.analysis import AnalysisConfig  # noqa: E402
from bumpdiff.experiments import EXPERIMENTS, phases_label  # noqa: E402
from bumpdiff.identity import SCHEMA, identity  # noqa: E402
from bumpdiff.phases import PHASE_THRESHOLDS, recall  # noqa: E402
from bumpdiff.provenance import commit_stamp  # noqa: E402
from bumpdiff.results import index_path, reproduce_command, study_command, study_path  # noqa: E402
from bumpdiff.robustness import ROBUSTNESS, LayerSweep  # noqa: E402
from bumpdiff.train import TrainConfig, run_dir  # noqa: E402
from bumpdiff.utils import atomic_savez, atomic_write_json  # noqa: E402

RES = paths.results_dir()
NOW = commit_stamp()


def lock_versions() -> dict:
    want = {"torch", "numpy", "scikit-learn", "umap-learn", "numba", "scipy"}
    out = {"python": "3.11.7"}
    for line in (ROOT / "requirements" / "lock.txt").read_text().splitlines():
        name, _, ver = line.partition("==")
        if name in want:
            out[name] = ver
    out["torch"] = "2.13.0"
    return out


CPU_PROV = {"device": "cpu: x86_64 (2 cores)", "versions": lock_versions(),
            "versions_source": "requirements/lock.txt and TORCH_SPEC (the environment the cpu runs were made in)"}
PAPER_PROV = {"device": "cuda: NVIDIA H100", "versions": {"torch": "2.11.0+cu130"},
              "versions_source": "the GPU session's own record (torch only)"}


def migrated(commit: str, base: dict, source: str) -> dict:
    return {"commit": commit.replace("+dirty", ""), "dirty": commit.endswith("+dirty"), **base,
            "migrated": {"from": source, "at": NOW, "by": "tools/migrate_results_schema1.py"}}


def merge(parts):
    records, arrays, loss = {}, {}, {}
    for b, arr in parts:
        for r in b["checkpoints"]:
            if r["step"] in records:
                a, c = json.dumps(records[r["step"]], sort_keys=True), json.dumps(r, sort_keys=True)
                assert a == c, f"step {r['step']} differs between bundles"
            records[r["step"]] = r
        arrays |= arr
        if len((b.get("loss") or {}).get("step", [])) > len(loss.get("step", [])):
            loss = b["loss"]
    return [records[s] for s in sorted(records)], arrays, loss


def write_bundle(old_dirs: list[Path], commit: str, base_prov: dict) -> tuple[Path, dict]:
    parts = []
    for d in old_dirs:
        b = json.loads((d / "bundle.json").read_text())
        with np.load(d / "arrays.npz") as z:
            parts.append((b, {k: z[k] for k in z.files}))
    first = parts[0][0]
    cfg = TrainConfig.from_dict(first["config"])
    acfg = AnalysisConfig(**first["analysis"])
    for b, _ in parts[1:]:
        assert AnalysisConfig(**b["analysis"]).key() == acfg.key() and TrainConfig.from_dict(b["config"]).key() == cfg.key()
    records, arrays, loss = merge(parts)
    folder = run_dir(cfg).name
    out = RES / folder / f"analysis-{acfg.key()}"
    prov = migrated(commit, base_prov, ", ".join(paths.relative(d) for d in old_dirs))
    bundle = {"schema": SCHEMA, "run": folder, "run_key": cfg.key(), "analysis_key": acfg.key(),
              "config": cfg.to_dict(), "analysis": identity(acfg), "thresholds": vars(PHASE_THRESHOLDS) | {},
              "umap": first["umap"], "checkpoints": recall(records), "trained_to": max(r["step"] for r in records),
              "training_provenance": prov, "loss": loss, "provenance": [prov | {"steps": [r["step"] for r in records]}]}
    bundle["thresholds"] = {k: getattr(PHASE_THRESHOLDS, k) for k in ("acc_c", "single_b", "knn_r2_c", "dim_b")}
    atomic_savez(out / "arrays.npz", **arrays)
    atomic_write_json(out / "bundle.json", bundle)
    return out, bundle


def main():
    old_index = {n: json.loads((RES / "experiments" / f"{n}-cpu.json").read_text()) for n in ("phases", "imbalanced")}
    moved: dict[str, Path] = {}
    # --- cpu experiments
    for name, old in old_index.items():
        exp = EXPERIMENTS[name]
        runs = exp.runs("cpu")
        index = {"schema": SCHEMA, "experiment": name, "profile": "cpu", "key": exp.key("cpu"), "runs": {},
                 "analysis_key": exp.analysis("cpu").key(), "analysis": identity(exp.analysis("cpu")),
                 "early_stop_rule": vars(exp.stop_rule("cpu")) if exp.stop_rule("cpu") else None}
        for label, rel in old["runs"].items():
            src = ROOT / rel.replace("results/", "data/results/", 1)
            if src not in moved:
                moved[src], _ = write_bundle([src], old["commit"], CPU_PROV)
            bdir = moved[src]
            b = json.loads((bdir / "bundle.json").read_text())
            assert b["run_key"] == runs[label].key(), (label, b["run_key"], runs[label].key())
            stop = old["early_stop"].get(label)
            index["runs"][label] = {"bundle": paths.relative(bdir), "run_key": b["run_key"], "early_stop": stop,
                                    "trained_to": b["trained_to"], "steps": runs[label].steps,
                                    "analysed_steps": [r["step"] for r in b["checkpoints"]],
                                    "command": reproduce_command(name, "cpu", seeds=[int(label.rpartition(' ')[2])])}
        index["missing"] = [lab for lab in runs if lab not in index["runs"]]
        index["provenance"] = migrated(old["commit"], CPU_PROV, f"results/experiments/{name}-cpu.json")
        atomic_write_json(index_path(name, "cpu"), index)
    # --- the partial paper run: two bundles become one
    pdir = RES / "paper-2c660a3bad"
    out, b = write_bundle(sorted(pdir.glob("analysis-*")), "a1f0004", PAPER_PROV)
    exp = EXPERIMENTS["phases"]
    label = phases_label(0)
    steps = [r["step"] for r in b["checkpoints"]]
    cmd = reproduce_command("phases", "paper", seeds=[0], until=b["trained_to"], steps=steps) + " --device auto"
    index = {"schema": SCHEMA, "experiment": "phases", "profile": "paper", "key": exp.key("paper"),
             "runs": {label: {"bundle": paths.relative(out), "run_key": b["run_key"], "early_stop": None,
                              "trained_to": b["trained_to"], "steps": b["config"]["steps"], "analysed_steps": steps,
                              "command": cmd}},
             "analysis_key": exp.analysis("paper").key(), "analysis": identity(exp.analysis("paper")),
             "early_stop_rule": None, "missing": [phases_label(1), phases_label(2)],
             "provenance": migrated("a1f0004", PAPER_PROV, "results/paper-2c660a3bad")}
    atomic_write_json(index_path("phases", "paper"), index)
    # --- Figure 6's cached studies (cpu, step 4,000) and the paper layer sweep (step 8,600)
    cfg0 = EXPERIMENTS["phases"].runs("cpu")[phases_label(0)]
    sweep, samplers = ROBUSTNESS["cpu"]
    old_layers = json.loads((RES / "cache" / "robustness-layers-cpu-8e8c2ef393" / "result.json").read_text())
    old_samp = json.loads((RES / "cache" / "robustness-samplers-cpu-8e8c2ef393" / "result.json").read_text())
    assert old_layers["_inputs"]["step"] == 4000 and old_samp["_inputs"]["step"] == 4000 and old_samp["n"] == samplers.n
    renamed = {"DDPM (1000 steps)": "DDPM (all T steps)"}
    samp_result = {"samplers": {renamed.get(k, k): v for k, v in old_samp["samplers"].items()}, "n": old_samp["n"]}
    assert set(samp_result["samplers"]) == {s[0] for s in samplers.samplers}
    samp_result["samplers"] = {s[0]: samp_result["samplers"][s[0]] for s in samplers.samplers}
    assert {(r["layer"], r["t"]) for r in old_layers["rows"]} == {(l, t) for l in sweep.layers for t in sweep.timesteps}
    for spec, result, old in ((sweep, {"rows": old_layers["rows"]}, old_layers), (samplers, samp_result, old_samp)):
        p = study_path(spec, cfg0, 4000)
        atomic_write_json(p, {"schema": SCHEMA, "kind": spec.kind, "key": p.stem.rpartition("-")[2],
                              "run": run_dir(cfg0).name, "run_key": cfg0.key(), "step": 4000, "spec": identity(spec),
                              "result": result, "command": study_command(spec, "cpu", 0, 4000),
                              "provenance": migrated(old["_commit"], CPU_PROV, "results/cache/")})
    old_sweep = json.loads((pdir / "layer-sweep-step8600.json").read_text())
    spec = LayerSweep(layers=tuple(old_sweep["layers"]), timesteps=tuple(old_sweep["timesteps"]),
                      mode=old_sweep["mode"], seed=old_sweep["seed"], max_conditions=old_sweep["max_conditions"],
                      weights=old_sweep["weights"])
    cfgp = EXPERIMENTS["phases"].runs("paper")[phases_label(0)]
    p = study_path(spec, cfgp, 8600)
    atomic_write_json(p, {"schema": SCHEMA, "kind": spec.kind, "key": p.stem.rpartition("-")[2],
                          "run": run_dir(cfgp).name, "run_key": cfgp.key(), "step": 8600, "spec": identity(spec),
                          "result": {"rows": old_sweep["rows"]}, "command": study_command(spec, "paper", 0, 8600),
                          "provenance": migrated("a1f0004", PAPER_PROV, "results/paper-2c660a3bad/layer-sweep")})
    # --- remove what was migrated
    for src in list(moved) + [pdir]:
        shutil.rmtree(src.parent if src.parent != RES else src) if src != pdir else shutil.rmtree(pdir)
    shutil.rmtree(RES / "cache" / "robustness-layers-cpu-8e8c2ef393")
    for d in (RES / "cache").glob("robustness-*"):
        shutil.rmtree(d)
    print("migrated")


if __name__ == "__main__":
    main()
