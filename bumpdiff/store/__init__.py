"""The only code that knows file layouts: results bundles, tracked-study files, experiment indexes, the
robustness cache, computing them (executors included) and reading them back; shipped weights.

May import every layer below it: common, core, analysis, experiments.
"""
