"""The sections about the machine: throughput, inference chunk, the explorer's timings, provenance."""
from __future__ import annotations

import json

from ...common import paths
from ...core.diffusion import CPU_INFERENCE_CHUNK
from ...experiments.registry import EXPERIMENTS
from .format import _pair, _prov, _table


def _throughput_sections() -> list[str]:
    parts = []
    for bench in sorted((paths.results_dir() / "benchmarks").glob("throughput-*.json")):
        b = json.loads(bench.read_text())
        where = b.get("provenance", {}).get("device") or b["device"]
        made = b.get("provenance", {}).get("commit", "before provenance was recorded")
        parts += [f"## Throughput benchmark (`benchmarks/throughput.py`; {where}; commit {made})", "",
                  f"bumpdiff's UNet against `diffusers.UNet2DModel` of about the same size, same device, batch and "
                  f"precision; raw numbers in `{paths.relative(bench)}`.", "",
                  _table(["profile", "arch", "precision", "params bumpdiff / peer", "train img/s bumpdiff / peer",
                          "ratio", "sampling img-steps/s bumpdiff / peer", "ratio"],
                         [[r["profile"], r.get("arch", "film"), r["precision"],
                           f"{r['params_bumpdiff'] / 1e6:.2f} M / {r['params_peer'] / 1e6:.2f} M",
                           *_pair(r, "train"), *_pair(r, "sample")] for r in b["rows"]]), ""]
    return parts


def _chunk_sections() -> list[str]:
    parts = []
    for bench in sorted((paths.results_dir() / "benchmarks").glob("chunk-*.json")):
        b = json.loads(bench.read_text())
        p = b["provenance"]
        chunks = sorted({r["chunk"] for r in b["rows"]})
        cases = list(dict.fromkeys((r["profile"], r["arch"]) for r in b["rows"]))
        cell = {(r["profile"], r["arch"], r["chunk"]): r for r in b["rows"]}
        worst = max(r["max_abs_diff_vs_whole"] for r in b["rows"])
        parts += [f"## Inference chunk (`benchmarks/chunk.py`; {p['device']}; commit {_prov(p)})", "",
                  f"Images per second of a no-grad forward pass (the latent read-out's: timestep 500, one shared noise "
                  f"image) over {b['rows'][0]['images']} images split into chunks of each size, {b['threads']} "
                  f"threads, median of {b['repeats']}; the largest difference of any output from the whole batch's "
                  f"at once: {worst:.1e}. On a CPU the library uses chunks of {CPU_INFERENCE_CHUNK} "
                  f"(`bumpdiff.core.diffusion.CPU_INFERENCE_CHUNK`). Raw numbers in `{paths.relative(bench)}`.", "",
                  _table(["profile", "arch", *(f"chunk {c}" for c in chunks)],
                         [[prof, arch, *(f"{cell[prof, arch, c]['images_per_s']:.0f}" if (prof, arch, c) in cell
                                         else "—" for c in chunks)] for prof, arch in cases]), ""]
    return parts


def _explorer_sections() -> list[str]:
    parts = []
    for bench in sorted((paths.results_dir() / "benchmarks").glob("explore-*.json")):
        b = json.loads(bench.read_text())
        p = b["provenance"]
        parts += [f"## Explorer response times (`benchmarks/explore.py`; {p['device']}; commit {_prov(p)})", "",
                  f"`notebooks/00_explore.ipynb` on the shipped `{b['profile']}` weights, {b['threads']} threads, one "
                  f"fresh process; loading the shipped set took {b['load_seconds']:.1f} s. Each answer = 8 samples "
                  "with their trajectory, plus the requested centre placed in the latent (computed once per "
                  f"checkpoint, layer and t). Raw numbers in `{paths.relative(bench)}`.", "",
                  _table(["interaction", "seconds"],
                         [[r["interaction"], f"{r['seconds']:.1f}"] for r in b["rows"]]), ""]
    return parts


def _provenance_section(prov: list[list[str]]) -> list[str]:
    experiments_listed = ", ".join(f"`{n}`" for n in EXPERIMENTS)
    return ["## Provenance", "",
            "Training commit: the commit the run's checkpoints were written at; analysis commit(s): the commits of "
            "the sessions that analysed its checkpoints (results migrated to the schema-1 layout keep the commit "
            "their old index recorded).", "",
            _table(["experiment", "run", "folder", "trained to / budget", "analysed checkpoints", "training commit",
                    "analysis commit(s)", "device"], prov), "",
            f"Experiments defined in the library: {experiments_listed}.", ""]
