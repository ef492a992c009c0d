"""The opening of every figure notebook, in one place: the figures' style for this kernel and the stamp that says
which code and results, and which profile, drew them."""
from __future__ import annotations

import matplotlib.pyplot as plt

from ..common import paths
from ..common.commits import inputs_stamp
from .plotting import STYLE

__all__ = ["setup", "figure_inputs"]


def figure_inputs() -> tuple:
    """What every figure is drawn from: the library, the committed results and shipped weights, the notebooks."""
    return (paths.root() / "bumpdiff", paths.data_dir() / "results", paths.data_dir() / "pretrained",
            paths.notebooks_dir())


def setup(profile: str) -> str:
    """Draw this kernel's figures with the project's style (:data:`~bumpdiff.app.plotting.STYLE`; a notebook is an
    application, so it may set its own matplotlib defaults) and return the stamp ``bumpdiff <commit> · profile
    <profile>``, printed as well. The commit is the last one that changed what figures are drawn from
    (:func:`figure_inputs`), not the checkout's HEAD, so re-rendering at a later commit that changed none of it gives
    the same bytes."""
    plt.rcParams.update(STYLE)
    stamp = f"bumpdiff {inputs_stamp(*figure_inputs())} · profile {profile}"
    print(stamp)
    return stamp
