"""The only code that knows file layouts: results bundles, tracked-study files, experiment indexes, the
robustness cache, and reading them back (no torch); computing them in the ``compute_*`` modules (executors
included); shipped weights.

May import every layer below it: common, core, analysis, experiments.
"""
