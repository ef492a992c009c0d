"""bumpdiff: a reproducible companion to Liang, Liu & Fiete, "Do Diffusion Models Learn Semantically
Meaningful and Efficient Representations?" (arXiv 2402.03305)."""
__version__ = "0.1.0"
