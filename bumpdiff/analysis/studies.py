"""A study computed on one model: the specification (a frozen dataclass of :mod:`.specs`) picks the computation."""
from __future__ import annotations

from .atlas import atlas_checkpoint
from .commitment import commitment_of, spectrum_of
from .robustness import layer_sweep_of, sampler_comparison_of
from .specs import Atlas, Commitment, LayerSweep, SamplerComparison, Spectrum, Topology
from .topology import topology_of

__all__ = ["run_study"]


def run_study(spec, diffusion, cfg, progress: bool = True) -> dict:
    """The result of study ``spec`` on ``diffusion``, a model of the run ``cfg`` (a TrainConfig)."""
    if isinstance(spec, Atlas):
        return {"rows": atlas_checkpoint(diffusion, cfg.lattice, spec)}
    if isinstance(spec, LayerSweep):
        return layer_sweep_of(spec, diffusion, cfg.lattice, progress)
    if isinstance(spec, SamplerComparison):
        return sampler_comparison_of(spec, diffusion, cfg.lattice, progress)
    of = {Commitment: commitment_of, Spectrum: spectrum_of, Topology: topology_of}.get(type(spec))
    if of is None:
        raise TypeError(f"not a study of bumpdiff.analysis.specs: {spec!r}")
    return of(spec, diffusion, cfg)
