"""The ``bumpdiff`` logger: what the library says while it works (cache hits, notes on partial runs, jobs).

Messages go to the ``bumpdiff`` logger; :func:`get_logger` gives it a plain ``[bumpdiff] message`` handler on
standard error the first time it is asked for, unless the application has configured logging itself (then the
application's handlers decide). Standard error, like tqdm's bars: what a command or notebook *prints* is its result,
and the report site leaves the log off its pages. Set the level to ``WARNING`` to silence the notes.
"""
from __future__ import annotations

import logging
import sys

__all__ = ["get_logger"]

_NAME = "bumpdiff"


class _Stderr(logging.Handler):
    """Writes to whatever ``sys.stderr`` is at the time (a notebook's, a captured test's), flushed at once."""

    def emit(self, record):
        try:
            sys.stderr.write(self.format(record) + "\n")
            sys.stderr.flush()
        except Exception:  # noqa: BLE001 — logging must never break the work
            self.handleError(record)


def get_logger() -> logging.Logger:
    """The ``bumpdiff`` logger (module docstring)."""
    log = logging.getLogger(_NAME)
    if not log.handlers and not logging.getLogger().handlers:
        handler = _Stderr()
        handler.setFormatter(logging.Formatter("[bumpdiff] %(message)s"))
        log.addHandler(handler)
        log.setLevel(logging.INFO)
        log.propagate = False
    return log
