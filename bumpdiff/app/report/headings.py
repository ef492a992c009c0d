"""The report's section headings that the README's findings link to (one definition for both)."""
from __future__ import annotations

from .format import _count


def experiment_heading(name: str, profile: str, done: int, n: int) -> str:
    """The heading of an experiment's section (the findings link to it by its anchor)."""
    return f"`{name}`, profile `{profile}` ({_count(done, n, 'seeds')})"


def initial_order_heading(profile: str) -> str:
    return f"Order at initialisation: which read-out can show phase A, profile `{profile}`"


def thresholds_heading(profile: str) -> str:
    return f"The layer-4 call against its thresholds, profile `{profile}`"


def layer4_heading(profile: str) -> str:
    return f"The layer-4 question, profile `{profile}`: `film` vs `additive`"


def imbalanced_heading(profile: str) -> str:
    return f"`imbalanced`, profile `{profile}`"


def calibrated_heading(profile: str) -> str:
    return f"The layer-4 claim decided again with the calibrated instruments, profile `{profile}`"


def phase_a_heading(profile: str) -> str:
    return f"The phase-A test under the calibrated rule, three read-outs, profile `{profile}`"


def composition_heading(profile: str, done: int, n: int) -> str:
    return f"The follow-up's composition test, profile `{profile}` ({_count(done, n, 'runs')})"


def efficiency_heading(profile: str, done: int, n: int) -> str:
    return f"The follow-up's data efficiency, profile `{profile}` ({_count(done, n, 'runs')})"


def percolation_heading(profile: str, done: int, n: int) -> str:
    return f"The percolation model beside terminal accuracy, profile `{profile}` ({_count(done, n, 'runs')})"
