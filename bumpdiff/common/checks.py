"""Argument checks whose errors name the parameter and its allowed range."""
from __future__ import annotations

import numpy as np

__all__ = ["check_range"]


def check_range(name: str, value, lo=None, hi=None, lo_open=False, hi_open=False, integer=False):
    """Raise ``ValueError`` naming ``name`` and its allowed range unless ``value`` lies in it."""
    ok = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)
    if ok and integer and float(value) != int(value):
        ok = False
    if ok and not np.isfinite(value):
        ok = False
    if ok and lo is not None:
        ok = value > lo if lo_open else value >= lo
    if ok and hi is not None:
        ok = value < hi if hi_open else value <= hi
    if not ok:
        left = "(" if lo_open else "["
        right = ")" if hi_open else "]"
        kind = "an integer" if integer else "a finite number"
        rng = f"{left}{'-inf' if lo is None else lo}, {'inf' if hi is None else hi}{right}"
        raise ValueError(f"{name} must be {kind} in {rng}, got {value!r}")
    return value
