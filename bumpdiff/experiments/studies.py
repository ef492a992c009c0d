"""The studies tracked over training, as each profile configures them: the registry the tracking engine
(:mod:`bumpdiff.store.tracking`) is handed a spec from, so that it never imports a study itself."""
from __future__ import annotations

from ..analysis.atlas import Atlas
from ..analysis.commitment import Commitment, Spectrum
from ..analysis.topology import Topology

__all__ = ["tracked_studies", "TRACKED_KINDS"]

TRACKED_KINDS = ("atlas", "commitment", "spectrum", "topology")


def tracked_studies(profile: str) -> dict:
    """The tracked studies' settings per profile: ``{"atlas": Atlas, "commitment": Commitment, "spectrum":
    Spectrum, "topology": Topology}`` (the smoke profile's are small enough for CI and respect its 50 diffusion
    steps)."""
    if profile == "smoke":
        return {"atlas": Atlas(timesteps=(5, 25, 45), max_conditions=64, sampling_steps=5, sampling_conditions=36),
                "commitment": Commitment(n_samples=16, sampler_steps=5),
                "spectrum": Spectrum(t=25, max_conditions=64),
                "topology": Topology(t=25, max_conditions=64, n_landmarks=64)}
    if profile in ("cpu", "paper"):
        return {"atlas": Atlas(), "commitment": Commitment(), "spectrum": Spectrum(), "topology": Topology()}
    raise ValueError(f"profile must be one of ['cpu', 'paper', 'smoke'], got {profile!r}")
