"""The four profiles, each one value in one place: everything a profile sizes, and nothing else.

A :class:`Profile` holds the base training run, the analysis of every checkpoint, the seeds, the studies tracked
over training and the robustness studies of that profile. Every other setting is shared: it is the dataclasses'
default, and those defaults are the paper's where it states them and the study's adopted ones where it does not
(its model and schedule; AdamW at lr 2e-4, batch 128, with an EMA). Each value below that differs from the paper's
default says why, on its line.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

from ..analysis.specs import (
    NOISE,
    AnalysisConfig,
    Atlas,
    Commitment,
    LayerSweep,
    SamplerComparison,
    Spectrum,
    StripeAnalysis,
    Topology,
)
from ..core.config import DiffusionConfig, ModelConfig, TrainConfig
from ..core.lattice import Lattice
from ..core.overrides import apply_overrides

__all__ = ["Profile", "StripeStudy", "PROFILES", "PROFILE_NAMES", "get_profile", "TRACKED_KINDS", "CALIBRATED_READOUTS"]

#: the studies every profile tracks over training, in this order
TRACKED_KINDS = ("atlas", "commitment", "spectrum", "topology")
#: the read-outs of the calibrated analysis: one noise image for all, each its own, and the trial-averaged mean
CALIBRATED_READOUTS = ("shared", "independent", "mean")


@dataclass(frozen=True)
class StripeStudy:
    """The sizes of the follow-up's stripes study (experiments.registry: `stripes-*`). Composition trains the
    profile's base run on stripes; data efficiency and percolation train on `sizes` × `kept` at an equal budget of
    `steps` × the base batch (images seen) each."""

    analysis: StripeAnalysis             # every analysed checkpoint of every stripes run
    sizes: tuple[int, ...]               # data efficiency: image sizes N (multiples of 8)
    kept: tuple[float, ...]              # data efficiency and percolation: kept fractions λ of the 2-D lattice
    sigmas: tuple[float, ...]            # percolation: bump widths at the base canvas
    steps: int                           # data efficiency and percolation: steps per run (equal images seen)
    seeds: tuple[int, ...]               # data efficiency and percolation seeds
    every: int                           # analyse every k-th checkpoint (and the last)


@dataclass(frozen=True)
class Profile:
    """What one profile name means: the sizes of its runs, analyses and studies."""

    name: str
    purpose: str                         # one line: what the profile is for
    train: TrainConfig                   # the base run; experiments vary it (experiments.registry)
    analysis: AnalysisConfig             # the analysis of every analysed checkpoint
    seeds: tuple[int, ...]               # the training seeds of every experiment with one run per seed
    imbalanced_steps: int | None         # the imbalanced experiment's step cap (None: the base run's steps)
    layer_sweep: LayerSweep              # Figure 6, left
    samplers: SamplerComparison          # Figure 6, right
    studies: Mapping[str, object]        # the tracked studies, {kind: spec} for every kind of TRACKED_KINDS
    readouts: tuple[str, ...]            # the latent read-outs (analysis noise) every checkpoint is analysed under
    # the analysis with the calibrated instruments (the sampler chosen against DDPM-1000, `calibrate sampler`), under
    # which the paper's central claim is decided again, every read-out of CALIBRATED_READOUTS; None: not calibrated
    calibrated: AnalysisConfig | None = None
    # the follow-up's stripes study at this profile (None: not run here)
    stripes: StripeStudy | None = None

    def __post_init__(self):
        if tuple(self.studies) != TRACKED_KINDS:
            raise ValueError(f"studies must give {TRACKED_KINDS} in this order, got {tuple(self.studies)}")
        if not self.readouts or self.analysis.noise not in self.readouts or not set(self.readouts) <= set(NOISE):
            raise ValueError(f"readouts must be values of {NOISE} that include the analysis's noise "
                             f"({self.analysis.noise!r}), got {self.readouts}")

    def train_config(self, *overrides: str, **kw) -> TrainConfig:
        """The base run with ``key=value`` overrides (``lattice.dx=0.1``) and/or keyword replacements."""
        cfg = apply_overrides(self.train, overrides)
        return replace(cfg, **kw) if kw else cfg

    @property
    def robustness(self) -> tuple[LayerSweep, SamplerComparison]:
        return self.layer_sweep, self.samplers


def _full_size_studies() -> dict[str, object]:
    """Every tracked study at its own defaults (the `cpu` and `paper` profiles; each gets its own dict)."""
    return {"atlas": Atlas(), "commitment": Commitment(), "spectrum": Spectrum(), "topology": Topology()}


SMOKE = Profile(
    name="smoke", purpose="seconds on a laptop: CI and the notebooks' smoke runs",
    train=TrainConfig(
        name="smoke",
        # every size below is the smallest that still runs each code path (attention, GroupNorm, the mid block)
        model=ModelConfig(widths=(8, 16, 16, 16), attn=(False, False, True), heads=2, embed_dim=16, cond_dim=32,
                          groups=4),
        diffusion=DiffusionConfig(timesteps=50),   # 50 steps: sampling in a blink; studies read t ≤ 45
        lattice=Lattice(dx=4.0, dy=4.0),           # 64 images: an epoch is four batches
        lr=1e-3,                                   # a few dozen steps must move the weights visibly
        batch_size=16, steps=30,                   # 30 steps: checkpoints 0, 10, 20, 30
        ema_decay=0.9,                             # an EMA that follows 30 steps
        ckpt_every_early=10, ckpt_early_until=20, ckpt_every_late=10, save_every=10, log_every=5,
        precision="fp32"),                         # bf16 is emulated, hence slower, on CPUs without it
    analysis=AnalysisConfig(n_samples=16, sampler="ddim", sampler_steps=5,   # a blink per checkpoint
                            t=25,                                            # the middle of 50 steps, as 500 of 1000
                            max_conditions=64, keep_samples=4),              # the whole 64-centre lattice
    seeds=(0,),                                    # one seed keeps CI fast
    imbalanced_steps=None,
    layer_sweep=LayerSweep(timesteps=(5, 15, 25, 35, 45), max_conditions=64),  # the paper's t, scaled to 50 steps
    samplers=SamplerComparison(n=16),
    studies={"atlas": Atlas(timesteps=(5, 25, 45), max_conditions=64, sampling_steps=5, sampling_conditions=36),
             "commitment": Commitment(n_samples=16, sampler_steps=5),
             "spectrum": Spectrum(t=25, max_conditions=64),
             "topology": Topology(t=25, max_conditions=64, n_landmarks=64)},   # all: small enough for CI, t ≤ 45
    readouts=("shared", "independent"),
    # the paper's sampler, ancestral DDPM over all (50) steps: the reference itself, cheap at this size
    calibrated=AnalysisConfig(n_samples=16, sampler="ddpm", t=25, max_conditions=64, keep_samples=4, trials=4),
    # every code path of the stripes study in seconds: two sizes, two fractions, one σ
    stripes=StripeStudy(analysis=StripeAnalysis(n_per_section=4, sampler="ddim", sampler_steps=5, keep_samples=2),
                        sizes=(8, 16), kept=(0.5, 1.0), sigmas=(1.0,), steps=20, seeds=(0,), every=1),
)

CPU = Profile(
    name="cpu", purpose="this 2-core machine: the committed results, each run reaching the ordered phase in hours",
    train=TrainConfig(
        name="cpu",
        # 1.6 M parameters instead of 13.4 M: ~120 images/s on 2 cores; attention kept where the map is ≤ 16 px
        model=ModelConfig(widths=(32, 48, 64, 64), attn=(False, True, True), heads=4, embed_dim=128, cond_dim=256,
                          groups=8),
        lr=1e-3, warmup_steps=100,                 # the small model trains stably at a higher rate, after a warm-up
        batch_size=128, steps=4000,                # 4,000 steps (512k images): every phase is passed by then
        ema_decay=0.995,                           # an EMA that follows 4,000 steps, not 40,000
        ckpt_every_early=100, ckpt_early_until=2000, ckpt_every_late=250,   # dense while the phases change
        save_every=50, log_every=10, precision="bf16"),
    analysis=AnalysisConfig(n_samples=256, sampler="ddim", sampler_steps=50,  # DDIM: about a minute a checkpoint
                            t=500, max_conditions=1024),
    seeds=(0, 1, 2),
    imbalanced_steps=3000,                         # the imbalanced runs stop once both axes are learned
    layer_sweep=LayerSweep(),
    samplers=SamplerComparison(n=256),             # 256 samples per sampler: minutes on 2 cores
    studies=_full_size_studies(),
    readouts=("shared", "independent"),
    # no candidate agrees with DDPM-1000 within the tolerance at all six shipped checkpoints (`calibrate sampler`:
    # DDIM 100, η = 1 is off by 0.078 where generation is in phase B), so the calibrated sampler is the reference
    calibrated=AnalysisConfig(n_samples=256, sampler="ddpm", t=500, max_conditions=1024),
)

def _fast_studies() -> dict[str, object]:
    """The tracked studies on the 16-px canvas (256 centres): every grid is the whole lattice."""
    return {"atlas": Atlas(max_conditions=256, sampling_conditions=256), "commitment": Commitment(),
            "spectrum": Spectrum(max_conditions=256), "topology": Topology(max_conditions=256, n_landmarks=256)}


FAST = Profile(
    name="fast", purpose="the whole study in an afternoon on 2 cores: a 16 × 16 canvas, each run in minutes",
    train=TrainConfig(
        name="fast",
        # a 16 × 16 canvas (the lattice dx = dy = 1 has 256 centres): a quarter of the work per image, and the
        # phases are passed in ~1/3 of the images of the 32-px `cpu` runs (calibration table in RESULTS.md)
        lattice=Lattice(n=16),
        model=ModelConfig(image_size=16, widths=(32, 48, 64, 64), attn=(False, True, True), heads=4, embed_dim=128,
                          cond_dim=256, groups=8,
                          mu_scale=1000.0 / 16.0),  # μ's encoding spans ~[0, 1000), as on the 32-px canvas
        lr=2e-3, warmup_steps=100,                 # calibrated: a higher rate than `cpu`'s, at batch 64 ...
        lr_schedule="cosine",                      # ... decayed to 0: at a constant rate `additive` stalled at 0.66
        batch_size=64, steps=3000,                 # 192k images: every seed of both architectures ends at C
        ema_decay=0.99,                            # an EMA that follows a 3,000-step run
        ckpt_every_early=150, ckpt_early_until=3000, ckpt_every_late=150,   # 21 checkpoints, evenly spaced
        save_every=50, log_every=10,
        precision="fp32"),                         # measured: fp32 is faster than emulated bf16 on AVX2 CPUs
    analysis=AnalysisConfig(n_samples=256, sampler="ddim", sampler_steps=25,   # as calibrated; 256 samples
                            t=500, max_conditions=256),   # the whole 16 × 16 lattice
    seeds=(0, 1, 2),
    imbalanced_steps=None,
    layer_sweep=LayerSweep(max_conditions=256),
    samplers=SamplerComparison(n=256),
    studies=_fast_studies(),
    readouts=("shared", "independent"),
    # the sampler calibration's choice (`calibrate sampler --profile fast`): the cheapest candidate within 0.05 of
    # DDPM-1000 at every shipped checkpoint; the deterministic DDIM-25 above is off by up to 0.2 (RESULTS.md)
    calibrated=AnalysisConfig(n_samples=256, sampler="ddim", sampler_steps=100, eta=1.0, t=500, max_conditions=256),
    # the stripes study on the 16-px canvas, analysed with the calibrated sampler (DDIM 100, η = 1), 64 samples per
    # section; data efficiency at N = 8, 16, 24 (the sizes of three 2× downsamplings a `fast` budget allows) with
    # 128k images per run (2,000 steps of 64), two seeds
    stripes=StripeStudy(analysis=StripeAnalysis(n_per_section=64, sampler="ddim", sampler_steps=100, eta=1.0),
                        sizes=(8, 16, 24), kept=(0.1, 0.25, 0.5, 1.0), sigmas=(0.5, 1.0, 2.0), steps=2000,
                        seeds=(0, 1), every=3),
)

PAPER = Profile(
    name="paper", purpose="the paper-size model (13.4 M parameters), meant for a GPU",
    train=TrainConfig(
        name="paper",
        model=ModelConfig(widths=(64, 128, 256, 256), attn=(True, True, True), heads=4, embed_dim=256, cond_dim=512,
                          groups=8),
        lr=2e-4, warmup_steps=500,                 # a short warm-up (not stated in the paper) for stable early steps
        batch_size=128, steps=40000,               # the paper's length is unknown: room for every phase
        ema_decay=0.999,
        ckpt_every_early=200, ckpt_early_until=10000, ckpt_every_late=2000,  # the phases change over longer
        save_every=500, log_every=50, precision="bf16"),
    analysis=AnalysisConfig(n_samples=512, sampler="ddpm", t=500, max_conditions=1024),  # twice the samples
    seeds=(0, 1, 2),
    imbalanced_steps=None,
    layer_sweep=LayerSweep(),
    samplers=SamplerComparison(n=512),
    studies=_full_size_studies(),
    readouts=("shared", "independent"),
)

PROFILES: dict[str, Profile] = {p.name: p for p in (SMOKE, FAST, CPU, PAPER)}
PROFILE_NAMES = tuple(PROFILES)


def get_profile(name: str) -> Profile:
    """The profile called ``name``; an unknown name is an error listing the profiles."""
    if name not in PROFILES:
        raise ValueError(f"profile must be one of {list(PROFILE_NAMES)}, got {name!r}")
    return PROFILES[name]
