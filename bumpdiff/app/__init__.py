"""What people run: the command line, notebook execution, JupyterLab, the explorer, plotting and the
generated report. Nothing in the library imports it.

May import every other layer.
"""
