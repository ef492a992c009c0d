"""Numbers from a model or from arrays, written to no file: detection and scoring, activations, order
parameters, the phase call, one module per study (atlas, commitment, spectrum, topology, robustness).

May import bumpdiff.common and bumpdiff.core.
"""
