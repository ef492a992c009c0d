"""The study's DDPM: the Gaussian-bump data, the conditional UNet, the diffusion process, training and
its checkpoints (with the provenance they carry).

May import bumpdiff.common only.
"""
