"""Every filesystem location the project uses, in one place.

Layout under the project root::

    data/results/   committed results: run bundles, experiment indexes, cached sweeps, benchmarks
    data/runs/      training runs (checkpoints), git-ignored
    data/scratch/   per-checkpoint analysis work files and other scratch, git-ignored
    figures/        rendered figures
    notebooks/      one notebook per figure
    build/          executed notebooks, git-ignored

The root is ``$BUMPDIFF_HOME`` when set (tests use it for a throw-away root); else the checkout that holds
this package (an editable install or a source tree); else, after a non-editable ``pip install .``, the nearest
folder at or above the working directory that looks like a bumpdiff checkout. Paths never depend on the
working directory otherwise.
"""
from __future__ import annotations

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent.parent  # the bumpdiff package


class NoProjectRoot(RuntimeError):
    """No bumpdiff checkout could be found for the data, figures and notebooks."""


def _is_checkout(p: Path) -> bool:
    return (p / "pyproject.toml").is_file() and (p / "notebooks").is_dir() and (p / "data").is_dir()


def root() -> Path:
    """The project root (module docstring)."""
    env = os.environ.get("BUMPDIFF_HOME")
    if env:
        return Path(env).resolve()
    if _is_checkout(PACKAGE_DIR.parent):
        return PACKAGE_DIR.parent
    here = Path.cwd().resolve()
    for p in (here, *here.parents):
        if _is_checkout(p):
            return p
    raise NoProjectRoot(
        "bumpdiff is installed without its checkout, and no checkout was found at or above the working directory "
        f"({here}). Run from inside a clone of the repository, or set BUMPDIFF_HOME=/path/to/the/clone.")


def data_dir() -> Path:
    return root() / "data"


def results_dir() -> Path:
    """Small committed results (JSON + npz) that the figures and the documentation are made from."""
    return data_dir() / "results"


def runs_dir() -> Path:
    """One git-ignored sub-folder per training run, named ``<name>-<run key>``."""
    return data_dir() / "runs"


def scratch_dir() -> Path:
    """Git-ignored work files (per-checkpoint analysis results while an analysis runs)."""
    return data_dir() / "scratch"


def figures_dir() -> Path:
    """Rendered figures (PNG and PDF) under stable names."""
    return root() / "figures"


def notebooks_dir() -> Path:
    return root() / "notebooks"


def build_dir() -> Path:
    """Git-ignored executed copies of the notebooks."""
    return root() / "build"


def docs_dir() -> Path:
    return root() / "docs"


def relative(p: Path) -> str:
    """``p`` relative to the root, as POSIX text (how indexes refer to bundles)."""
    return Path(p).resolve().relative_to(root().resolve()).as_posix()
