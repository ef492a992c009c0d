"""How long the site's in-browser explorer takes to answer: headless Chromium, onnxruntime-web (WebAssembly, 1 thread).

The explorer's files (:func:`bumpdiff.app.webexplorer.stage_explorer`) are served from a temporary folder on
localhost with the page's HTML alone (no Sphinx theme around it). Times: from opening the page to its first answer
(WebAssembly compilation, the first graph's load, one request on the final checkpoint); then requests as a reader
makes them: moving μx, μy (the median of several), another seed, switching to each other checkpoint (its graph's
first load included). Each answer = the set's DDIM steps on a batch of the page's samples, plus the request's place
on the latent map.

Usage: ``python benchmarks/webexplorer.py [--moves 5] [--json data/results/benchmarks/webexplorer-cpu.json]``.
"""
from __future__ import annotations

import argparse
import functools
import http.server
import json
import shutil
import statistics
import subprocess
import tempfile
import threading
import time
from pathlib import Path

from bumpdiff.app.webexplorer import explorer_html, stage_explorer
from bumpdiff.common.files import atomic_write_json
from bumpdiff.core.provenance import provenance

FLAGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"]


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def main(argv=None) -> dict:
    from playwright.sync_api import sync_playwright

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--moves", type=int, default=5)
    ap.add_argument("--chromium", default=shutil.which("chromium") or "chromium")
    ap.add_argument("--json", default=None)
    ap.add_argument("--note", default="", help="what else ran on the machine meanwhile (said beside the numbers)")
    a = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        meta = stage_explorer(Path(tmp) / "_static")
        (Path(tmp) / "index.html").write_text('<!doctype html><html><head><meta charset="utf-8"></head><body>'
                                              + explorer_html("_static") + "</body></html>")
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=tmp))
        threading.Thread(target=server.serve_forever, daemon=True).start()
        rows = []
        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=a.chromium, args=FLAGS)
                page = browser.new_page()
                t0 = time.perf_counter()
                page.goto(f"http://127.0.0.1:{server.server_address[1]}/index.html", wait_until="load")
                page.wait_for_function("window.bumpdiffExplorer && window.bumpdiffExplorer.ready", timeout=300_000)
                page.evaluate("window.bumpdiffExplorer.ready")
                first = meta["sets"][0]
                rows.append({"interaction": f"open the page to its first answer ({first['arch']} final; WebAssembly "
                             "and the graph loaded)", "seconds": round(time.perf_counter() - t0, 2)})

                def ask(mx, my, seed=0, label=None):
                    lab = f"'{label}'" if label else "null"
                    r = page.evaluate(f"window.bumpdiffExplorer.request({mx}, {my}, {seed}, null, {lab})")
                    return r["ms"] / 1000

                moves = [ask(4 + 3 * i, 27 - 4 * i) for i in range(a.moves)]
                rows.append({"interaction": f"move μx, μy (median of {a.moves})",
                             "seconds": round(statistics.median(moves), 2)})
                rows.append({"interaction": "another seed", "seconds": round(ask(10, 10, seed=7), 2)})
                for ck in first["checkpoints"]:
                    if ck["label"] != "final":
                        rows.append({"interaction": f"switch to checkpoint {ck['label']} (its graph loaded)",
                                     "seconds": round(ask(10, 10, label=ck["label"]), 2)})
                version = browser.version
                browser.close()
        finally:
            server.shutdown()
            server.server_close()
    ort_version = json.loads(subprocess.run(["npm", "ls", "--prefix", "web", "--json", "onnxruntime-web"],
                                            capture_output=True, text=True, check=False).stdout or "{}")
    out = {"benchmark": "webexplorer", "browser": f"Chromium {version} (headless)",
           "runtime": "onnxruntime-web " + ort_version.get("dependencies", {}).get("onnxruntime-web", {})
           .get("version", "?") + " (WebAssembly, 1 thread)", "set": first["id"], "ddim_steps": first["ddim_steps"],
           "n_samples": meta["n_samples"], "rows": rows, "note": a.note, "provenance": provenance("cpu")}
    print(json.dumps(out, indent=1))
    if a.json:
        atomic_write_json(a.json, out)
    return out


if __name__ == "__main__":
    main()
