"""Identity keys: what changes a result changes its key; execution fields and added fields at their neutral
value do not; the frozen schema-1 field lists guard against undeclared new fields."""
import dataclasses
import re
from dataclasses import replace

import pytest

from bumpdiff.analysis.atlas import Atlas
from bumpdiff.analysis.checkpoint import AnalysisConfig
from bumpdiff.analysis.commitment import Commitment, Spectrum
from bumpdiff.analysis.robustness import LayerSweep, SamplerComparison
from bumpdiff.analysis.specs import StripeAnalysis
from bumpdiff.analysis.topology import Topology
from bumpdiff.common.identity import SCHEMA_FIELDS, added, identity, key
from bumpdiff.core.data import Lattice
from bumpdiff.core.diffusion import DiffusionConfig
from bumpdiff.core.model import ModelConfig
from bumpdiff.core.stripes import StripeLattice
from bumpdiff.core.train import TrainConfig
from bumpdiff.experiments.profiles import PROFILE_NAMES, get_profile
from bumpdiff.experiments.registry import EXPERIMENTS, EarlyStop, RunSpec

CONFIGS = [TrainConfig, Lattice, StripeLattice, StripeAnalysis, ModelConfig, DiffusionConfig, AnalysisConfig, EarlyStop,
           LayerSweep, SamplerComparison, Atlas, Commitment, Spectrum, Topology]


def test_execution_fields_do_not_change_a_key():
    cfg = get_profile("cpu").train
    for change in (dict(device="cuda"), dict(threads=7), dict(log_every=3), dict(save_every=9), dict(name="other")):
        assert replace(cfg, **change).key() == cfg.key(), change
    a = get_profile("cpu").analysis
    assert replace(a, every=5).key() == a.key()


def test_every_result_changing_field_changes_a_key():
    cfg = get_profile("cpu").train
    for change in (dict(seed=1), dict(lr=3e-4), dict(steps=10), dict(precision="fp32"),
                   dict(lattice=replace(cfg.lattice, dx=0.5)), dict(model=replace(cfg.model, arch="additive")),
                   dict(lattice=replace(cfg.lattice, periodic=True))):
        assert replace(cfg, **change).key() != cfg.key(), change
    a = get_profile("cpu").analysis
    assert replace(a, t=300).key() != a.key() and replace(a, n_samples=8).key() != a.key()
    assert replace(a, noise="independent").key() != a.key()
    assert replace(Atlas(), noise="independent").key() != Atlas().key()


def test_the_shared_read_out_keeps_the_committed_keys():
    # the noise field was added with the shared read-out as its neutral value: the committed cpu analysis and atlas
    assert get_profile("cpu").analysis.noise == "shared" and get_profile("cpu").analysis.key() == "05a7935b01"
    assert replace(get_profile("cpu").analysis, noise="shared").key() == "05a7935b01"
    with pytest.raises(ValueError, match="noise"):
        AnalysisConfig(noise="per-row")


def test_an_added_field_is_neutral_only_at_its_declared_value():
    base = dataclasses.make_dataclass("Thing", [("a", int, 1)], frozen=True)
    grown = dataclasses.make_dataclass("Thing", [("a", int, 1), ("b", str, added("old"))], frozen=True)
    assert key("x", grown()) == key("x", base())
    assert key("x", grown(b="new")) != key("x", base())
    # changing the default later does not move the neutral value: old and new defaults never share a key
    moved = dataclasses.make_dataclass("Thing", [("a", int, 1), ("b", str, added("new", neutral="old"))], frozen=True)
    assert key("x", moved()) != key("x", base()) and key("x", moved(b="old")) == key("x", base())


@pytest.mark.parametrize("cls", CONFIGS, ids=lambda c: c.__name__)
def test_every_new_field_is_declared(cls):
    for f in dataclasses.fields(cls):
        if f.name not in SCHEMA_FIELDS[cls.__name__]:
            assert f.metadata.get("bumpdiff_role") in ("added", "execution"), (
                f"{cls.__name__}.{f.name} is not a schema-1 field: declare it with identity.added(...) (or "
                "identity.execution(...)) so that existing keys stay valid")


@pytest.mark.parametrize("cls", CONFIGS, ids=lambda c: c.__name__)
def test_adding_a_field_at_its_default_leaves_the_identity_unchanged(cls):
    grown = dataclasses.make_dataclass(cls.__name__, [("brand_new", float, added(0.5))], bases=(cls,), frozen=True)
    obj = cls()
    assert identity(grown(**{f.name: getattr(obj, f.name) for f in dataclasses.fields(cls)})) == identity(obj)


def test_the_additive_experiment_is_phases_with_only_the_architecture_changed():
    from bumpdiff.experiments.registry import EXPERIMENTS, phases_experiment
    for profile in PROFILE_NAMES:
        film, additive = EXPERIMENTS["phases"].runs(profile), EXPERIMENTS["phases-additive"].runs(profile)
        assert list(film) == list(additive)
        for label, cfg in additive.items():
            assert cfg.model.arch == "additive" and replace(cfg, model=replace(cfg.model, arch="film")) == film[label]
            assert cfg.key() != film[label].key()  # a result of one architecture is never read as the other's
        assert EXPERIMENTS["phases-additive"].analysis(profile) == EXPERIMENTS["phases"].analysis(profile)
    assert phases_experiment("film") == "phases" and phases_experiment("additive") == "phases-additive"
    with pytest.raises(ValueError, match="arch must be one of"):
        phases_experiment("unet")


def test_the_torus_experiment_is_the_first_phases_run_with_only_the_canvas_wrapped():
    from bumpdiff.experiments.registry import EXPERIMENTS, TORUS_LABEL, phases_label
    for profile in PROFILE_NAMES:
        (label, cfg), = EXPERIMENTS["torus"].runs(profile).items()
        first = EXPERIMENTS["phases"].runs(profile)[phases_label(0)]
        assert label == TORUS_LABEL and cfg.lattice.periodic
        assert replace(cfg, lattice=replace(cfg.lattice, periodic=False), name=first.name) == first
        assert cfg.key() != first.key()
    assert "periodic" not in identity(get_profile("cpu").train.lattice)  # at its neutral value: no key changes


def test_every_run_is_a_value_whose_label_is_derived_from_it():
    for exp in EXPERIMENTS.values():
        for profile in PROFILE_NAMES:
            for label, spec in exp.specs(profile).items():
                assert label == spec.label == f"{spec.group} seed {spec.seed}" and spec.config.seed == spec.seed
                assert exp.runs(profile)[label] == spec.config
    with pytest.raises(ValueError, match="seed must be the config's training seed"):
        RunSpec("balanced (dx=dy=1)", 1, get_profile("smoke").train)


def test_one_profile_per_name_holds_every_size_and_unknown_names_are_errors():
    for name in PROFILE_NAMES:
        prof = get_profile(name)
        assert prof.name == name == prof.train.name and prof.seeds and set(prof.studies) >= {"atlas", "topology"}
        assert EXPERIMENTS["phases"].analysis(name) == prof.analysis
        assert [cfg.seed for cfg in EXPERIMENTS["phases"].runs(name).values()] == list(prof.seeds)
    with pytest.raises(ValueError, match=re.escape(f"profile must be one of {list(PROFILE_NAMES)}, got 'gpu'")):
        EXPERIMENTS["phases"].runs("gpu")
    assert get_profile("smoke").train_config("steps=7", seed=2) == replace(get_profile("smoke").train, steps=7, seed=2)

