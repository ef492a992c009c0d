"""The Gaussian-bump dataset for training: (image, centre) pairs of a :class:`~bumpdiff.core.lattice.Lattice`,
rendered on access (the lattice, its conventions and the renderer are :mod:`bumpdiff.core.lattice`)."""
from __future__ import annotations

import torch

from .lattice import Lattice, check_centers, render, wrap
from .stripes import StripeLattice

__all__ = ["Lattice", "render", "BumpDataset", "StripeDataset", "check_centers", "wrap", "dataset_for"]


class BumpDataset(torch.utils.data.Dataset):
    """(image, centre) pairs for every centre of a lattice.

    Only the centres are stored (102,400 centres are 1.6 MB); images are rendered on access, so building
    the paper-size lattice is instant. :meth:`batch` renders many at once for the training loop.
    """

    def __init__(self, lattice: Lattice):
        self.lattice = lattice
        self.centers = torch.from_numpy(lattice.centers()).to(torch.float32)

    def __len__(self) -> int:
        return self.centers.shape[0]

    def __getitem__(self, idx: int):
        if not -len(self) <= idx < len(self):
            raise IndexError(f"index {idx} out of range for a dataset of {len(self)} images")
        c = self.centers[idx : idx + 1] if idx >= 0 else self.centers[idx:][:1]
        return render(c, self.lattice.n, self.lattice.sigma, self.lattice.periodic)[0], c[0]

    def batch(self, indices: torch.Tensor, device=None):
        """Images (B, 1, n, n) and centres (B, 2) for a tensor of indices, rendered on ``device``."""
        c = self.centers[indices]
        if device is not None:
            c = c.to(device)
        return render(c, self.lattice.n, self.lattice.sigma, self.lattice.periodic), c


class StripeDataset(BumpDataset):
    """(image, label) pairs of a :class:`~bumpdiff.core.stripes.StripeLattice`: stripes, SOS or bumps in a frame with
    a hidden margin, labels in frame coordinates, rendered on access."""

    def __init__(self, stripes: StripeLattice):
        self.stripes = stripes
        self.centers = torch.from_numpy(stripes.labels()).to(torch.float32)

    def __getitem__(self, idx: int):
        if not -len(self) <= idx < len(self):
            raise IndexError(f"index {idx} out of range for a dataset of {len(self)} images")
        c = self.centers[idx : idx + 1] if idx >= 0 else self.centers[idx:][:1]
        return self.stripes.render(c)[0], c[0]

    def batch(self, indices: torch.Tensor, device=None):
        c = self.centers[indices]
        if device is not None:
            c = c.to(device)
        return self.stripes.render(c), c


def dataset_for(cfg) -> BumpDataset:
    """The training set of a :class:`~bumpdiff.core.config.TrainConfig`: its stripes when it has them, else its
    lattice's bumps."""
    return StripeDataset(cfg.stripes) if cfg.stripes is not None else BumpDataset(cfg.lattice)
