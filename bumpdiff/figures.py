"""Running the notebooks headless (``make figures``): every numbered notebook, executed with papermill.

Notebooks only read results (:mod:`bumpdiff.results`); when one is missing the notebook stops with an error
that names the command computing it. ``make figures`` then goes on with the other notebooks and, at the end, lists
the figures it could not draw and the commands that compute their results (a study not yet run for a profile is
not a broken build); any other error in a notebook stops it at once.
"""
from __future__ import annotations

import logging
import os
import tempfile
import time
import uuid
from pathlib import Path

from jupyter_client.manager import KernelManager

from . import paths

__all__ = ["make_figures", "notebooks", "LocalKernelManager"]


class LocalKernelManager(KernelManager):
    """A kernel reached over local IPC sockets in the temp folder rather than TCP: nothing listens on the
    network, and the kernel has no reason to warn about unencrypted TCP on every start."""

    def __init__(self, **kw):
        kw.setdefault("transport", "ipc")
        kw.setdefault("ip", os.path.join(tempfile.gettempdir(), f"bumpdiff-kernel-{uuid.uuid4().hex[:12]}"))
        super().__init__(**kw)


def notebooks(only: list[str] | None = None) -> list[Path]:
    nbs = sorted(paths.notebooks_dir().glob("[0-9][0-9]_*.ipynb"))
    return [p for p in nbs if any(p.name.startswith(o) for o in only)] if only else nbs


def make_figures(profile: str = "cpu", only: list[str] | None = None, seed: int = 0) -> None:
    """Execute the numbered notebooks with papermill (executed copies to build/<profile>/)."""
    import papermill as pm
    from papermill.exceptions import PapermillExecutionError

    for name in ("papermill", "traitlets", "nbclient"):  # their INFO chatter is not ours to show
        logging.getLogger(name).setLevel(logging.ERROR)
    from .lab import KERNEL_NAME, ensure_kernelspec
    ensure_kernelspec()
    outdir = paths.build_dir() / profile
    outdir.mkdir(parents=True, exist_ok=True)
    total = time.time()
    nbs = notebooks(only)
    missing = []
    for nb in nbs:
        t0 = time.time()
        print(f"[bumpdiff] figures ({profile}): running {nb.name} ...", flush=True)
        try:
            pm.execute_notebook(str(nb), str(outdir / nb.name), parameters={"profile": profile, "seed": seed},
                                cwd=str(paths.notebooks_dir()), progress_bar=False, kernel_name=KERNEL_NAME,
                                kernel_manager_class=LocalKernelManager)
        except PapermillExecutionError as e:
            if e.ename == "MissingResult":
                print(f"[bumpdiff] figures ({profile}): {nb.name} skipped, its results are not computed: {e.evalue}",
                      flush=True)
                missing.append((nb.name, e.evalue))
                continue
            raise SystemExit(f"bumpdiff: {nb.name} failed: {e.ename}: {e.evalue}\n"
                             f"(executed copy with the traceback: {paths.relative(outdir / nb.name)})") from None
        print(f"[bumpdiff] figures ({profile}): {nb.name} done in {time.time() - t0:.1f} s", flush=True)
    print(f"[bumpdiff] figures ({profile}): {len(nbs) - len(missing)} of {len(nbs)} notebooks in "
          f"{time.time() - total:.1f} s; figures in figures/{'' if profile == 'cpu' else profile + '/'}", flush=True)
    for name, why in missing:
        print(f"[bumpdiff] figures ({profile}): not drawn: {name} — {why}", flush=True)
