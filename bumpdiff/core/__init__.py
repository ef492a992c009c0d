"""The study's DDPM: the Gaussian-bump data, the conditional UNet, the diffusion process, training and
its checkpoints (with the provenance they carry). The configurations (``config``) and the lattice (``lattice``)
import no torch, so that results can be read without it.

May import bumpdiff.common only.
"""
