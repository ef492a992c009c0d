"""What each analysis computes, as frozen dataclasses: :class:`AnalysisConfig` (one checkpoint's analysis, whose
identity is the analysis key of a results bundle), the studies tracked over training (:class:`Atlas`,
:class:`Commitment`, :class:`Spectrum`, :class:`Topology`) and Figure 6's studies at one checkpoint
(:class:`LayerSweep`, :class:`SamplerComparison`), each keying its stored result by its identity; and the read-outs'
vocabulary (:data:`MODES`, :data:`NOISE`).

No torch here: reading results needs the specifications, never the computing, which lives in the module named for
each (:mod:`.checkpoint`, :mod:`.atlas`, :mod:`.commitment`, :mod:`.topology`, :mod:`.robustness`) and is reached
through :func:`bumpdiff.analysis.studies.run_study`.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

from ..common.checks import check_range
from ..common.identity import added, execution
from ..common.identity import key as identity_key
from ..core.config import LAYER_NAMES, check_sampler, resolve_layer

__all__ = ["MODES", "NOISE", "AnalysisConfig", "StripeAnalysis", "LayerSweep", "SamplerComparison", "Atlas",
           "Commitment", "Spectrum",
           "Topology"]

MODES = ("noise", "noised", "sampling")
#: How the read-out's noise is drawn: ``"shared"`` — one image for every condition (only the condition varies
#: between rows); ``"independent"`` — each condition its own image, a function of (seed, μx, μy) alone, as each
#: sample of a batch of generations sees its own noise; ``"mean"`` — the mean activation over ``trials`` images of
#: each condition's own (the conditional-mean latent, the trial-averaged read-out).
NOISE = ("shared", "independent", "mean")


@dataclass(frozen=True)
class AnalysisConfig:
    """Every setting of an analysis, explicit. Its identity is the analysis key; ``every`` is execution."""

    n_samples: int = 256            # generated samples per checkpoint, at random lattice centres
    sampler: str = "ddpm"           # "ddpm" (ancestral, all T steps) or "ddim"
    sampler_steps: int = 50         # DDIM steps (ignored for ddpm)
    eta: float = 0.0                # DDIM stochasticity
    tol: float = 1.0                # evaluator tolerance (pixels)
    layer: str = "down3"            # "layer 4"
    t: int = 500                    # timestep at which the latent is read
    mode: str = "noise"             # activation mode (bumpdiff.analysis.activations.collect_activations)
    max_conditions: int = 1024      # latent grid: the lattice, subsampled evenly to at most this many
    seed: int = 0                   # sampling, noise and UMAP seed
    weights: str = "ema"            # "ema" or "model"
    keep_samples: int = 16          # sample images kept per checkpoint in the bundle
    noise: str = added("shared")    # the read-out's noise: one image for all conditions, each its own, or the mean
    trials: int = added(16)         # noise images per condition of the trial-averaged read-out (noise="mean")
    every: int = execution(1)       # analyse every k-th checkpoint (the last is always analysed)

    def __post_init__(self):
        check_range("n_samples", self.n_samples, lo=1, integer=True)
        check_sampler(self.sampler, self.sampler_steps, self.eta)
        check_range("tol", self.tol, lo=0, lo_open=True)
        object.__setattr__(self, "layer", resolve_layer(self.layer))
        check_range("t", self.t, lo=0, integer=True)
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {self.mode!r}")
        if self.noise not in NOISE:
            raise ValueError(f"noise must be one of {NOISE}, got {self.noise!r}")
        check_range("max_conditions", self.max_conditions, lo=5, integer=True)
        check_range("seed", self.seed, lo=0, integer=True)
        if self.weights not in ("ema", "model"):
            raise ValueError(f"weights must be 'ema' or 'model', got {self.weights!r}")
        check_range("keep_samples", self.keep_samples, lo=0, integer=True)
        check_range("trials", self.trials, lo=1, integer=True)
        check_range("every", self.every, lo=1, integer=True)

    def key(self) -> str:
        """The analysis key; ``trials`` is part of it only for the read-out it changes (``noise="mean"``)."""
        return identity_key("analysis", self if self.noise == "mean" else replace(self, trials=16))


@dataclass(frozen=True)
class StripeAnalysis:
    """The analysis of a checkpoint of a run trained on stripes (:mod:`.stripe_eval`): ``n_per_section`` samples in
    each test section of its lattice (labels drawn from the section with replacement, from ``seed``), generated with
    the sampler and scored by the stripe detector (SOS and 1-D stripes) or the bump detector (bumps), within ``tol``
    pixels. Its identity is the analysis key of the run's bundle; ``every`` is execution."""

    n_per_section: int = 64
    sampler: str = "ddim"
    sampler_steps: int = 100
    eta: float = 1.0
    tol: float = 1.0
    seed: int = 0
    weights: str = "ema"
    keep_samples: int = 4           # sample images kept per section and checkpoint in the bundle
    every: int = execution(1)

    def __post_init__(self):
        check_range("n_per_section", self.n_per_section, lo=1, integer=True)
        check_sampler(self.sampler, self.sampler_steps, self.eta)
        check_range("tol", self.tol, lo=0, lo_open=True)
        check_range("seed", self.seed, lo=0, integer=True)
        if self.weights not in ("ema", "model"):
            raise ValueError(f"weights must be 'ema' or 'model', got {self.weights!r}")
        check_range("keep_samples", self.keep_samples, lo=0, integer=True)
        check_range("every", self.every, lo=1, integer=True)

    def key(self) -> str:
        return identity_key("stripe-analysis", self)


@dataclass(frozen=True)
class LayerSweep:
    """Order parameters of ``layers`` × ``timesteps`` on the latent grid (activation ``mode``, ``seed``)."""

    layers: tuple = ("down1", "down2", "down3", "mid", "up1")
    timesteps: tuple = (100, 300, 500, 700, 900)
    mode: str = "noise"
    seed: int = 0
    max_conditions: int = 1024
    weights: str = "ema"

    kind = "layer-sweep"

    def __post_init__(self):
        object.__setattr__(self, "layers", tuple(resolve_layer(layer) for layer in self.layers))
        object.__setattr__(self, "timesteps", tuple(int(t) for t in self.timesteps))
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {self.mode!r}")
        for t in self.timesteps:
            check_range("timesteps[i]", t, lo=0, integer=True)


@dataclass(frozen=True)
class SamplerComparison:
    """Generation breakdown of ``n`` samples under each sampler: (label, "ddpm"|"ddim", steps, eta)."""

    samplers: tuple = (("DDPM (all T steps)", "ddpm", 0, 0.0), ("DDIM 50, η=0", "ddim", 50, 0.0),
                       ("DDIM 50, η=1", "ddim", 50, 1.0), ("DDIM 10, η=0", "ddim", 10, 0.0))
    n: int = 256
    seed: int = 0
    tol: float = 1.0
    weights: str = "ema"

    kind = "samplers"

    def __post_init__(self):
        object.__setattr__(self, "samplers", tuple(tuple(s) for s in self.samplers))
        for _, name, steps, eta in self.samplers:
            check_sampler(name, steps or None, eta)
        check_range("n", self.n, lo=1, integer=True)


@dataclass(frozen=True)
class Atlas:
    layers: tuple = LAYER_NAMES
    timesteps: tuple = (100, 300, 500, 700, 900)
    sampling_layer: str = "down3"       # the `sampling` read-out: mean activation along a DDIM run
    sampling_steps: int = 10
    sampling_conditions: int = 256       # the sampling read-out's grid (a DDIM run per condition: the costly part)
    umap: bool = False                   # UMAP R² too (a UMAP per cell: about 4 s each on 2 cores)
    pca_dims: int = 128                  # each layer is read through its top principal components (0: raw)
    seed: int = 0
    max_conditions: int = 1024
    weights: str = "ema"
    noise: str = added("shared")         # the read-outs' noise (bumpdiff.analysis.activations.NOISE)

    kind = "atlas"

    def __post_init__(self):
        object.__setattr__(self, "layers", tuple(resolve_layer(layer) for layer in self.layers))
        object.__setattr__(self, "timesteps", tuple(int(t) for t in self.timesteps))
        object.__setattr__(self, "sampling_layer", resolve_layer(self.sampling_layer))
        check_range("sampling_steps", self.sampling_steps, lo=1, integer=True)
        if self.noise not in NOISE:
            raise ValueError(f"noise must be one of {NOISE}, got {self.noise!r}")

    def key(self) -> str:
        return identity_key("atlas", self)


@dataclass(frozen=True)
class Commitment:
    n_samples: int = 128
    sampler_steps: int = 50          # deterministic DDIM (η = 0), as the cpu analysis samples
    tol: float = 1.0
    seed: int = 0
    weights: str = "ema"

    kind = "commitment"

    def __post_init__(self):
        check_range("n_samples", self.n_samples, lo=1, integer=True)
        check_range("sampler_steps", self.sampler_steps, lo=1, integer=True)
        check_range("tol", self.tol, lo=0, lo_open=True)

    def key(self) -> str:
        return identity_key(self.kind, self)


@dataclass(frozen=True)
class Spectrum:
    layers: tuple = ("down3", "mid", "up1")
    t: int = 500
    max_conditions: int = 1024
    top_k: tuple = (1, 2, 3, 5, 10)
    n_eigenvalues: int = 20          # the leading eigenvalues kept (fractions of the total variance)
    seed: int = 0
    weights: str = "ema"

    kind = "spectrum"

    def __post_init__(self):
        object.__setattr__(self, "layers", tuple(resolve_layer(layer) for layer in self.layers))
        object.__setattr__(self, "top_k", tuple(int(k) for k in self.top_k))
        check_range("t", self.t, lo=0, integer=True)

    def key(self) -> str:
        return identity_key(self.kind, self)


@dataclass(frozen=True)
class Topology:
    layers: tuple = ("down3", "mid")
    t: int = 500
    max_conditions: int = 1024
    n_landmarks: int = 400            # greedy farthest-point landmarks per cloud (ripser's n_perm)
    maxdim: int = 2                   # homology dimensions 0..maxdim
    torus_radii: tuple = (2.0, 1.0)   # (R, r) of the coupled 3-D torus
    max_features: int = 10            # the largest-gap count looks at the top this many bars
    n_lifetimes: int = 20             # lifetimes kept per dimension
    seed: int = 0
    weights: str = "ema"

    kind = "topology"

    def __post_init__(self):
        object.__setattr__(self, "layers", tuple(resolve_layer(layer) for layer in self.layers))
        object.__setattr__(self, "torus_radii", tuple(float(r) for r in self.torus_radii))
        check_range("t", self.t, lo=0, integer=True)
        check_range("n_landmarks", self.n_landmarks, lo=10, integer=True)
        check_range("maxdim", self.maxdim, lo=1, hi=2, integer=True)
        check_range("max_features", self.max_features, lo=2, integer=True)
        check_range("n_lifetimes", self.n_lifetimes, lo=1, integer=True)
        R, r = self.torus_radii
        if not (0 < r < R):
            raise ValueError(f"torus_radii must be (R, r) with 0 < r < R (a ring torus), got {self.torus_radii}")

    def key(self) -> str:
        return identity_key(self.kind, self)
