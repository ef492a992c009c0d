"""Every filesystem location the project uses, in one place.

Paths are derived from the location of this file, never from the working directory, so a notebook, a
test and the CLI all see the same folders. ``BUMPDIFF_HOME`` overrides the repository root (tests use it
to work in a temporary folder).
"""
from __future__ import annotations

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent


def root() -> Path:
    """The project root: ``$BUMPDIFF_HOME`` if set, else the folder holding the ``bumpdiff`` package."""
    env = os.environ.get("BUMPDIFF_HOME")
    return Path(env).resolve() if env else PACKAGE_DIR.parent


def data_dir() -> Path:
    """Git-ignored working data: training runs (checkpoints) and analysis caches."""
    return root() / "data"


def runs_dir() -> Path:
    """One sub-folder per training run, named ``<name>-<config hash>``."""
    return data_dir() / "runs"


def results_dir() -> Path:
    """Small committed results bundles (JSON + npz) that the figures are made from."""
    return root() / "results"


def figures_dir() -> Path:
    """Rendered figures (PNG and PDF) under stable names."""
    return root() / "figures"


def notebooks_dir() -> Path:
    return root() / "notebooks"


def build_dir() -> Path:
    """Git-ignored executed copies of the notebooks."""
    return root() / "build"
