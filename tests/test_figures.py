"""`make figures`: a notebook whose results are not computed is skipped with its command and the run ends in an error
once the others are drawn; any other error stops."""
import nbformat
import pytest

from bumpdiff.app.figures import make_figures


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
              "from bumpdiff.store.reading import MissingResult\nraise MissingResult('compute it with: make it')")
    _notebook(home / "notebooks" / "02_fine.ipynb", "open('ran.txt', 'w').write('yes')")
    _notebook(home / "notebooks" / "03_broken.ipynb", "raise ValueError('a real bug')")
    with pytest.raises(SystemExit, match="1 of 2 notebooks not drawn.*\n  01_missing.ipynb — compute it with: make it"):
        make_figures("smoke", only=["01", "02"])   # the others are drawn first, then the exit is an error
    out = capsys.readouterr().out
    assert "1 of 2 notebooks" in out and "01_missing.ipynb skipped" in out
    assert (home / "notebooks" / "ran.txt").read_text() == "yes"
    with pytest.raises(SystemExit, match="03_broken.ipynb failed: ValueError: a real bug"):
        make_figures("smoke", only=["03"])
