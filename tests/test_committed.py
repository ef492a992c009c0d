"""The committed results of this repository: all load (read-only), carry provenance, survive a new config field
at its default, and the documentation generated from them is up to date."""
import dataclasses
import re
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest

from bumpdiff.analysis.robustness import LayerSweep
from bumpdiff.common import paths
from bumpdiff.common.identity import added
from bumpdiff.core.model import ModelConfig
from bumpdiff.core.train import TrainConfig
from bumpdiff.experiments import registry as experiments
from bumpdiff.experiments.profiles import get_profile
from bumpdiff.experiments.registry import EXPERIMENTS, phases_label
from bumpdiff.store.results import load_experiment
from bumpdiff.store.robustness_cache import load_study

ROOT = Path(__file__).resolve().parents[1]
COMMITTED = [("phases", "cpu", False), ("phases-additive", "cpu", True), ("imbalanced", "cpu", False),
             ("phases", "paper", True)]


def _load_all():
    out = {}
    for name, profile, partial in COMMITTED:
        out[(name, profile)] = load_experiment(name, profile, allow_partial=partial, quiet=True)
    studies = [load_study(s, "cpu", quiet=True) for s in get_profile("cpu").robustness]
    studies.append(load_study(LayerSweep(timesteps=(100, 300, 500, 700)), "paper", step=8600, quiet=True))
    return out, studies


def test_every_committed_result_loads_and_carries_provenance():
    results, studies = _load_all()
    assert len(results[("phases", "cpu")]) == 3 and len(results[("imbalanced", "cpu")]) == 9
    for runs in results.values():
        for bundle, arrays in runs.values():
            for p in bundle["provenance"] + [bundle["training_provenance"]]:
                assert p["commit"] and p["device"] and p["versions"]["torch"]
            assert arrays and bundle["checkpoints"]
    for s in studies:
        assert s["provenance"]["commit"] and s["provenance"]["versions"]["torch"]


def test_a_new_config_field_at_its_default_leaves_committed_results_loadable(monkeypatch):
    before, _ = _load_all()
    # a new model field and a new training field, both added at their default, in every config the experiments build
    model_plus = dataclasses.make_dataclass("ModelConfig", [("norm", str, added("group"))], bases=(ModelConfig,),
                                            frozen=True)
    train_plus = dataclasses.make_dataclass("TrainConfig", [("label_smoothing", float, added(0.0))],
                                            bases=(TrainConfig,), frozen=True)
    real = experiments.train_profile

    def grown(profile):
        cfg = real(profile)
        m = model_plus(**{f.name: getattr(cfg.model, f.name) for f in dataclasses.fields(ModelConfig)})
        return train_plus(**{f.name: getattr(cfg, f.name) for f in dataclasses.fields(TrainConfig)} | {"model": m})
    monkeypatch.setattr(experiments, "train_profile", grown)
    assert type(EXPERIMENTS["phases"].runs("cpu")[phases_label(0)]).__name__ == "TrainConfig"
    assert hasattr(EXPERIMENTS["phases"].runs("cpu")[phases_label(0)], "label_smoothing")
    after, _ = _load_all()
    assert {k: list(v) for k, v in after.items()} == {k: list(v) for k, v in before.items()}


def test_a_result_changing_edit_makes_committed_results_stale(monkeypatch):
    real = experiments.train_profile
    monkeypatch.setattr(experiments, "train_profile", lambda p: replace(real(p), lr=real(p).lr * 2))
    with pytest.raises(LookupError, match="stale results.*python -m bumpdiff reproduce phases --profile cpu"):
        load_experiment("phases", "cpu", quiet=True)


def test_generated_results_document_is_up_to_date():
    from bumpdiff.app.report import render_report
    assert (paths.docs_dir() / "RESULTS.md").read_text() == render_report(), \
        "docs/RESULTS.md is out of date: run `python -m bumpdiff report`"


def test_the_readme_findings_are_what_the_committed_bundles_give():
    from bumpdiff.app.findings import update_readme
    path, changed = update_readme(check=True)
    assert not changed, f"{path}'s findings table is out of date: run `python -m bumpdiff report`"


def test_no_tracked_file_points_outside_the_repository():
    # the brief beside the checkout, its specification file, and issue numbers of a tracker a clone does not have
    outside = re.compile(r"\.\./shared|PAPER\.md|[Ii]ssue [0-9]+")
    files = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    bad = [f for f in files if (ROOT / f).is_file() and not f.startswith(".ci/")
           and (ROOT / f).suffix in (".py", ".md", ".ipynb", ".toml", ".yml", ".txt", ".json", "")
           and outside.search((ROOT / f).read_text(errors="ignore"))]
    assert not bad, f"files that refer to something outside the repository: {bad}"


def test_committed_tracked_studies_and_retrain_load_with_provenance():
    """The cpu studies tracked over training (Figures 7-9) load read-only, each from beside the analysis bundle of
    the same weights, and the retrain is comparable with the committed run it repeats."""
    from bumpdiff.experiments.stats import compare_bundles
    from bumpdiff.store.bundles import load_bundle
    from bumpdiff.store.tracking import bundle_beside, load_tracked_study
    for kind, arch in (("commitment", "film"), ("spectrum", "film"), ("atlas", "film"), ("atlas", "additive")):
        data = load_tracked_study(kind, "cpu", quiet=True, arch=arch)
        assert data["provenance"] and all(p["commit"] and p["versions"]["torch"] for p in data["provenance"])
        bundle, _ = bundle_beside(data, "cpu")
        analysed = {r["step"] for r in bundle["checkpoints"]}
        assert {int(s) for s in data["checkpoints"]} <= analysed
    retrains = sorted((paths.results_dir() / "retrains").glob("*/analysis-*"))
    assert retrains
    for path in retrains:
        b2, _ = load_bundle(path)
        committed = paths.results_dir() / b2["run"] / path.name
        if not committed.exists():   # a read-out computed only on the retrain's weights: nothing to compare with
            assert b2["analysis"].get("noise") == "independent", path
            continue
        b1, _ = load_bundle(committed)
        c = compare_bundles(b1, b2)
        both = sorted({r["step"] for r in b1["checkpoints"]} & {r["step"] for r in b2["checkpoints"]})
        assert c["steps"][0] == 0 and c["steps"] == both   # compared over every checkpoint both analysed


def test_the_specs_phase_a_outcome_is_what_the_committed_read_outs_give():
    from bumpdiff.experiments.registry import ARCH_EXPERIMENTS, experiment_seeds
    from bumpdiff.experiments.stats import initial_order, shows_phase_a
    from bumpdiff.store.readouts import READOUTS, load_readouts
    archs = ("additive", "film")
    rows = initial_order({arch: load_readouts(ARCH_EXPERIMENTS[arch], "cpu") for arch in archs})
    seeds = experiment_seeds("phases", "cpu")
    verdicts = {noise: shows_phase_a(rows, noise, archs, seeds) for noise in READOUTS}
    ordered = {(noise, arch): sum(r["arch"] == arch for r in v["ordered"]) for noise, v in verdicts.items()
               for arch in archs}
    assert all(v["runs"] == v["expected"] == 6 for v in verdicts.values())
    assert not verdicts["shared"]["passes"] and not verdicts["independent"]["passes"]
    assert ordered == {("independent", "film"): 0, ("independent", "additive"): 2, ("shared", "additive"): 3,
                       ("shared", "film"): 2}
    assert all(r["latent_call"] == "A" for r in rows)
    spec = " ".join((paths.docs_dir() / "SPEC.md").read_text().split())
    for claim in ("**neither read-out passes.**", "no order at layer 4 in any seed (0 of 3)",
                  "ordered in 2 of its 3 seeds", "(`additive` 3 of 3, `film` 2 of 3)", "keep `shared`",
                  "every run is called A at step 0 under both read-outs"):
        assert claim in spec, claim
