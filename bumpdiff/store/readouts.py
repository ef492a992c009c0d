"""The two read-outs of a run (one noise image shared by every condition, or each condition its own): both are
analysis bundles of the same checkpoints, under the profile's analysis with the read-out's ``noise``, in the run's
results folder or a committed retrain's (``data/results/retrains/<run folder>-*``). Reads only; a read-out is
computed by ``python -m bumpdiff analyze`` (:func:`~.commands.readout_command`)."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from ..analysis.specs import NOISE, AnalysisConfig
from ..common import paths
from ..core.config import TrainConfig, run_dir
from ..experiments.profiles import get_profile
from ..experiments.registry import experiment
from .bundles import BundleError, load_bundle
from .commands import readout_command
from .reading import MissingResult

__all__ = ["READOUTS", "readout_analysis", "load_readouts", "readout_bundles", "missing_readouts"]


#: the read-outs every checkpoint of the profile's analysis is analysed under (the trial-averaged ``"mean"`` read-out
#: is one of the calibrated analysis's: :mod:`.calibrated`)
READOUTS = tuple(n for n in NOISE if n != "mean")


def readout_analysis(profile: str, noise: str) -> AnalysisConfig:
    """The profile's analysis with the read-out's noise ``noise`` (checked by :class:`AnalysisConfig`)."""
    return replace(get_profile(profile).analysis, noise=noise)


def load_readouts(name: str, profile: str = "cpu") -> dict[str, dict]:
    """Both read-outs of each run of experiment ``name`` that has them, from **one set of weights** per run:
    ``{label: {"source": folder, "shared": (bundle, arrays), "independent": (bundle, arrays)}}``. The folder is the
    first of the run's own results folder and its committed retrains (``data/results/retrains/<run folder>-*``)
    that holds the bundles of both read-outs, so the two are never read from different weights. Runs that have no
    such folder are left out (:func:`missing_readouts` names them). Reads only."""
    out = {}
    for label, cfg in experiment(name).runs(profile).items():
        for d in _readout_folders(cfg):
            subs = {noise: _readout_dir(d, profile, noise) for noise in READOUTS}
            if not all((b / "bundle.json").exists() for b in subs.values()):
                continue
            out[label] = {"source": paths.relative(d),
                          **{noise: _read_readout(b, name, profile, label, noise, cfg)
                             for noise, b in subs.items()}}
            break
    return out


def _readout_folders(cfg: TrainConfig) -> list[Path]:
    """Where a run's read-outs may be: its own results folder, then its committed retrains."""
    folder = run_dir(cfg).name
    return [paths.results_dir() / folder, *sorted((paths.results_dir() / "retrains").glob(f"{folder}-*"))]


def _readout_dir(folder: Path, profile: str, noise: str) -> Path:
    return folder / f"analysis-{readout_analysis(profile, noise).key()}"


def _read_readout(path: Path, name: str, profile: str, label: str, noise: str, cfg: TrainConfig) -> tuple[dict, dict]:
    """One read-out's ``(bundle, arrays)`` of a run, checked against the run's key; a corrupt or stale one raises
    MissingResult with the command that recomputes it."""
    try:
        bundle, arrays = load_bundle(path)
    except BundleError as e:
        raise MissingResult(f"{e}; recompute with: {readout_command(name, profile, label, noise)}") from e
    if bundle.get("run_key") != cfg.key():
        raise MissingResult(f"stale bundle {paths.relative(path)} (run {bundle.get('run_key')}, "
                            f"expected {cfg.key()})")
    return bundle, arrays


def _last_step(bundle: dict) -> int:
    return max((r["step"] for r in bundle["checkpoints"]), default=-1)


def readout_bundles(name: str, profile: str = "cpu") -> dict[str, dict[str, tuple[str, dict]]]:
    """Every read-out of every run of experiment ``name`` that has one, each from the folder that analysed it
    furthest (the latest analysed checkpoint): ``{label: {noise: (folder, bundle)}}``, the run's own results
    folder winning a tie with its committed retrains. Each bundle is one set of weights (its folder); unlike
    :func:`load_readouts`, the two read-outs of a run may come from different folders, which the folder says. Reads
    only; read-outs nowhere computed are left out."""
    out: dict[str, dict[str, tuple[str, dict]]] = {}
    for label, cfg in experiment(name).runs(profile).items():
        for noise in READOUTS:
            best = None
            for d in _readout_folders(cfg):
                if not (_readout_dir(d, profile, noise) / "bundle.json").exists():
                    continue
                bundle = _read_readout(_readout_dir(d, profile, noise), name, profile, label, noise, cfg)[0]
                if best is None or _last_step(bundle) > _last_step(best[1]):
                    best = (paths.relative(d), bundle)
            if best is not None:
                out.setdefault(label, {})[noise] = best
    return out


def missing_readouts(name: str, profile: str = "cpu") -> list[str]:
    """The labels of the runs of ``name`` that :func:`load_readouts` leaves out."""
    have = load_readouts(name, profile)
    return [label for label in experiment(name).runs(profile) if label not in have]
