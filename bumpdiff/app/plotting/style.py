"""The figures' look and where they are saved: the style every drawing function runs in, and `save`."""
from __future__ import annotations

import functools
from pathlib import Path

import matplotlib.pyplot as plt  # headless, matplotlib picks a non-interactive backend by itself

from ...common import paths

__all__ = ["PHASE_COLORS", "LABEL_COLORS", "STYLE", "style", "styled", "figure_dir", "save"]


PHASE_COLORS = {"A": "#f4cccc", "B": "#fff2cc", "C": "#d9ead3"}


LABEL_COLORS = {"none": "#999999", "multiple": "#e06666", "single_wrong": "#f6b26b", "correct": "#6aa84f"}


#: The figures' look, applied by :func:`style` around each drawing function (never to matplotlib's global state:
#: importing this module leaves the caller's rcParams as they were).
STYLE = {"figure.dpi": 110, "savefig.dpi": 200, "font.size": 9, "axes.titlesize": 10,
         "axes.spines.top": False, "axes.spines.right": False}


def style():
    """A context in which matplotlib draws with :data:`STYLE` (``with plotting.style(): ...``)."""
    return plt.rc_context(STYLE)


def styled(draw):
    """Decorator: ``draw`` runs inside :func:`style`."""
    @functools.wraps(draw)
    def wrapper(*args, **kwargs):
        with style():
            return draw(*args, **kwargs)
    return wrapper


def figure_dir(profile: str) -> Path:
    """figures/ for the reference ``cpu`` profile, figures/<profile>/ for the others."""
    d = paths.figures_dir() if profile == "cpu" else paths.figures_dir() / profile
    d.mkdir(parents=True, exist_ok=True)
    return d


#: fixed file metadata: no creation date or other field that changes from one rendering to the next, so that the same
#: figure drawn twice is the same bytes (``git status`` then tells a changed result from a re-render)
METADATA = {"png": {"Creator": "bumpdiff", "Software": None},
            "pdf": {"Creator": "bumpdiff", "Producer": None, "CreationDate": None, "ModDate": None}}


def save(fig, name: str, profile: str, stamp: str | None = None) -> list[Path]:
    """Save ``fig`` as PNG and PDF under a stable name, stamped with profile and commit, with fixed metadata
    (:data:`METADATA`): an unchanged figure is saved as the same bytes."""
    if stamp:
        fig.text(0.995, 0.005, stamp, ha="right", va="bottom", fontsize=6, color="#777777")
    d = figure_dir(profile)
    out = []
    for ext in ("png", "pdf"):
        p = d / f"{name}.{ext}"
        fig.savefig(p, dpi=STYLE["savefig.dpi"], bbox_inches="tight", metadata=dict(METADATA[ext]))
        out.append(p)
    return out
