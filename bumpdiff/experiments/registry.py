"""The study's named experiments: which training runs each one is, per profile, and how each run is analysed.

An :class:`Experiment` is a value: a name, a one-line description, the runs of a profile (``{label:
TrainConfig}``) and, per profile, an optional early-stop rule. Computing and reading their results is
:mod:`bumpdiff.store.results`; statistics over their runs, :mod:`bumpdiff.experiments.stats`.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace

from ..analysis.checkpoint import ANALYSIS_PROFILES, AnalysisConfig
from ..common.identity import key as identity_key
from ..core.train import TrainConfig
from ..core.train import profile as train_profile
from .stats import IMBALANCED_THRESHOLD, crossing

__all__ = ["Experiment", "EXPERIMENTS", "experiment", "experiment_runs", "EarlyStop", "SEEDS", "PHASES_LABEL",
           "phases_label", "IMBALANCED_LATTICES", "PROFILES", "ARCH_EXPERIMENTS", "phases_experiment", "TORUS_LABEL",
           "HOLDOUT_SQUARES"]

PROFILES = ("smoke", "cpu", "paper")
SEEDS = {"smoke": (0,), "cpu": (0, 1, 2), "paper": (0, 1, 2)}  # smoke: one seed keeps CI fast
# dx = dy ≈ √(32·32/10,240) ≈ 0.316 gives round(32/0.316)² = 101² = 10,201 images, size-matched to 10,240
IMBALANCED_LATTICES = {
    "imbalanced (dx=0.1, dy=1)": dict(dx=0.1, dy=1.0),
    "balanced (dx=dy=1)": dict(dx=1.0, dy=1.0),
    "balanced, size-matched (dx=dy=0.316)": dict(dx=0.316, dy=0.316),
}
PHASES_LABEL = "balanced (dx=dy=1)"  # `phases` runs are labelled f"{PHASES_LABEL} seed {seed}"
# CPU runs of the imbalanced experiment are shorter: at most this many steps, and each stops at the first
# checkpoint at which both axes have crossed IMBALANCED_THRESHOLD
IMBALANCED_STEPS = {"smoke": None, "cpu": 3000, "paper": None}


@dataclass(frozen=True)
class EarlyStop:
    """Stop a run at the first analysed checkpoint at which every ``keys`` value is ≥ ``threshold``."""

    threshold: float = IMBALANCED_THRESHOLD
    keys: tuple = ("acc_x", "acc_y")

    def reached(self, records: list[dict]) -> dict | None:
        """The first record at which every key has crossed the threshold (each possibly at an earlier one)."""
        firsts = [crossing(records, k, self.threshold) for k in self.keys]
        if any(f is None for f in firsts):
            return None
        last = max(f["step"] for f in firsts)
        return next(r for r in records if r["step"] == last)

    def describe(self) -> str:
        return f"stopped once {' and '.join(self.keys)} ≥ {self.threshold}"


@dataclass(frozen=True)
class Experiment:
    """A named set of training runs per profile, analysed with the profile's :data:`ANALYSIS_PROFILES` entry."""

    name: str
    description: str
    make_runs: Callable[[str], dict[str, TrainConfig]]
    early_stop: Mapping[str, EarlyStop] = field(default_factory=dict)

    def runs(self, profile: str) -> dict[str, TrainConfig]:
        if profile not in PROFILES:
            raise ValueError(f"profile must be one of {PROFILES}, got {profile!r}")
        return self.make_runs(profile)

    def stop_rule(self, profile: str) -> EarlyStop | None:
        return self.early_stop.get(profile)

    def analysis(self, profile: str) -> AnalysisConfig:
        return ANALYSIS_PROFILES[profile]

    def key(self, profile: str, analysis: AnalysisConfig | None = None) -> str:
        """The identity of the experiment's results: its runs' keys, the analysis key and the stop rule."""
        acfg = analysis or self.analysis(profile)
        return identity_key("experiment", self.name, {label: cfg.key() for label, cfg in self.runs(profile).items()},
                            acfg.key(), self.stop_rule(profile))


def phases_label(seed: int = 0) -> str:
    """The label of the `phases` run with training seed ``seed``."""
    return f"{PHASES_LABEL} seed {seed}"


def _phases(profile: str) -> dict[str, TrainConfig]:
    # one run per seed; these runs are also the balanced dx = dy = 1 control of `imbalanced` (trained once)
    base = train_profile(profile)
    return {phases_label(seed): replace(base, seed=seed) for seed in SEEDS[profile]}


def _phases_additive(profile: str) -> dict[str, TrainConfig]:
    # the same runs with the additive-embedding UNet (model module docstring): data, budget, seeds and analysis equal
    return {label: replace(cfg, model=replace(cfg.model, arch="additive")) for label, cfg in _phases(profile).items()}


TORUS_LABEL = "periodic (torus) seed 0"


def _torus(profile: str) -> dict[str, TrainConfig]:
    # one run: the first `phases` run with the canvas wrapped into a torus (data.Lattice.periodic); all else equal
    base = train_profile(profile)
    return {TORUS_LABEL: replace(base, name=f"{base.name}-torus", seed=SEEDS[profile][0],
                                 lattice=replace(base.lattice, periodic=True))}


# held-out squares (x0, y0, w) of centres, in pixels, on the 32-px canvas: two interior widths (interpolation) and a
# corner (extrapolation); the first is the main one (every seed), the others one seed each; smoke runs the main only
HOLDOUT_SQUARES = {"interior W=8": (12.0, 12.0, 8.0), "interior W=4": (14.0, 14.0, 4.0), "corner W=8": (0.0, 0.0, 8.0)}


def _holdout(profile: str) -> dict[str, TrainConfig]:
    base = train_profile(profile)
    out = {}
    for i, (label, square) in enumerate(HOLDOUT_SQUARES.items()):
        if profile == "smoke" and i:
            break
        for seed in SEEDS[profile] if i == 0 else SEEDS[profile][:1]:
            out[f"{label} seed {seed}"] = replace(base, name=f"{base.name}-holdout", seed=seed,
                                                  lattice=replace(base.lattice, holdout=square))
    return out


def _imbalanced(profile: str) -> dict[str, TrainConfig]:
    base = train_profile(profile)
    out = {}
    for label, lat in IMBALANCED_LATTICES.items():
        for seed in SEEDS[profile]:
            if replace(base.lattice, **lat) == base.lattice:
                cfg = replace(base, seed=seed)  # the `phases` configuration itself: its runs are shared
            else:
                cfg = replace(base, name=f"{base.name}-imb", seed=seed, lattice=replace(base.lattice, **lat))
                if IMBALANCED_STEPS[profile]:
                    cfg = replace(cfg, steps=IMBALANCED_STEPS[profile])
            out[f"{label} seed {seed}"] = cfg
    return out


EXPERIMENTS: dict[str, Experiment] = {
    "phases": Experiment("phases", "the balanced lattice, one run per seed, analysed at every checkpoint", _phases),
    "phases-additive": Experiment("phases-additive", "`phases` with the additive-embedding UNet (model.arch = "
                                  "'additive'), same data, seeds, budget and analysis", _phases_additive),
    "imbalanced": Experiment("imbalanced", "imbalanced lattice dx=0.1/dy=1 and two balanced controls, per seed",
                             _imbalanced, early_stop={"cpu": EarlyStop()}),
    "holdout": Experiment("holdout", "`phases` with a W × W square of centres never trained on (interior W = 8 and "
                          "4, a corner W = 8): is it generated, and is it filled in in the latent?", _holdout),
    "torus": Experiment("torus", "`phases` seed 0 on a periodic canvas (bumps wrap round the edges, so (μx, μy) "
                        "lives on a torus), for the topology study", _torus),
}


# the `phases` experiment of each architecture
ARCH_EXPERIMENTS = {"film": "phases", "additive": "phases-additive"}


def phases_experiment(arch: str = "film") -> str:
    """The name of the `phases` experiment run with architecture ``arch``."""
    if arch not in ARCH_EXPERIMENTS:
        raise ValueError(f"arch must be one of {sorted(ARCH_EXPERIMENTS)}, got {arch!r}")
    return ARCH_EXPERIMENTS[arch]


def experiment(name: str) -> Experiment:
    if name not in EXPERIMENTS:
        raise ValueError(f"experiment must be one of {sorted(EXPERIMENTS)}, got {name!r}")
    return EXPERIMENTS[name]


def experiment_runs(name: str, profile: str) -> dict[str, TrainConfig]:
    return experiment(name).runs(profile)


def experiment_seeds(name: str, profile: str) -> list[int]:
    """The training seeds of experiment ``name``'s runs under ``profile``, ascending, each once."""
    return sorted({cfg.seed for cfg in experiment(name).runs(profile).values()})
