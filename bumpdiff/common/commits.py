"""What git says about the checkout: its commit and whether the tree is dirty, which inputs are uncommitted, and
the commit that last changed a set of inputs (the stamp printed on figures). Every function answers ``"unknown"`` or
nothing outside a git checkout rather than failing the work that asked."""
from __future__ import annotations

import subprocess
from pathlib import Path

from . import paths

__all__ = ["git_state", "uncommitted", "inputs_stamp", "commit_stamp"]


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
