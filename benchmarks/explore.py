"""How long the explorer (``notebooks/00_explore.ipynb``) takes to answer, on this machine, from the shipped weights.

Times, in one fresh process: loading the shipped set; for each checkpoint, one answer as the notebook gives it
(samples + trajectory, the latent of a layer at t, the requested centre's place in it); then the interactions a
user makes: moving μx/μy (samples + placement, latent cached), changing the layer, changing t, switching the
checkpoint. The first latent of a process includes numba's compilation of UMAP.

Usage: ``python benchmarks/explore.py [--profile cpu] [--json data/results/benchmarks/explore-cpu.json]``.
"""
from __future__ import annotations

import argparse
import json
import time

import torch

from bumpdiff.app.explore import Explorer
from bumpdiff.common.files import atomic_write_json
from bumpdiff.core.provenance import provenance


def _timed(fn):
    t0 = time.perf_counter()
    fn()
    return round(time.perf_counter() - t0, 2)


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profile", default="cpu")
    ap.add_argument("--json", default=None)
    a = ap.parse_args(argv)
    rows = []
    t0 = time.perf_counter()
    ex = Explorer(a.profile)
    load = round(time.perf_counter() - t0, 2)
    first, other = ex.labels[-1], ex.labels[0]

    def answer(label, mux, muy, layer="down3", t=500, sampler="ddim", steps=20):
        ex.generate(label, mux, muy, sampler=sampler, steps=steps, n=8)
        ex.locate(label, mux, muy, layer=layer, t=t)

    for what, fn in [
        (f"first answer ({first}, down3, t=500; includes UMAP compilation)", lambda: answer(first, 12, 20)),
        ("move μx, μy (latent cached)", lambda: answer(first, 5, 27)),
        ("DDIM 50 steps instead of 20", lambda: answer(first, 5, 27, steps=50)),
        ("change layer to up1", lambda: answer(first, 5, 27, layer="up1")),
        ("change t to 100", lambda: answer(first, 5, 27, layer="up1", t=100)),
        (f"switch checkpoint to {other}", lambda: answer(other, 5, 27, layer="up1", t=100)),
    ]:
        rows.append({"interaction": what, "seconds": _timed(fn)})
    out = {"benchmark": "explore", "profile": a.profile, "threads": torch.get_num_threads(), "load_seconds": load,
           "rows": rows, "provenance": provenance("cpu")}
    print(json.dumps(out, indent=1))
    if a.json:
        atomic_write_json(a.json, out)
    return out


if __name__ == "__main__":
    main()
