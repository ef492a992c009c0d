"""The command line's instrument commands: ``calibrate latent|noise|sampler`` (the latent rule on phantoms, the noise
of real latents, the analysis sampler against DDPM-1000), ``recompute`` (the `phases` runs under the calibrated
analysis) and ``percolation`` (the stripes study's percolation model)."""
from __future__ import annotations

from ..common.runtime import resolve_device
from ..store.compute_calibrated import recompute
from ..store.compute_calibrations import (
    compute_latent_calibration,
    compute_noise_calibration,
    compute_phase_a,
    compute_sampler_calibration,
)
from ..store.compute_percolation import compute_percolation
from ..store.compute_stripe_check import compute_stripe_sampler_check
from .cli_options import PROFILE_CHOICES, _common

__all__ = ["_add_calibrate", "_add_recompute", "_add_percolation"]


def _cmd_calibrate(a):
    if a.kind == "latent":
        print(compute_latent_calibration(progress=not a.quiet))
    elif a.kind == "phase-a":
        print(compute_phase_a(a.profile, progress=not a.quiet))
    elif a.kind == "noise":
        print(compute_noise_calibration(a.profile, trials=a.trials, progress=not a.quiet))
    elif a.kind == "stripes-sampler":
        print(compute_stripe_sampler_check(a.profile, runs=a.runs, progress=not a.quiet,
                                           device=resolve_device(a.device)))
    else:
        print(compute_sampler_calibration(a.profile, n=a.n, progress=not a.quiet, device=resolve_device(a.device),
                                          only_final=a.only_final, steps=a.steps))


def _cmd_recompute(a):
    for path in recompute(a.profile, archs=tuple(a.arch), seeds=a.seeds, progress=not a.quiet,
                          device=resolve_device(a.device), every=a.every):
        print(path)


def _cmd_percolation(a):
    print(compute_percolation(a.profile, force=a.force))


def _add_percolation(sub) -> None:
    """The ``percolation`` sub-command."""
    pc = sub.add_parser("percolation", help="the percolation model of the stripes study (numpy, seconds)")
    pc.add_argument("--profile", default="fast", choices=PROFILE_CHOICES)
    pc.add_argument("--force", action="store_true")
    pc.set_defaults(func=_cmd_percolation)


def _add_calibrate(sub) -> None:
    """The ``calibrate`` sub-command."""
    c = sub.add_parser("calibrate", help="calibrate the instruments: the latent rule on phantoms, the latents' noise "
                                         "range, the analysis sampler against DDPM-1000")
    c.add_argument("kind", choices=["latent", "noise", "sampler", "phase-a", "stripes-sampler"])
    _common(c)
    c.add_argument("--trials", type=int, default=16, help="noise: noise images per condition")
    c.add_argument("--n", type=int, default=None, help="sampler: samples per checkpoint (default: the profile's)")
    c.add_argument("--only-final", action="store_true", help="sampler: only the last checkpoint of each shipped set")
    c.add_argument("--steps", type=int, nargs="+", default=None,
                   help="sampler: only the shipped checkpoints at these steps (processes given other steps can run "
                        "side by side; each writes every checkpoint computed so far)")
    c.add_argument("--runs", nargs="+", default=None,
                   help="stripes-sampler: only these composition runs (labels; default: every computed one)")
    c.set_defaults(func=_cmd_calibrate)


def _add_recompute(sub) -> None:
    """The ``recompute`` sub-command."""
    r = sub.add_parser("recompute", help="analyse the phases runs' checkpoints under the calibrated analysis, every "
                                         "calibrated read-out (shared, independent, mean)")
    _common(r)
    r.add_argument("--arch", nargs="*", default=["additive", "film"], choices=["additive", "film"])
    r.add_argument("--seeds", nargs="*", type=int, default=None)
    r.add_argument("--every", type=int, default=1, help="every k-th checkpoint (and the last)")
    r.set_defaults(func=_cmd_recompute)



