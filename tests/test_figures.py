"""`make figures`: a notebook whose results are not computed is skipped with its command; any other error stops."""
import nbformat
import pytest

from bumpdiff.figures import make_figures


def _notebook(path, body):
    nb = nbformat.v4.new_notebook()
    nb.metadata = {"kernelspec": {"display_name": "Python (bumpdiff)", "language": "python", "name": "bumpdiff"}}
    nb.cells = [nbformat.v4.new_code_cell('profile = "smoke"', metadata={"tags": ["parameters"]}),
                nbformat.v4.new_code_cell(body)]
    nbformat.write(nb, path)


@pytest.mark.slow
def test_missing_results_skip_a_figure_and_other_errors_stop(home, capsys):
    (home / "notebooks").mkdir()
    _notebook(home / "notebooks" / "01_missing.ipynb",
              "from bumpdiff.results import MissingResult\nraise MissingResult('compute it with: make it')")
    _notebook(home / "notebooks" / "02_fine.ipynb", "open('ran.txt', 'w').write('yes')")
    _notebook(home / "notebooks" / "03_broken.ipynb", "raise ValueError('a real bug')")
    make_figures("smoke", only=["01", "02"])
    out = capsys.readouterr().out
    assert "1 of 2 notebooks" in out and "not drawn: 01_missing.ipynb — compute it with: make it" in out
    assert (home / "notebooks" / "ran.txt").read_text() == "yes"
    with pytest.raises(SystemExit, match="03_broken.ipynb failed: ValueError: a real bug"):
        make_figures("smoke", only=["03"])
