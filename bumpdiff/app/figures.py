"""Running the notebooks headless (``make figures``): every numbered notebook, executed with papermill.

Notebooks only read results (:mod:`bumpdiff.store.results`); when one is missing the notebook stops with an error
that names the command computing it. ``make figures`` then goes on with the other notebooks and, at the end, lists
the figures it could not draw and the commands that compute their results, and exits non-zero; any other error
in a notebook stops it at once.
"""
from __future__ import annotations

import logging
import os
import tempfile
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor, as_completed
from contextlib import contextmanager
from pathlib import Path

from jupyter_client.manager import KernelManager

from ..common import paths
from ..common.log import get_logger
from .lab import KERNEL_NAME, ensure_kernelspec

__all__ = ["make_figures", "notebooks", "LocalKernelManager"]

log = get_logger()


class LocalKernelManager(KernelManager):
    """A kernel reached over local IPC sockets in the temp folder rather than TCP: nothing listens on the
    network, and the kernel has no reason to warn about unencrypted TCP on every start."""

    def __init__(self, **kw):
        kw.setdefault("transport", "ipc")
        kw.setdefault("ip", os.path.join(tempfile.gettempdir(), f"bumpdiff-kernel-{uuid.uuid4().hex[:12]}"))
        super().__init__(**kw)

    async def _async_interrupt_kernel(self) -> None:
        # jupyter_client interrupts a kernel before asking it to shut down; a notebook that has finished is idle, and
        # the interrupt only makes the kernel log "ERROR | KeyboardInterrupt caught in kernel" on a run that succeeded
        if not self.shutting_down:
            await super()._async_interrupt_kernel()


#: the thread-count variables a kernel's libraries read at start (torch's OpenMP and MKL pools, numba's, for UMAP)
THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS")


@contextmanager
def kernel_threads(threads: int) -> Iterator[None]:
    """Kernels started inside this context use ``threads`` threads each (they inherit the environment): with several
    notebooks at a time, each kernel taking every core oversubscribes the machine and all of them run slower.
    Variables the user set are left as they are."""
    set_here = [v for v in THREAD_VARIABLES if v not in os.environ]
    os.environ.update({v: str(threads) for v in set_here})
    try:
        yield
    finally:
        for v in set_here:
            os.environ.pop(v, None)


def notebooks(only: list[str] | None = None) -> list[Path]:
    nbs = sorted(paths.notebooks_dir().glob("[0-9][0-9]_*.ipynb"))
    return [p for p in nbs if any(p.name.startswith(o) for o in only)] if only else nbs


def _execute(nb: Path, out: Path, profile: str, seed: int) -> tuple[str | None, float]:
    """Execute one notebook into ``out``; returns (the MissingResult message if its results are not computed, else
    None; seconds). Any other error in the notebook raises SystemExit naming it and its executed copy."""
    import papermill as pm  # imported here: papermill and its kernel machinery take seconds to import
    from papermill.exceptions import PapermillExecutionError

    t0 = time.time()
    try:
        pm.execute_notebook(str(nb), str(out), parameters={"profile": profile, "seed": seed},
                            cwd=str(paths.notebooks_dir()), progress_bar=False, kernel_name=KERNEL_NAME,
                            kernel_manager_class=LocalKernelManager)
    except PapermillExecutionError as e:
        if e.ename == "MissingResult":
            return e.evalue, time.time() - t0
        raise SystemExit(f"bumpdiff: {nb.name} failed: {e.ename}: {e.evalue}\n"
                         f"(executed copy with the traceback: {paths.relative(out)})") from None
    return None, time.time() - t0


def make_figures(profile: str = "cpu", only: list[str] | None = None, seed: int = 0, jobs: int | None = None) -> None:
    """Execute the numbered notebooks with papermill (executed copies to build/<profile>/), ``jobs`` at a time
    (default: one per core, at most 4; each notebook runs in its own kernel, with the cores shared out
    between the kernels: :func:`kernel_threads`). Every notebook whose results exist is
    drawn; then, if any was not, SystemExit lists each with the command that computes its results (the exit status
    of ``make figures`` is then non-zero). Any other error stops at once."""
    for name in ("papermill", "traitlets", "nbclient"):  # their INFO chatter is not ours to show
        logging.getLogger(name).setLevel(logging.ERROR)
    ensure_kernelspec()
    outdir = paths.build_dir() / profile
    outdir.mkdir(parents=True, exist_ok=True)
    total = time.time()
    nbs = notebooks(only)
    jobs = max(1, min(jobs or min(os.cpu_count() or 1, 4), len(nbs) or 1))
    threads = max(1, (os.cpu_count() or 1) // jobs)
    log.info(f"figures ({profile}): {len(nbs)} notebooks, {jobs} at a time, {threads} thread(s) each")
    missing = {}
    # the pool's threads only wait: each notebook runs in its own kernel
    with kernel_threads(threads), ThreadPoolExecutor(max_workers=jobs) as pool:
        running = {pool.submit(_execute, nb, outdir / nb.name, profile, seed): nb for nb in nbs}
        try:
            for done in as_completed(running):
                nb = running[done]
                why, seconds = done.result()
                if why is None:
                    log.info(f"figures ({profile}): {nb.name} done in {seconds:.1f} s")
                else:
                    log.info(f"figures ({profile}): {nb.name} skipped, its results are not computed: {why}")
                    missing[nb.name] = why
        except BaseException:
            for f in running:
                f.cancel()
            raise
    log.info(f"figures ({profile}): {len(nbs) - len(missing)} of {len(nbs)} notebooks in "
             f"{time.time() - total:.1f} s; figures in figures/{'' if profile == 'cpu' else profile + '/'}")
    if missing:
        raise SystemExit(f"bumpdiff: figures ({profile}): {len(missing)} of {len(nbs)} notebooks not drawn, their "
                         "results are not computed:\n" + "\n".join(f"  {name} — {why}"
                                                                 for name, why in sorted(missing.items())))
