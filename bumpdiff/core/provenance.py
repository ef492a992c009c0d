"""Where an artefact came from: the commit (and whether the tree was dirty), the device, package versions.

:func:`provenance` is stored inside every checkpoint, results bundle, experiment index and cache entry; what git
says about the checkout is :mod:`bumpdiff.common.commits`.
"""
from __future__ import annotations

import platform
import sys
import time
from importlib import metadata
from pathlib import Path

import torch

from ..common import paths
from ..common.commits import git_state
from .model import bf16_conv_mode

__all__ = ["provenance", "versions", "device_name", "PACKAGES"]

#: The packages whose versions can change a number (recorded in every artefact).
PACKAGES = ("torch", "numpy", "scikit-learn", "umap-learn", "numba", "scipy", "scikit-dimension")


def versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def device_name(device=None) -> str:
    """A readable name of the device a computation ran on (the GPU model, or the CPU and its thread count)."""

    dev = torch.device(device) if device is not None else torch.device("cpu")
    if dev.type == "cuda" and torch.cuda.is_available():
        return f"cuda: {torch.cuda.get_device_name(dev)}"
    cpu = platform.processor() or platform.machine()
    return f"cpu: {cpu} ({torch.get_num_threads()} threads, {torch.backends.cpu.get_cpu_capability()})"


def provenance(device=None, *outputs: Path, reads_results: bool = True) -> dict:
    """Commit, dirty flag, device, python and package versions, host platform and time, as plain types.
    ``reads_results=False`` is for computations whose inputs are code, configuration and checkpoints only
    (training, analysis): uncommitted files under ``data/results`` — another run's bundle, the experiment index
    that the submitting process rewrites whenever a sibling job finishes — then do not mark them dirty."""
    sha, dirty = git_state(*outputs, *(() if reads_results else (paths.results_dir(),)))
    return {"commit": sha, "dirty": dirty, "device": device_name(device), "versions": versions(),
            "bf16_conv": bf16_conv_mode(),
            "platform": f"{platform.system()} {platform.machine()}", "python_executable": Path(sys.executable).name,
            "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
