"""What is run: the named experiments and their runs per profile, the tracked studies each profile
configures, and statistics over the runs of an experiment.

May import bumpdiff.common, core and analysis.
"""
