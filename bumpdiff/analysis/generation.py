"""Generation accuracy of a model: samples at centres drawn from the lattice, scored by the project's detector
(:mod:`.evaluate`)."""
from __future__ import annotations

import numpy as np
import torch

from ..common.checks import check_range
from ..core.diffusion import as_sampler, inference_chunk
from .evaluate import score

__all__ = ["sample_and_score"]


def sample_and_score(diffusion, centers_pool, n: int, seed: int = 0, sampler="ddpm", steps: int | None = None,
                     eta: float = 0.0, tol: float = 1.0, batch_size: int | None = None, periodic: bool = False):
    """Generate ``n`` samples at centres drawn (with replacement, from ``seed``) from ``centers_pool`` and score them.
    ``sampler`` is a :class:`~bumpdiff.core.diffusion.DDPM` / :class:`~bumpdiff.core.diffusion.DDIM` value or a name
    with ``steps`` and ``eta``; ``periodic`` scores on a wrapped canvas. ``batch_size``: images per forward pass
    (default :func:`~bumpdiff.core.diffusion.inference_chunk`, 256 on an accelerator; the samples do not depend on
    it). Returns ``(Score, images)``."""
    check_range("n", n, lo=1, integer=True)
    pool = np.asarray(centers_pool, dtype=float)
    g = torch.Generator().manual_seed(seed)
    req = pool[torch.randint(0, len(pool), (n,), generator=g).numpy()]
    imgs, _ = diffusion.sample(torch.from_numpy(req).float(), generator=g, sampler=as_sampler(sampler, steps, eta),
                               batch_size=inference_chunk(next(diffusion.model.parameters()).device, batch_size,
                                                          accelerator=256))
    return score(imgs, req, tol=tol, periodic=periodic), imgs
