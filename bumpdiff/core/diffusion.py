"""DDPM with ε-prediction (Ho et al. 2020), linear β schedule, ancestral and DDIM samplers.

``loss = diffusion(x0, centers, generator)`` is the training objective; ``diffusion.sample(centers, ...)``
generates. All noise comes from an explicit ``torch.Generator`` (drawn on the CPU, then moved), so a seed
gives the same samples on any device. Both samplers can record the activations of named layers at chosen
steps (the latent analysis uses this).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from ..common.checks import check_range
from .config import CPU_INFERENCE_CHUNK, DiffusionConfig, check_ddim, check_sampler, resolve_layer

__all__ = ["DiffusionConfig", "Diffusion", "DDPM", "DDIM", "Capture", "as_sampler", "CPU_INFERENCE_CHUNK",
           "inference_chunk"]

def inference_chunk(device, batch_size: int | None, accelerator: int) -> int:
    """How many images a no-grad forward pass takes at once on ``device``: ``batch_size`` when the caller gives one
    (an integer ≥ 1), else :data:`CPU_INFERENCE_CHUNK` on a CPU and ``accelerator`` (the caller's own chunk) on
    any other device."""
    if batch_size is None:
        return CPU_INFERENCE_CHUNK if torch.device(device).type == "cpu" else accelerator
    return int(check_range("batch_size", batch_size, lo=1, integer=True))


def _noise(shape, generator, device):
    return torch.randn(shape, generator=generator, dtype=torch.float32).to(device)


@dataclass(frozen=True)
class DDPM:
    """Ancestral sampling over all T steps (the study's default)."""

    name = "ddpm"

    def timesteps(self, T: int) -> list[int]:
        return list(range(T - 1, -1, -1))

    @property
    def stochastic(self) -> bool:
        return True


@dataclass(frozen=True)
class DDIM:
    """DDIM over ``steps`` evenly spaced timesteps with stochasticity ``eta`` (0 deterministic, 1 ≈ DDPM)."""

    steps: int = 50
    eta: float = 0.0
    name = "ddim"

    def __post_init__(self):
        check_ddim(self.steps, self.eta)

    def timesteps(self, T: int) -> list[int]:
        check_range("steps", self.steps, lo=1, hi=T, integer=True)
        return sorted({int(round(v)) for v in torch.linspace(0, T - 1, int(self.steps)).tolist()}, reverse=True)

    @property
    def stochastic(self) -> bool:
        return self.eta > 0


def as_sampler(sampler="ddpm", steps: int | None = None, eta: float = 0.0):
    """A :class:`DDPM` or :class:`DDIM` from a sampler value, or from a name with its steps and eta."""
    if isinstance(sampler, (DDPM, DDIM)):
        return sampler
    check_sampler(sampler, steps, eta)   # the one statement of which names, steps and eta make a sampler
    return DDPM() if sampler == "ddpm" else DDIM(50 if steps is None else steps, eta)


@dataclass(frozen=True)
class Capture:
    """Which layers' activations a sampling run records, and at which timesteps (None: every visited step)."""

    layers: tuple = ()
    steps: tuple | None = None


class Diffusion(nn.Module):
    """Wraps an ε-prediction network ``model(x_t, t, centers)``."""

    def __init__(self, model: nn.Module, cfg: DiffusionConfig = DiffusionConfig()):
        super().__init__()
        self.model = model
        self.cfg = cfg
        betas = torch.linspace(cfg.beta_start, cfg.beta_end, cfg.timesteps, dtype=torch.float64)
        alphas_cum = torch.cumprod(1 - betas, 0)
        prev = torch.cat([torch.ones(1, dtype=torch.float64), alphas_cum[:-1]])
        reg = lambda name, v: self.register_buffer(name, v.to(torch.float32), persistent=False)
        reg("betas", betas)
        reg("alphas_cumprod", alphas_cum)
        reg("alphas_cumprod_prev", prev)
        reg("sqrt_alphas_cumprod", alphas_cum.sqrt())
        reg("sqrt_one_minus_alphas_cumprod", (1 - alphas_cum).sqrt())
        # the posterior q(x_{t-1} | x_t, x0) = N(coef1 x0 + coef2 x_t, β̃_t): DDPM paper (Ho et al. 2020), eq. 6-7
        posterior_variance = betas * (1 - prev) / (1 - alphas_cum)
        reg("posterior_variance", posterior_variance)
        reg("posterior_log_variance_clipped", torch.log(torch.cat([posterior_variance[1:2], posterior_variance[1:]])))
        reg("posterior_mean_coef1", betas * prev.sqrt() / (1 - alphas_cum))
        reg("posterior_mean_coef2", (1 - prev) * (1 - betas).sqrt() / (1 - alphas_cum))

    @property
    def T(self) -> int:
        return self.cfg.timesteps

    @staticmethod
    def _at(a, t):
        return a[t][:, None, None, None]

    def q_sample(self, x0, t, noise):
        """x_t = √ᾱ_t x0 + √(1-ᾱ_t) ε."""
        return self._at(self.sqrt_alphas_cumprod, t) * x0 + self._at(self.sqrt_one_minus_alphas_cumprod, t) * noise

    def forward(self, x0, centers, generator: torch.Generator | None = None):
        """ε-prediction MSE loss on a batch, with t ~ U{0..T-1} and ε ~ N(0, I) from ``generator``."""
        b = x0.shape[0]
        t = torch.randint(0, self.T, (b,), generator=generator).to(x0.device)
        noise = _noise(x0.shape, generator, x0.device)
        pred = self.model(self.q_sample(x0, t, noise), t, centers)
        return F.mse_loss(pred.float(), noise)

    def predict_x0(self, x_t, t, eps):
        x0 = (x_t - self._at(self.sqrt_one_minus_alphas_cumprod, t) * eps) / self._at(self.sqrt_alphas_cumprod, t)
        return x0.clamp(-1, 1) if self.cfg.clip_denoised else x0

    def ddpm_step(self, x, t: int, eps, z=None):
        """One ancestral step x_t → x_{t-1}. Returns ``(x_prev, x0_pred)``; ``z`` is the step's noise (unused
        at t = 0)."""
        tt = torch.full((x.shape[0],), t, device=x.device, dtype=torch.long)
        x0 = self.predict_x0(x, tt, eps)
        mean = self._at(self.posterior_mean_coef1, tt) * x0 + self._at(self.posterior_mean_coef2, tt) * x
        if t == 0 or z is None:
            return mean, x0
        return mean + (0.5 * self._at(self.posterior_log_variance_clipped, tt)).exp() * z, x0

    def ddim_step(self, x, t: int, t_prev: int, eps, eta: float = 0.0, z=None):
        """One DDIM step x_t → x_{t_prev} (t_prev = -1: to the clean image). Returns ``(x_prev, x0_pred)``."""
        tt = torch.full((x.shape[0],), t, device=x.device, dtype=torch.long)
        x0 = self.predict_x0(x, tt, eps)
        a_t = self.alphas_cumprod[t]
        a_prev = self.alphas_cumprod[t_prev] if t_prev >= 0 else torch.ones((), device=x.device)
        # recompute ε from the (possibly clipped) x0 so that the update is consistent
        eps = (x - a_t.sqrt() * x0) / (1 - a_t).sqrt()
        sigma = eta * ((1 - a_prev) / (1 - a_t) * (1 - a_t / a_prev)).sqrt()
        x_prev = a_prev.sqrt() * x0 + (1 - a_prev - sigma**2).clamp(min=0).sqrt() * eps
        if z is not None and t_prev >= 0:
            x_prev = x_prev + sigma * z
        return x_prev, x0

    def _eps(self, x, t: int, centers, names):
        tt = torch.full((x.shape[0],), t, device=x.device, dtype=torch.long)
        with self.model.capture(names) as store:
            eps = self.model(x, tt, centers).float()
        return eps, store

    @torch.no_grad()
    def sample(self, centers, generator: torch.Generator | None = None, sampler="ddpm", steps: int | None = None,
               eta: float = 0.0, x_T: torch.Tensor | None = None, capture: Capture = Capture(),
               batch_size: int | None = None, progress: bool = False,
               trajectory: bool = False):
        """Generate one image per requested centre.

        ``sampler``: a :class:`DDPM` or :class:`DDIM` value (or ``"ddpm"`` / ``"ddim"`` with ``steps`` and
        ``eta``). ``capture``: layers whose activations are recorded at chosen steps. Returns
        ``(images, captured)``: images (B,1,N,N) in [-1, 1], captured maps layer → {timestep: (B, C, h, w) CPU
        tensor}; with ``trajectory=True`` captured also holds ``"x0_pred"``: {timestep: (B,1,N,N)}, the
        predicted clean image at every step. ``batch_size`` splits the batch into chunks (default
        :func:`inference_chunk`: the whole batch on an accelerator); the noise of each step is drawn for the whole
        batch first, so results do not depend on it.
        """
        smp = as_sampler(sampler, steps, eta)
        device = next(self.model.parameters()).device
        centers = torch.as_tensor(centers, dtype=torch.float32)
        B = centers.shape[0]
        shape = (B, self.model.cfg.in_channels, self.model.cfg.image_size, self.model.cfg.image_size)
        ts = smp.timesteps(self.T)
        x = x_T.to(torch.float32).cpu() if x_T is not None else torch.randn(shape, generator=generator)
        cap_steps = set(ts if capture.steps is None else capture.steps)
        names = [resolve_layer(l) for l in capture.layers]
        captured: dict = {}
        bs = inference_chunk(device, batch_size, accelerator=B)
        chunks = [(x[s:s + bs].to(device), centers[s:s + bs].to(device)) for s in range(0, B, bs)]
        was_training = self.model.training
        self.model.eval()
        try:
            for i, t in enumerate(tqdm(ts, desc=f"{smp.name} sampling", leave=False, disable=not progress)):
                z_all = torch.randn(shape, generator=generator) if smp.stochastic and t > 0 else None
                t_prev = ts[i + 1] if i + 1 < len(ts) else -1
                for k, (xb, cb) in enumerate(chunks):
                    eps, store = self._eps(xb, t, cb, names)
                    if t in cap_steps:
                        for name in names:
                            captured.setdefault(name, {}).setdefault(t, []).append(store[name].cpu())
                    z = z_all[k * bs:(k + 1) * bs].to(device) if z_all is not None else None
                    if smp.name == "ddpm":
                        x_prev, x0 = self.ddpm_step(xb, t, eps, z)
                    else:
                        x_prev, x0 = self.ddim_step(xb, t, t_prev, eps, smp.eta, z)
                    if trajectory:
                        captured.setdefault("x0_pred", {}).setdefault(t, []).append(x0.cpu())
                    chunks[k] = (x_prev, cb)
        finally:
            self.model.train(was_training)
        captured = {n: {t: torch.cat(v) for t, v in d.items()} for n, d in captured.items()}
        return torch.cat([xb.cpu() for xb, _ in chunks]).clamp(-1, 1), captured
