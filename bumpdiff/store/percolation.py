"""The percolation model's stored result, ``data/results/stripes/percolation-<profile>.json`` (keyed by its
:class:`~bumpdiff.analysis.percolation.PercolationModel`): read here, never computed (that is
:func:`bumpdiff.store.compute_percolation.compute_percolation`: ``python -m bumpdiff percolation --profile …``, part
of ``reproduce``; numpy, seconds)."""
from __future__ import annotations

from pathlib import Path

from ..analysis.percolation import PercolationModel
from ..common import paths
from ..common.identity import SCHEMA
from ..common.log import get_logger
from ..experiments.profiles import get_profile
from .reading import MissingResult, read_json

__all__ = ["percolation_spec", "percolation_path", "load_percolation", "percolation_command"]

log = get_logger()


def percolation_spec(profile: str) -> PercolationModel:
    """The model on the profile's base canvas, at the stripes study's widths and the follow-up's σ = 0.1."""
    prof = get_profile(profile)
    if prof.stripes is None:
        raise ValueError(f"profile must size the stripes study (smoke or fast), got {profile!r}")
    return PercolationModel(n=prof.train.lattice.n, sigmas=tuple(sorted({0.1, *prof.stripes.sigmas})))


def percolation_path(profile: str) -> Path:
    return paths.results_dir() / "stripes" / f"percolation-{profile}.json"


def percolation_command(profile: str) -> str:
    return f"python -m bumpdiff percolation --profile {profile}"


def load_percolation(profile: str, quiet: bool = False) -> dict:
    """The stored model of ``profile``; :class:`MissingResult` naming the command when missing, corrupt or stale."""
    spec, path, cmd = percolation_spec(profile), percolation_path(profile), percolation_command(profile)
    res = read_json(path, f"percolation model of profile {profile}", cmd)
    if res.get("schema") != SCHEMA or res.get("key") != spec.key():
        raise MissingResult(f"stale percolation model {paths.relative(path)}; recompute with: {cmd}")
    if not quiet:
        log.info(f"cache hit: percolation model {paths.relative(path)}")
    return res
