"""Root pytest configuration: notebooks collected by nbval run with the tiny ``smoke`` profile."""
import os

os.environ.setdefault("BUMPDIFF_PROFILE", "smoke")
os.environ.setdefault("MPLBACKEND", "Agg")
