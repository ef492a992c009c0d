"""The Gaussian-bump lattice and its images (numpy, or torch tensors when given them).

Conventions (docs/SPEC.md, "Data"): an image is N×N; pixel (i, j) — column i, row j — has coordinates
(i + 0.5, j + 0.5), so the canvas is [0, N) × [0, N). An image holds one spherical Gaussian bump
I(x, y) = exp(-((x-μx)² + (y-μy)²) / (2σ²)), mapped linearly to [-1, 1] (peak +1, background -1).
Arrays are (M, 1, N, N) with rows = y and columns = x, i.e. ``image[m, 0, j, i]``.

The lattice of centres splits [0, N) into Kx = round(N/dx) equal cells and puts the centres at their
midpoints, μx = (k + 0.5)·N/Kx; likewise μy. Centres are ordered row-major: y outer, x inner.

A *periodic* lattice (``Lattice(periodic=True)``) wraps the canvas into a torus: the distance from a pixel to
the centre along each axis is the shorter way round, min(|x − μx|, N − |x − μx|), so a bump near an edge
continues on the opposite edge and (μx, μy) lives on a torus. Evaluation then detects bumps across the edges and
measures errors round the torus (:mod:`bumpdiff.analysis.evaluate`).

A *held-out square* (``Lattice(holdout=(x0, y0, w))``) removes from the training set every centre with
x0 ≤ μx < x0 + w and y0 ≤ μy < y0 + w: :meth:`Lattice.centers` (the training set) leaves them out,
:meth:`Lattice.held_out` lists them and :meth:`Lattice.grid` is the whole lattice (what the latent is read on, so
that one can see whether the hole is filled in).
"""
from __future__ import annotations

import sys
from dataclasses import dataclass

import numpy as np

from ..common.arrays import is_tensor, to_numpy
from ..common.checks import check_range
from ..common.identity import added

__all__ = ["Lattice", "render", "check_centers", "wrap"]


@dataclass(frozen=True)
class Lattice:
    """A lattice of bump centres tiling an ``n``×``n`` canvas with increments ``dx`` and ``dy`` (pixels)."""

    n: int = 32
    sigma: float = 1.0
    dx: float = 1.0
    dy: float = 1.0
    periodic: bool = added(False)    # wrap the canvas into a torus (module docstring)
    holdout: tuple = added(())       # () or a held-out square (x0, y0, w) of centres, in pixels (module docstring)

    def __post_init__(self):
        check_range("n", self.n, lo=4, integer=True)
        check_range("sigma", self.sigma, lo=0, lo_open=True)
        check_range("dx", self.dx, lo=0, hi=self.n, lo_open=True, hi_open=True)
        check_range("dy", self.dy, lo=0, hi=self.n, lo_open=True, hi_open=True)
        if not isinstance(self.periodic, bool):
            raise ValueError(f"periodic must be True or False, got {self.periodic!r}")
        try:
            h = tuple(float(v) for v in self.holdout)
        except (TypeError, ValueError):
            raise ValueError(f"holdout must be () or a square (x0, y0, w) of numbers, got {self.holdout!r}") from None
        object.__setattr__(self, "holdout", h)
        if h:
            if len(h) != 3 or not all(np.isfinite(h)):
                raise ValueError(f"holdout must be () or a square (x0, y0, w) of finite numbers, got {self.holdout!r}")
            x0, y0, w = h
            check_range("holdout width w", w, lo=0, hi=self.n, lo_open=True)
            check_range("holdout x0", x0, lo=0, hi=self.n - w)
            check_range("holdout y0", y0, lo=0, hi=self.n - w)
            inside = self.in_holdout(self.grid())
            if not inside.any():
                raise ValueError(f"holdout {h} contains no centre of the lattice (increments {self.dx}, {self.dy})")
            if inside.all():
                raise ValueError(f"holdout {h} contains every centre of the lattice: nothing is left to train on")

    @property
    def kx(self) -> int:
        """Number of distinct μx values, round(n / dx)."""
        return max(1, int(round(self.n / self.dx)))

    @property
    def ky(self) -> int:
        """Number of distinct μy values, round(n / dy)."""
        return max(1, int(round(self.n / self.dy)))

    @property
    def period(self) -> float | None:
        """The circumference of each axis on a periodic canvas (``n``), None on a plain one: what the evaluation
        and the order parameters take as ``period``."""
        return float(self.n) if self.periodic else None

    def __len__(self) -> int:
        """The number of training images (the lattice less any held-out square)."""
        return self.kx * self.ky - (len(self.held_out()) if self.holdout else 0)

    def xs(self) -> np.ndarray:
        return (np.arange(self.kx) + 0.5) * (self.n / self.kx)

    def ys(self) -> np.ndarray:
        return (np.arange(self.ky) + 0.5) * (self.n / self.ky)

    def grid(self) -> np.ndarray:
        """(K, 2) float64 array of every (μx, μy) of the lattice, y outer and x inner (row-major), held-out
        square included."""
        gy, gx = np.meshgrid(self.ys(), self.xs(), indexing="ij")
        return np.stack([gx.ravel(), gy.ravel()], axis=1)

    def in_holdout(self, centers) -> np.ndarray:
        """(M,) booleans: which of ``centers`` (M, 2) lie in the held-out square (all False without one)."""
        c = np.asarray(centers, dtype=np.float64)
        if not self.holdout:
            return np.zeros(len(c), dtype=bool)
        x0, y0, w = self.holdout
        return (c[:, 0] >= x0) & (c[:, 0] < x0 + w) & (c[:, 1] >= y0) & (c[:, 1] < y0 + w)

    def centers(self) -> np.ndarray:
        """(M, 2) float64 array of the training centres (μx, μy), y outer and x inner (row-major): the grid less
        any held-out square."""
        g = self.grid()
        return g[~self.in_holdout(g)] if self.holdout else g

    def held_out(self) -> np.ndarray:
        """(K, 2) the centres of the held-out square (empty without one), in grid order."""
        g = self.grid()
        return g[self.in_holdout(g)]

    def images(self) -> np.ndarray:
        """All images of the lattice, (M, 1, n, n) float32. For large lattices prefer :class:`BumpDataset`."""
        return render(self.centers(), n=self.n, sigma=self.sigma, periodic=self.periodic)


def wrap(offset, n):
    """Offsets taken the shorter way round a circle of circumference ``n``: values in [-n/2, n/2)
    (numpy arrays and torch tensors alike)."""
    return (offset + n / 2) % n - n / 2


def check_centers(centers, n: int) -> None:
    """Raise ``ValueError`` unless ``centers`` is an (M, 2) array of finite values in [0, n]."""
    c = to_numpy(centers)
    if c.ndim != 2 or c.shape[1] != 2:
        raise ValueError(f"centers must have shape (M, 2), got {tuple(c.shape)}")
    if not np.all(np.isfinite(c)):
        raise ValueError("centers must be finite (no NaN or inf)")
    if c.size and (c.min() < 0 or c.max() > n):
        raise ValueError(f"centers must lie on the canvas, each coordinate in [0, {n}], "
                         f"got values in [{c.min():.4g}, {c.max():.4g}]")


def render(centers, n: int = 32, sigma: float = 1.0, periodic: bool = False):
    """Render one bump per centre.

    ``centers``: (M, 2) array of (μx, μy) in pixel coordinates (numpy array or torch tensor).
    Returns float32 images of shape (M, 1, n, n) in [-1, 1] (peak +1, background -1), of the same kind
    as the input (a torch input gives a tensor on the same device). The Gaussian is separable, so this is
    two (M, n) exponentials and an outer product. With ``periodic`` the offsets are taken the shorter way
    round the canvas (a torus; module docstring).
    """
    check_range("n", n, lo=4, integer=True)
    check_range("sigma", sigma, lo=0, lo_open=True)
    check_centers(centers, n)
    n = int(n)
    if is_tensor(centers):
        torch = sys.modules["torch"]   # imported by the caller that made the tensor
        c = centers.to(torch.float32)
        coords = torch.arange(n, device=c.device, dtype=torch.float32) + 0.5
        ox, oy = coords[None, :] - c[:, 0:1], coords[None, :] - c[:, 1:2]
        if periodic:
            ox, oy = wrap(ox, n), wrap(oy, n)
        gx = torch.exp(-(ox**2) / (2 * sigma**2))
        gy = torch.exp(-(oy**2) / (2 * sigma**2))
        img = gy[:, :, None] * gx[:, None, :]
        return (2 * img - 1)[:, None]
    c = np.asarray(centers, dtype=np.float64)
    coords = np.arange(n) + 0.5
    ox, oy = coords[None, :] - c[:, 0:1], coords[None, :] - c[:, 1:2]
    if periodic:
        ox, oy = wrap(ox, n), wrap(oy, n)
    gx = np.exp(-(ox**2) / (2 * sigma**2))
    gy = np.exp(-(oy**2) / (2 * sigma**2))
    img = gy[:, :, None] * gx[:, None, :]
    return (2 * img - 1)[:, None].astype(np.float32)
