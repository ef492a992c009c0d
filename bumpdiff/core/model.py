"""The conditional UNets of the study (``ModelConfig.arch`` picks one; docs/SPEC.md, "Model").

``"film"`` (the project's first architecture): a stem convolution, three down blocks, a middle block, three up blocks
and an output head. Every down/up block is a residual block followed by self-attention (where
``ModelConfig.attn`` says so), with a resampling step; up blocks receive the matching down block's output
as a skip connection. The condition is the concatenation of sinusoidal encodings of the timestep t and of
the bump centre (μx, μy) (real numbers, not classes), passed through an MLP and fed to every residual block
as a scale-and-shift of its normalised features.

Layer names (stable; "layer k" in the paper's numbering is the k-th entry; ``LAYER_ALIASES`` maps k→name):

====  =========  ================================================================  ===================
k     name       what it is                                                        shape (32×32 input)
====  =========  ================================================================  ===================
1     ``stem``   3×3 convolution of the input                                      w0 × 32 × 32
2     ``down1``  res block w0→w1 at 32×32, downsample, attention                   w1 × 16 × 16
3     ``down2``  res block w1→w2 at 16×16, downsample, attention                   w2 × 8 × 8
4     ``down3``  res block w2→w3 at 8×8, downsample, attention  (**layer 4**)      w3 × 4 × 4
5     ``mid``    res block, attention, res block at 4×4                            w3 × 4 × 4
6     ``up1``    [mid, down3] → res block → attention, upsample                    w2 × 8 × 8
7     ``up2``    [up1, down2] → res block → attention, upsample                    w1 × 16 × 16
8     ``up3``    [up2, down1] → res block → attention, upsample                    w0 × 32 × 32
9     ``out``    [up3, stem] → res block → norm, SiLU, 3×3 conv → ε̂                1 × 32 × 32
====  =========  ================================================================  ===================

With the paper widths (64, 128, 256, 256) layer 4 is 256×4×4, as in the study.

``"additive"`` (built from the study's architecture caption: three down/up blocks with interlaced
self-attention and skip connections, the concatenated encodings of t, μx, μy passed in at every block):

- stem: double convolution (3×3 conv, GroupNorm(1), GELU, 3×3 conv, GroupNorm(1)) to w0 channels;
- down block k: 2× max-pool → residual double conv → double conv to w_k, plus a per-channel bias mapped from
  the concatenated encodings by SiLU + Linear (added, no scale); then self-attention (multi-head over the
  positions, layer norm, feed-forward) where ``attn`` says so;
- bottleneck (``mid``): three double convs w3 → 2·w3 → 2·w3 → w3 at 4×4, no conditioning;
- up blocks: bilinear 2× upsample, concatenate the skip (down2, down1, stem), residual double conv → double
  conv, plus the encodings' bias, then attention; widths w1, w0, w0; a 1×1 output convolution.

Its named layers are the same: ``down3`` (layer 4) is the output of the third down block with its attention,
w3 × 4 × 4; ``up1`` is w1 × 8 × 8, ``up2`` and ``up3`` w0 × 16 × 16 and w0 × 32 × 32.
"""
from __future__ import annotations

from contextlib import contextmanager

import torch
from torch import nn

from .config import ARCHS, LAYER_ALIASES, LAYER_NAMES, ModelConfig, resolve_layer
from .layers import (
    AddDown,
    AddUp,
    Block,
    Conv2d,
    DoubleConv,
    Mid,
    Out,
    bf16_conv_mode,
    native_bf16_conv,
    sinusoidal,
)

__all__ = ["ModelConfig", "Conv2d", "bf16_conv_mode", "native_bf16_conv", "UNet", "FiLMUNet", "AdditiveUNet", "ARCHS",
           "LAYER_NAMES", "LAYER_ALIASES", "resolve_layer", "sinusoidal"]

class UNet(nn.Module):
    """ε-prediction network ``model(x_t, t, centers) → ε̂`` with x_t (B,1,N,N), t (B,) and centers (B,2).

    ``UNet(cfg)`` builds the architecture that ``cfg.arch`` names (:class:`FiLMUNet` or :class:`AdditiveUNet`);
    both expose the same named layers to :meth:`capture`."""

    def __new__(cls, cfg: ModelConfig = ModelConfig()):
        if cls is UNet:
            cls = {"film": FiLMUNet, "additive": AdditiveUNet}[cfg.arch]
        return super().__new__(cls)

    def __init__(self, cfg: ModelConfig = ModelConfig()):
        super().__init__()
        self.cfg = cfg
        self._capture: dict | None = None
        self._capture_names: frozenset = frozenset()

    def encodings(self, t: torch.Tensor, centers: torch.Tensor) -> torch.Tensor:
        """The concatenated sinusoidal encodings of t, μx and μy, (B, 3·embed_dim)."""
        cfg = self.cfg
        return torch.cat([sinusoidal(t * cfg.t_scale, cfg.embed_dim, cfg.max_period),
                          sinusoidal(centers[:, 0] * cfg.mu_scale, cfg.embed_dim, cfg.max_period),
                          sinusoidal(centers[:, 1] * cfg.mu_scale, cfg.embed_dim, cfg.max_period)], dim=1)

    def _keep(self, name, h):
        if self._capture is not None and name in self._capture_names:
            self._capture[name] = h.detach().float()
        return h

    @contextmanager
    def capture(self, layers=("down3",)):
        """Within the block, every forward pass stores the named layers' outputs (detached, float32) in the
        yielded dict (overwritten by each new pass). Accepts names or aliases: ``capture([4])``."""
        names = frozenset(resolve_layer(l) for l in layers)
        store: dict = {}
        prev = (self._capture, self._capture_names)
        self._capture, self._capture_names = store, names
        try:
            yield store
        finally:
            self._capture, self._capture_names = prev

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    @torch.no_grad()
    def layer_shapes(self) -> dict[str, tuple[int, ...]]:
        """``{layer name: (channels, height, width)}`` of every named layer, from one forward pass on a blank image."""
        n = self.cfg.image_size
        with self.capture(LAYER_NAMES) as acts:
            self(torch.zeros(1, self.cfg.in_channels, n, n), torch.zeros(1, dtype=torch.long),
                 torch.full((1, 2), n / 2))
        return {name: tuple(acts[name].shape[1:]) for name in LAYER_NAMES}


class FiLMUNet(UNet):
    """``arch="film"``: encodings → MLP → scale-and-shift in every residual block (module docstring)."""

    def __init__(self, cfg: ModelConfig = ModelConfig()):
        super().__init__(cfg)
        w0, w1, w2, w3 = cfg.widths
        e = cfg.embed_dim
        self.cond_mlp = nn.Sequential(nn.Linear(3 * e, cfg.cond_dim), nn.SiLU(), nn.Linear(cfg.cond_dim, cfg.cond_dim))
        self.stem = Conv2d(cfg.in_channels, w0, 3, padding=1)
        self.down1 = Block(w0, w1, cfg, cfg.attn[0], "down")
        self.down2 = Block(w1, w2, cfg, cfg.attn[1], "down")
        self.down3 = Block(w2, w3, cfg, cfg.attn[2], "down")
        self.mid = Mid(w3, cfg)
        self.up1 = Block(2 * w3, w2, cfg, cfg.attn[2], "up")
        self.up2 = Block(2 * w2, w1, cfg, cfg.attn[1], "up")
        self.up3 = Block(2 * w1, w0, cfg, cfg.attn[0], "up")
        self.out = Out(w0, cfg)

    def condition(self, t: torch.Tensor, centers: torch.Tensor) -> torch.Tensor:
        return self.cond_mlp(self.encodings(t, centers))

    def forward(self, x: torch.Tensor, t: torch.Tensor, centers: torch.Tensor) -> torch.Tensor:
        c = self.condition(t, centers)
        h0 = self._keep("stem", self.stem(x))
        d1 = self._keep("down1", self.down1(h0, c))
        d2 = self._keep("down2", self.down2(d1, c))
        d3 = self._keep("down3", self.down3(d2, c))
        m = self._keep("mid", self.mid(d3, c))
        u1 = self._keep("up1", self.up1(torch.cat([m, d3], 1), c))
        u2 = self._keep("up2", self.up2(torch.cat([u1, d2], 1), c))
        u3 = self._keep("up3", self.up3(torch.cat([u2, d1], 1), c))
        return self._keep("out", self.out(torch.cat([u3, h0], 1), c))


# ------------------------------------------------------------------------------------- arch = "additive"


class AdditiveUNet(UNet):
    """``arch="additive"``: max-pool/double-conv blocks, the concatenated encodings added as a per-channel bias
    at every block, token self-attention after each block (module docstring). ``cond_dim``, ``groups`` and
    ``dropout`` are not used by this architecture."""

    def __init__(self, cfg: ModelConfig = ModelConfig()):
        super().__init__(cfg)
        w0, w1, w2, w3 = cfg.widths
        e, h = 3 * cfg.embed_dim, cfg.heads
        self.stem = DoubleConv(cfg.in_channels, w0)
        self.down1 = AddDown(w0, w1, e, cfg.attn[0], h)
        self.down2 = AddDown(w1, w2, e, cfg.attn[1], h)
        self.down3 = AddDown(w2, w3, e, cfg.attn[2], h)
        self.mid = nn.Sequential(DoubleConv(w3, 2 * w3), DoubleConv(2 * w3, 2 * w3), DoubleConv(2 * w3, w3))
        self.up1 = AddUp(w3 + w2, w1, e, cfg.attn[1], h)
        self.up2 = AddUp(w1 + w1, w0, e, cfg.attn[0], h)
        self.up3 = AddUp(w0 + w0, w0, e, cfg.attn[0], h)
        self.out = Conv2d(w0, cfg.in_channels, 1)

    def forward(self, x: torch.Tensor, t: torch.Tensor, centers: torch.Tensor) -> torch.Tensor:
        e = self.encodings(t, centers)
        h0 = self._keep("stem", self.stem(x))
        d1 = self._keep("down1", self.down1(h0, e))
        d2 = self._keep("down2", self.down2(d1, e))
        d3 = self._keep("down3", self.down3(d2, e))
        m = self._keep("mid", self.mid(d3))
        u1 = self._keep("up1", self.up1(m, d2, e))
        u2 = self._keep("up2", self.up2(u1, d1, e))
        u3 = self._keep("up3", self.up3(u2, h0, e))
        return self._keep("out", self.out(u3))
