"""Computing the percolation model of a profile (:mod:`.percolation` reads it): numpy, seconds."""
from __future__ import annotations

from pathlib import Path

from ..analysis.percolation import percolation_model
from ..common import paths
from ..common.files import atomic_write_json
from ..common.identity import SCHEMA, identity
from ..common.log import get_logger
from ..core.provenance import provenance
from .percolation import load_percolation, percolation_path, percolation_spec
from .reading import MissingResult

__all__ = ["compute_percolation"]

log = get_logger()


def compute_percolation(profile: str, force: bool = False) -> Path:
    """Compute and store the model of ``profile`` unless a current one is stored (``force``: always)."""
    spec, path = percolation_spec(profile), percolation_path(profile)
    if not force:
        try:
            load_percolation(profile)
            return path
        except MissingResult:
            pass
    res = {"schema": SCHEMA, "key": spec.key(), "spec": identity(spec), **percolation_model(spec),
           "provenance": provenance(None, reads_results=False)}
    atomic_write_json(path, res)
    log.info(f"wrote {paths.relative(path)}")
    return path
