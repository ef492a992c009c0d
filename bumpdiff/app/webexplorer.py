"""The site's in-browser explorer: the shipped models as ONNX graphs that onnxruntime-web runs in the reader's browser.

:func:`build_assets` writes, for every shipped set (``data/pretrained``) and each of its checkpoints, the graph
(:func:`bumpdiff.core.export.export_onnx`: the noise prediction and layer 4 in one pass) and the check of it against
PyTorch; and one ``meta.json`` the page reads: the noise schedule, the DDIM timesteps, and per checkpoint the
layer-4 latent map — the shared read-out's activations over the latent grid (the analysis's own
:func:`~bumpdiff.analysis.activations.collect_activations`), projected on their first two principal components — with
the projection itself (mean and components) and the read-out's noise image, so the browser places a requested centre
on the map with one forward pass and a product.

The page draws its noise from :func:`page_noise` (a 32-bit counter generator and Box–Muller, written the same way in
``explorer.js``), so a request (μx, μy, seed) gives the same pictures every time, and :func:`reference_samples` gives
the PyTorch samples on the same noise. Assets are cached in ``build/webexplorer/`` by the weights' sha256 and the
settings, so a site rebuild exports nothing that has not changed.
"""
from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import numpy as np
import torch

from ..analysis.activations import collect_activations, latent_grid
from ..common import paths
from ..common.files import atomic_write_json
from ..common.identity import key as identity_key
from ..common.log import get_logger
from ..core.config import TrainConfig
from ..core.diffusion import DDIM
from ..core.export import OPSET, export_onnx, onnx_error
from ..store.weights import pretrained

__all__ = ["page_noise", "reference_samples", "build_assets", "shipped_sets", "ORT_FILES", "ort_dist", "N_SAMPLES",
           "MAX_ONNX_ERROR", "explorer_page", "explorer_html", "stage_explorer"]

log = get_logger()

#: samples per request on the page
N_SAMPLES = 4
#: an exported graph whose outputs differ from PyTorch's by more than this on a random batch is refused
MAX_ONNX_ERROR = 1e-4
#: the onnxruntime-web files the page loads (from web/node_modules/onnxruntime-web/dist)
ORT_FILES = ("ort.wasm.bundle.min.mjs", "ort-wasm-simd-threaded.mjs", "ort-wasm-simd-threaded.wasm")
#: how many x̂0 frames of the denoising trajectory the page shows
TRAJECTORY_FRAMES = 6
_M32 = 0xFFFFFFFF


def page_noise(seed: int, count: int) -> np.ndarray:
    """``count`` standard-normal float32 values from ``seed``, exactly as the page draws them: mulberry32 32-bit
    integers, two per pair of values, through Box–Muller (u1 = (a + 1) / (2³² + 1), u2 = b / 2³²)."""
    state = seed & _M32
    out = np.empty(count + count % 2, dtype=np.float64)

    def nxt() -> int:
        nonlocal state
        state = (state + 0x6D2B79F5) & _M32
        t = ((state ^ (state >> 15)) * (1 | state)) & _M32
        t = ((t + (((t ^ (t >> 7)) * (61 | t)) & _M32)) & _M32) ^ t
        return (t ^ (t >> 14)) & _M32

    for i in range(0, len(out), 2):
        u1 = (nxt() + 1) / 4294967297.0
        u2 = nxt() / 4294967296.0
        r = math.sqrt(-2.0 * math.log(u1))
        out[i], out[i + 1] = r * math.cos(2 * math.pi * u2), r * math.sin(2 * math.pi * u2)
    return out[:count].astype(np.float32)


@torch.no_grad()
def reference_samples(diffusion, center, seed: int, steps: int, n: int = N_SAMPLES, eta: float = 0.0) -> np.ndarray:
    """What the page generates for ``center``, ``seed`` and ``eta``, computed by PyTorch: ``n`` DDIM samples
    (``steps`` steps) as an (n, N, N) float32 array in [-1, 1]. The noise is the page's (:func:`page_noise`,
    sample-major): x_T first, then, when ``eta`` > 0, a fresh draw for each step but the last. The steps are
    :meth:`~bumpdiff.core.diffusion.Diffusion.ddim_step`, as :meth:`~bumpdiff.core.diffusion.Diffusion.sample` takes
    them (the same images as ``sample`` from the same x_T when ``eta`` is 0); :class:`DDIM` checks ``eta``."""
    size = diffusion.model.cfg.image_size
    px = n * size * size
    ts = DDIM(steps, eta).timesteps(diffusion.T)
    noise = torch.from_numpy(page_noise(seed, px * (len(ts) if eta > 0 else 1))).reshape(-1, n, 1, size, size)
    c = torch.tensor([center] * n, dtype=torch.float32)
    x = noise[0]
    was_training = diffusion.model.training
    diffusion.model.eval()
    try:
        for k, t in enumerate(ts):
            t_prev = ts[k + 1] if k + 1 < len(ts) else -1
            eps = diffusion.model(x, torch.full((n,), t, dtype=torch.long), c).float()
            x, _ = diffusion.ddim_step(x, t, t_prev, eps, eta, noise[k + 1] if eta > 0 and t_prev >= 0 else None)
    finally:
        diffusion.model.train(was_training)
    return x.clamp(-1, 1)[:, 0].numpy().astype(np.float32)


def shipped_sets() -> list[dict]:
    """The manifests of every shipped set, the paper-faithful ``additive`` ones first, then by profile and seed."""
    sets = [json.loads(p.read_text()) for p in sorted((paths.data_dir() / "pretrained").glob("*/manifest.json"))]
    return sorted(sets, key=lambda m: (m["arch"] != "additive", m["profile"], m["seed"]))


def ort_dist() -> Path:
    """onnxruntime-web's files, installed by ``npm ci --prefix web`` (SystemExit naming that command if absent)."""
    dist = paths.root() / "web" / "node_modules" / "onnxruntime-web" / "dist"
    missing = [f for f in ORT_FILES if not (dist / f).exists()]
    if missing:
        raise SystemExit(f"bumpdiff: the explorer page needs onnxruntime-web ({', '.join(missing)} not in "
                         f"{paths.relative(dist)}); install it with: npm ci --prefix web")
    return dist


def _checkpoint_assets(diffusion, entry: dict, cfg: TrainConfig, analysis: dict, folder: Path, name: str) -> dict:
    """Export one checkpoint's graph into ``folder`` and compute its latent map; returns its meta entry."""
    export_onnx(diffusion.model, folder / f"{name}.onnx")
    err = onnx_error(folder / f"{name}.onnx", diffusion.model)
    if max(err["eps"], err["latent"]) > MAX_ONNX_ERROR:
        raise ValueError(f"the ONNX graph of {name} differs from PyTorch by {err} (more than {MAX_ONNX_ERROR})")
    grid = latent_grid(cfg.lattice, analysis["max_conditions"])
    acts = collect_activations(diffusion, grid, layer=analysis["layer"], t=analysis["t"], mode="noise",
                               seed=analysis["seed"], lattice=cfg.lattice, noise="shared").astype(np.float64)
    mean = acts.mean(0)
    _, s, vt = np.linalg.svd(acts - mean, full_matrices=False)
    comps = vt[:2] * np.where(vt[:2].sum(1, keepdims=True) < 0, -1.0, 1.0)   # a sign fixed by the data
    points = (acts - mean) @ comps.T
    var = s ** 2
    return {"label": entry["label"], "step": entry["step"], "phase": entry["phase"],
            "accuracy": entry["reference"]["accuracy"], "file": f"{name}.onnx", "onnx_error": err,
            "pca": {"mean": mean.astype(np.float32).tolist(), "components": comps.astype(np.float32).tolist(),
                    "explained": (var[:2] / var.sum()).tolist(), "grid": grid.tolist(),
                    "points": points.astype(np.float32).tolist()}}


def _set_assets(manifest: dict, dest: Path) -> dict:
    cfg = TrainConfig.from_dict(manifest["config"])
    analysis = manifest["analysis"]
    set_id = f"{manifest['profile']}-{manifest['arch']}-seed{manifest['seed']}"
    steps = analysis["sampler_steps"] if analysis["sampler"] == "ddim" else 50
    checkpoints = []
    for entry in manifest["checkpoints"]:
        diffusion = pretrained(manifest["profile"], None, manifest["arch"], manifest["seed"], step=entry["step"])
        checkpoints.append(_checkpoint_assets(diffusion, entry, cfg, analysis, dest, f"{set_id}-{entry['label']}"))
    size = cfg.model.image_size
    read_noise = torch.randn((1, cfg.model.in_channels, size, size),
                             generator=torch.Generator().manual_seed(analysis["seed"]))   # the shared read-out's
    return {"id": set_id, "profile": manifest["profile"], "arch": manifest["arch"], "seed": manifest["seed"],
            "image_size": size, "lattice": {"xs": cfg.lattice.xs().tolist(), "ys": cfg.lattice.ys().tolist()},
            "alphas_cumprod": diffusion.alphas_cumprod.tolist(), "clip_denoised": cfg.diffusion.clip_denoised,
            "ddim_steps": steps, "timesteps": DDIM(steps, 0.0).timesteps(cfg.diffusion.timesteps),
            "read": {"layer": analysis["layer"], "t": analysis["t"], "noise": read_noise.flatten().tolist()},
            "checkpoints": checkpoints}


def build_assets(dest: Path) -> dict:
    """Write the explorer's graphs and ``meta.json`` into ``dest`` (module docstring) and return the meta. Cached in
    ``build/webexplorer/<key>`` (the key: every shipped file's sha256, the opset and the page's settings)."""
    sets = shipped_sets()
    if not sets:
        raise SystemExit("bumpdiff: the explorer page needs shipped weights in data/pretrained (none there); "
                         "ship a run with: python -m bumpdiff ship RUN BUNDLE")
    key = identity_key("webexplorer", [[e["sha256"] for e in m["checkpoints"]] for m in sets], OPSET, N_SAMPLES,
                       TRAJECTORY_FRAMES, MAX_ONNX_ERROR, [m["analysis"] for m in sets])
    cache = paths.build_dir() / "webexplorer" / key
    if not (cache / "meta.json").exists():
        tmp = cache.with_name(cache.name + ".partial")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        meta = {"key": key, "n_samples": N_SAMPLES, "trajectory_frames": TRAJECTORY_FRAMES,
                "sets": [_set_assets(m, tmp) for m in sets]}
        atomic_write_json(tmp / "meta.json", meta)
        shutil.rmtree(cache, ignore_errors=True)
        tmp.rename(cache)
        log.info(f"explorer: {sum(len(s['checkpoints']) for s in meta['sets'])} graphs exported "
                 f"({paths.relative(cache)})")
    else:
        log.info(f"explorer: cache hit ({paths.relative(cache)})")
    shutil.copytree(cache, dest, dirs_exist_ok=True)
    return json.loads((cache / "meta.json").read_text())


_CANVAS = '<canvas {what} width="{w}" height="{w}" style="width: {w}px; height: {w}px{extra}"></canvas>'
_INTRO = """# Explorer: the model in your browser

The shipped models run here, in this page: onnxruntime-web (WebAssembly) executes the exported network, and nothing
is sent anywhere. Pick a model and a checkpoint (the phases A, B, C of its training and the final weights), then
click or drag on the dark square to request a bump centre (μx, μy). The page draws {n} samples by DDIM from seeded
noise (the same request, seed and sampler give the same pictures; the red circle is the 1-pixel tolerance of the
study's evaluator), the denoising trajectory of the first sample (the predicted clean image x̂0 along the steps), and
where the request lands on the layer-4 latent map: the read-out of the analysis (shared noise, t as analysed)
projected on the first two principal components of the grid's activations, each grid centre coloured by μx (hue)
and μy (lightness).

The sampler is the analysis's deterministic DDIM (η = 0, the steps of the profile's analysis) unless you choose
η = 1, which adds fresh noise at every step. The two can disagree: the results page's table of the final weights
under each sampler shows the `additive` models leaving some bumps too faint for the detector under η = 0 that
they draw in full under η = 1 or ancestral sampling.

"""

_HTML = """<div id="bumpdiff-explorer" class="bx">
<style>
.bx canvas {{ image-rendering: pixelated; border: 1px solid #ccc; margin: 2px; max-width: none; flex: none; }}
.bx .row {{ display: flex; flex-wrap: wrap; align-items: flex-start; gap: 12px; margin: 8px 0; }}
.bx label {{ margin-right: 10px; }}
.bx input[type=number] {{ width: 5em; }}
</style>
<div class="row">
<label>model <select id="bx-model"></select></label>
<label>checkpoint <select id="bx-checkpoint"></select></label>
</div>
<div class="row">
<label>μx <input id="bx-mx" type="number" step="0.1"></label>
<label>μy <input id="bx-my" type="number" step="0.1"></label>
<label>seed <input id="bx-seed" type="number" value="0" min="0" step="1"></label>
<label>sampler <select id="bx-eta"><option value="0">DDIM, η = 0 (deterministic: the analysis's sampler)</option>
<option value="1">DDIM, η = 1 (stochastic)</option></select></label>
</div>
<div class="row">
<div><div>request (drag)</div>{pad}</div>
<div><div>layer-4 latent map</div>{map}</div>
</div>
<div>samples</div>
<div class="row">{samples}</div>
<div>denoising trajectory of the first sample (x̂0, left: early)</div>
<div class="row">{frames}</div>
<p id="bx-status">loading the model…</p>
<script type="module" src="{static}/explorer/explorer.js"></script>
</div>
"""


def explorer_page(static: str = "_static", shipped: bool = True) -> str:
    """The explorer page's MyST Markdown; ``static`` is the site's static folder, relative to the page. Without
    ``shipped`` weights the page says how to ship some instead."""
    if not shipped:
        return ("# Explorer: the model in your browser\n\nNo shipped weights in `data/pretrained/` yet, so there is "
                "no model to run here; ship a trained run with `python -m bumpdiff ship RUN --bundle BUNDLE` and "
                "rebuild the site.\n")
    return _INTRO.format(n=N_SAMPLES) + "```{raw} html\n" + explorer_html(static) + "```\n"


def explorer_html(static: str = "_static") -> str:
    """The explorer's HTML (controls, canvases and the script tag); ``static`` as for :func:`explorer_page`."""
    return _HTML.format(
        n=N_SAMPLES, static=static,
        pad=_CANVAS.format(what='id="bx-pad"', w=256, extra="; cursor: crosshair; touch-action: none"),
        map=_CANVAS.format(what='id="bx-map"', w=256, extra=""),
        samples="".join(_CANVAS.format(what='class="bx-sample"', w=128, extra="") for _ in range(N_SAMPLES)),
        frames="".join(_CANVAS.format(what='class="bx-frame"', w=96, extra="") for _ in range(TRAJECTORY_FRAMES)))


def stage_explorer(static: Path) -> dict | None:
    """Put everything the explorer page loads into the site's static folder ``static``: the graphs and meta
    (:func:`build_assets`) and the page's script under ``explorer/``, onnxruntime-web's module and WebAssembly under
    ``ort/``. Returns the meta, or None (and stages nothing) when no set is shipped."""
    if not shipped_sets():
        log.info("explorer: no shipped weights in data/pretrained; the page says how to ship some")
        return None
    meta = build_assets(static / "explorer")
    shutil.copy2(paths.root() / "web" / "explorer.js", static / "explorer" / "explorer.js")
    dist = ort_dist()
    (static / "ort").mkdir(parents=True, exist_ok=True)
    for f in ORT_FILES:
        shutil.copy2(dist / f, static / "ort" / f)
    return meta
