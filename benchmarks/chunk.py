"""How many images one no-grad forward pass should take at once on this device: the inference chunk.

Every analysis splits its forward passes into chunks (generation, the latent read-out, the atlas); the chunk is
an execution detail, not part of any result's identity. This sweeps it: for each profile and architecture, a
no-grad forward over ``--images`` images at timestep 500 on one shared noise image (the latent read-out's
input), split into chunks of each size, timed ``--repeats`` times (the median is kept); and checks that every
chunk size gives the same outputs as the whole batch at once (the largest absolute difference is recorded).
``bumpdiff.core.diffusion.CPU_INFERENCE_CHUNK`` is set from this table.

Usage: ``python benchmarks/chunk.py [--profiles cpu paper] [--archs film additive] [--chunks 16 32 64 128 256 512]
[--images 512] [--repeats 3] [--device auto] [--json data/results/benchmarks/chunk-cpu-avx512.json]``.
"""
from __future__ import annotations

import argparse
import statistics
import time
from dataclasses import replace
from pathlib import Path

import torch

from bumpdiff.common.files import atomic_write_json
from bumpdiff.common.runtime import resolve_device
from bumpdiff.core.model import UNet
from bumpdiff.core.provenance import provenance
from bumpdiff.experiments.profiles import get_profile


@torch.inference_mode()
def forward_chunked(model, x, t, c, chunk: int) -> torch.Tensor:
    return torch.cat([model(x[s:s + chunk], t[s:s + chunk], c[s:s + chunk]) for s in range(0, len(x), chunk)])


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profiles", nargs="*", default=["cpu", "paper"])
    ap.add_argument("--archs", nargs="*", default=["film", "additive"], choices=["film", "additive"])
    ap.add_argument("--chunks", nargs="*", type=int, default=[16, 32, 64, 128, 256, 512])
    ap.add_argument("--images", type=int, default=512)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--json", default=None)
    a = ap.parse_args(argv)
    for name in ("images", "repeats"):
        if getattr(a, name) < 1:
            ap.error(f"--{name} must be >= 1, got {getattr(a, name)}")
    if not a.chunks or min(a.chunks) < 1:
        ap.error(f"--chunks must be sizes >= 1, got {a.chunks}")
    device = resolve_device(a.device)
    prov = provenance(device)   # the code as the measurement starts
    print(f"device: {device} ({torch.get_num_threads()} CPU threads), torch {torch.__version__}")
    rows = []
    for prof in a.profiles:
        for arch in a.archs:
            cfg = get_profile(prof).train
            torch.manual_seed(0)
            model = UNet(replace(cfg.model, arch=arch)).to(device).eval()
            n, g = cfg.model.image_size, torch.Generator().manual_seed(0)
            x = torch.randn((1, cfg.model.in_channels, n, n), generator=g).expand(a.images, -1, -1, -1).to(device)
            t = torch.full((a.images,), 500, dtype=torch.long, device=device)
            c = (torch.rand((a.images, 2), generator=g) * n).to(device)
            whole = forward_chunked(model, x, t, c, a.images)
            for chunk in a.chunks:
                forward_chunked(model, x, t, c, chunk)           # warm-up: kernels chosen for this shape
                secs = []
                for _ in range(a.repeats):
                    if device.type == "cuda":
                        torch.cuda.synchronize()
                    t0 = time.perf_counter()
                    out = forward_chunked(model, x, t, c, chunk)
                    if device.type == "cuda":
                        torch.cuda.synchronize()
                    secs.append(time.perf_counter() - t0)
                row = {"profile": prof, "arch": arch, "chunk": chunk, "images": a.images,
                       "images_per_s": a.images / statistics.median(secs),
                       "max_abs_diff_vs_whole": float((out - whole).abs().max())}
                rows.append(row)
                print(f"{prof:6s} {arch:9s} chunk {chunk:4d}: {row['images_per_s']:7.1f} img/s, "
                      f"max |Δ| vs whole batch {row['max_abs_diff_vs_whole']:.1e}")
    out = {"benchmark": "chunk", "device": str(device), "threads": torch.get_num_threads(), "repeats": a.repeats,
           "rows": rows, "provenance": prov}
    if a.json:
        atomic_write_json(Path(a.json), out)
    return out


if __name__ == "__main__":
    main()
