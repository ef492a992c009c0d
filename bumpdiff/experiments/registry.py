"""The study's named experiments: which training runs each one is, per profile, and how each run is analysed.

An :class:`Experiment` is a value: a name, a one-line description, the runs of a profile (each a :class:`RunSpec`:
its group, seed and config) and, per profile, an optional early-stop rule. Computing and reading their results is
:mod:`bumpdiff.store.results`; statistics over their runs, :mod:`bumpdiff.experiments.stats`.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace

from ..analysis.specs import AnalysisConfig, StripeAnalysis
from ..common.identity import key as identity_key
from ..core.config import ModelConfig, TrainConfig
from ..core.lattice import Lattice
from ..core.stripes import StripeLattice, margin_for
from .profiles import get_profile
from .stats import IMBALANCED_THRESHOLD, crossing

__all__ = ["RunSpec", "Experiment", "EXPERIMENTS", "experiment", "experiment_runs", "EarlyStop", "PHASES_GROUP",
           "phases_label", "IMBALANCED_LATTICES", "ARCH_EXPERIMENTS", "phases_experiment", "TORUS_GROUP", "TORUS_LABEL",
           "HOLDOUT_SQUARES", "holdout_squares", "train_profile", "select_runs", "study_run", "experiment_seeds",
           "STRIPE_EXPERIMENTS", "COMPOSITION_GROUPS", "EFFICIENCY_CONDITIONS", "composition_band", "efficiency_group",
           "percolation_group", "experiments_of"]

# dx = dy ≈ √(32·32/10,240) ≈ 0.316 gives round(32/0.316)² = 101² = 10,201 images, size-matched to 10,240
IMBALANCED_LATTICES = {
    "imbalanced (dx=0.1, dy=1)": dict(dx=0.1, dy=1.0),
    "balanced (dx=dy=1)": dict(dx=1.0, dy=1.0),
    "balanced, size-matched (dx=dy=0.316)": dict(dx=0.316, dy=0.316),
}
PHASES_GROUP = "balanced (dx=dy=1)"  # the group of the `phases` runs


def train_profile(profile: str) -> TrainConfig:
    """The base training run of ``profile``, which every experiment's runs vary."""
    return get_profile(profile).train


@dataclass(frozen=True)
class RunSpec:
    """One run of an experiment: its ``group`` (what it varies, e.g. a lattice or a held-out square), its training
    ``seed`` and its ``config``. Its label, ``"<group> seed <seed>"``, names it in indexes and tables."""

    group: str
    seed: int
    config: TrainConfig

    def __post_init__(self):
        if self.seed != self.config.seed:
            raise ValueError(f"seed must be the config's training seed ({self.config.seed}), got {self.seed}")

    @staticmethod
    def label_for(group: str, seed: int) -> str:
        return f"{group} seed {seed}"

    @property
    def label(self) -> str:
        return self.label_for(self.group, self.seed)


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
    """A named set of training runs per profile, analysed with the profile's analysis."""

    name: str
    description: str
    make_runs: Callable[[str], list[RunSpec]]
    early_stop: Mapping[str, EarlyStop] = field(default_factory=dict)
    stripes: bool = False     # a stripes experiment: its runs train on stripes and are analysed by a StripeAnalysis

    def specs(self, profile: str) -> dict[str, RunSpec]:
        """``{label: RunSpec}`` of the runs of ``profile``, in the experiment's order."""
        get_profile(profile)   # an unknown profile is an error naming the profiles
        return {spec.label: spec for spec in self.make_runs(profile)}

    def runs(self, profile: str) -> dict[str, TrainConfig]:
        """``{label: config}`` of the runs of ``profile``."""
        return {label: spec.config for label, spec in self.specs(profile).items()}

    def stop_rule(self, profile: str) -> EarlyStop | None:
        return self.early_stop.get(profile)

    def analysis(self, profile: str) -> AnalysisConfig | StripeAnalysis:
        """The analysis of every analysed checkpoint: the profile's (a stripes experiment: its stripe study's)."""
        prof = get_profile(profile)
        if not self.stripes:
            return prof.analysis
        if prof.stripes is None:
            raise ValueError(f"profile must run the stripes study for experiment {self.name} (profiles that do: "
                             f"{[p for p in ('smoke', 'fast') if get_profile(p).stripes]}), got {profile!r}")
        return replace(prof.stripes.analysis, every=prof.stripes.every)

    def runs_at(self, profile: str) -> bool:
        """Whether the experiment has runs at ``profile`` (the stripes study runs where the profile sizes it)."""
        return not self.stripes or get_profile(profile).stripes is not None

    def key(self, profile: str, analysis: AnalysisConfig | None = None) -> str:
        """The identity of the experiment's results: its runs' keys, the analysis key and the stop rule."""
        analysis_cfg = analysis or self.analysis(profile)
        return identity_key("experiment", self.name, {label: cfg.key() for label, cfg in self.runs(profile).items()},
                            analysis_cfg.key(), self.stop_rule(profile))


def phases_label(seed: int = 0) -> str:
    """The label of the `phases` run with training seed ``seed``."""
    return RunSpec.label_for(PHASES_GROUP, seed)


def _phases(profile: str) -> list[RunSpec]:
    # one run per seed; these runs are also the balanced dx = dy = 1 control of `imbalanced` (trained once)
    base = train_profile(profile)
    return [RunSpec(PHASES_GROUP, seed, replace(base, seed=seed)) for seed in get_profile(profile).seeds]


def _phases_additive(profile: str) -> list[RunSpec]:
    # the same runs with the additive-embedding UNet (model module docstring): data, budget, seeds and analysis equal
    return [replace(spec, config=replace(spec.config, model=replace(spec.config.model, arch="additive")))
            for spec in _phases(profile)]


TORUS_GROUP = "periodic (torus)"
TORUS_LABEL = RunSpec.label_for(TORUS_GROUP, 0)


def _torus(profile: str) -> list[RunSpec]:
    # one run: the first `phases` run with the canvas wrapped into a torus (data.Lattice.periodic); all else equal
    base = train_profile(profile)
    cfg = replace(base, name=f"{base.name}-torus", seed=get_profile(profile).seeds[0],
                  lattice=replace(base.lattice, periodic=True))
    return [RunSpec(TORUS_GROUP, cfg.seed, cfg)]


# held-out squares of centres as fractions (x0, y0, w) of the canvas: two interior widths (interpolation) and a
# corner (extrapolation); the first is the main one (every seed), the others one seed each; smoke runs the main only.
# On the 32-px canvas they are (12, 12, 8), (14, 14, 4) and (0, 0, 8) pixels.
def holdout_squares(n: int = 32) -> dict[str, tuple[float, float, float]]:
    """``{group label: (x0, y0, w)}`` in pixels of the held-out squares on an ``n``-pixel canvas."""
    out = {}
    for kind, fr in HOLDOUT_SQUARES_FR:
        x0, y0, w = (f * n for f in fr)
        out[f"{kind} W={w:g}"] = (x0, y0, w)
    return out


HOLDOUT_SQUARES_FR = (("interior", (0.375, 0.375, 0.25)), ("interior", (0.4375, 0.4375, 0.125)),
                      ("corner", (0.0, 0.0, 0.25)))
HOLDOUT_SQUARES = holdout_squares(32)


def _holdout(profile: str) -> list[RunSpec]:
    base = train_profile(profile)
    seeds = get_profile(profile).seeds
    out = []
    for i, (group, square) in enumerate(holdout_squares(base.lattice.n).items()):
        if profile == "smoke" and i:
            break
        for seed in seeds if i == 0 else seeds[:1]:
            out.append(RunSpec(group, seed, replace(base, name=f"{base.name}-holdout", seed=seed,
                                                    lattice=replace(base.lattice, holdout=square))))
    return out


def _imbalanced(profile: str) -> list[RunSpec]:
    # CPU runs of the imbalanced lattices are capped (Profile.imbalanced_steps), and each stops at the first
    # checkpoint at which both axes have crossed IMBALANCED_THRESHOLD (the experiment's early stop)
    base, prof = train_profile(profile), get_profile(profile)
    out = []
    for group, lat in IMBALANCED_LATTICES.items():
        for seed in prof.seeds:
            if replace(base.lattice, **lat) == base.lattice:
                cfg = replace(base, seed=seed)  # the `phases` configuration itself: its runs are shared
            else:
                cfg = replace(base, name=f"{base.name}-imb", seed=seed, lattice=replace(base.lattice, **lat))
                if prof.imbalanced_steps:
                    cfg = replace(cfg, steps=prof.imbalanced_steps)
            out.append(RunSpec(group, seed, cfg))
    return out


# --- the follow-up's stripes study (core.stripes; docs/SPEC.md, "Stripes") ------------------------------------------

#: the composition conditions (their Figs. 4 and 10): which lattice each trains on
COMPOSITION_GROUPS = {"2-D SOS without the cross": "2d", "stripes + rim": "stripes+rim", "stripes": "stripes"}
#: the data-efficiency conditions (their Fig. 5): 2-D bumps alone, or with every 1-D stripe of the canvas
EFFICIENCY_CONDITIONS = {"bumps": "2d", "stripes + bumps": "stripes+2d"}


def composition_band(n: int) -> tuple[float, float]:
    """The held-out band in frame coordinates: window pixels [13/32·n, 19/32·n) (13–19 at 32 px, as the follow-up;
    6.5–9.5 at 16), shifted by the margin."""
    m = margin_for(n)
    return (m + 13 * n / 32, m + 19 * n / 32)


def _stripe_base(profile: str) -> TrainConfig:
    base = train_profile(profile)
    return replace(base, name=f"{base.name}-stripes")


def _composition(profile: str) -> list[RunSpec]:
    if get_profile(profile).stripes is None:
        return []
    base = _stripe_base(profile)
    lat = base.lattice
    # seed by seed, so that a partial study holds every condition
    return [RunSpec(group, seed, replace(base, seed=seed, stripes=StripeLattice(
                n=lat.n, sigma=lat.sigma, d=lat.dx, kind=kind, band=composition_band(lat.n))))
            for seed in get_profile(profile).seeds for group, kind in COMPOSITION_GROUPS.items()]


def efficiency_group(condition: str, n: int, kept: float, sigma: float = 1.0) -> str:
    return f"{condition} N={n} λ={kept:g}" + (f" σ={sigma:g}" if sigma != 1.0 else "")


def percolation_group(sigma: float, kept: float) -> str:
    return f"bumps σ={sigma:g} λ={kept:g}"


def _sized(base: TrainConfig, n: int, sigma: float) -> TrainConfig:
    """The base run on an ``n``-px canvas (μ's encoding spanning ~[0, 1000) of the window, as every profile)."""
    model = replace(base.model, image_size=n, mu_scale=1000.0 / n)
    return replace(base, name=f"{base.name.split('-')[0]}-stripes-eff", lattice=Lattice(n=n, sigma=sigma),
                   model=ModelConfig(**{f: getattr(model, f) for f in model.__dataclass_fields__}))


def _efficiency_run(profile: str, condition: str, n: int, kept: float, sigma: float, seed: int) -> TrainConfig:
    study = get_profile(profile).stripes
    base = _sized(train_profile(profile), n, sigma)
    # λ = 0 with stripes: the stripes alone (no 2-D example), the left end of the stripes + bumps curve
    kind = "stripes" if kept == 0 else EFFICIENCY_CONDITIONS[condition]
    st = StripeLattice(n=n, sigma=sigma, d=1.0, kind=kind, shape="bump", kept=kept or 1.0, seed=seed)
    return replace(base, seed=seed, stripes=st, steps=study.steps,
                   ckpt_every_early=study.steps // 10, ckpt_early_until=study.steps,
                   ckpt_every_late=study.steps // 10)


def _efficiency(profile: str) -> list[RunSpec]:
    study = get_profile(profile).stripes
    if study is None:
        return []
    # seed by seed, so that a partial study holds whole seeds; the largest canvas last within a seed. With stripes
    # the curve also starts at λ = 0 (the stripes alone): its smallest dataset may already pass the accuracy level
    return [RunSpec(efficiency_group(cond, n, kept), seed, _efficiency_run(profile, cond, n, kept, 1.0, seed))
            for seed in study.seeds for n in study.sizes for cond in EFFICIENCY_CONDITIONS
            for kept in ((0.0,) if cond == "stripes + bumps" else ()) + tuple(study.kept)]


def _percolation(profile: str) -> list[RunSpec]:
    study = get_profile(profile).stripes
    if study is None:
        return []
    n = train_profile(profile).lattice.n
    # σ = 1 at the base canvas is also a data-efficiency run when that canvas is one of its sizes: one folder for both
    return [RunSpec(percolation_group(sigma, kept), seed, _efficiency_run(profile, "bumps", n, kept, sigma, seed))
            for seed in study.seeds[:1] for sigma in study.sigmas for kept in study.kept]


EXPERIMENTS: dict[str, Experiment] = {
    "phases": Experiment("phases", "the balanced lattice, one run per seed, analysed at every checkpoint", _phases),
    "phases-additive": Experiment("phases-additive", "`phases` with the additive-embedding UNet (model.arch = "
                                  "'additive'), same data, seeds, budget and analysis", _phases_additive),
    "imbalanced": Experiment("imbalanced", "imbalanced lattice dx=0.1/dy=1 and two balanced controls, per seed",
                             _imbalanced, early_stop={"cpu": EarlyStop(), "fast": EarlyStop()}),
    "holdout": Experiment("holdout", "`phases` with a W × W square of centres never trained on (interior W = 1/4 and "
                          "1/8 of the canvas, a corner W = 1/4; 8, 4 and 8 px at 32 px): is it generated, and is it "
                          "filled in in the latent?", _holdout),
    "torus": Experiment("torus", "`phases` seed 0 on a periodic canvas (bumps wrap round the edges, so (μx, μy) "
                        "lives on a torus), for the topology study", _torus),
    "stripes-composition": Experiment(
        "stripes-composition", "the follow-up's composition test: 2-D SOS without a held-out cross, 1-D stripes with a "
        "rim of 2-D SOS, 1-D stripes alone; is the cross generated?", _composition, stripes=True),
    "stripes-efficiency": Experiment(
        "stripes-efficiency", "the follow-up's data efficiency: 2-D bumps alone or with every 1-D stripe, kept "
        "fraction "
        "λ of the 2-D lattice × image size N, equal images seen", _efficiency, stripes=True),
    "stripes-percolation": Experiment(
        "stripes-percolation", "2-D bumps at three widths σ × kept fraction λ on the base canvas, beside the "
        "percolation model", _percolation, stripes=True),
}
#: the stripes study's experiments, in the order they are run
STRIPE_EXPERIMENTS = ("stripes-composition", "stripes-efficiency", "stripes-percolation")


def experiments_of(profile: str) -> list[str]:
    """The experiments that have runs at ``profile``, in registry order."""
    return [name for name, exp in EXPERIMENTS.items() if exp.runs_at(profile)]


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


def select_runs(name: str, profile: str, seeds=None, runs=None) -> list[str]:
    """The labels of the runs of ``name``/``profile`` that ``seeds`` and ``runs`` (labels) both allow; a seed or label
    that names no run is an error listing the ones there are."""
    specs = experiment(name).specs(profile)
    labels = list(specs)
    if seeds is not None:
        have = sorted({spec.seed for spec in specs.values()})
        bad = [s for s in seeds if s not in have]
        if bad or not seeds:
            raise ValueError(f"seeds must name runs of {name}/{profile} (seeds {have}), got {list(seeds)}")
    if runs is not None:
        bad = [r for r in runs if r not in labels]
        if bad or not runs:
            raise ValueError(f"runs must be labels of {name}/{profile} ({'; '.join(labels)}), got {list(runs)}")
    return [x for x, spec in specs.items()
            if (seeds is None or spec.seed in set(seeds)) and (runs is None or x in runs)]


def study_run(name: str, profile: str, run_seed: int = 0) -> TrainConfig:
    """The run of experiment ``name`` (profile ``profile``) with training seed ``run_seed`` that tracked studies
    read; its experiment must hold exactly one such run."""
    runs = [cfg for cfg in experiment(name).runs(profile).values() if cfg.seed == run_seed]
    if len(runs) != 1:
        raise ValueError(f"run_seed must pick one run of {name}/{profile} (its seeds: "
                         f"{experiment_seeds(name, profile)}), got {run_seed}")
    return runs[0]
