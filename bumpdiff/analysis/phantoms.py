"""Phantoms: synthetic latents whose phase is known before any instrument looks at them, at the sizes the profiles
analyse (``side`` × ``side`` conditions on the lattice of pixel centres, ``dim`` features), to calibrate the latent
rule (:func:`bumpdiff.analysis.phases.latent_phase`) the way an imaging instrument is calibrated on phantoms.

Every phantom starts from a **sheet**: features f(μ) of the centre μ = (μx, μy), random Fourier features of an RBF
kernel of length scale ``length`` pixels (f_j = √(2/D)·cos(w_j·μ / length + b_j), w_j ~ N(0, I), b_j ~ U(0, 2π)):
a smooth 2-D manifold in D dimensions, nearly flat when ``length`` exceeds the side, strongly curved when it is a
few pixels; ``length=inf`` is a flat sheet (a random linear map of μ). On a periodic canvas the frequencies are
integers per period, so the sheet closes into a torus. Then, by ``kind``:

=============  =====  ==================================================================================
kind           truth  what is done to the sheet
=============  =====  ==================================================================================
``sheet``      C      nothing: an ordered 2-D manifold whose coordinates follow μx and μy
``scrambled``  B      the rows are permuted over all conditions: a 2-D manifold, neighbours unrelated
``blocks``     B      the rows are permuted within ``block`` × ``block`` cells of the lattice: coarse order kept,
                      neighbours scrambled over several pixels
``folded``     B      μx is folded about the middle (μx and side − μx share one place): two conditions, one point
``torn``       B      the lattice is cut into ``pieces`` strips along x, each with its own independent sheet
``cloud``      A      no sheet: independent Gaussian rows, no dependence on the condition; isotropic
                      (``spectrum`` 0) or with variances falling as j^(−spectrum) over the features, as a
                      random network's activations do (an elongated blob, still no manifold)
=============  =====  ==================================================================================

Finally isotropic Gaussian noise of standard deviation ``noise`` × the sheet's feature scale (the standard
deviation of the sheet's features over conditions, pooled) is added to every row; a latent read on noise images
shows a within- over between-condition variance (:func:`bumpdiff.analysis.manifold.noise_ratio`) of noise².
Every phantom is a pure function of its fields (``seed`` included).
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from ..common.checks import check_range

__all__ = ["Phantom", "KINDS", "TRUTH", "make_phantom", "phantom_set", "PHANTOM_VERSION", "NOISE_RANGE"]

#: the version of how phantoms are built: part of every stored calibration's key, raised whenever
#: :func:`make_phantom` changes what a phantom of given fields is, or the measures what they compute (2: the
#: torus's lowest frequencies cover y too; 3: clouds with a falling spectrum)
PHANTOM_VERSION = 3

KINDS = ("sheet", "scrambled", "blocks", "folded", "torn", "cloud")
TRUTH = {"sheet": "C", "scrambled": "B", "blocks": "B", "folded": "B", "torn": "B", "cloud": "A"}


@dataclass(frozen=True)
class Phantom:
    """One synthetic latent of known phase (module docstring)."""

    kind: str = "sheet"
    side: int = 32              # conditions per axis (the lattice of pixel centres (k + 0.5) of a side × side canvas)
    dim: int = 1024             # features per condition
    length: float = 8.0         # the sheet's length scale in pixels (inf: a flat sheet)
    noise: float = 0.0          # isotropic noise, in units of the sheet's feature scale
    periodic: bool = False      # the centre lives on a torus of side `side`
    block: int = 8              # `blocks`: the side of the scrambled cells
    pieces: int = 2             # `torn`: the number of strips
    spectrum: float = 0.0       # `cloud`: variance of feature j ∝ j^(−spectrum) (0: isotropic)
    seed: int = 0

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {self.kind!r}")
        check_range("side", self.side, lo=5, integer=True)
        check_range("dim", self.dim, lo=3, integer=True)
        if not self.length > 0:
            raise ValueError(f"length must be > 0 pixels (inf: a flat sheet), got {self.length!r}")
        check_range("noise", self.noise, lo=0)
        check_range("block", self.block, lo=2, hi=self.side, integer=True)
        check_range("pieces", self.pieces, lo=2, hi=self.side // 2, integer=True)
        check_range("spectrum", self.spectrum, lo=0, hi=4)
        check_range("seed", self.seed, lo=0, integer=True)

    @property
    def truth(self) -> str:
        return TRUTH[self.kind]

    @property
    def period(self) -> float | None:
        return float(self.side) if self.periodic else None

    def label(self) -> str:
        extra = {"blocks": f" b={self.block}", "torn": f" {self.pieces} pieces",
                 "cloud": f" spectrum {self.spectrum:g}"}.get(self.kind, "")
        ell = "" if self.kind == "cloud" else "flat " if math.isinf(self.length) else f"ℓ={self.length:g} "
        return f"{self.kind}{extra} {ell}noise={self.noise:g}{' torus' if self.periodic else ''} seed {self.seed}"

    def to_dict(self) -> dict:
        d = asdict(self)
        d["length"] = None if math.isinf(self.length) else self.length   # JSON has no inf
        return d


def _centers(side: int) -> np.ndarray:
    ax = np.arange(side) + 0.5
    gy, gx = np.meshgrid(ax, ax, indexing="ij")
    return np.stack([gx.ravel(), gy.ravel()], axis=1)


def _sheet(mu: np.ndarray, p: Phantom, rng: np.random.Generator) -> np.ndarray:
    """The smooth map μ → R^D (module docstring), on the given centres."""
    if math.isinf(p.length):
        W = rng.normal(size=(2, p.dim))
        return (mu - p.side / 2) @ W / np.sqrt(p.dim)
    if p.periodic:   # integer frequencies per period: the map closes round both axes (a torus)
        scale = p.side / (2 * np.pi * p.length)
        W = np.round(rng.normal(scale=scale, size=(p.dim, 2)))
        zero = np.all(W == 0, axis=1)   # a long length scale: the lowest frequencies, in x, y and both, evenly
        W[zero] = np.array([(1, 0), (0, 1), (1, 1), (1, -1)])[rng.integers(0, 4, size=int(zero.sum()))]
        phase = 2 * np.pi * mu @ W.T / p.side
    else:
        W = rng.normal(size=(p.dim, 2))
        phase = mu @ W.T / p.length
    return np.sqrt(2.0 / p.dim) * np.cos(phase + rng.uniform(0, 2 * np.pi, size=p.dim))


def make_phantom(p: Phantom) -> tuple[np.ndarray, np.ndarray]:
    """``(activations (M, D) float32, centers (M, 2))`` of the phantom ``p``, M = side²."""
    rng = np.random.default_rng([p.seed, KINDS.index(p.kind), p.side, p.dim])
    C = _centers(p.side)
    if p.kind == "cloud":
        F = rng.normal(size=(len(C), p.dim)) * np.arange(1, p.dim + 1) ** (-p.spectrum / 2)
    elif p.kind == "folded":
        mu = C.copy()
        mu[:, 0] = np.abs(mu[:, 0] - p.side / 2) * 2   # x and side − x meet; the fold still spans the side
        F = _sheet(mu, p, rng)
    elif p.kind == "torn":
        strip = np.minimum((C[:, 0] * p.pieces / p.side).astype(int), p.pieces - 1)
        F = np.empty((len(C), p.dim))
        for s in range(p.pieces):   # each strip its own sheet: pieces placed with no relation to one another
            F[strip == s] = _sheet(C[strip == s], p, rng)
    else:
        F = _sheet(C, p, rng)
        if p.kind == "scrambled":
            F = F[rng.permutation(len(C))]
        elif p.kind == "blocks":
            cell = (C[:, 1] // p.block).astype(int) * (p.side // p.block + 1) + (C[:, 0] // p.block).astype(int)
            order = np.arange(len(C))
            for c in np.unique(cell):
                members = np.flatnonzero(cell == c)
                order[members] = members[rng.permutation(len(members))]
            F = F[order]
    scale = float(np.sqrt(F.var(0).mean()))
    if p.noise > 0:
        F = F + rng.normal(scale=p.noise * scale, size=F.shape)
    return F.astype(np.float32), C


#: the noise range the rule is fitted and checked on: the real latents' largest noise fraction at a trained
#: checkpoint (0.48, the `fast` FiLM final model: `calibrate noise`) with room; phantoms beyond it are reported apart
NOISE_RANGE = 0.6


def phantom_set(split: str, side: int, dim: int, periodic: bool = False) -> list[Phantom]:
    """The phantoms of a calibration ``split``: ``"fit"`` (the rule's thresholds are chosen on these) or
    ``"heldout"`` (other seeds, length scales, noise levels, block sizes, piece counts and cloud spectra: the rule is
    checked on these). Noise spans 0 to 1 (100 % of the feature scale): the range real latents show
    (:data:`NOISE_RANGE`) and beyond."""
    if split == "fit":
        seeds, lengths, noises = (0, 1), (4.0, side / 2), (0.0, 0.1, 0.3, 0.6, 1.0)
        blocks, pieces, spectra = (side // 4,), (2, 4), (0.0, 1.0, 1.5)
    elif split == "heldout":
        seeds, lengths, noises = (2, 3), (2.0, side / 4, math.inf), (0.05, 0.2, 0.45, 0.8)
        blocks, pieces, spectra = (side // 4, side // 2), (3,), (0.5, 1.25)
    else:
        raise ValueError(f"split must be 'fit' or 'heldout', got {split!r}")
    out = []
    for seed in seeds:
        for noise in noises:
            base = dict(side=side, dim=dim, noise=noise, periodic=periodic, seed=seed)
            out += [Phantom("cloud", spectrum=a, **base) for a in spectra]
            for length in lengths:
                if periodic and math.isinf(length):
                    continue   # a flat sheet cannot close into a torus
                ell = dict(base, length=length)
                out += [Phantom("sheet", **ell), Phantom("scrambled", **ell), Phantom("folded", **ell)]
                out += [Phantom("blocks", block=b, **ell) for b in blocks]
                out += [Phantom("torn", pieces=n, **ell) for n in pieces]
    return out
