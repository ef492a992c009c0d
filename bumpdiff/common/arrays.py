"""Arrays that may be torch tensors, handled without importing torch: a tensor exists only once its caller has
imported torch, so code that also serves numpy callers (rendering, scoring, reading results) never pays for the
import itself."""
from __future__ import annotations

import sys

import numpy as np

__all__ = ["is_tensor", "to_numpy"]


def is_tensor(x) -> bool:
    """Whether ``x`` is a torch tensor (False whenever torch has not been imported)."""
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(x, torch.Tensor)


def to_numpy(x) -> np.ndarray:
    """``x`` as a numpy array: a tensor is detached and copied to the CPU (bf16, which numpy lacks, as float32);
    anything else goes through ``np.asarray``."""
    if is_tensor(x):
        x = x.detach()
        return (x.float() if x.dtype == sys.modules["torch"].bfloat16 else x).cpu().numpy()
    return np.asarray(x)
