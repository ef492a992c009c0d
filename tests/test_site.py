"""The report site in a real browser: built from the smoke profile's executed notebooks, served on localhost and
crawled by headless Chromium (Playwright, with the system's Chromium: no browser is downloaded).

Every page must load with status 200, every image must have loaded, no internal link (or its #fragment) may be
broken, math must be typeset, no JavaScript error may be thrown and no request may leave localhost. Every notebook
page must read as a page, not a log: no Markdown table left as raw pipes, no ``[bumpdiff]`` log line visible, no code
shown before a toggle is pressed. Without a
Chromium the test skips with one line; with ``BUMPDIFF_REQUIRE_BROWSER=1`` (CI sets it) it fails instead.
"""
import functools
import http.server
import os
import shutil
import threading
import urllib.request
from urllib.parse import urldefrag, urljoin, urlparse

import pytest

from bumpdiff.app.figures import make_figures, notebooks
from bumpdiff.app.site import build_site
from bumpdiff.common import paths

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("site")]   # one built site per run

BROWSER_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]


def _chromium() -> str:
    """The system's Chromium, or skip (fail where ``BUMPDIFF_REQUIRE_BROWSER=1``)."""
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        exe = None
    if exe is None:
        why = "no Chromium (apt-get install chromium) or no playwright package"
        if os.environ.get("BUMPDIFF_REQUIRE_BROWSER") == "1":
            pytest.fail(f"{why}, and BUMPDIFF_REQUIRE_BROWSER=1 says the browser must be there")
        pytest.skip(why)
    return exe


@pytest.fixture(scope="module")
def smoke_site():
    """The site built from build/smoke/; notebooks with no executed copy (or an older one) are executed first."""
    stale = [nb.name[:2] for nb in notebooks()
             if not (paths.build_dir() / "smoke" / nb.name).exists()
             or (paths.build_dir() / "smoke" / nb.name).stat().st_mtime < nb.stat().st_mtime]
    if stale:
        make_figures("smoke", only=stale)
    return build_site("smoke")


@pytest.fixture(scope="module")
def served(smoke_site):
    handler = functools.partial(_QuietHandler, directory=str(smoke_site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)   # port 0: a free one
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


_IMAGES_LOADED = """async () => {
    const imgs = [...document.images];
    imgs.forEach(i => { i.loading = "eager"; });
    await Promise.all(imgs.map(i => i.complete ? null : new Promise(r => { i.onload = i.onerror = r; })));
    return imgs.filter(i => !(i.naturalWidth > 0)).map(i => i.getAttribute("src"));
}"""


# what a reader sees on a page that reads badly: table rows as text, log lines, code open before the figure
_READING = r"""() => {
    const seen = el => el.checkVisibility();
    const texts = [...document.querySelectorAll("article p, article pre, article li")].filter(seen)
        .map(e => e.innerText);
    return {
        raw_tables: texts.filter(t => /^\s*\|.*\|\s*$/m.test(t) || /\|\s*[-—–]{1,3}\s*\|/.test(t)),
        log_lines: texts.filter(t => t.includes("[bumpdiff]")),
        open_code: [...document.querySelectorAll("article .cell_input, article div.highlight-ipython3")]
            .filter(seen).length,
        html_tables: document.querySelectorAll("article table").length,
    };
}"""


def _crawl(page, root: str):
    """Visit every internal page reachable from ``root``; returns ({url: status}, {url: [unloaded images]},
    {page url: [hrefs]}, {url: set of element ids}, {url: what _READING finds})."""
    status, unloaded, links, ids, reading = {}, {}, {}, {}, {}
    todo = [root + "index.html"]
    while todo:
        url = todo.pop()
        if url in status:
            continue
        resp = page.goto(url, wait_until="load")
        status[url] = resp.status if resp else None
        unloaded[url] = page.evaluate(_IMAGES_LOADED)
        ids[url] = set(page.eval_on_selector_all("[id]", "els => els.map(e => e.id)"))
        reading[url] = page.evaluate(_READING)
        hrefs = page.eval_on_selector_all("a[href]", "els => els.map(e => e.getAttribute('href'))")
        links[url] = [h for h in hrefs if not urlparse(h).scheme or urljoin(url, h).startswith(root)]
        for h in links[url]:
            target = urldefrag(urljoin(url, h))[0]
            if target.endswith(".html") and target not in status:
                todo.append(target)
    return status, unloaded, links, ids, reading


def _inspect(root: str, math_page: str | None = None) -> dict:
    """Crawl the site served at ``root`` in headless Chromium; returns what the checks read: ``pages`` (paths),
    ``bad_status``, ``unloaded`` images, ``broken`` links, ``errors`` (JavaScript), ``outside`` (requests to any
    host but 127.0.0.1, refused), ``math`` (typeset formulas on ``math_page``) and ``reading`` (per page: raw table
    text, visible log lines, code open without a toggle)."""
    exe = _chromium()
    from playwright.sync_api import sync_playwright

    outside, errors = [], []

    def only_localhost(route):
        if urlparse(route.request.url).hostname == "127.0.0.1":
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=exe, args=BROWSER_FLAGS)
        page = browser.new_page()
        page.route("**/*", only_localhost)
        page.on("pageerror", lambda e: errors.append(f"{page.url}: {e}"))
        status, unloaded, links, ids, reading = _crawl(page, root)
        math = None
        if math_page is not None:
            page.goto(root + math_page, wait_until="load")
            page.wait_for_function("window.MathJax && MathJax.startup && MathJax.startup.promise")
            page.evaluate("MathJax.startup.promise")
            math = page.eval_on_selector_all("mjx-container", "els => els.length")
        browser.close()
    return {"pages": {u[len(root):] for u in status}, "bad_status": {u: s for u, s in status.items() if s != 200},
            "unloaded": {u[len(root):]: i for u, i in unloaded.items() if i}, "broken": _broken(links, status, ids),
            "errors": errors, "outside": outside, "math": math,
            "reading": {u[len(root):]: r for u, r in reading.items()}}


def _broken(links: dict, status: dict, ids: dict) -> list[str]:
    broken = []
    for url, hrefs in links.items():
        for h in hrefs:
            target, frag = urldefrag(urljoin(url, h))
            if target.endswith("/"):
                broken.append(f"{url}: {h} (a folder: a static host has no listing)")
            elif target in status:
                if status[target] == 200 and frag and frag not in ids[target]:
                    broken.append(f"{url}: {h} (no #{frag})")
            else:
                try:
                    with urllib.request.urlopen(target) as r:
                        r.read(1)
                except Exception as e:  # noqa: BLE001
                    broken.append(f"{url}: {h} ({e})")
    return broken


def test_the_site_works_in_a_real_browser(served):
    got = _inspect(served, math_page="docs/SPEC.html")
    assert {"index.html", "docs/SPEC.html", "docs/RESULTS.html", "docs/RERUN.html"} <= got["pages"]
    assert {f"notebooks/{nb.stem}.html" for nb in notebooks()} <= got["pages"]
    assert got["bad_status"] == {}
    assert got["unloaded"] == {}
    assert got["broken"] == []
    assert got["math"] > 0, "no typeset math on the spec page"
    assert got["errors"] == []
    assert got["outside"] == []
    notebook_pages = {u: r for u, r in got["reading"].items() if u.startswith("notebooks/")}
    assert len(notebook_pages) == len(notebooks())
    for url, r in notebook_pages.items():
        assert (r["raw_tables"], r["log_lines"], r["open_code"]) == ([], [], 0), url
    tables = [u for u in notebook_pages
              if u.startswith(("notebooks/01_", "notebooks/02_", "notebooks/04_", "notebooks/05_"))]
    assert tables, "the notebooks that show tables"
    for url in tables:   # a table in an output is an HTML table on the page
        assert notebook_pages[url]["html_tables"] > 0, url


def test_the_browser_checks_catch_what_they_look_for(tmp_path):
    # a two-page site with one fault of each kind: the crawl must report every one of them
    (tmp_path / "index.html").write_text(
        '<html><head><meta charset="utf-8"></head><body>'
        '<a href="b.html#there">b</a> <a href="b.html#nowhere">x</a> <a href="gone.html">g</a> '
        '<a href="sub/">folder</a> <img src="missing.png"> <script>undefinedFunction()</script>'
        '<article><p>| run | step |\n|—|—|\n| a | 1 |</p><pre>[bumpdiff] cache hit: x</pre>'
        '<div class="cell_input">print(1)</div><details><summary>code</summary><div class="cell_input">x</div>'
        '</details></article></body></html>')
    (tmp_path / "b.html").write_text('<html><body><p id="there">b</p><img src="https://example.org/x.png">'
                                     '</body></html>')
    (tmp_path / "sub").mkdir()
    handler = functools.partial(_QuietHandler, directory=str(tmp_path))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        got = _inspect(f"http://127.0.0.1:{server.server_address[1]}/")
    finally:
        server.shutdown()
        server.server_close()
    assert got["pages"] == {"index.html", "b.html", "gone.html"}
    assert list(got["bad_status"].values()) == [404]
    assert got["unloaded"]["index.html"] == ["missing.png"] and got["unloaded"]["b.html"] == ["https://example.org/x.png"]
    assert sorted(b.split(": ", 1)[1].split(" ")[0] for b in got["broken"]) == ["b.html#nowhere", "sub/"]
    assert len(got["errors"]) == 1 and "undefinedFunction" in got["errors"][0]
    assert got["outside"] == ["https://example.org/x.png"]
    assert got["reading"]["index.html"] == {"raw_tables": ["| run | step | |—|—| | a | 1 |"],
                                            "log_lines": ["[bumpdiff] cache hit: x"], "open_code": 1,
                                            "html_tables": 0}
    assert got["reading"]["b.html"] == {"raw_tables": [], "log_lines": [], "open_code": 0, "html_tables": 0}


def test_every_page_says_its_profile_and_commit(smoke_site):
    for page in [smoke_site / "index.html", *sorted((smoke_site / "notebooks").glob("*.html"))]:
        text = page.read_text()
        assert "notebook pages: profile <b>smoke</b>" in text and "bumpdiff " in text, page.name


def _tiny_project(root, link: str = "[the spec](SPEC.md)"):
    """A project with one executed notebook, the three pages and the landing page's figures (1-pixel PNGs)."""
    import nbformat
    (root / "data").mkdir()
    (root / "pyproject.toml").write_text("")
    for d in ("notebooks", "build/smoke", "docs", "figures"):
        (root / d).mkdir(parents=True)
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# Figure 1\n\nA caption, $x^2$.")])
    for where in ("notebooks", "build/smoke"):
        nbformat.write(nb, root / where / "01_tiny.ipynb")
    (root / "docs" / "SPEC.md").write_text("# Spec\n\n$I(x) = e^{-x^2}$\n")
    (root / "docs" / "RESULTS.md").write_text("# Results\n")
    (root / "docs" / "RERUN.md").write_text(f"# Rerun\n\nSee {link}.\n")
    png = bytes.fromhex("89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c4890000000d49444154789c6360"
                        "000002000154a24f5d0000000049454e44ae426082")
    for name in ("fig4c_seeds.png", "fig12_phase_portrait.png", "fig13_calibration.png", "fig5_imbalanced.png",
                 "fig14_composition.png", "fig16_data_efficiency.png"):
        (root / "figures" / name).write_bytes(png)


def test_a_broken_link_or_a_missing_figure_fails_the_build(home):
    _tiny_project(home)
    site = build_site("smoke")                          # the project as it is builds
    assert (site / "notebooks" / "01_tiny.html").exists()
    (home / "docs" / "RERUN.md").write_text("# Rerun\n\nSee [nothing](NOWHERE.md).\n")
    with pytest.raises(SystemExit, match="Sphinx failed"):
        build_site("smoke")
    assert (site / "index.html").exists()               # the failed build left the last good site whole
    (home / "docs" / "RERUN.md").write_text("# Rerun\n")
    (home / "figures" / "fig5_imbalanced.png").unlink()
    with pytest.raises(SystemExit, match="Sphinx failed"):
        build_site("smoke")
    (home / "build" / "smoke" / "01_tiny.ipynb").unlink()
    with pytest.raises(SystemExit, match="make figures PROFILE=smoke"):
        build_site("smoke")


# three centres on the final model, as fractions of the canvas: near a corner, the middle, near an edge
EXPLORER_CENTRES = [(0.2, 0.75), (0.5, 0.5), (0.85, 0.3)]
#: the page's samples and PyTorch's on the same noise differ by at most this: a quarter of one grey level of the
#: page's 8-bit images (pixels in [-1, 1]), so a reader sees the same picture. They differ at all because
#: onnxruntime-web's WebAssembly kernels sum in another order than PyTorch's and the page's DDIM update runs in
#: float64; 50 DDIM steps carry that on. Measured on 12 random centres per shipped final model (commit 759bbd6):
#: largest 3.1e-4 for `cpu` additive seed 2 (median 7.8e-5), at most 2e-5 for the other three.
EXPLORER_TOLERANCE = 0.25 * 2 / 255


def test_the_explorer_generates_bumps_where_a_reader_points(served):
    """The explorer page, offline in Chromium: three requests on the final model give the samples PyTorch gives on the
    same noise, so the bumps land within 1 px as often; a drag on the pad makes a new request at the dragged centre;
    the stochastic sampler (η = 1) gives PyTorch's samples on the page's per-step noise; nothing leaves localhost and
    no script fails."""
    import numpy as np
    from playwright.sync_api import sync_playwright

    from bumpdiff.analysis.evaluate import score
    from bumpdiff.app.webexplorer import reference_samples, shipped_sets
    from bumpdiff.store.weights import pretrained

    exe = _chromium()
    outside, errors = [], []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=exe, args=BROWSER_FLAGS)
        page = browser.new_page()
        page.route("**/*", lambda r: r.continue_() if urlparse(r.request.url).hostname == "127.0.0.1"
                   else (outside.append(r.request.url), r.abort()))
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(served + "explorer.html", wait_until="load")
        page.wait_for_function("window.bumpdiffExplorer && window.bumpdiffExplorer.ready", timeout=120_000)
        page.evaluate("window.bumpdiffExplorer.ready")
        meta = page.evaluate("window.bumpdiffExplorer.meta")
        js_noise = page.evaluate("async () => Array.from((await import('./_static/explorer/explorer.js'))"
                                 ".pageNoise(7, 4096))")
        first = meta["sets"][0]   # the page opens on the first set: the paper-faithful `additive` when one is shipped
        assert first["arch"] == ("additive" if any(m["arch"] == "additive" for m in shipped_sets()) else "film")
        opened = page.locator("#bx-status").inner_text()
        assert f"{first['arch']} final" in opened, opened
        centres = [(round(fx * (first["image_size"] - 1), 1), round(fy * (first["image_size"] - 1), 1))
                   for fx, fy in EXPLORER_CENTRES]
        answers = [page.evaluate(f"window.bumpdiffExplorer.request({mx}, {my}, 0, '{first['id']}', 'final')")
                   for mx, my in centres]
        before = page.evaluate("window.bumpdiffExplorer.answers")
        page.locator("#bx-pad").scroll_into_view_if_needed()
        box = page.locator("#bx-pad").bounding_box()
        page.mouse.move(box["x"] + box["width"] * 0.2, box["y"] + box["height"] * 0.3)
        page.mouse.down()
        page.mouse.move(box["x"] + box["width"] * 0.7, box["y"] + box["height"] * 0.6, steps=5)
        page.mouse.up()
        page.wait_for_function(f"window.bumpdiffExplorer.answers > {before}", timeout=120_000)
        dragged = page.evaluate("""async () => {   // the answer to the last position of the drag
            const api = window.bumpdiffExplorer;
            while (api.busy()) await new Promise(r => setTimeout(r, 20));
            return api.last;
        }""")
        mx, my = centres[1]   # the stochastic sampler on the same request: fresh page noise at every step
        stochastic = page.evaluate(f"window.bumpdiffExplorer.request({mx}, {my}, 0, '{first['id']}', 'final', 1)")
        status = page.locator("#bx-status").inner_text()
        browser.close()
    assert outside == [] and errors == []
    from bumpdiff.app.webexplorer import page_noise
    assert np.array_equal(np.array(js_noise, dtype=np.float32), page_noise(7, 4096))   # the same noise, bit for bit
    diffusion = pretrained(first["profile"], "final", first["arch"], first["seed"])
    n = first["image_size"]
    page_imgs = np.array([a["images"] for a in answers], dtype=np.float32).reshape(len(answers), -1, n, n)
    torch_imgs = np.stack([reference_samples(diffusion, c, 0, first["ddim_steps"]) for c in centres])
    assert np.abs(page_imgs - torch_imgs).max() <= EXPLORER_TOLERANCE
    k = page_imgs.shape[1]
    requested = np.repeat(np.array(centres), k, axis=0)
    page_rate = score(page_imgs.reshape(-1, 1, n, n), requested).accuracy
    torch_rate = score(torch_imgs.reshape(-1, 1, n, n), requested).accuracy
    print(f"within 1 px: page {page_rate:.3f}, PyTorch {torch_rate:.3f} ({len(requested)} samples)")
    assert page_rate == torch_rate
    # the drag ended at 70 % / 60 % of the pad: the last answer is for that centre, and its samples are PyTorch's
    assert dragged["mx"] == pytest.approx(0.7 * n - 0.5, abs=0.2)
    assert dragged["my"] == pytest.approx(0.6 * n - 0.5, abs=0.2)
    again = reference_samples(diffusion, (dragged["mx"], dragged["my"]), 0, first["ddim_steps"])
    dragged_imgs = np.array(dragged["images"], dtype=np.float32).reshape(again.shape)
    assert np.abs(dragged_imgs - again).max() <= EXPLORER_TOLERANCE
    assert "η = 1" in status and stochastic["eta"] == 1
    stochastic_imgs = np.array(stochastic["images"], dtype=np.float32).reshape(again.shape)
    expected = reference_samples(diffusion, centres[1], 0, first["ddim_steps"], eta=1.0)
    assert np.abs(stochastic_imgs - expected).max() <= EXPLORER_TOLERANCE
    assert np.abs(stochastic_imgs - page_imgs[1]).max() > 0.1   # not the deterministic answer again
