"""The figures' look and where they are saved: the style every drawing function runs in, and `save`."""
from __future__ import annotations

import functools
from pathlib import Path

import matplotlib
import matplotlib.pyplot as plt  # headless, matplotlib picks a non-interactive backend by itself
from matplotlib.layout_engine import ConstrainedLayoutEngine, TightLayoutEngine

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


#: white space around a figure's tight bounding box when saved (inches)
PAD_INCHES = 0.1


def save(fig, name: str, profile: str, stamp: str | None = None) -> list[Path]:
    """Save ``fig`` as PNG and PDF under a stable name, stamped with profile and commit, with fixed metadata
    (:data:`METADATA`): an unchanged figure is saved as the same bytes.

    The tight bounding box is measured once for both files (matplotlib's ``bbox_inches="tight"`` lays the figure out
    again for each). In a notebook with the inline backend the figure is then shown as the PNG just saved, rather
    than drawn a third time for the display."""
    if stamp:
        fig.text(0.995, 0.005, stamp, ha="right", va="bottom", fontsize=6, color="#777777")
    d = figure_dir(profile)
    dpi = STYLE["savefig.dpi"]
    bbox = _tight_bbox(fig, dpi)
    out = []
    for ext in ("png", "pdf"):
        p = d / f"{name}.{ext}"
        fig.savefig(p, dpi=dpi, bbox_inches=bbox, metadata=dict(METADATA[ext]))
        out.append(p)
    _show_saved(fig, out[0], dpi)
    return out


def _tight_bbox(fig, dpi: float):
    """The box (inches) that ``savefig(bbox_inches="tight", pad_inches=PAD_INCHES)`` would crop ``fig`` to at
    ``dpi``. A figure with a layout engine (constrained, tight) is laid out first, without rendering; the others have
    every artist where it will be drawn already, and measuring them gives the same box."""
    shown_dpi = fig.dpi
    fig.dpi = dpi
    try:
        if isinstance(fig.get_layout_engine(), (ConstrainedLayoutEngine, TightLayoutEngine)):
            fig.draw_without_rendering()
        return fig.get_tightbbox(fig.canvas.get_renderer()).padded(PAD_INCHES)
    finally:
        fig.dpi = shown_dpi


def _show_saved(fig, png: Path, dpi: float) -> None:
    """Under the notebook's inline backend, close ``fig`` (so the backend does not draw it again at the end of the
    cell) and display the saved ``png`` instead, at the size the figure would have been shown."""
    if "inline" not in matplotlib.get_backend() or not plt.fignum_exists(getattr(fig, "number", None)):
        return
    from IPython.display import Image, display  # imported here: only a notebook kernel shows figures

    data = png.read_bytes()
    width = int.from_bytes(data[16:20], "big")  # the PNG header's IHDR chunk: width, then height, in pixels
    shown_dpi = fig.dpi
    plt.close(fig)
    display(Image(data=data, format="png", width=round(width * shown_dpi / dpi)))
