"""The calibrated read-outs of the `phases` runs: every checkpoint analysed under the profile's calibrated analysis
(:attr:`~bumpdiff.experiments.profiles.Profile.calibrated`: the sampler chosen against DDPM-1000) with each read-out
of :data:`~bumpdiff.experiments.profiles.CALIBRATED_READOUTS`, into the run's results folder beside its other
bundles. :func:`bumpdiff.store.compute_calibrated.recompute` computes them (``python -m bumpdiff recompute``);
:func:`load_calibrated` reads only."""
from __future__ import annotations

from dataclasses import replace

from ..analysis.specs import AnalysisConfig
from ..common import paths
from ..core.config import run_dir
from ..experiments.profiles import CALIBRATED_READOUTS, get_profile
from ..experiments.registry import ARCH_EXPERIMENTS, experiment
from .bundles import BundleError, bundle_dir, load_bundle
from .reading import MissingResult

__all__ = ["calibrated_analysis", "load_calibrated", "recompute_command"]

def calibrated_analysis(profile: str, noise: str) -> AnalysisConfig:
    """The profile's calibrated analysis under read-out ``noise``; an error naming the profiles that have one when
    ``profile`` is not calibrated."""
    cal = get_profile(profile).calibrated
    if cal is None:
        raise ValueError(f"profile {profile!r} has no calibrated analysis yet (its sampler is not calibrated: "
                         f"python -m bumpdiff calibrate sampler --profile {profile})")
    return replace(cal, noise=noise)


def recompute_command(profile: str, arch: str | None = None, seeds=None) -> str:
    extra = (f" --arch {arch}" if arch else "") + (f" --seeds {' '.join(map(str, seeds))}" if seeds else "")
    return f"python -m bumpdiff recompute --profile {profile}{extra}"


def load_calibrated(profile: str, arch: str) -> dict[str, dict[str, tuple[dict, dict]]]:
    """``{label: {read-out: (bundle, arrays)}}`` of the `phases` runs of ``arch`` analysed under the calibrated
    analysis (runs with no such bundle are left out; a corrupt or stale one raises :class:`MissingResult` naming the
    command). Reads only."""
    out: dict = {}
    if get_profile(profile).calibrated is None:
        return out
    for label, cfg in experiment(ARCH_EXPERIMENTS[arch]).runs(profile).items():
        for noise in CALIBRATED_READOUTS:
            a = calibrated_analysis(profile, noise)
            d = bundle_dir(run_dir(cfg), a)
            if not (d / "bundle.json").exists():
                continue
            cmd = recompute_command(profile, arch, [cfg.seed])
            try:
                bundle, arrays = load_bundle(d)
            except BundleError as e:
                raise MissingResult(f"{e}; recompute with: {cmd}") from e
            if bundle.get("run_key") != cfg.key():
                raise MissingResult(f"stale bundle {paths.relative(d)}; recompute with: {cmd}")
            out.setdefault(label, {})[noise] = (bundle, arrays)
    return out
