"""The report website (``make site``): a static Sphinx site built from what ``make figures`` executed.

Sources are staged under ``build/site-src/<profile>/`` and the site is written to ``build/site/<profile>/``:

- ``index`` — the landing page: the paper's three claims, the project's answer to each from the committed bundles
  (:mod:`bumpdiff.app.findings`), the figure that shows it and links into the generated results;
- ``notebooks/NN_*`` — the executed notebooks of ``build/<profile>/``, published as they were executed (myst-nb with
  execution off: the site never runs a notebook);
- ``docs/SPEC``, ``docs/RESULTS``, ``docs/RERUN`` — the specification, the generated results, how to rerun;
- ``explorer`` — the shipped models running in the reader's browser (:mod:`bumpdiff.app.webexplorer`, with
  ``web/explorer.js`` and onnxruntime-web from ``web/node_modules``, copied into the site).

Nothing on a page is fetched from the network: the explorer's WebAssembly runtime is served with the site,
MathJax comes from the ``sphinx-mathjax-offline`` package, widget scripts are not loaded, and the theme's assets are
its own. Warnings are errors, so a broken link or a missing
figure fails the build. Every page carries a banner with the profile and commit that produced it.
"""
from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

from ..common import paths
from ..common.commits import commit_stamp
from ..common.log import get_logger
from .figures import notebooks
from .findings import COMPARED, Finding, across_profiles, evidence_links, findings
from .plotting import figure_dir
from .webexplorer import explorer_page, stage_explorer

__all__ = ["build_site", "site_dir", "sphinx_config", "landing_page", "fold_code"]

log = get_logger()

#: the committed pages the site publishes beside the notebooks (paths relative to the repository root)
PAGES = ("docs/SPEC.md", "docs/RESULTS.md", "docs/RERUN.md")


def site_dir(profile: str) -> Path:
    return paths.build_dir() / "site" / profile


def _source_dir(profile: str) -> Path:
    return paths.build_dir() / "site-src" / profile


def _stamp(profile: str, executed: list[Path]) -> str:
    """The banner: which profile the notebook pages were executed with, at which commit (their own stamps), and the
    commit the site was built at."""
    made = sorted({_executed_commit(nb) or "unknown" for nb in executed})
    return (f"bumpdiff {commit_stamp()} · notebook pages: profile <b>{profile}</b>, executed at "
            f"{', '.join(made)} · findings and results: the committed bundles of "
            + " and ".join(f"<b>{p}</b>" for p in COMPARED))


def _executed_commit(nb: Path) -> str | None:
    """The commit a notebook says it was executed at: the ``bumpdiff <commit> · profile …`` line its setup cell
    prints."""
    for cell in json.loads(nb.read_text())["cells"]:
        for out in cell.get("outputs", []):
            text = "".join(out.get("text", ""))
            if text.startswith("bumpdiff "):
                return text.split()[1]
    return None


def sphinx_config(profile: str, stamp: str) -> dict:
    """Every Sphinx setting the site uses, explicit (nothing left to a default that can drift)."""
    return {
        "project": "bumpdiff",
        "author": "the bumpdiff authors",
        "copyright": "the bumpdiff authors",
        "extensions": ["myst_nb", "sphinx-mathjax-offline"],
        "root_doc": "index",
        "source_suffix": {".md": "myst-nb", ".ipynb": "myst-nb"},
        "exclude_patterns": ["_build", "_doctrees", "**.ipynb_checkpoints"],
        "nb_execution_mode": "off",           # publish what `make figures` executed; never run a notebook
        "nb_ipywidgets_js": {},               # widget state would load the widget manager from a CDN
        "nb_merge_streams": True,
        "nb_output_stderr": "remove",         # the library's log lines and progress bars (stderr) stay off the page
        "nb_render_markdown_format": "myst",  # Markdown outputs with their tables (CommonMark has none)
        "nb_execution_cache_path": "_jupyter_cache",   # unused with execution off, but kept inside the staging
        "myst_enable_extensions": ["dollarmath", "amsmath"],
        "myst_heading_anchors": 3,            # `RESULTS.md#section` links resolve, and are checked
        "html_theme": "sphinx_book_theme",
        "html_title": f"bumpdiff · profile {profile}",
        "html_theme_options": {"announcement": stamp, "use_download_button": True, "use_fullscreen_button": False,
                               "use_repository_button": False, "show_toc_level": 2},
        "html_show_sourcelink": False,
        "html_copy_source": True,             # the download button offers the executed notebook
        "html_last_updated_fmt": None,
        "html_static_path": ["_webstatic"],   # the explorer's script, graphs and onnxruntime-web
        "suppress_warnings": [],
    }


def fold_code(nb: dict) -> dict:
    """``nb`` with every code cell tagged ``hide-input``: the page opens on caption, figure and table, and a toggle
    shows the code. The parameters cell is folded too. The downloadable copy carries the tags (JupyterLab ignores
    them)."""
    cells = []
    for cell in nb["cells"]:
        if cell["cell_type"] == "code":
            meta = cell.get("metadata", {})
            tags = list(meta.get("tags", []))
            cell = cell | {"metadata": meta | {"tags": tags + ["hide-input"] * ("hide-input" not in tags)}}
        cells.append(cell)
    return nb | {"cells": cells}


def landing_page(profile: str, found: dict[str, list[Finding]]) -> str:
    """The landing page's Markdown: the three claims (``found``: {profile: :func:`~bumpdiff.app.findings.findings`}
    of the committed bundles of each compared profile) with each profile's answer, whether the claim holds at both
    scales, the first profile's figure and the tables behind them."""
    lines = ["# bumpdiff", "",
             "A reproducible companion to Liang, Liu & Fiete, *Do Diffusion Models Learn Semantically Meaningful "
             "and Efficient Representations?* (arXiv 2402.03305).", "",
             "A conditional DDPM learns 32 × 32 images of one Gaussian bump conditioned on its centre (μx, μy). The "
             "paper finds that its hidden representation passes through three phases tied to what it generates, and "
             "that it learns x and y together even when one is sampled far more finely. bumpdiff reruns the study "
             "from scratch; below, each of the paper's claims with what the committed results of each profile say "
             "(generated from the bundles: `cpu`, 32 × 32 images as in the paper; `fast`, a 16 × 16 canvas whose "
             "runs take minutes), the figure that shows it and the tables behind it.", ""]
    lines += ["**Try the model in your browser:** the [explorer](explorer.md) generates bumps where you point, with "
              "the shipped weights running in the page (nothing to install).", ""]
    for i, (same, verdict) in enumerate(zip(zip(*found.values()), across_profiles(found)), 1):
        f = same[0]
        links = "; ".join(x for x in (evidence_links(g) for g in same) if x)
        lines += [f"## {i}. {f.claim}", "", f"**Across the profiles: {verdict}.**", ""]
        lines += [line for prof, g in zip(found, same) for line in (f"- `{prof}`: {g.answer}",)] + [""]
        figure = next((g.figure for g in same if g.figure), None)   # none for a study not computed anywhere yet
        lines += [f"![{f.claim}](figures/{figure})" if figure else "", "", f"Tables: {links}." if links else "", ""]
    lines += ["## Pages", "", f"The figure notebooks below were executed with the `{profile}` profile; each "
              "starts with the commit it was executed at.", "",
              "```{toctree}", ":maxdepth: 1", ":caption: Figures", ":glob:", "", "notebooks/*", "```", "",
              "```{toctree}", ":maxdepth: 1", ":caption: Explore", "", "explorer", "```", "",
              "```{toctree}", ":maxdepth: 1", ":caption: Reference", "", *[p[:-3] for p in PAGES], "```", ""]
    return "\n".join(lines)


def _stage(profile: str, executed: list[Path]) -> Path:
    src = _source_dir(profile)
    if src.exists():
        shutil.rmtree(src)
    (src / "notebooks").mkdir(parents=True)
    (src / "docs").mkdir()
    (src / "figures").mkdir()
    for nb in executed:
        (src / "notebooks" / nb.name).write_text(json.dumps(fold_code(json.loads(nb.read_text())), indent=1))
    for page in PAGES:
        shutil.copy2(paths.root() / page, src / page)
    found = {p: findings(p) for p in COMPARED}   # reads every committed experiment: once per build
    # a figure not drawn is left out here, and Sphinx's warning then fails the build
    for figure in {f.figure for same in found.values() for f in same if f.figure}:
        if (figure_dir("cpu") / figure).exists():
            shutil.copy2(figure_dir("cpu") / figure, src / "figures" / figure)
    (src / "index.md").write_text(landing_page(profile, found))
    (src / "_webstatic").mkdir()
    meta = stage_explorer(src / "_webstatic")
    (src / "explorer.md").write_text(explorer_page("_static", shipped=meta is not None))
    conf = sphinx_config(profile, _stamp(profile, executed))
    (src / "conf.py").write_text("# written by bumpdiff.app.site: edit sphinx_config() there, not this file\n"
                                 + "".join(f"{k} = {v!r}\n" for k, v in conf.items()))
    return src


def build_site(profile: str = "cpu", quiet: bool = True) -> Path:
    """Build the site from ``build/<profile>/``'s executed notebooks into ``build/site/<profile>/`` and return that
    folder. Every numbered notebook must have an executed copy (else SystemExit naming the command that makes them);
    any Sphinx warning fails the build (SystemExit with Sphinx's messages)."""
    from sphinx.cmd.build import build_main  # imported here: Sphinx and its extensions take a second to import

    t0 = time.time()
    executed = [paths.build_dir() / profile / nb.name for nb in notebooks()]
    missing = [p.name for p in executed if not p.exists()]
    if missing:
        raise SystemExit(f"bumpdiff: site ({profile}): no executed copy of {', '.join(missing)} in "
                         f"{paths.relative(paths.build_dir() / profile)}; make them with: "
                         f"make figures PROFILE={profile}")
    src = _stage(profile, executed)
    out = site_dir(profile)
    tmp = out.with_name(out.name + ".partial")
    if tmp.exists():
        shutil.rmtree(tmp)
    args = ["-b", "html", "-W", "--keep-going", "-E", "-d", str(src / "_doctrees"), str(src), str(tmp)]
    rc = build_main(args + (["-q"] if quiet else []))
    if rc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise SystemExit(f"bumpdiff: site ({profile}): Sphinx failed (warnings are errors); see its messages above")
    if out.exists():
        shutil.rmtree(out)
    tmp.rename(out)   # a finished site replaces the old one whole; a failed build leaves the old one
    log.info(f"site ({profile}): {len(executed)} notebooks + {len(PAGES) + 1} pages in {time.time() - t0:.1f} s: "
             f"{paths.relative(out / 'index.html')}")
    return out
