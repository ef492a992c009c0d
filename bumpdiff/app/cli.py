"""Command line: ``python -m bumpdiff {train,analyze,reproduce,robustness,sample,figures,report,site} ...``.

Computing happens here (and in ``make reproduce``); notebooks and ``figures`` only read results.
"""
from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from ..analysis.evaluate import score
from ..analysis.specs import Atlas
from ..common import paths
from ..common.commits import uncommitted
from ..common.files import atomic_savez
from ..common.paths import NoProjectRoot
from ..common.runtime import resolve_device
from ..core.config import TrainConfig, run_dir
from ..core.diffusion import as_sampler
from ..core.overrides import apply_overrides
from ..core.train import list_checkpoints, load_model, train
from ..experiments.profiles import PROFILE_NAMES, get_profile
from ..experiments.registry import experiments_of, phases_experiment, study_run
from ..store.bundles import load_bundle
from ..store.compute_bundle import analyze
from ..store.compute_percolation import compute_percolation
from ..store.compute_robustness import compute_study
from ..store.compute_runs import compute_experiments
from ..store.compute_tracked import track
from ..store.executors import SlurmOptions
from ..store.reading import MissingResult
from ..store.robustness_cache import load_study, measured_checkpoint
from ..store.tracking import tracked_spec
from ..store.weights import export, own_bundle
from .cli_instruments import _add_calibrate, _add_percolation, _add_recompute
from .cli_options import PROFILE_CHOICES, _common
from .figures import make_figures
from .findings import update_readme
from .plotting import sample_grid
from .report import write_report
from .site import build_site


def _cmd_train(a):
    cfg = replace(get_profile(a.profile).train_config(*a.set), device=a.device)
    run_path = Path(a.run_dir) if a.run_dir else run_dir(cfg)
    print(f"training {cfg.name} (key {cfg.key()}) into {run_path}", flush=True)
    train(cfg, run_path, progress=not a.quiet, until=a.until)
    print(run_path)


def _parse_centers(text: str) -> np.ndarray:
    pts = []
    for pair in text.split(";"):
        if pair.strip():
            try:
                x, y = pair.split(",")
                pts.append((float(x), float(y)))
            except ValueError:
                raise ValueError(f"--centers must look like 'x,y;x,y;...' in pixels, got {text!r}") from None
    return np.array(pts, dtype=float)


def _cmd_sample(a):

    ckpt = Path(a.checkpoint)
    if not ckpt.exists():
        raise ValueError(f"checkpoint must be a checkpoint file or a run folder; {ckpt} does not exist")
    if ckpt.is_dir():
        found = list_checkpoints(ckpt)
        if not found:
            raise ValueError(f"checkpoint: no checkpoints (ckpt_*.pt) in the folder {ckpt}")
        ckpt = found[-1][1]
    diff, _ = load_model(ckpt, which=a.weights, device=a.device)
    n = diff.model.cfg.image_size
    centers = _parse_centers(a.centers) if a.centers else np.random.default_rng(a.seed).uniform(0.5, n - 0.5, (a.n, 2))
    imgs, _ = diff.sample(torch.from_numpy(centers).float(), generator=torch.Generator().manual_seed(a.seed),
                          sampler=as_sampler(a.sampler, a.steps, a.eta), progress=True)
    scored = score(imgs, centers, tol=a.tol)
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_savez(out.with_suffix(".npz"), images=imgs.numpy(), centers=centers, estimated=scored.estimated,
                 labels=scored.labels.astype(str))
    fig = sample_grid(imgs.numpy(), centers, scored.estimated, scored.labels)
    fig.savefig(out.with_suffix(".png"), dpi=120, bbox_inches="tight")
    print(json.dumps(scored.summary()))
    print(f"wrote {out.with_suffix('.png')} and {out.with_suffix('.npz')}")


def _cmd_analyze(a):
    prof = get_profile(a.profile)
    trained_on_stripes = "stripes" in json.loads((Path(a.run) / "config.json").read_text())
    if trained_on_stripes and prof.stripes is None:
        raise SystemExit(f"--profile must size the stripes study to analyse {a.run} (smoke or fast), got {a.profile}")
    analysis_cfg = apply_overrides(prof.stripes.analysis if trained_on_stripes else prof.analysis, a.set)
    if a.every:
        analysis_cfg = replace(analysis_cfg, every=a.every)
    print(analyze(a.run, analysis_cfg, progress=not a.quiet, device=resolve_device(a.device), steps=a.steps, out=a.out))


def _cmd_reproduce(a):
    names = a.experiments or experiments_of(a.profile)
    options = None
    if a.executor == "slurm":
        options = SlurmOptions.from_file(a.slurm_config, partition=a.partition, gpus=a.gpus, cpus=a.cpus,
                                         mem_gb=a.mem_gb, time_min=a.time_min,
                                         wait=False if a.no_wait else None)
    # one pool of jobs for all the experiments, so that parallel runs never wait on the slowest of one experiment
    compute_experiments(names, a.profile, seeds=a.seeds, until=a.until, steps=a.steps, every=a.every, device=a.device,
                        force=a.force, progress=not a.quiet, executor=a.executor, threads=a.threads, options=options,
                        runs=a.runs, prune=a.prune)
    if not a.experiments and a.until is None:  # the whole reproduction: Figure 6's studies too
        _robustness(a.profile, 0, None, None, a.device, a.force, not a.quiet)
    if get_profile(a.profile).stripes is not None and (not a.experiments or "stripes-percolation" in a.experiments):
        compute_percolation(a.profile, force=a.force)   # the model beside the percolation runs (seconds)


def _robustness(profile, run_seed, step, only, device, force, progress, layers=None, timesteps=None, n=None,
                arch="film"):
    sweep, samplers = get_profile(profile).robustness
    if layers:
        sweep = replace(sweep, layers=tuple(layers))
    if timesteps:
        sweep = replace(sweep, timesteps=tuple(timesteps))
    if n:
        samplers = replace(samplers, n=n)
    for spec in (sweep, samplers):
        if only in (None, spec.kind):
            compute_study(spec, profile, run_seed, step, device=device, force=force, progress=progress, arch=arch)


def _cmd_robustness(a):
    _robustness(a.profile, a.run_seed, a.step, a.only, a.device, a.force, not a.quiet, a.layers, a.timesteps, a.n,
                a.arch)


def _cmd_atlas(a):
    spec = Atlas(umap=a.umap) if not a.timesteps else Atlas(timesteps=tuple(a.timesteps), umap=a.umap)
    print(track(a.run, spec, steps=a.steps, device=resolve_device(a.device), progress=not a.quiet,
                out_dir=a.out_dir))


def _over_checkpoints(p) -> None:
    """The options shared by the per-checkpoint studies (``atlas``, ``track``)."""
    p.add_argument("--steps", nargs="*", type=int, default=None, help="default: every checkpoint on disk")
    p.add_argument("--out-dir", default=None, help="default: beside the run's bundle in data/results/<run folder>")
    p.add_argument("--device", default="auto")
    p.add_argument("--quiet", action="store_true")


def _cmd_track(a):
    specs = get_profile(a.profile).studies
    unknown = sorted(set(a.kinds) - set(specs))
    if unknown:
        raise SystemExit(f"bumpdiff: error: study must be one of {sorted(specs)}, got {unknown}")
    try:
        specs = {kind: tracked_spec(kind, a.profile, a.noise) for kind in a.kinds}
    except ValueError as e:
        raise SystemExit(f"bumpdiff: error: {e}") from None
    name = a.experiment or phases_experiment(a.arch)
    if a.run is None:
        run = run_dir(study_run(name, a.profile, a.run_seed))
    else:
        run = Path(a.run)
    if not (run / "config.json").exists():
        raise SystemExit(f"bumpdiff: error: run must be a training run folder with its checkpoints; {run} is not "
                         f"(train it with: python -m bumpdiff reproduce {name} --profile {a.profile})")
    for kind in a.kinds:
        print(track(run, specs[kind], steps=a.steps, device=resolve_device(a.device), progress=not a.quiet,
                    out_dir=a.out_dir))


def _cmd_ship(a):
    cfg = TrainConfig.from_dict(json.loads((Path(a.run) / "config.json").read_text()))
    samplers = None
    if not own_bundle(a.run, a.bundle):   # a retrain: the committed study measured the committed run's weights
        print(f"bumpdiff: note: shipping without the samplers study: {a.bundle} is not in the run's own results "
              "folder (a retrain), and the stored study measured the committed run's weights", file=sys.stderr)
    else:
        try:   # the final weights' accuracy under every sampler, when the run's samplers study is computed
            final = load_bundle(a.bundle, recall_phases=False)[0]["checkpoints"][-1]["step"]   # the shipped final
            samplers = load_study(get_profile(cfg.name).samplers, cfg.name, cfg.seed, final, quiet=True,
                                  arch=cfg.model.arch)
            if measured_checkpoint(samplers, Path(a.run) / f"ckpt_{final:07d}.pt") is False:
                samplers = None
                print("bumpdiff: note: shipping without the samplers study: it measured another checkpoint at step "
                      f"{final} than the run's", file=sys.stderr)
        except (MissingResult, KeyError, ValueError, OSError) as e:
            print(f"bumpdiff: note: shipping without the samplers study ({e})", file=sys.stderr)
    print(export(a.run, a.bundle, dest=a.dest, samplers=samplers))


def _cmd_figures(a):
    make_figures(a.profile, only=a.only, jobs=a.jobs)


def _cmd_report(a):
    if not a.check and not a.uncommitted:
        # the report says it is generated from the committed results: results still being written or not yet added
        # (a run in progress, a new benchmark) would put numbers in it that a clone of the commit cannot reproduce
        loose = uncommitted(paths.results_dir(), paths.data_dir() / "pretrained")
        if loose:
            shown = "; ".join(loose[:5]) + (f"; and {len(loose) - 5} more" if len(loose) > 5 else "")
            raise ValueError(f"the report is generated from the committed results, but {len(loose)} files under "
                             f"data/ are not committed ({shown}); commit them first, or pass --uncommitted to "
                             "write it from the working tree anyway")
    for write in (write_report, update_readme):
        path, changed = write(check=a.check)
        if a.check and changed:
            raise ValueError(f"{path} is out of date with the committed results; regenerate it with: "
                             "python -m bumpdiff report")
        print(f"{path} {'updated' if changed else 'up to date'}")


def _cmd_site(a):
    build_site(a.profile, quiet=not a.verbose)


def _add_train(sub) -> None:
    """The ``train`` sub-command."""
    t = sub.add_parser("train", help="train (or resume) a run")
    _common(t)
    t.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="config overrides, e.g. lattice.dx=0.1")
    t.add_argument("--run-dir", default=None, help="default: data/runs/<name>-<run key>")
    t.add_argument("--until", type=int, default=None, help="stop once the run reaches this step (resumable)")
    t.set_defaults(func=_cmd_train)


def _add_analyze(sub) -> None:
    """The ``analyze`` sub-command."""
    an = sub.add_parser("analyze", help="analyse checkpoints of a run into its results bundle (extends it)")
    an.add_argument("run", help="a run folder under data/runs")
    _common(an)
    an.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE")
    an.add_argument("--steps", nargs="*", type=int, default=None, help="checkpoint steps (default: every --every-th)")
    an.add_argument("--every", type=int, default=None)
    an.add_argument("--out", default=None, help="bundle folder (default: data/results/<run folder>/analysis-<key>)")
    an.set_defaults(func=_cmd_analyze)


def _add_reproduce(sub) -> None:
    """The ``reproduce`` sub-command."""
    r = sub.add_parser("reproduce", help="train and analyse experiments (skips runs already computed)")
    r.add_argument("experiments", nargs="*", help="default: every experiment, then Figure 6's studies")
    _common(r)
    r.add_argument("--seeds", nargs="*", type=int, default=None, help="only the runs of these training seeds")
    r.add_argument("--runs", nargs="*", default=None, metavar="LABEL",
                   help="only these runs, by label (quoted: 'corner W=8 seed 0'); with --seeds, both must allow it")
    r.add_argument("--until", type=int, default=None, help="train only to this step (a partial run)")
    r.add_argument("--steps", nargs="*", type=int, default=None, help="analyse these checkpoint steps")
    r.add_argument("--every", type=int, default=None, help="analyse every k-th checkpoint (and the last)")
    r.add_argument("--force", action="store_true", help="recompute runs that are already computed")
    r.add_argument("--prune", action="store_true", help="once a run is finished, delete its checkpoints that neither "
                   "the shipped weights nor the atlas need (tracked studies then cannot read it)")
    r.add_argument("--executor", default="inline", choices=["inline", "local", "slurm"],
                   help="inline: one run after the other here; local: parallel subprocesses; slurm: one job per run")
    r.add_argument("--threads", type=int, default=None, help="torch threads per run (local: default cores / runs)")
    sl = r.add_argument_group("slurm (--executor slurm; a JSON --slurm-config gives defaults, flags override)")
    sl.add_argument("--slurm-config", default=None, metavar="FILE")
    sl.add_argument("--partition", default=None)
    sl.add_argument("--gpus", type=int, default=None, help="GPUs per job")
    sl.add_argument("--cpus", type=int, default=None, help="CPUs per job")
    sl.add_argument("--mem-gb", type=int, default=None)
    sl.add_argument("--time-min", type=int, default=None, help="time limit per job, minutes")
    sl.add_argument("--no-wait", action="store_true", help="submit and return; run again later to record")
    r.set_defaults(func=_cmd_reproduce)


def _add_robustness(sub) -> None:
    """The ``robustness`` sub-command."""
    rb = sub.add_parser("robustness", help="Figure 6's studies (layer × t sweep, samplers) at one checkpoint")
    _common(rb)
    rb.add_argument("--run-seed", type=int, default=0, help="which seed's `phases` run")
    rb.add_argument("--arch", default="film", choices=["film", "additive"],
                    help="film: the `phases` run; additive: the `phases-additive` run")
    rb.add_argument("--step", type=int, default=None, help="default: its last analysed checkpoint")
    rb.add_argument("--only", choices=["layer-sweep", "samplers"], default=None)
    rb.add_argument("--layers", nargs="*", default=None)
    rb.add_argument("--timesteps", nargs="*", type=int, default=None)
    rb.add_argument("--n", type=int, default=None, help="samples per sampler")
    rb.add_argument("--force", action="store_true")
    rb.set_defaults(func=_cmd_robustness)


def _add_atlas(sub) -> None:
    """The ``atlas`` sub-command."""
    at = sub.add_parser("atlas", help="order parameters at every layer × timestep for checkpoints of a run")
    at.add_argument("run", help="a run folder under data/runs")
    at.add_argument("--timesteps", nargs="*", type=int, default=None, help="default: 100 300 500 700 900")
    at.add_argument("--umap", action="store_true", help="UMAP R² too (slower)")
    _over_checkpoints(at)
    at.set_defaults(func=_cmd_atlas)


def _add_track(sub) -> None:
    """The ``track`` sub-command."""
    tr = sub.add_parser("track", help="studies tracked over training (atlas, commitment, spectrum, topology) for the "
                                      "checkpoints of a run")
    tr.add_argument("kinds", nargs="+", metavar="STUDY", help="atlas, commitment, spectrum and/or topology")
    tr.add_argument("--profile", choices=PROFILE_NAMES, default="cpu", help="the studies' settings")
    tr.add_argument("--run", default=None, help="a run folder (default: the profile's phases run of --run-seed)")
    tr.add_argument("--run-seed", type=int, default=0)
    tr.add_argument("--arch", choices=["film", "additive"], default="film",
                    help="whose phases run (default run folder): film = `phases`, additive = `phases-additive`")
    tr.add_argument("--noise", choices=["shared", "independent"], default="shared",
                    help="the atlas's read-out: one noise image for every condition (default) or one each")
    tr.add_argument("--experiment", default=None, help="another experiment's run instead of a phases run "
                    "(e.g. torus, for the topology study)")
    _over_checkpoints(tr)
    tr.set_defaults(func=_cmd_track)


def _add_ship(sub) -> None:
    """The ``ship`` sub-command."""
    sh = sub.add_parser("ship", help="export half-precision EMA weights of a run, chosen by its phase call, "
                                     "to data/pretrained (loaded by bumpdiff.pretrained)")
    sh.add_argument("run", help="a run folder under data/runs")
    sh.add_argument("--bundle", required=True, help="the run's analysis bundle folder (its phase call picks the steps)")
    sh.add_argument("--dest", default=None, help="default: data/pretrained/<profile>-<arch>-seed<seed>")
    sh.set_defaults(func=_cmd_ship)


def _add_sample(sub) -> None:
    """The ``sample`` sub-command."""
    s = sub.add_parser("sample", help="generate for given centres; writes a PNG grid and an .npz")
    s.add_argument("checkpoint", help="a checkpoint file, or a run folder (its last checkpoint)")
    s.add_argument("--centers", default=None, help='"x,y;x,y;..." in pixels (default: --n random centres)')
    s.add_argument("--n", type=int, default=16)
    s.add_argument("--sampler", default="ddpm", choices=["ddpm", "ddim"])
    s.add_argument("--steps", type=int, default=50)
    s.add_argument("--eta", type=float, default=0.0)
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--tol", type=float, default=1.0)
    s.add_argument("--weights", default="ema", choices=["ema", "model"])
    s.add_argument("--device", default="auto")
    s.add_argument("--out", default="samples")
    s.set_defaults(func=_cmd_sample)


def _add_figures(sub) -> None:
    """The ``figures`` sub-command."""
    f = sub.add_parser("figures", help="execute every notebook with papermill (reads results only)")
    f.add_argument("--profile", default="cpu", choices=PROFILE_CHOICES)
    f.add_argument("--only", nargs="*", default=None, help="notebook name prefixes, e.g. 01 04")
    f.add_argument("--jobs", type=int, default=None, help="notebooks executed at once (default: the cores, at most 4)")
    f.set_defaults(func=_cmd_figures)


def _add_report(sub) -> None:
    """The ``report`` sub-command."""
    rp = sub.add_parser("report", help="regenerate docs/RESULTS.md and the README's findings from the results")
    rp.add_argument("--check", action="store_true", help="fail if docs/RESULTS.md or the README is out of date")
    rp.add_argument("--uncommitted", action="store_true",
                    help="write even when data/results or data/pretrained hold uncommitted files")
    rp.set_defaults(func=_cmd_report)


def _add_site(sub) -> None:
    """The ``site`` sub-command."""
    st = sub.add_parser("site", help="build the report website from the executed notebooks (make figures first)")
    st.add_argument("--profile", default="cpu", choices=PROFILE_CHOICES)
    st.add_argument("--verbose", action="store_true", help="show Sphinx's messages")
    st.set_defaults(func=_cmd_site)


SUBCOMMANDS = (_add_train, _add_analyze, _add_reproduce, _add_robustness, _add_atlas, _add_track, _add_ship,
               _add_sample, _add_figures, _add_report, _add_calibrate, _add_recompute, _add_percolation, _add_site)


def build_parser() -> argparse.ArgumentParser:
    """The command line: one sub-parser per command, each built by its own function."""
    p = argparse.ArgumentParser(prog="bumpdiff", description=__doc__)
    sub = p.add_subparsers(dest="cmd", required=True)
    for add in SUBCOMMANDS:
        add(sub)
    return p


def main(argv=None):
    a = build_parser().parse_args(argv)
    try:
        a.func(a)
    except (ValueError, RuntimeError, MissingResult, NoProjectRoot) as e:
        print(f"bumpdiff: error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
