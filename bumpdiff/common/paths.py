"""Every filesystem location the project uses, in one place.

Layout under the project root::

    data/results/   committed results: run bundles, experiment indexes, cached sweeps, benchmarks
    data/runs/      training runs (checkpoints), git-ignored; ``$BUMPDIFF_RUNS`` puts them elsewhere
    data/scratch/   per-checkpoint analysis work files and job logs, git-ignored; ``$BUMPDIFF_SCRATCH`` likewise
    figures/        rendered figures
    notebooks/      one notebook per figure
    build/          executed notebooks, git-ignored

The root is ``$BUMPDIFF_HOME`` when set (tests use it for a throw-away root); else the checkout that holds
this package (an editable install or a source tree); else, after a non-editable ``pip install .``, the nearest
folder at or above the working directory that looks like a bumpdiff checkout. Paths never depend on the
working directory otherwise.

Training runs and scratch are the two big, regenerable folders, and the only ones a long run needs to keep across
checkouts: ``$BUMPDIFF_RUNS`` and ``$BUMPDIFF_SCRATCH`` (absolute paths; ``~`` is expanded) move them out of the
checkout, e.g. to ``$SCRATCH/bumpdiff/runs`` on a cluster or ``~/.cache/bumpdiff/runs`` on a laptop, so that a
fresh clone resumes the runs found there from their last checkpoint.
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


def _folder_from_env(var: str) -> Path | None:
    """The folder named by environment variable ``var`` (``~`` expanded), or None when it is unset or empty; a
    relative path is an error, since it would depend on the working directory."""
    text = os.environ.get(var, "").strip()
    if not text:
        return None
    p = Path(text).expanduser()
    if not p.is_absolute():
        raise ValueError(f"{var} must be an absolute path (a folder for bumpdiff's {var[9:].lower()}), got {text!r}")
    return p


def runs_dir() -> Path:
    """One sub-folder per training run, named ``<name>-<run key>``: ``$BUMPDIFF_RUNS`` when set, else the
    git-ignored ``data/runs``."""
    return _folder_from_env("BUMPDIFF_RUNS") or data_dir() / "runs"


def scratch_dir() -> Path:
    """Work files (per-checkpoint analysis results while an analysis runs, job logs): ``$BUMPDIFF_SCRATCH`` when set,
    else the git-ignored ``data/scratch``."""
    return _folder_from_env("BUMPDIFF_SCRATCH") or data_dir() / "scratch"


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


def shown(p: Path) -> str:
    """``p`` as a message shows it: relative to the root when inside the checkout, else absolute (a runs folder
    moved out of the checkout by ``$BUMPDIFF_RUNS``)."""
    p = Path(p).resolve()
    try:
        return p.relative_to(root().resolve()).as_posix()
    except ValueError:
        return str(p)
