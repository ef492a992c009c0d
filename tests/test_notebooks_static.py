"""Static checks on the committed notebooks (cheap; the nbval run executes them)."""
import ast

import nbformat
import pytest
from IPython.core.inputtransformer2 import TransformerManager

from bumpdiff.common import paths

NOTEBOOKS = sorted((paths.PACKAGE_DIR.parent / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def test_the_explorer_then_one_notebook_per_figure():
    assert [p.name[:2] for p in NOTEBOOKS] == [f"{i:02d}" for i in range(17)]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_valid_clean_and_parses(path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert sum("parameters" in c.metadata.get("tags", []) for c in code) == 1, "exactly one papermill parameters cell"
    assert code[0].metadata.get("tags") == ["parameters"], "the parameters cell comes first"
    for i, c in enumerate(code):
        assert not c.outputs and c.execution_count is None, f"cell {i} has committed outputs"
        # a syntax error fails here, not after minutes of nbval
        ast.parse(TransformerManager().transform_cell(c.source), filename=f"{path.name}[{i}]")


def test_no_figure_is_stamped_with_the_checkout_s_head():
    """Stamps name the commit of what a figure reads (app.notebook.setup, provenance.inputs_stamp), never HEAD, so a
    re-render at a commit that changed none of it is byte-identical."""
    assert [p.name for p in NOTEBOOKS if "commit_stamp(" in p.read_text()] == []
