"""Computing the calibrated read-outs of the `phases` runs (``python -m bumpdiff recompute``; :mod:`.calibrated`
reads them), reusing the checkpoints the runs folder holds."""
from __future__ import annotations

from pathlib import Path

from ..common import paths
from ..common.log import get_logger
from ..core.config import run_dir
from ..core.train import list_checkpoints
from ..experiments.profiles import CALIBRATED_READOUTS
from ..experiments.registry import ARCH_EXPERIMENTS, experiment
from .calibrated import calibrated_analysis
from .compute_bundle import analyze

__all__ = ["recompute"]

log = get_logger()


def recompute(profile: str, archs=("additive", "film"), seeds=None, progress: bool = True, device="cpu",
              every: int = 1) -> list[Path]:
    """Analyse every ``every``-th checkpoint (and the last) of each `phases` run of ``archs`` (``seeds``: only these)
    that the runs folder holds, under each calibrated read-out, checkpoint by checkpoint (the read-outs of one
    checkpoint share its generated samples); finished checkpoints are kept. Returns the bundle folders."""
    out = []
    for arch in archs:
        for label, cfg in experiment(ARCH_EXPERIMENTS[arch]).runs(profile).items():
            if seeds is not None and cfg.seed not in seeds:
                continue
            rd = run_dir(cfg)
            ckpts = list_checkpoints(rd) if rd.exists() else []
            if not ckpts:
                log.info(f"{arch} {label}: no checkpoints in {paths.shown(rd)}; train it first with: python -m "
                         f"bumpdiff train --profile {profile} --set seed={cfg.seed} model.arch={arch}")
                continue
            steps = [s for i, (s, _) in enumerate(ckpts) if i % every == 0 or i == len(ckpts) - 1]
            folders = {}
            for step in steps:
                for noise in CALIBRATED_READOUTS:
                    folders[noise] = analyze(rd, calibrated_analysis(profile, noise), progress=False, device=device,
                                             steps=[step])
                if progress:
                    log.info(f"{arch} {label}: step {step:,} analysed under {', '.join(CALIBRATED_READOUTS)}")
            out += list(folders.values())
    return out
