"""The README's promises: its code runs, it fits on two screens, and it retypes no result (the generated findings
table aside)."""
import json
import re

from bumpdiff.app.findings import README_MARKERS
from bumpdiff.common import paths

ROOT = paths.PACKAGE_DIR.parent
README = (ROOT / "README.md").read_text()

#: numbers that read as results — R², accuracies, fractions (0.xx), step or image counts with a thousands
#: separator, percentages — when they appear in prose that is typed by hand
RESULT_LIKE = re.compile(r"(?<![\w.])(?:0\.\d{2,}|\d{1,3}(?:,\d{3})+|\d+(?:\.\d+)? ?%)(?![\w])")
#: configuration values written in prose (a profile's size, the size-matched lattice's spacing, the stripes study's
#: accuracy level and overlap thresholds): not results
CONFIG_VALUES = {"3,000", "4,000", "40,000", "1,000", "0.316", "60 %", "0.005", "0.05"}


def _typed_prose() -> dict[str, str]:
    """Hand-typed prose the reader sees: the README outside the generated table, the how-to-rerun page and the
    notebooks' Markdown cells."""
    start, end = README_MARKERS
    head, rest = README.split(start, 1)
    texts = {"README.md": head + rest.split(end, 1)[1], "docs/RERUN.md": (ROOT / "docs/RERUN.md").read_text()}
    for nb in sorted((ROOT / "notebooks").glob("*.ipynb")):
        cells = json.loads(nb.read_text())["cells"]
        texts[nb.name] = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")
    return texts


def test_no_result_is_retyped_in_prose():
    found = {name: hits for name, text in _typed_prose().items()
             if (hits := sorted(set(RESULT_LIKE.findall(text)) - CONFIG_VALUES))}
    assert found == {}, "numbers that look like results, typed by hand (generate them, or link to RESULTS.md)"


def test_the_detector_catches_a_retyped_number():
    assert RESULT_LIKE.findall("seed 2 reaches C at step 2,500 with kNN R² 0.99 in 95 % of samples") == [
        "2,500", "0.99", "95 %"]
    assert RESULT_LIKE.findall("widths 32-48-64-64, t = 500, 3 seeds") == []


def test_readme_fits_on_two_screens_and_has_its_findings_table():
    assert len(README.splitlines()) <= 120
    start, end = README_MARKERS
    table = README.split(start, 1)[1].split(end, 1)[0].strip().splitlines()
    assert len(table) == 2 + 6, "a header, a rule, the paper's three claims (the central one twice: old and " \
                                "calibrated instruments) and the follow-up's two"


def test_readme_python_runs():
    blocks = re.findall(r"```python\n(.*?)```", README, flags=re.S)
    assert blocks
    for code in blocks:
        exec(compile(code, "README.md", "exec"), {})
