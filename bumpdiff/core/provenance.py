"""Where an artefact came from: the commit (and whether the tree was dirty), the device, package versions.

:func:`provenance` is stored inside every checkpoint, results bundle, experiment index and cache entry;
:func:`commit_stamp` is the short text printed on figures.
"""
from __future__ import annotations

import platform
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path

import torch

from ..common import paths
from .model import bf16_conv_mode

__all__ = ["provenance", "commit_stamp", "inputs_stamp", "uncommitted", "git_state", "versions", "device_name",
           "PACKAGES"]

#: The packages whose versions can change a number (recorded in every artefact).
PACKAGES = ("torch", "numpy", "scikit-learn", "umap-learn", "numba", "scipy")


def versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def git_state(*outputs: Path) -> tuple[str, bool]:
    """(short commit, dirty) of the project root. Dirty means tracked files other than the rendered figures and
    the given ``outputs`` have uncommitted changes (outputs being written are not inputs: rendering several
    figures in a row, or updating an index after each of its runs, must not mark the later ones dirty).
    ``("unknown", False)`` outside a git checkout."""
    try:
        root = paths.root()
        excluded = [paths.figures_dir(), *outputs]
        sha = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True,
                             timeout=10, check=False).stdout.strip()
        if not sha:
            return "unknown", False
        specs = []
        for p in excluded:
            try:
                specs.append(f":(exclude){paths.relative(p)}")
            except ValueError:
                continue
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", ".", *specs],
                               cwd=root, capture_output=True, text=True, timeout=10, check=False).stdout.strip()
        return sha, bool(dirty)
    except Exception:  # noqa: BLE001 — no git, no checkout: provenance says so rather than failing the work
        return "unknown", False


def uncommitted(*inputs: Path) -> list[str]:
    """The files under ``inputs`` (files or folders of the checkout) that git does not hold as committed: changed,
    deleted, or new and not ignored (a run's bundle still being written, a benchmark not yet added). ``[]`` outside
    a git checkout."""
    try:
        root = paths.root()
        specs = [paths.relative(p) for p in inputs]
        out = subprocess.run(["git", "status", "--porcelain", "--untracked-files=all", "--", *specs], cwd=root,
                             capture_output=True, text=True, timeout=10, check=True).stdout
        return [line[3:] for line in out.splitlines() if line.strip()]
    except Exception:  # noqa: BLE001 — no git, no checkout: nothing can be called uncommitted
        return []


def inputs_stamp(*inputs: Path) -> str:
    """The short commit that last changed any of ``inputs`` (files or folders of the checkout), with ``+dirty`` when
    one of them has uncommitted changes or holds files git does not track (:func:`uncommitted`): what a figure
    drawn from them was made from, so that a commit which changes none of them (documentation, tests, figures)
    leaves the figure byte-identical. ``"unknown"`` outside a git checkout."""
    try:
        root = paths.root()
        specs = [paths.relative(p) for p in inputs]
        run = dict(cwd=root, capture_output=True, text=True, timeout=10, check=False)
        sha = subprocess.run(["git", "log", "-1", "--format=%h", "--", *specs], **run).stdout.strip()
        if not sha:
            return "unknown"
        return sha + ("+dirty" if uncommitted(*inputs) else "")
    except Exception:  # noqa: BLE001 — no git, no checkout: the stamp says so rather than failing the figure
        return "unknown"


def commit_stamp(*outputs: Path) -> str:
    """The short commit, with ``+dirty`` when the tree has uncommitted changes (see :func:`git_state`)."""
    sha, dirty = git_state(*outputs)
    return sha + ("+dirty" if dirty else "")


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
