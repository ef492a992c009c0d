"""The options most sub-commands of the command line share (:mod:`.cli` and :mod:`.cli_instruments` add them)."""
from __future__ import annotations

from ..experiments.profiles import PROFILE_NAMES

__all__ = ["_common", "PROFILE_CHOICES"]

PROFILE_CHOICES = list(PROFILE_NAMES)


def _common(sp, device=True) -> None:
    """The options most sub-commands share."""
    sp.add_argument("--profile", default="cpu", choices=PROFILE_CHOICES)
    if device:
        sp.add_argument("--device", default="auto", help="auto (CUDA when present), cpu, cuda, cuda:1, ...")
    sp.add_argument("--quiet", action="store_true")
