"""Command line: ``python -m bumpdiff {train,sample,analyze,figures,reproduce} ...``."""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np


def _cmd_train(a):
    from .train import profile, train, run_dir
    cfg = profile(a.profile, *a.set)
    rdir = Path(a.run_dir) if a.run_dir else run_dir(cfg)
    print(f"training {cfg.name} ({cfg.hash()}) into {rdir}", flush=True)
    train(cfg, rdir, progress=not a.quiet)
    print(rdir)


def _parse_centers(text: str) -> np.ndarray:
    pts = []
    for pair in text.split(";"):
        if pair.strip():
            x, y = pair.split(",")
            pts.append((float(x), float(y)))
    return np.array(pts, dtype=float)


def _cmd_sample(a):
    import torch
    from .evaluate import score
    from .plotting import sample_grid
    from .train import list_checkpoints, load_model
    from .utils import atomic_savez
    ckpt = Path(a.checkpoint)
    if ckpt.is_dir():
        found = list_checkpoints(ckpt)
        if not found:
            raise SystemExit(f"no checkpoints in {ckpt}")
        ckpt = found[-1][1]
    diff, st = load_model(ckpt, which=a.weights)
    n = diff.model.cfg.image_size
    if a.centers:
        centers = _parse_centers(a.centers)
    else:
        g = np.random.default_rng(a.seed)
        lat = np.array(st["config"]["lattice"]["n"])
        centers = g.uniform(0.5, n - 0.5, (a.n, 2))
    imgs, _ = diff.sample(torch.from_numpy(centers).float(), generator=torch.Generator().manual_seed(a.seed),
                          sampler=a.sampler, steps=a.steps if a.sampler == "ddim" else None, eta=a.eta,
                          progress=True)
    sc = score(imgs, centers, tol=a.tol)
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_savez(out.with_suffix(".npz"), images=imgs.numpy(), centers=centers, estimated=sc.estimated,
                 labels=sc.labels.astype(str))
    fig = sample_grid(imgs.numpy(), centers, sc.estimated, sc.labels)
    fig.savefig(out.with_suffix(".png"), dpi=120, bbox_inches="tight")
    print(json.dumps(sc.summary()))
    print(f"wrote {out.with_suffix('.png')} and {out.with_suffix('.npz')}")


def _cmd_analyze(a):
    from .latent import ANALYSIS_PROFILES, analyze
    from .train import apply_overrides
    acfg = apply_overrides(ANALYSIS_PROFILES[a.profile], a.set)
    out = analyze(a.run, acfg, progress=not a.quiet)
    print(out)


def _cmd_figures(a):
    from .experiments import make_figures
    make_figures(a.profile, only=a.only)


def _cmd_reproduce(a):
    from .experiments import EXPERIMENTS, run_or_load
    for name in a.experiments or list(EXPERIMENTS):
        run_or_load(name, a.profile, force=True)


def main(argv=None):
    p = argparse.ArgumentParser(prog="bumpdiff", description=__doc__)
    sub = p.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("train", help="train (or resume) a run")
    t.add_argument("--profile", default="cpu", choices=["smoke", "cpu", "paper"])
    t.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="config overrides, e.g. lattice.dx=0.1")
    t.add_argument("--run-dir", default=None, help="default: data/runs/<name>-<config hash>")
    t.add_argument("--quiet", action="store_true")
    t.set_defaults(func=_cmd_train)
    s = sub.add_parser("sample", help="generate for given centres; writes a PNG grid and an .npz")
    s.add_argument("checkpoint", help="a checkpoint file, or a run directory (its last checkpoint)")
    s.add_argument("--centers", default=None, help='"x,y;x,y;..." in pixels (default: --n random centres)')
    s.add_argument("--n", type=int, default=16)
    s.add_argument("--sampler", default="ddpm", choices=["ddpm", "ddim"])
    s.add_argument("--steps", type=int, default=50)
    s.add_argument("--eta", type=float, default=0.0)
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--tol", type=float, default=1.0)
    s.add_argument("--weights", default="ema", choices=["ema", "model"])
    s.add_argument("--out", default="samples")
    s.set_defaults(func=_cmd_sample)
    an = sub.add_parser("analyze", help="analyse every checkpoint of a run into a results bundle")
    an.add_argument("run")
    an.add_argument("--profile", default="cpu", choices=["smoke", "cpu", "paper"])
    an.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE")
    an.add_argument("--quiet", action="store_true")
    an.set_defaults(func=_cmd_analyze)
    f = sub.add_parser("figures", help="execute every notebook with papermill into build/ and figures/")
    f.add_argument("--profile", default="cpu", choices=["smoke", "cpu", "paper"])
    f.add_argument("--only", nargs="*", default=None, help="notebook name prefixes, e.g. 01 04")
    f.set_defaults(func=_cmd_figures)
    r = sub.add_parser("reproduce", help="retrain and re-analyse the experiments from scratch")
    r.add_argument("--profile", default="cpu", choices=["smoke", "cpu", "paper"])
    r.add_argument("experiments", nargs="*")
    r.set_defaults(func=_cmd_reproduce)
    a = p.parse_args(argv)
    try:
        a.func(a)
    except ValueError as e:
        print(f"bumpdiff: error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
