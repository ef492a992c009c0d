"""Foundations with no knowledge of the study: paths, identity keys, atomic files, argument checks,
seeding and devices, the logger, what git says about the checkout, arrays that may be tensors.

Imports nothing from bumpdiff.
"""
