"""Foundations with no knowledge of the study: paths, identity keys, atomic files, argument checks,
seeding and devices, the logger.

Imports nothing from bumpdiff.
"""
