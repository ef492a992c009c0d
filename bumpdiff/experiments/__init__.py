"""What is run: the profiles (one value per name: every size), the named experiments and their
runs, and statistics over the runs of an experiment.

May import bumpdiff.common, core and analysis.
"""
