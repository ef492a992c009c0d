"""The opening of every figure notebook, in one place: the figures' style for this kernel and the stamp that says
which commit and profile drew them."""
from __future__ import annotations

import matplotlib.pyplot as plt

from ..core.provenance import commit_stamp
from .plotting import STYLE

__all__ = ["setup"]


def setup(profile: str) -> str:
    """Draw this kernel's figures with the project's style (:data:`~bumpdiff.app.plotting.STYLE`; a notebook is an
    application, so it may set its own matplotlib defaults) and return the stamp ``bumpdiff <commit> · profile
    <profile>``, printed as well."""
    plt.rcParams.update(STYLE)
    stamp = f"bumpdiff {commit_stamp()} · profile {profile}"
    print(stamp)
    return stamp
