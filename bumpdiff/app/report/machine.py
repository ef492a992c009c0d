"""The sections about the machine: throughput, inference chunk, the explorers' timings, provenance."""
from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

from ...common import paths
from ...core.config import CPU_INFERENCE_CHUNK
from ...experiments.registry import EXPERIMENTS
from .format import _pair, _prov, _table


def _benchmarks(name: str) -> Iterator[tuple[Path, dict]]:
    """``(file, content)`` of every committed result of ``benchmarks/<name>.py``, by file name."""
    for bench in sorted((paths.results_dir() / "benchmarks").glob(f"{name}-*.json")):
        yield bench, json.loads(bench.read_text())


def _throughput_sections() -> list[str]:
    parts = []
    for bench, b in _benchmarks("throughput"):
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
    for bench, b in _benchmarks("chunk"):
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
    for bench, b in _benchmarks("explore"):
        p = b["provenance"]
        parts += [f"## Explorer response times (`benchmarks/explore.py`; {p['device']}; commit {_prov(p)})", "",
                  f"`notebooks/00_explore.ipynb` on the shipped `{b['profile']}` weights, {b['threads']} threads, one "
                  f"fresh process; loading the shipped set took {b['load_seconds']:.1f} s. Each answer = 8 samples "
                  "with their trajectory, plus the requested centre placed in the latent (computed once per "
                  f"checkpoint, layer and t). Raw numbers in `{paths.relative(bench)}`.", "",
                  _table(["interaction", "seconds"],
                         [[r["interaction"], f"{r['seconds']:.1f}"] for r in b["rows"]]), ""]
    return parts


def _webexplorer_sections() -> list[str]:
    parts = []
    for bench, b in _benchmarks("webexplorer"):
        p = b["provenance"]
        parts += [f"## In-browser explorer response times (`benchmarks/webexplorer.py`; {p['device']}; commit "
                  f"{_prov(p)})", "",
                  f"The site's explorer page on the shipped `{b['set']}` weights in {b['browser']}, "
                  f"{b['runtime']}. Each answer = {b['n_samples']} samples by {b['ddim_steps']} DDIM steps, plus the "
                  f"request's place on the layer-4 map. {b['note'] + '. ' if b.get('note') else ''}Raw numbers in "
                  f"`{paths.relative(bench)}`.", "",
                  _table(["interaction", "seconds"], [[r["interaction"], f"{r['seconds']:.2f}"] for r in b["rows"]]),
                  ""]
    return parts


def _calibration_sections() -> list[str]:
    """One table of every committed candidate of ``benchmarks/calibrate.py``: how a fast profile was sized."""
    runs = list(_benchmarks("calibration"))
    if not runs:
        return []
    rows = []
    for bench, b in runs:
        cfg, ev = b["config"], b["evals"]
        first = b["reached"]
        best = max(ev, key=lambda e: e["accuracy"])
        last = ev[-1]
        held = len(ev) >= b["hold"] and all(e["accuracy"] >= b["target"] for e in ev[-b["hold"]:])
        ended = ("held the target" if held else "its last step" if last["step"] >= cfg["steps"]
                 else "stopped by hand")
        rows.append([f"`{b['name']}`", str(b["evaluation"]["every"]), f"{cfg['lattice']['n']} px", cfg["model"]["arch"],
                     "(" + ", ".join(map(str, cfg["model"]["widths"])) + ")", f"{b['params'] / 1e6:.2f} M",
                     f"{cfg['lr']:g}, {cfg.get('lr_schedule', 'constant')}", str(cfg["batch_size"]),
                     f"{first['images_seen']:,} ({first['train_seconds'] / 60:.0f} min)" if first else "not reached",
                     f"{best['accuracy']:.2f} ({best['images_seen']:,})", f"{last['images_seen']:,}", ended,
                     f"{last['images_seen'] / last['train_seconds']:.0f}"])
    b0 = runs[0][1]
    e = b0["evaluation"]
    return ["## Calibration of the `fast` profile (`benchmarks/calibrate.py`)", "",
            f"Candidates trained with the project's training loop, each scored every few hundred steps (column "
            f"'every') on {e['n']} samples (DDIM {e['sampler_steps']} steps, {e['tol']:g} px); a candidate stops "
            f"once it has held accuracy ≥ {b0['target']:g} for the evaluations its run asked (`--hold`), or at its "
            "last step; a candidate clearly "
            "behind the others was stopped by hand to free its core. Training time as measured, "
            f"{b0['threads']} thread per candidate, two candidates at a time on the 2 cores; the machine and commit "
            "are in each file's provenance. The profile's own runs state their time per run.", "",
            _table(["candidate", "every", "canvas", "arch", "widths", "params", "lr, schedule", "batch",
                    f"accuracy ≥ {b0['target']:g} first at images (training time)", "best accuracy (at images)",
                    "images trained", "ended at", "img/s"], rows), ""]


def _figures_sections() -> list[str]:
    """What a new user waits for: ``make env`` and ``make figures`` in a fresh clone (``benchmarks/figures.py``), every
    committed run in one table (oldest first), and the notebooks' own times in the latest."""
    runs = sorted(_benchmarks("figures"), key=lambda r: r[1]["provenance"]["time"])
    if not runs:
        return []
    rows = []
    for bench, b in runs:
        changed = b["changed_files"]
        rows.append([b["provenance"]["time"][:16].replace("T", " "), b["commit"], f"{b['env_seconds']:.0f}",
                     f"{b['figures_seconds']:.1f}", f"{b['returncode']}", f"{b['load_before']:g}",
                     "clean" if not changed else f"{len(changed)} files changed", f"{len(b['error_lines'])}",
                     b["note"] or "—", f"`{paths.relative(bench)}`"])
    latest_file, latest = runs[-1]
    times = sorted(b["figures_seconds"] for _, b in runs)
    return [f"## `make figures` on a fresh clone (`benchmarks/figures.py`; {latest['provenance']['device']})", "",
            "Each run clones the commit named, builds its environment from scratch (`make env`), then times `make "
            "figures` from the committed results; `git status` afterwards says whether every committed figure was "
            f"drawn again byte for byte. {len(runs)} runs, `make figures` from {times[0]:.1f} s to {times[-1]:.1f} s.",
            "", _table(["when (UTC)", "commit", "make env (s)", "make figures (s)", "exit", "load before",
                        "git status after", "error lines", "note", "raw numbers"], rows), "",
            f"The notebooks' own times in the latest run ({latest['commit']}, `{paths.relative(latest_file)}`), two "
            "at a time:", "",
            _table(["notebook", "seconds"], [[n, f"{t:.1f}"] for n, t in sorted(latest["notebooks"].items())]), ""]


def _compared(c: dict) -> str:
    """One read-out of a recomputed run against the committed bundle, in words."""
    if not c["committed"]:
        return "no committed bundle"
    if c["identical"]:
        return f"identical ({c['checkpoints']} checkpoints)"
    worst = max(c["max_abs_diff"].items(), key=lambda kv: kv[1])
    calls = "same calls" if all(c["same_calls"].values()) else "calls differ"
    return f"differs: max abs diff {worst[1]:.3g} ({worst[0]}); {calls}"


def _reproduce_sections() -> list[str]:
    """A study recomputed from nothing on a fresh clone (``benchmarks/reproduce.py``): each run's time and whether
    each of its bundles equals the committed one."""
    parts = []
    for bench, b in _benchmarks("reproduce"):
        wall = sum(c["seconds"] for c in b["calls"])
        each = " + ".join(f"{c['seconds'] / 60:.0f}" for c in b["calls"])
        calls = (f"in one call of {wall / 60:.0f} min" if len(b["calls"]) == 1 else
                 f"in {len(b['calls'])} calls ({each} min; the later ones resumed it)")
        rows = [[run, f"{r['seconds'] / 60:.1f}", f"{r['resumed_at']:,}", f"{r['trained_to']:,}", r["analysed"],
                 *(_compared(r["compared"][noise]) if noise in r["compared"] else "—"
                   for noise in ("shared", "independent"))] for run, r in b["runs"].items()]
        exps = " and ".join(f"`{e}`" for e in b["experiments"])
        parts += [f"## The `{b['profile']}` {exps} study recomputed on a fresh clone "
                  f"(`benchmarks/reproduce.py`; {b['provenance']['device']})", "",
                  f"A clone of commit {b['commit']} with no runs; `make env` took {b['env_seconds']:.0f} s; then "
                  f"`{b['command']}` with new runs and scratch folders, {calls} on {b['cores']} cores: the runs in one "
                  "pool of parallel processes, one thread each. Job time: training and the analysis of every "
                  "checkpoint under both read-outs, from the step the job started at. Each bundle is compared number "
                  "by number with the committed bundle of the same run and analysis."
                  + (f" Meanwhile: {b['note']}." if b["note"] else "") + f" Raw numbers: `{paths.relative(bench)}`.",
                  "", _table(["run", "job (min)", "started at step", "trained to", "analysed checkpoints",
                              "shared read-out vs committed", "independent read-out vs committed"], rows), ""]
    return parts


def _provenance_section(prov: list[list[str]]) -> list[str]:
    experiments_listed = ", ".join(f"`{n}`" for n in EXPERIMENTS)
    return ["## Provenance", "",
            "Training commit: the commit the run's checkpoints were written at; analysis commit(s): the commits of "
            "the sessions that analysed its checkpoints (results migrated to the schema-1 layout keep the commit "
            "their old index recorded). Time: training (over every session the run took) / wall time of the "
            "`reproduce` job that finished it, analyses included, from the step it started at when it resumed a "
            "run left by an earlier session (recorded since the index has that field).", "",
            _table(["experiment", "run", "folder", "trained to / budget", "analysed checkpoints",
                    "time: training / job", "training commit", "analysis commit(s)", "device"], prov), "",
            f"Experiments defined in the library: {experiments_listed}.", ""]
