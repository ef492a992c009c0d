"""What a training run is, as configuration: the hyper-parameters of the model, the diffusion and the training loop
(the lattice of centres is :mod:`.lattice`), the layers' names, the checkpoint schedule and the run's folder.

No torch here: reading results and drawing figures need the configurations (a result's key is their identity) but
never the modules that compute, :mod:`.model`, :mod:`.diffusion` and :mod:`.train`, which import these from here.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..common import paths
from ..common.checks import check_range
from ..common.files import to_plain
from ..common.identity import added, execution
from ..common.identity import key as identity_key
from .lattice import Lattice
from .stripes import StripeLattice

__all__ = ["ModelConfig", "DiffusionConfig", "TrainConfig", "checkpoint_steps", "run_dir", "ARCHS", "LAYER_NAMES",
           "LAYER_ALIASES", "resolve_layer", "check_sampler", "check_ddim", "CPU_INFERENCE_CHUNK"]

LAYER_NAMES = ("stem", "down1", "down2", "down3", "mid", "up1", "up2", "up3", "out")
LAYER_ALIASES = {k + 1: name for k, name in enumerate(LAYER_NAMES)}
ARCHS = ("film", "additive")


def resolve_layer(layer) -> str:
    """A layer name from a name, an int alias (1-9) or its string form ('4')."""
    if isinstance(layer, str) and layer.isdigit():
        layer = int(layer)
    if isinstance(layer, int) and not isinstance(layer, bool):
        if layer not in LAYER_ALIASES:
            raise ValueError(f"layer alias must be in 1..{len(LAYER_NAMES)}, got {layer}")
        return LAYER_ALIASES[layer]
    if layer not in LAYER_NAMES:
        raise ValueError(f"layer must be one of {LAYER_NAMES} or an alias 1..{len(LAYER_NAMES)}, got {layer!r}")
    return layer


@dataclass(frozen=True)
class ModelConfig:
    """Every hyper-parameter of the UNet, explicit."""

    image_size: int = 32
    in_channels: int = 1
    widths: tuple = (64, 128, 256, 256)   # stem, down1, down2, down3 (= mid) channels
    attn: tuple = (True, True, True)      # self-attention after down/up block 1, 2, 3 (and in mid)
    mid_attn: bool = True
    heads: int = 4
    embed_dim: int = 256                  # sinusoidal encoding size per scalar (t, μx, μy)
    cond_dim: int = 512                   # width of the conditioning MLP output
    groups: int = 8                       # GroupNorm groups
    max_period: float = 10000.0           # sinusoidal encoding max period
    t_scale: float = 1.0                  # t is encoded as t * t_scale (t in [0, T))
    mu_scale: float = 1000.0 / 32.0       # μ (pixels) is encoded as μ * mu_scale, spanning ~[0, 1000)
    dropout: float = 0.0
    arch: str = added("film")             # "film" or "additive" (module docstring)

    def __post_init__(self):
        if self.arch not in ARCHS:
            raise ValueError(f"arch must be one of {ARCHS}, got {self.arch!r}")
        object.__setattr__(self, "widths", tuple(int(w) for w in self.widths))
        object.__setattr__(self, "attn", tuple(bool(a) for a in self.attn))
        if len(self.widths) != 4:
            raise ValueError(f"widths must have 4 entries (stem, down1, down2, down3), got {self.widths}")
        if len(self.attn) != 3:
            raise ValueError(f"attn must have 3 entries (blocks 1, 2, 3), got {self.attn}")
        check_range("image_size", self.image_size, lo=8, integer=True)
        if self.image_size % 8:
            raise ValueError(f"image_size must be a multiple of 8 (three 2× downsamplings), got {self.image_size}")
        for w in self.widths:
            check_range("widths[i]", w, lo=1, integer=True)
            if w % self.groups or w % self.heads:
                raise ValueError(f"every width must be divisible by groups={self.groups} and heads={self.heads}, "
                                 f"got widths={self.widths}")
        check_range("embed_dim", self.embed_dim, lo=2, integer=True)
        if self.embed_dim % 2:
            raise ValueError(f"embed_dim must be even, got {self.embed_dim}")
        check_range("cond_dim", self.cond_dim, lo=1, integer=True)
        check_range("heads", self.heads, lo=1, integer=True)
        check_range("dropout", self.dropout, lo=0, hi=1, hi_open=True)


@dataclass(frozen=True)
class DiffusionConfig:
    timesteps: int = 1000
    beta_start: float = 1e-4
    beta_end: float = 0.02
    schedule: str = "linear"
    clip_denoised: bool = True   # clip the predicted x0 to [-1, 1] inside the sampler

    def __post_init__(self):
        check_range("timesteps", self.timesteps, lo=1, integer=True)
        check_range("beta_start", self.beta_start, lo=0, hi=1, lo_open=True, hi_open=True)
        check_range("beta_end", self.beta_end, lo=self.beta_start, hi=1, hi_open=True)
        if self.schedule != "linear":
            raise ValueError(f"schedule must be 'linear', got {self.schedule!r}")


def check_ddim(steps, eta) -> None:
    """Raise unless ``steps`` (an integer ≥ 1) and ``eta`` (in [0, 1]) make a DDIM sampler."""
    check_range("steps", steps, lo=1, integer=True)
    check_range("eta", eta, lo=0, hi=1)


def check_sampler(sampler, steps: int | None = None, eta: float = 0.0) -> None:
    """Raise unless a sampler name with its steps and eta is one :func:`bumpdiff.core.diffusion.as_sampler` builds:
    ``"ddpm"``, or ``"ddim"`` (steps default 50)."""
    if sampler == "ddim":
        check_ddim(50 if steps is None else steps, eta)
    elif sampler != "ddpm":
        raise ValueError(f"sampler must be 'ddpm' or 'ddim' (or a DDPM / DDIM value), got {sampler!r}")


# Images per no-grad forward pass on a CPU (generation, latent read-outs, the atlas). Small chunks keep a pass's
# activations in cache: on 2 cores 32 images were the fastest chunk for both architectures at both sizes,
# 1.3-2.6x faster than the 256-512 used before, with identical outputs (benchmarks/chunk.py; docs/RESULTS.md,
# "Inference chunk"). An execution detail: no result's identity holds it.
CPU_INFERENCE_CHUNK = 32


@dataclass(frozen=True)
class TrainConfig:
    """Every hyper-parameter of a training run, explicit. The defaults are the paper's; a profile
    (:mod:`bumpdiff.experiments.profiles`) sets sizes."""

    name: str = execution("run")   # a label for the run folder; never part of the identity
    seed: int = 0
    lattice: Lattice = Lattice()
    # the follow-up's data (core.stripes): when set, the run trains on this lattice of stripes, SOS or bumps in a
    # hidden-margin frame instead of `lattice`'s bumps (whose n must then equal its window's)
    stripes: StripeLattice | None = added(None)
    model: ModelConfig = ModelConfig()
    diffusion: DiffusionConfig = DiffusionConfig()
    # optimisation (AdamW)
    lr: float = 2e-4
    weight_decay: float = 0.0
    adam_beta1: float = 0.9
    adam_beta2: float = 0.999
    adam_eps: float = 1e-8
    warmup_steps: int = 0
    lr_schedule: str = added("constant")   # after the warm-up: "constant", or "cosine" (to 0 at the last step)
    grad_clip: float = 1.0
    batch_size: int = 128
    steps: int = 20000
    ema_decay: float = 0.999
    ema_warmup: bool = True        # effective decay min(ema_decay, (1+s)/(10+s))
    # checkpoints: every ckpt_every_early steps up to ckpt_early_until, then every ckpt_every_late
    ckpt_every_early: int = 100
    ckpt_early_until: int = 2000
    ckpt_every_late: int = 1000
    precision: str = "bf16"        # "fp32" or "bf16" (autocast)
    # execution: how the run is carried out, never what it computes (bumpdiff.common.identity)
    save_every: int = execution(100)   # resume point (last.pt) every this many steps
    log_every: int = execution(10)
    device: str = execution("auto")
    threads: int = execution(0)        # torch CPU threads, 0 = leave torch's choice

    def __post_init__(self):
        for f in ("lattice", "model", "diffusion", "stripes"):
            v = getattr(self, f)
            if isinstance(v, dict):
                cls = {"lattice": Lattice, "model": ModelConfig, "diffusion": DiffusionConfig,
                       "stripes": StripeLattice}[f]
                object.__setattr__(self, f, cls(**v))
        if self.stripes is not None and self.stripes.n != self.lattice.n:
            raise ValueError(f"stripes.n ({self.stripes.n}) must equal lattice.n ({self.lattice.n})")
        if self.lattice.n != self.model.image_size:
            raise ValueError(f"lattice.n ({self.lattice.n}) must equal model.image_size ({self.model.image_size})")
        check_range("seed", self.seed, lo=0, integer=True)
        check_range("lr", self.lr, lo=0, hi=1, lo_open=True)
        check_range("weight_decay", self.weight_decay, lo=0)
        check_range("adam_beta1", self.adam_beta1, lo=0, hi=1, hi_open=True)
        check_range("adam_beta2", self.adam_beta2, lo=0, hi=1, hi_open=True)
        check_range("adam_eps", self.adam_eps, lo=0, lo_open=True)
        check_range("warmup_steps", self.warmup_steps, lo=0, integer=True)
        check_range("grad_clip", self.grad_clip, lo=0)
        check_range("batch_size", self.batch_size, lo=1, integer=True)
        check_range("steps", self.steps, lo=1, integer=True)
        check_range("ema_decay", self.ema_decay, lo=0, hi=1, hi_open=True)
        for f in ("ckpt_every_early", "ckpt_every_late", "save_every", "log_every"):
            check_range(f, getattr(self, f), lo=1, integer=True)
        check_range("ckpt_early_until", self.ckpt_early_until, lo=0, integer=True)
        check_range("threads", self.threads, lo=0, integer=True)
        if self.lr_schedule not in ("constant", "cosine"):
            raise ValueError(f"lr_schedule must be 'constant' or 'cosine', got {self.lr_schedule!r}")
        if self.precision not in ("fp32", "bf16"):
            raise ValueError(f"precision must be 'fp32' or 'bf16', got {self.precision!r}")

    def to_dict(self) -> dict:
        """Plain types; ``stripes`` only when set (a bump run's stored config reads as it did before it existed)."""
        d = to_plain(self)
        if d["stripes"] is None:
            del d["stripes"]
        return d

    @classmethod
    def from_dict(cls, d: dict) -> TrainConfig:
        d = dict(d)
        d["lattice"] = Lattice(**d["lattice"])
        m = dict(d["model"])
        m["widths"], m["attn"] = tuple(m["widths"]), tuple(m["attn"])
        d["model"] = ModelConfig(**m)
        d["diffusion"] = DiffusionConfig(**d["diffusion"])
        if d.get("stripes") is not None:
            d["stripes"] = StripeLattice(**{k: tuple(v) if k == "band" else v for k, v in d["stripes"].items()})
        return cls(**d)

    def key(self) -> str:
        """The run's identity key (:mod:`bumpdiff.common.identity`): execution fields and added fields at their
        neutral value do not enter it."""
        return identity_key("run", self)


    @property
    def images_per_epoch(self) -> int:
        return len(self.stripes.labels()) if self.stripes is not None else len(self.lattice)


def checkpoint_steps(cfg: TrainConfig) -> list[int]:
    """The scheduled checkpoint steps: step 0, dense until ``ckpt_early_until``, sparse after, and the end."""
    s = set(range(0, min(cfg.ckpt_early_until, cfg.steps) + 1, cfg.ckpt_every_early))
    s |= set(range(cfg.ckpt_early_until, cfg.steps + 1, cfg.ckpt_every_late))
    s.add(cfg.steps)
    return sorted(x for x in s if x <= cfg.steps)


def run_dir(cfg: TrainConfig) -> Path:
    return paths.runs_dir() / f"{cfg.name}-{cfg.key()}"
