"""Generation accuracy of a model trained on stripes, per test section of its lattice (the follow-up study).

The **sections** of a :class:`~bumpdiff.core.stripes.StripeLattice` are sets of labels a test asks for:

- with a held-out band, the 2-D labels of the window split by the cross: ``outside`` (neither coordinate in the band),
  ``vertical arm`` (μx in the band, μy not), ``horizontal arm`` (μy in the band, μx not) and ``intersection`` (both);
- without one, ``2-D``: every 2-D label of the lattice over the window (the kept ones and the others);
- for a lattice with 1-D stripes, ``stripes``: every 1-D stripe label.

Each section is sampled ``n_per_section`` times (labels drawn with replacement from one generator seeded by the
analysis's seed and the section's index) and scored: an SOS or a stripe by the stripe detector
(:mod:`.stripe_detect`), a bump by the bump detector (:mod:`.evaluate`) at its window coordinates.
"""
from __future__ import annotations

import time

import numpy as np
import torch

from ..core.diffusion import as_sampler, inference_chunk
from ..core.stripes import SECTIONS, StripeLattice, sections
from .evaluate import score
from .specs import StripeAnalysis
from .stripe_detect import score_stripes

__all__ = ["sections", "SECTIONS", "evaluate_stripes", "score_section"]


def score_section(images, labels, st: StripeLattice, tol: float) -> dict:
    """The scores of generated ``images`` against their requested ``labels`` (frame coordinates): accuracy, per-axis
    accuracy and the failure fractions of the detector that reads them."""
    lab = np.asarray(labels, dtype=float)
    m = st.margin
    two = ((lab >= m) & (lab < m + st.n)).all(axis=1)
    if st.shape == "bump" and two.all():
        s = score(images, lab - m, tol=tol)
        return {"accuracy": s.accuracy, "acc_x": s.acc_x, "acc_y": s.acc_y, "n": s.n, "tol": float(tol),
                "frac_none": s.frac_none, "frac_multiple": s.frac_multiple, "frac_single_wrong": s.frac_single_wrong}
    if st.shape == "bump" and two.any():
        raise ValueError("labels must be all 2-D (bumps) or all scored as stripes, not a mix")
    return score_stripes(images, lab, tol=tol).summary()


def evaluate_stripes(diffusion, st: StripeLattice, spec: StripeAnalysis) -> tuple[dict, dict]:
    """Sample and score every section of ``st`` with the model ``diffusion``: ``(record, arrays)``, the record
    ``{"sections": {name: scores}, "seconds": …}`` and the arrays ``samples_<k>`` (kept samples of section k, float16)
    and ``requested_<k>``."""
    t0 = time.perf_counter()
    sampler = as_sampler(spec.sampler, spec.sampler_steps, spec.eta)
    device = next(diffusion.model.parameters()).device
    rec, arrays = {}, {}
    for k, (name, pool) in enumerate(sections(st).items()):
        g = torch.Generator().manual_seed(spec.seed * 1000 + k)
        req = pool[torch.randint(0, len(pool), (spec.n_per_section,), generator=g).numpy()]
        imgs, _ = diffusion.sample(torch.from_numpy(req).float(), generator=g, sampler=sampler,
                                   batch_size=inference_chunk(device, None, accelerator=256))
        rec[name] = score_section(imgs, req, st, spec.tol)
        arrays[f"samples_{k}"] = imgs[:spec.keep_samples].numpy().astype(np.float16)
        arrays[f"requested_{k}"] = req[:spec.keep_samples].astype(np.float32)
    return {"sections": rec, "seconds": time.perf_counter() - t0}, arrays
