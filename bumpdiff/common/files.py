"""Files written whole or not at all (write to a temporary file, then rename), JSON of plain types, and file
hashes."""
from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["to_plain", "atomic_write_text", "atomic_write_with", "atomic_write_json", "atomic_savez", "file_sha256",
           "exclusive"]


def to_plain(obj: Any) -> Any:
    """Dataclasses, tuples, paths and numpy scalars to JSON-able plain types."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_plain(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, dict):
        return {str(k): to_plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_plain(v) for v in obj]
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, np.generic):
        return obj.item()
    return obj


def _atomic(path: Path, write) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def atomic_write_text(path: Path, text: str) -> Path:
    def w(tmp):
        with open(tmp, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
    return _atomic(path, w)


def atomic_write_with(path: Path, write) -> Path:
    """``write(tmp)`` writes the file at ``tmp`` (a path in ``path``'s folder); it then replaces ``path`` at once, and
    a failed write leaves nothing behind. For writers that take a path (an exporter, a saver)."""
    return _atomic(path, write)


def atomic_write_json(path: Path, obj: Any) -> Path:
    return atomic_write_text(path, json.dumps(to_plain(obj), indent=2, sort_keys=True) + "\n")


def atomic_savez(path: Path, **arrays: np.ndarray) -> Path:
    def w(tmp):
        with open(tmp, "wb") as f:
            np.savez_compressed(f, **arrays)
    return _atomic(path, w)


def file_sha256(path) -> str:
    """sha256 of a file's bytes, read in 1 MiB blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


@contextlib.contextmanager
def exclusive(lock_path):
    """Hold an exclusive advisory lock on ``lock_path`` (created if need be) for the ``with`` block: processes that
    read, change and rewrite one file take turns. The lock goes with the process, so a killed holder leaves none."""
    lock_path = Path(lock_path)
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)
