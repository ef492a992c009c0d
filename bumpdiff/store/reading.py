"""Reading a stored result back: the error every reader raises, and the checked JSON read.

A reader never computes: a missing, stale or corrupt result raises :class:`MissingResult`, whose message names the
command that computes it.
"""
from __future__ import annotations

import json
from pathlib import Path

from ..common import paths

__all__ = ["MissingResult", "read_json"]


class MissingResult(LookupError):
    """A result that a reader needs is missing, stale or corrupt; the message names the command that makes it."""


def read_json(p: Path, what: str, cmd: str) -> dict:
    """The JSON at ``p``; :class:`MissingResult` naming ``cmd`` when it is missing or unreadable."""
    if not p.exists():
        raise MissingResult(f"no {what} ({paths.relative(p)} is missing); compute it with: {cmd}")
    try:
        return json.loads(p.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise MissingResult(f"corrupt {what} {paths.relative(p)} ({e}); recompute with: {cmd}") from e
