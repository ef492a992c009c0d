import os
import shutil
from pathlib import Path

import pytest
import torch

THREADS = int(os.environ.get("BUMPDIFF_TEST_THREADS", "2"))
torch.set_num_threads(THREADS)


@pytest.fixture(autouse=True)
def _torch_threads():
    """Every test starts with the same torch thread count (a job run inline sets its own, and bitwise comparisons
    between runs trained in different tests need the same reductions)."""
    torch.set_num_threads(THREADS)
    yield
    torch.set_num_threads(THREADS)


@pytest.fixture
def home(tmp_path, monkeypatch):
    """A throw-away project root, so tests never touch data/ or results/ of the checkout."""
    monkeypatch.setenv("BUMPDIFF_HOME", str(tmp_path))
    return tmp_path


@pytest.fixture(scope="session")
def trained_smoke(tmp_path_factory):
    """One `smoke`-profile run trained to its end, once per test session. Read it, never change it: tests that
    work on a run take :func:`smoke_run`, their own copy."""
    from bumpdiff.core.train import profile, train  # after the thread count above is set
    return train(profile("smoke"), tmp_path_factory.mktemp("trained") / "smoke-run", progress=False)


@pytest.fixture
def smoke_run(home, trained_smoke):
    """This test's own copy of the session's smoke run, where ``train(profile("smoke"))`` would have put it under
    the throw-away root (training is deterministic: the copy is the run that training here would write)."""
    from bumpdiff.core.train import profile, run_dir
    return Path(shutil.copytree(trained_smoke, run_dir(profile("smoke"))))
