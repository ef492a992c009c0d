"""Numbers from a model or from arrays, written to no file: detection and scoring, activations, order
parameters, the phase call, one module per study (atlas, commitment, spectrum, topology, robustness); the
specifications of every analysis and study in ``specs`` (no torch: reading results needs them, not the computing).

May import bumpdiff.common and bumpdiff.core.
"""
