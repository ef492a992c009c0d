"""The UNets' building blocks: convolutions that keep bf16 arithmetic on CPUs without bf16 kernels, sinusoidal
encodings, the residual, attention and resampling blocks of the `film` UNet and the double-convolution,
token-attention and resampling blocks of the `additive` UNet (:mod:`bumpdiff.core.model` assembles them)."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

_BF16_CONV: dict[str, bool | None] = {"native": None}   # resolved on first use; tests may set it


def native_bf16_conv() -> bool:
    """Whether this CPU runs bf16 convolutions natively (oneDNN; needs AVX-512 BW/VL/DQ or Arm bf16).

    Without it, torch falls back to a reference convolution that is ~15× slower than fp32 (measured on a
    2-core AVX2 machine: a ``cpu``-profile training step at 6 img/s in bf16 vs 94 img/s in fp32).
    """
    probe = getattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", None)
    try:
        return bool(probe()) if probe is not None else torch.backends.cpu.get_cpu_capability().startswith("AVX512")
    except RuntimeError:  # pragma: no cover - a build without oneDNN
        return False


def bf16_conv_mode() -> str:
    """``"native"`` or ``"emulated"``: how convolutions run under CPU bf16 autocast on this machine."""
    if _BF16_CONV["native"] is None:
        _BF16_CONV["native"] = native_bf16_conv()
    return "native" if _BF16_CONV["native"] else "emulated"


def _bf16(t: torch.Tensor | None) -> torch.Tensor | None:
    """Round to bf16 and widen back to fp32 (exact: every bf16 value is an fp32 value)."""
    return None if t is None else t.to(torch.bfloat16).float()


class Conv2d(nn.Conv2d):
    """``nn.Conv2d`` whose bf16 autocast on a CPU without native bf16 convolutions is emulated, not slow.

    Emulation keeps bf16 autocast's arithmetic: the input, weight and bias are rounded to bf16, products are
    accumulated in fp32 (as oneDNN's bf16 kernels do), and the output is rounded to bf16; in the backward pass
    the gradients flowing through the same casts are rounded to bf16 as well. Only the kernel (an fp32
    convolution on bf16-valued operands) and hence the order of the fp32 sums differ from a native bf16
    kernel, as they differ between any two CPUs. Parameters and ``state_dict`` are those of ``nn.Conv2d``;
    outside CPU bf16 autocast, or on a CPU with native bf16, it *is* ``nn.Conv2d``.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if (x.device.type == "cpu" and torch.is_autocast_enabled("cpu")
                and torch.get_autocast_dtype("cpu") == torch.bfloat16 and bf16_conv_mode() == "emulated"):
            with torch.autocast("cpu", enabled=False):
                y = self._conv_forward(_bf16(x), _bf16(self.weight), _bf16(self.bias))
            return y.to(torch.bfloat16)
        return super().forward(x)


def sinusoidal(x: torch.Tensor, dim: int, max_period: float = 10000.0) -> torch.Tensor:
    """Transformer-style sinusoidal encoding of a real-valued (B,) tensor → (B, dim)."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, device=x.device, dtype=torch.float32) / half)
    args = x.float()[:, None] * freqs[None]
    return torch.cat([torch.cos(args), torch.sin(args)], dim=1)


class ResBlock(nn.Module):
    def __init__(self, cin, cout, cond_dim, groups, dropout):
        super().__init__()
        self.norm1 = nn.GroupNorm(groups, cin)
        self.conv1 = Conv2d(cin, cout, 3, padding=1)
        self.cond = nn.Linear(cond_dim, 2 * cout)
        self.norm2 = nn.GroupNorm(groups, cout)
        self.drop = nn.Dropout(dropout)
        self.conv2 = Conv2d(cout, cout, 3, padding=1)
        self.skip = Conv2d(cin, cout, 1) if cin != cout else nn.Identity()

    def forward(self, x, c):
        h = self.conv1(F.silu(self.norm1(x)))
        scale, shift = self.cond(c)[:, :, None, None].chunk(2, dim=1)
        h = self.norm2(h) * (1 + scale) + shift
        h = self.conv2(self.drop(F.silu(h)))
        return h + self.skip(x)


class Attention(nn.Module):
    """Multi-head self-attention over spatial positions, residual."""

    def __init__(self, ch, heads, groups):
        super().__init__()
        self.heads = heads
        self.norm = nn.GroupNorm(groups, ch)
        self.qkv = Conv2d(ch, 3 * ch, 1)
        self.proj = Conv2d(ch, ch, 1)

    def forward(self, x):
        b, c, h, w = x.shape
        # (b, heads, positions, head dim), contiguous: lets torch pick its fused (flash) kernel instead of the
        # much slower unfused "math" attention that strided views fall back to on the CPU
        qkv = self.qkv(self.norm(x)).reshape(b, 3, self.heads, c // self.heads, h * w).transpose(-1, -2)
        q, k, v = qkv.contiguous().unbind(1)
        o = F.scaled_dot_product_attention(q, k, v)
        return x + self.proj(o.transpose(-1, -2).reshape(b, c, h, w))


class Block(nn.Module):
    """Res block → (down/up)sample → optional attention. Down: res at input res, then halve; up: double last."""

    def __init__(self, cin, cout, cfg, attn: bool, resample: str):
        super().__init__()
        self.res = ResBlock(cin, cout, cfg.cond_dim, cfg.groups, cfg.dropout)
        self.resample = resample
        if resample == "down":
            self.down = Conv2d(cout, cout, 3, stride=2, padding=1)
        elif resample == "up":
            self.up = Conv2d(cout, cout, 3, padding=1)
        self.attn = Attention(cout, cfg.heads, cfg.groups) if attn else nn.Identity()

    def forward(self, x, c):
        h = self.res(x, c)
        if self.resample == "down":
            return self.attn(self.down(h))
        h = self.attn(h)
        return self.up(F.interpolate(h, scale_factor=2.0, mode="nearest"))


class Mid(nn.Module):
    def __init__(self, ch, cfg):
        super().__init__()
        self.res1 = ResBlock(ch, ch, cfg.cond_dim, cfg.groups, cfg.dropout)
        self.attn = Attention(ch, cfg.heads, cfg.groups) if cfg.mid_attn else nn.Identity()
        self.res2 = ResBlock(ch, ch, cfg.cond_dim, cfg.groups, cfg.dropout)

    def forward(self, x, c):
        return self.res2(self.attn(self.res1(x, c)), c)


class Out(nn.Module):
    def __init__(self, ch, cfg):
        super().__init__()
        self.res = ResBlock(2 * ch, ch, cfg.cond_dim, cfg.groups, cfg.dropout)
        self.norm = nn.GroupNorm(cfg.groups, ch)
        self.conv = Conv2d(ch, cfg.in_channels, 3, padding=1)

    def forward(self, x, c):
        return self.conv(F.silu(self.norm(self.res(x, c))))


class DoubleConv(nn.Module):
    """3×3 conv → GroupNorm(1) → GELU → 3×3 conv → GroupNorm(1); with ``residual``, GELU(x + that)."""

    def __init__(self, cin, cout, mid=None, residual=False):
        super().__init__()
        mid = mid or cout
        self.residual = residual
        self.net = nn.Sequential(Conv2d(cin, mid, 3, padding=1, bias=False), nn.GroupNorm(1, mid), nn.GELU(),
                                 Conv2d(mid, cout, 3, padding=1, bias=False), nn.GroupNorm(1, cout))

    def forward(self, x):
        return F.gelu(x + self.net(x)) if self.residual else self.net(x)


class TokenAttention(nn.Module):
    """Self-attention over the h·w positions as tokens: LayerNorm → multi-head attention → + x, then
    LayerNorm → Linear → GELU → Linear → + x."""

    def __init__(self, ch, heads):
        super().__init__()
        self.heads = heads
        self.norm = nn.LayerNorm(ch)
        self.qkv = nn.Linear(ch, 3 * ch)
        self.proj = nn.Linear(ch, ch)
        self.ff = nn.Sequential(nn.LayerNorm(ch), nn.Linear(ch, ch), nn.GELU(), nn.Linear(ch, ch))

    def forward(self, x):
        b, c, h, w = x.shape
        tok = x.flatten(2).transpose(1, 2)                                    # (B, hw, C)
        q, k, v = self.qkv(self.norm(tok)).reshape(b, h * w, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
        o = F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(b, h * w, c)
        tok = tok + self.proj(o)
        tok = tok + self.ff(tok)
        return tok.transpose(1, 2).reshape(b, c, h, w)


class AddDown(nn.Module):
    def __init__(self, cin, cout, enc_dim, attn, heads):
        super().__init__()
        self.convs = nn.Sequential(nn.MaxPool2d(2), DoubleConv(cin, cin, residual=True), DoubleConv(cin, cout))
        self.bias = nn.Sequential(nn.SiLU(), nn.Linear(enc_dim, cout))
        self.attn = TokenAttention(cout, heads) if attn else nn.Identity()

    def forward(self, x, e):
        return self.attn(self.convs(x) + self.bias(e)[:, :, None, None])


class AddUp(nn.Module):
    def __init__(self, cin, cout, enc_dim, attn, heads):
        super().__init__()
        self.convs = nn.Sequential(DoubleConv(cin, cin, residual=True), DoubleConv(cin, cout, mid=cin // 2))
        self.bias = nn.Sequential(nn.SiLU(), nn.Linear(enc_dim, cout))
        self.attn = TokenAttention(cout, heads) if attn else nn.Identity()

    def forward(self, x, skip, e):
        x = F.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=True)
        return self.attn(self.convs(torch.cat([skip, x], 1)) + self.bias(e)[:, :, None, None])
