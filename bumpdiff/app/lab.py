"""JupyterLab on the project's environment (``make lab``): a kernelspec named for the project, registered inside
the environment (never in the user's home), and a lab server whose notebooks open with it.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from ..common import paths
from ..common.log import get_logger

__all__ = ["KERNEL_NAME", "ensure_kernelspec", "lab_command", "main"]

log = get_logger()

KERNEL_NAME = "bumpdiff"
DISPLAY_NAME = "Python (bumpdiff)"


def _kernel_dir(prefix: str | None = None) -> Path:
    return Path(prefix or sys.prefix) / "share" / "jupyter" / "kernels" / KERNEL_NAME


def ensure_kernelspec(prefix: str | None = None) -> Path:
    """Register (or refresh) the ``bumpdiff`` kernelspec for this interpreter under ``<prefix>/share/jupyter``
    (``sys.prefix`` by default, i.e. inside the environment). Returns its folder."""
    d = _kernel_dir(prefix)
    spec = {"argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
            "display_name": DISPLAY_NAME, "language": "python", "metadata": {"debugger": True},
            "env": {"MPLBACKEND": "module://matplotlib_inline.backend_inline"}}
    path = d / "kernel.json"
    if not path.exists() or json.loads(path.read_text()) != spec:
        d.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(spec, indent=1) + "\n")
    return d


def lab_command(port: int | None = None, browser: bool = True, token: str | None = None) -> list[str]:
    """The command ``make lab`` runs: JupyterLab from this environment, rooted at ``notebooks/``, with the project's
    kernel as the default for new notebooks (committed notebooks name it in their metadata)."""
    cmd = [sys.executable, "-m", "jupyterlab", f"--ServerApp.root_dir={paths.notebooks_dir()}",
           f"--MappingKernelManager.default_kernel_name={KERNEL_NAME}", "--ServerApp.ip=127.0.0.1"]
    if port is not None:
        cmd.append(f"--ServerApp.port={port}")
    if not browser:
        cmd.append("--no-browser")
    if token is not None:
        cmd.append(f"--IdentityProvider.token={token}")
    if hasattr(os, "geteuid") and os.geteuid() == 0:  # containers and CI run as root; jupyter refuses without this
        cmd.append("--allow-root")
    return cmd


def main(argv=None) -> int:

    p = argparse.ArgumentParser(description="JupyterLab on the bumpdiff environment (make lab)")
    p.add_argument("--port", type=int, default=None)
    p.add_argument("--no-browser", action="store_true")
    a = p.parse_args(argv)
    ensure_kernelspec()
    cmd = lab_command(a.port, browser=not a.no_browser)
    log.info(f"kernel '{KERNEL_NAME}' registered in {_kernel_dir()}; starting: {' '.join(cmd)}")
    os.execv(cmd[0], cmd)
    return 0


if __name__ == "__main__":
    sys.exit(main())
