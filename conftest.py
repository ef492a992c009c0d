"""Root pytest configuration: notebooks collected by nbval run with the tiny ``smoke`` profile."""
import os

os.environ.setdefault("BUMPDIFF_PROFILE", "smoke")
os.environ.setdefault("MPLBACKEND", "Agg")


def pytest_configure(config):
    # the notebooks name the project's kernel; register it inside this environment (never in $HOME)
    from bumpdiff.app.lab import ensure_kernelspec
    ensure_kernelspec()
