"""Shipped weights: chosen by the phase call, half precision, no pickle, and they reproduce committed numbers."""
import json
from itertools import groupby
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from bumpdiff.common import paths
from bumpdiff.store.weights import MAX_FILE_BYTES, PretrainedMissing, choose_checkpoints

SHIPPED = sorted((paths.PACKAGE_DIR.parent / "data" / "pretrained").glob("*/manifest.json"))


@given(st.lists(st.tuples(st.sampled_from("ABC"), st.sampled_from("ABC")), min_size=1, max_size=40))
def test_one_checkpoint_per_phase_both_calls_agree_on_then_the_final_one(calls):
    records = [{"step": 100 * i, "phase": c, "phase_generation": g} for i, (c, g) in enumerate(calls)]
    chosen = choose_checkpoints(records[::-1])                   # order of the input does not matter
    labels = [lab for lab, _ in chosen]
    agreed = [c for c, g in calls if c == g]
    assert labels == sorted(set(agreed)) + ["final"]             # each phase both calls reach, once, in order
    assert chosen[-1][1]["step"] == records[-1]["step"]
    for lab, rec in chosen[:-1]:
        # never labelled with a phase either call contradicts
        assert rec["phase"] == lab and rec["phase_generation"] == lab
        # the middle of the earliest longest stretch where both calls say lab
        stretches, start = [], 0
        for ok, g in groupby(c == g == lab for c, g in calls):
            n = len(list(g))
            if ok:
                stretches.append((start, n))
            start += n
        s0, n = max(stretches, key=lambda s: (s[1], -s[0]))
        assert rec["step"] // 100 == s0 + (n - 1) // 2


def test_choose_checkpoints_needs_records():
    with pytest.raises(ValueError, match="records"):
        choose_checkpoints([])


@pytest.mark.slow
def test_export_and_load_round_trip(home, smoke_run):
    import torch
    from safetensors.torch import load_file

    import bumpdiff
    from bumpdiff.core.train import load_model
    from bumpdiff.experiments.profiles import get_profile
    from bumpdiff.store.compute_bundle import analyze
    from bumpdiff.store.weights import export, reference_check, shipped
    cfg = get_profile("smoke").train
    run_path = smoke_run
    bundle = analyze(run_path, "smoke", progress=False)
    dest = export(run_path, bundle)
    files = sorted(dest.glob("*.safetensors"))
    first = [f.read_bytes() for f in files]
    for _ in range(3):                                  # the same weights are the same bytes at every export
        export(run_path, bundle)
        assert [f.read_bytes() for f in files] == first
    m = shipped("smoke")
    assert dest == home / "data" / "pretrained" / "smoke-film-seed0" and m["run_key"] == cfg.key()
    for e in m["checkpoints"]:
        f = dest / e["file"]
        assert f.stat().st_size < MAX_FILE_BYTES
        assert all(v.dtype == torch.float16 for v in load_file(f).values())      # half precision, no pickle
    d, e = bumpdiff.pretrained("smoke", phase="final", info=True)
    ref, _ = load_model(run_path / f"ckpt_{e['step']:07d}.pt")
    for (k, a), b in zip(d.state_dict().items(), ref.state_dict().values()):
        assert a.dtype == torch.float32 and torch.allclose(a, b, rtol=2 ** -10, atol=1e-7), k
    got = reference_check(d, m)
    assert got["knn_r2_x"] == pytest.approx(e["reference"]["knn_r2_x"], abs=0.02)
    with pytest.raises(PretrainedMissing, match="phase must be one of"):
        bumpdiff.pretrained("smoke", phase="Z")
    with pytest.raises(PretrainedMissing, match="shipped sets: \\['smoke-film-seed0'\\]"):
        bumpdiff.pretrained("paper")
    # a file that does not match its manifest is refused
    (dest / e["file"]).write_bytes((dest / e["file"]).read_bytes()[:-2] + b"\0\0")
    with pytest.raises(ValueError, match="does not match its manifest"):
        bumpdiff.pretrained("smoke", phase="final")


def test_the_final_weights_carry_their_accuracy_under_each_sampler(home, smoke_run):
    """The analysis measures with one sampler; a samplers study of the final checkpoint, when given, puts the final
    weights' accuracy under every sampler into the manifest and its README, and one of another step is refused."""
    import json

    from bumpdiff.analysis.specs import SamplerComparison
    from bumpdiff.analysis.studies import run_study
    from bumpdiff.core.train import load_model
    from bumpdiff.experiments.profiles import get_profile
    from bumpdiff.store.bundles import load_bundle
    from bumpdiff.store.compute_bundle import analyze
    from bumpdiff.store.weights import export
    cfg = get_profile("smoke").train
    bundle = analyze(smoke_run, "smoke", progress=False)
    last = load_bundle(bundle)[0]["checkpoints"][-1]["step"]
    diff, _ = load_model(smoke_run / f"ckpt_{last:07d}.pt")
    spec = SamplerComparison(samplers=(("DDPM", "ddpm", 0, 0.0), ("DDIM 5", "ddim", 5, 0.0)), n=4)
    study = {"run_key": cfg.key(), "step": last, "command": "the study's command",
             "result": run_study(spec, diff, cfg, progress=False)}
    with pytest.raises(ValueError, match="samplers must be a study of this run's final step"):
        export(smoke_run, bundle, samplers=dict(study, step=last - 10))
    dest = export(smoke_run, bundle, samplers=study)
    final = next(e for e in json.loads((dest / "manifest.json").read_text())["checkpoints"] if e["label"] == "final")
    assert final["samplers"]["n"] == 4 and set(final["samplers"]["results"]) == {"DDPM", "DDIM 5"}
    acc = final["samplers"]["results"]["DDPM"]["accuracy"]
    assert f"DDPM: accuracy {acc:.3f}" in (dest / "README.md").read_text()


def test_a_shipped_set_is_committed():
    assert SHIPPED, "no shipped weights under data/pretrained (python -m bumpdiff ship RUN --bundle BUNDLE)"


@pytest.mark.parametrize("manifest", SHIPPED, ids=lambda p: p.parent.name)
def test_shipped_weights_match_their_committed_bundle(manifest):
    """Every shipped checkpoint is a record of the committed bundle the manifest names (same step, same numbers),
    every phase label agrees with that record's call, and every file is small and hashes as listed."""
    from bumpdiff.common.files import file_sha256
    from bumpdiff.store.bundles import load_bundle
    from bumpdiff.store.weights import REFERENCE_FIELDS
    m = json.loads(manifest.read_text())
    b, _ = load_bundle(paths.root() / m["bundle"], recall_phases=False)
    assert b["run_key"] == m["run_key"] and b["analysis_key"] == m["analysis_key"]
    recs = {r["step"]: r for r in b["checkpoints"]}
    assert [e["label"] for e in m["checkpoints"]][-1] == "final" and m["checkpoints"][-1]["step"] == max(recs)
    for e in m["checkpoints"]:
        rec = recs[e["step"]]
        assert e["label"] == "final" or e["label"] == rec[m["call"]] == rec[m["agree"]]
        assert e["reference"] == {k: rec[k] for k in REFERENCE_FIELDS if k in rec}
        f = manifest.parent / e["file"]
        assert f.stat().st_size < MAX_FILE_BYTES and file_sha256(f) == e["sha256"]


@pytest.mark.slow
@pytest.mark.parametrize("manifest", SHIPPED, ids=lambda p: p.parent.name)
def test_shipped_weights_reproduce_the_committed_numbers(manifest):
    """Loaded from float16, the final checkpoint gives the committed bundle's order parameters and accuracy up
    to what half precision moves (measured: well inside these bounds)."""
    import bumpdiff
    from bumpdiff.analysis.generation import sample_and_score
    from bumpdiff.core.diffusion import as_sampler
    from bumpdiff.core.train import TrainConfig
    from bumpdiff.store.weights import reference_check
    m = json.loads(manifest.read_text())
    d, e = bumpdiff.pretrained(m["profile"], phase="final", arch=m["arch"], seed=m["seed"], info=True)
    ref = e["reference"]
    got = reference_check(d, m)
    assert got["knn_r2_x"] == pytest.approx(ref["knn_r2_x"], abs=0.01)
    assert got["knn_r2_y"] == pytest.approx(ref["knn_r2_y"], abs=0.01)
    assert got["intrinsic_dim"] == pytest.approx(ref["intrinsic_dim"], abs=0.1)
    assert got["trustworthiness"] == pytest.approx(ref["trustworthiness"], abs=0.01)
    a = m["analysis"]
    cfg = TrainConfig.from_dict(m["config"])
    sc, _ = sample_and_score(d, cfg.lattice.centers(), a["n_samples"], seed=a["seed"],
                             sampler=as_sampler(a["sampler"], a["sampler_steps"], a["eta"]), tol=a["tol"])
    assert abs(sc.accuracy - ref["accuracy"]) <= 4 / a["n_samples"] + 1e-9   # at most 4 of 256 samples change verdict
    assert np.isfinite(sc.accuracy) and Path(manifest).exists()


@pytest.mark.slow
def test_a_retrain_ships_without_the_samplers_study_of_the_runs_own_weights(home, smoke_run, capsys):
    """A retrain shares its run's key and steps but not its weights, so the stored samplers study (keyed by run and
    step) is not about them: shipped from a retrain's bundle the final weights carry no samplers numbers, and say
    why; shipped from the run's own bundle they carry the study's, only while it is the study of that very
    checkpoint file (a study stored before it recorded its checkpoint's sha256 is trusted to the run's own bundle)."""
    import shutil

    from bumpdiff.app.cli import main
    from bumpdiff.core.train import list_checkpoints
    from bumpdiff.experiments.profiles import get_profile
    from bumpdiff.store.compute_bundle import analyze
    from bumpdiff.store.compute_robustness import compute_study
    from bumpdiff.store.weights import own_bundle, shipped
    bundle = analyze(smoke_run, "smoke", progress=False)
    last = list_checkpoints(smoke_run)[-1][0]
    compute_study(get_profile("smoke").samplers, "smoke", step=last, progress=False)   # the run's own study
    retrain = home / "data" / "results" / "retrains" / f"{smoke_run.name}-retrain1" / bundle.name
    shutil.copytree(bundle, retrain)
    assert own_bundle(smoke_run, bundle) and not own_bundle(smoke_run, retrain)
    capsys.readouterr()
    main(["ship", str(smoke_run), "--bundle", str(retrain)])
    assert "samplers" not in shipped("smoke")["checkpoints"][-1]
    assert "is not in the run's own results folder (a retrain)" in capsys.readouterr().err
    main(["ship", str(smoke_run), "--bundle", str(bundle)])
    final = shipped("smoke")["checkpoints"][-1]
    assert final["step"] == last and final["samplers"]["n"] == 16
    assert "DDPM (all T steps)" in final["samplers"]["results"]
    # a study that records another checkpoint than the run's is not shipped with it
    study = next((home / "data" / "results" / "cache" / "samplers" / smoke_run.name).glob("*.json"))
    measured = json.loads(study.read_text())
    study.write_text(json.dumps(measured | {"checkpoint_sha256": "0" * 64}))
    capsys.readouterr()
    main(["ship", str(smoke_run), "--bundle", str(bundle)])
    assert "samplers" not in shipped("smoke")["checkpoints"][-1]
    assert f"it measured another checkpoint at step {last}" in capsys.readouterr().err
    study.write_text(json.dumps({k: v for k, v in measured.items() if k != "checkpoint_sha256"}))   # an older study
    main(["ship", str(smoke_run), "--bundle", str(bundle)])
    assert shipped("smoke")["checkpoints"][-1]["samplers"]["n"] == 16
