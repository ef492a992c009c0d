"""bumpdiff: a reproducible companion to Liang, Liu & Fiete, "Do Diffusion Models Learn Semantically
Meaningful and Efficient Representations?" (arXiv 2402.03305)."""
__version__ = "0.1.0"

__all__ = ["pretrained"]


def pretrained(profile: str = "cpu", phase: str | None = "final", arch: str = "film", seed: int = 0,
               step: int | None = None, device="cpu", info: bool = False):
    """A ready :class:`~bumpdiff.core.diffusion.Diffusion` from the shipped weights
    (:func:`bumpdiff.store.weights.pretrained`)."""
    # imported here, not at the top: `import bumpdiff` stays free of torch and the whole library
    from .store.weights import pretrained as _pretrained
    return _pretrained(profile, phase, arch, seed, step, device, info)
