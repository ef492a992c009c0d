"""Gaussian stripes and sums of stripes (the follow-up study, arXiv 2408.13256): their lattices and their images.

Conventions (docs/SPEC.md, "Stripes"): the N×N image is the window of a larger *frame* of side N + 2m, with a hidden
margin of m pixels on each side (m = round(3N/16): 6 px at 32 × 32, 3 px at 16 × 16). Labels (μx, μy) are frame
coordinates in [0, N + 2m); pixel (i, j) of the image (column i, row j) sits at frame coordinates
(m + i + 0.5, m + j + 0.5). A **sum of stripes** (SOS) is one vertical stripe at μx plus one horizontal stripe at μy,

    I(x, y) = exp(−(x − μx)² / (2σ²)) + exp(−(y − μy)² / (2σ²)),

in [0, 2], mapped to [−1, 1] as I − 1 (background −1, a stripe 0, their crossing +1). A **1-D stripe** is an SOS
whose other coordinate lies in the hidden margin, so only one stripe is seen; a coordinate is *visible* when it lies
in the window [m, m + N).

A :class:`StripeLattice` lists the labels of a training set on a lattice of spacing ``d`` over the window: the 2-D
examples (both coordinates visible) outside an optional held-out band, the 1-D stripes (one coordinate visible, the
other at the margin's middle), and a rim of 2-D examples along the window's edge; ``kept`` keeps a seeded random
fraction λ of the 2-D examples (the 1-D stripes, O(N) of them, are always all kept). A 2-D example is drawn as an
SOS (``shape="sos"``) or as the main study's Gaussian bump (``shape="bump"``, 2·exp(−r²/2σ²) − 1, at the same frame
coordinates); a 1-D stripe is always a stripe. :meth:`StripeLattice.render` draws any labels that way.
"""
from __future__ import annotations

import sys
from dataclasses import dataclass

import numpy as np

from ..common.arrays import is_tensor
from ..common.checks import check_range
from .lattice import render

__all__ = ["StripeLattice", "render_stripes", "margin_for", "visible", "STRIPE_KINDS", "STRIPE_SHAPES", "render_labels",
           "SECTIONS", "CROSS_SECTIONS", "sections"]

#: what a lattice holds: ``2d`` — 2-D examples only; ``stripes`` — 1-D stripes only; ``stripes+rim`` — 1-D stripes
#: and a rim of 2-D examples along the window's edge; ``stripes+2d`` — 1-D stripes and the 2-D examples
STRIPE_KINDS = ("2d", "stripes", "stripes+rim", "stripes+2d")
#: how a 2-D example is drawn: a sum of stripes, or a Gaussian bump
STRIPE_SHAPES = ("sos", "bump")


def margin_for(n: int) -> int:
    """The hidden margin of an ``n``-pixel window: 6 px at 32, scaled with the window (3 px at 16)."""
    return int(round(3 * n / 16))


def visible(coord, n: int, margin: int) -> np.ndarray:
    """Whether frame coordinates lie in the window [margin, margin + n)."""
    c = np.asarray(coord, dtype=float)
    return (c >= margin) & (c < margin + n)


@dataclass(frozen=True)
class StripeLattice:
    """The labels of a stripes training set (module docstring)."""

    n: int = 32                  # the window's side (the image)
    sigma: float = 1.0           # the stripes' width
    d: float = 1.0               # lattice spacing over the frame, pixels
    kind: str = "2d"             # STRIPE_KINDS
    shape: str = "sos"           # STRIPE_SHAPES: how a 2-D example is drawn
    band: tuple = ()             # () or (lo, hi): 2-D examples with lo ≤ μx < hi or lo ≤ μy < hi are held out
    rim: float = 2.0             # `stripes+rim`: 2-D examples within this many pixels of the window's edge
    kept: float = 1.0            # the fraction λ of the lattice kept (seeded)
    seed: int = 0

    def __post_init__(self):
        check_range("n", self.n, lo=8, integer=True)
        check_range("sigma", self.sigma, lo=0, lo_open=True)
        check_range("d", self.d, lo=0, hi=self.n, lo_open=True)
        if self.kind not in STRIPE_KINDS:
            raise ValueError(f"kind must be one of {STRIPE_KINDS}, got {self.kind!r}")
        if self.shape not in STRIPE_SHAPES:
            raise ValueError(f"shape must be one of {STRIPE_SHAPES}, got {self.shape!r}")
        band = tuple(float(v) for v in self.band)
        if band and (len(band) != 2 or not self.margin <= band[0] < band[1] <= self.margin + self.n):
            raise ValueError(f"band must be () or (lo, hi) with {self.margin} ≤ lo < hi ≤ {self.margin + self.n} "
                             f"(frame coordinates inside the window), got {self.band!r}")
        object.__setattr__(self, "band", band)
        if self.kind == "stripes" and self.kept < 1:
            raise ValueError(f"kept must be 1 for kind 'stripes' (kept thins the 2-D examples; it has none), "
                             f"got {self.kept}")
        check_range("rim", self.rim, lo=0, lo_open=True, hi=self.n / 2)
        check_range("kept", self.kept, lo=0, lo_open=True, hi=1)
        check_range("seed", self.seed, lo=0, integer=True)

    @property
    def margin(self) -> int:
        return margin_for(self.n)

    @property
    def frame(self) -> int:
        return self.n + 2 * self.margin

    def axis(self) -> np.ndarray:
        """Lattice values of one visible coordinate: cell midpoints of spacing ~d over the window."""
        k = max(1, int(round(self.n / self.d)))
        return self.margin + (np.arange(k) + 0.5) * self.n / k

    def in_band(self, labels) -> np.ndarray:
        """Whether each label (M, 2) falls in the held-out cross (either coordinate in the band)."""
        lab = np.asarray(labels, dtype=float).reshape(-1, 2)
        if not self.band:
            return np.zeros(len(lab), dtype=bool)
        lo, hi = self.band
        return ((lab >= lo) & (lab < hi)).any(axis=1)

    def _sos(self) -> np.ndarray:
        a = self.axis()
        gy, gx = np.meshgrid(a, a, indexing="ij")
        return np.stack([gx.ravel(), gy.ravel()], axis=1)

    def one_d(self) -> np.ndarray:
        """The 1-D stripe labels (M, 2): every lattice value of each axis, the other at the margin's middle."""
        a = self.axis()
        hidden = self.margin / 2   # the margin's middle: the other stripe lies wholly outside the window
        far = np.full_like(a, hidden)
        return np.concatenate([np.stack([a, far], 1), np.stack([far, a], 1)])

    def two_d(self) -> np.ndarray:
        """The 2-D training examples (M, 2), before :attr:`kept` thins them: the lattice outside the band, or for
        ``stripes+rim`` its rim only, or none for ``stripes``."""
        sos = self._sos()
        sos = sos[~self.in_band(sos)]
        if self.kind == "stripes":
            return sos[:0]
        if self.kind == "stripes+rim":
            inner = sos - self.margin
            return sos[((inner < self.rim) | (inner > self.n - self.rim)).any(axis=1)]
        return sos

    def labels(self) -> np.ndarray:
        """The training labels (M, 2), frame coordinates, in a fixed order: the 1-D stripes (if any), then the 2-D
        examples that :attr:`kept` keeps (a seeded choice)."""
        two = self.two_d()
        if self.kept < 1 and len(two):
            rng = np.random.default_rng(self.seed)
            keep = max(1, int(round(self.kept * len(two))))
            two = two[np.sort(rng.choice(len(two), size=keep, replace=False))]
        out = np.concatenate([self.one_d(), two]) if self.kind != "2d" else two
        return out.astype(np.float64)

    def all_two_d(self) -> np.ndarray:
        """Every 2-D label of the lattice over the window (M, 2), band or not: what a test of 2-D generation asks."""
        return self._sos()

    def render(self, labels):
        """Images (M, 1, n, n) of ``labels`` (M, 2; numpy or torch) as this lattice draws them: a label with both
        coordinates visible as :attr:`shape`, any other as its stripe(s)."""
        return render_labels(labels, self.n, self.sigma, self.shape)

    def heldout_labels(self) -> np.ndarray:
        """The 2-D labels of the held-out cross (M, 2) (empty without a band)."""
        sos = self._sos()
        return sos[self.in_band(sos)]


#: the test sections of a lattice, in the order they are analysed and reported: with a held-out band, the window's 2-D
#: labels split by the cross (`outside`: neither coordinate in the band; `vertical arm`: μx in it, μy not; `horizontal
#: arm`: μy in it, μx not; `intersection`: both); without one, `2-D`: every 2-D label of the window; and `stripes`:
#: every 1-D stripe, for a lattice that has them
SECTIONS = ("outside", "vertical arm", "horizontal arm", "intersection", "2-D", "stripes")
#: the sections of the held-out cross, where composition is tested
CROSS_SECTIONS = ("vertical arm", "horizontal arm", "intersection")


def sections(st: StripeLattice) -> dict[str, np.ndarray]:
    """``{section: labels (M, 2)}`` of a lattice, in :data:`SECTIONS` order, the empty ones left out."""
    two = st.all_two_d()
    out = {}
    if st.band:
        lo, hi = st.band
        inx = (two[:, 0] >= lo) & (two[:, 0] < hi)
        iny = (two[:, 1] >= lo) & (two[:, 1] < hi)
        out |= {"outside": two[~inx & ~iny], "vertical arm": two[inx & ~iny], "horizontal arm": two[~inx & iny],
                "intersection": two[inx & iny]}
    else:
        out["2-D"] = two
    if st.kind != "2d":
        out["stripes"] = st.one_d()
    return {k: out[k] for k in SECTIONS if k in out and len(out[k])}


def render_stripes(labels, n: int = 32, sigma: float = 1.0, margin: int | None = None):
    """Images (M, 1, n, n) in [−1, 1] of the SOS of each label (M, 2) in frame coordinates (module docstring); a torch
    tensor for tensor labels (on their device), numpy otherwise."""
    m = margin_for(n) if margin is None else margin
    check_range("sigma", sigma, lo=0, lo_open=True)
    if is_tensor(labels):
        torch = sys.modules["torch"]   # imported by the caller that made the tensor
        lab = labels.to(torch.float32).reshape(-1, 2)
        pix = m + torch.arange(n, dtype=torch.float32, device=lab.device) + 0.5
        vx = torch.exp(-(pix[None, :] - lab[:, :1]) ** 2 / (2 * sigma ** 2))   # (M, n) over columns
        vy = torch.exp(-(pix[None, :] - lab[:, 1:]) ** 2 / (2 * sigma ** 2))   # (M, n) over rows
        return (vx[:, None, None, :] + vy[:, None, :, None] - 1.0).to(torch.float32)
    lab = np.asarray(labels, dtype=np.float64).reshape(-1, 2)
    pix = m + np.arange(n) + 0.5
    vx = np.exp(-(pix[None, :] - lab[:, :1]) ** 2 / (2 * sigma ** 2))
    vy = np.exp(-(pix[None, :] - lab[:, 1:]) ** 2 / (2 * sigma ** 2))
    return (vx[:, None, None, :] + vy[:, None, :, None] - 1.0).astype(np.float32)


def render_labels(labels, n: int = 32, sigma: float = 1.0, shape: str = "sos", margin: int | None = None):
    """Images (M, 1, n, n) in [−1, 1]: each label (frame coordinates) with both coordinates visible drawn as ``shape``
    (an SOS, or a Gaussian bump at the same place), any other as its stripe(s) (numpy or torch, as the labels)."""
    if shape not in STRIPE_SHAPES:
        raise ValueError(f"shape must be one of {STRIPE_SHAPES}, got {shape!r}")
    m = margin_for(n) if margin is None else margin
    imgs = render_stripes(labels, n, sigma, m)
    if shape == "sos":
        return imgs
    if is_tensor(labels):
        lab = labels.reshape(-1, 2).to(imgs.dtype)
        two = ((lab >= m) & (lab < m + n)).all(dim=1)
        if bool(two.any()):
            imgs = imgs.clone()
            imgs[two] = render(lab[two] - m, n, sigma)
        return imgs
    lab = np.asarray(labels, dtype=np.float64).reshape(-1, 2)
    two = visible(lab, n, m).all(axis=1)
    if two.any():
        imgs[two] = render(lab[two] - m, n, sigma)
    return imgs
