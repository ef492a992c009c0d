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
    out = capsys.readouterr().err
    assert "1 of 2 notebooks" in out and "01_missing.ipynb skipped" in out
    assert (home / "notebooks" / "ran.txt").read_text() == "yes"
    with pytest.raises(SystemExit, match="03_broken.ipynb failed: ValueError: a real bug"):
        make_figures("smoke", only=["03"])


def test_a_figure_is_the_same_bytes_at_a_commit_that_changes_nothing_it_reads(home):
    """Re-rendering at a later commit that touched only documentation leaves PNG and PDF byte-identical (the stamp
    names the commit of the figure's inputs, the files carry no date); a change to the code changes the stamp."""
    import subprocess

    import matplotlib.pyplot as plt

    from bumpdiff.app import plotting
    from bumpdiff.app.notebook import figure_inputs, setup

    def git(*args):
        subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=home, check=True,
                       capture_output=True)
    for p in figure_inputs():
        p.mkdir(parents=True, exist_ok=True)
        (p / "x.txt").write_text("1\n")
    (home / "docs").mkdir()
    (home / "docs" / "NOTES.md").write_text("a\n")
    git("init", "-q")
    git("add", "-A")
    git("commit", "-q", "-m", "inputs")

    def render():
        stamp = setup("smoke")                   # as a notebook does: first the stamp and style, then the figure
        fig, ax = plt.subplots(figsize=(2, 2))
        ax.plot([0, 1], [1, 0])
        out = plotting.save(fig, "fig_stable", "smoke", stamp)
        plt.close(fig)
        return [p.read_bytes() for p in out]
    first = render()
    (home / "docs" / "NOTES.md").write_text("b\n")
    git("commit", "-q", "-am", "docs only")
    assert render() == first
    (home / "bumpdiff" / "x.txt").write_text("2\n")
    git("commit", "-q", "-am", "code")
    assert all(a != b for a, b in zip(render(), first))


def test_a_notebook_shows_the_saved_png_instead_of_drawing_the_figure_again(home, monkeypatch):
    """Under the inline backend, `save` closes the figure and displays the PNG it wrote, at the figure's on-screen
    size; the file is cropped to the figure's content, as `bbox_inches="tight"` would."""
    import IPython.display
    import matplotlib
    import matplotlib.pyplot as plt

    from bumpdiff.app import plotting

    shown = []
    monkeypatch.setattr(matplotlib, "get_backend", lambda: "module://matplotlib_inline.backend_inline")
    monkeypatch.setattr(IPython.display, "display", shown.append)
    fig, ax = plt.subplots(figsize=(4, 2), dpi=100)
    ax.set_xlim(0, 1)
    ax.set_position([0.4, 0.4, 0.2, 0.2])          # a small axes in a wide figure: tight cropping must shrink it
    png, pdf = plotting.save(fig, "fig_shown", "smoke")
    assert not plt.fignum_exists(fig.number)       # the backend will not draw it again at the end of the cell
    (image,) = shown
    assert image.data == png.read_bytes() and pdf.read_bytes().startswith(b"%PDF")
    width = int.from_bytes(image.data[16:20], "big")
    dpi = plotting.STYLE["savefig.dpi"]
    assert width < 4 * dpi                          # cropped, not the whole 4-inch canvas
    assert image.width == round(width * 100 / dpi)  # shown at the size the figure has on screen


def test_a_figure_outside_a_notebook_is_left_open(home):
    import matplotlib.pyplot as plt

    from bumpdiff.app import plotting

    fig, _ = plt.subplots(figsize=(2, 2))
    plotting.save(fig, "fig_open", "smoke")
    assert plt.fignum_exists(fig.number)
    plt.close(fig)


@pytest.mark.parametrize("layout", [None, "constrained"])
def test_a_saved_figure_is_cropped_as_matplotlib_crops_it(home, layout):
    """The box measured once for both files is matplotlib's own tight box, with or without a layout engine, also
    for text outside the canvas (a title above it)."""
    import io

    import matplotlib.pyplot as plt

    from bumpdiff.app import plotting

    def draw():
        fig, axes = plt.subplots(1, 2, figsize=(5, 2), layout=layout)
        for ax in axes:
            ax.plot([0, 1], [3, 1000])
            ax.set_ylabel("a long label\non two lines")
        fig.suptitle("a title above the canvas", y=1.08)
        return fig
    fig = draw()
    reference = io.BytesIO()
    fig.savefig(reference, dpi=plotting.STYLE["savefig.dpi"], bbox_inches="tight", pad_inches=0.1)
    plt.close(fig)
    fig = draw()
    png, _ = plotting.save(fig, "fig_cropped", "smoke")
    plt.close(fig)
    size = (lambda b: (int.from_bytes(b[16:20], "big"), int.from_bytes(b[20:24], "big")))
    assert size(png.read_bytes()) == size(reference.getvalue())
