import os
import shutil
from pathlib import Path

import pytest
import torch

# one torch thread per test worker when pytest-xdist runs them side by side (`make test TEST_WORKERS=N`), two when
# the tests run one after another (`make test`, CI)
THREADS = int(os.environ.get("BUMPDIFF_TEST_THREADS", "1" if os.environ.get("PYTEST_XDIST_WORKER") else "2"))
torch.set_num_threads(THREADS)
os.environ["BUMPDIFF_TEST_THREADS"] = str(THREADS)   # what a subprocess of a test trains with: the same reductions


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
    from bumpdiff.core.train import train  # after the thread count above is set
    from bumpdiff.experiments.profiles import get_profile
    return train(get_profile("smoke").train, tmp_path_factory.mktemp("trained") / "smoke-run", progress=False)


@pytest.fixture
def smoke_run(home, trained_smoke):
    """This test's own copy of the session's smoke run, where ``train(get_profile("smoke").train)`` would have put it
    under the throw-away root (training is deterministic: the copy is the run that training here would write)."""
    from bumpdiff.core.train import run_dir
    from bumpdiff.experiments.profiles import get_profile
    return Path(shutil.copytree(trained_smoke, run_dir(get_profile("smoke").train)))


def _slurm_tools():
    import importlib.util
    path = Path(__file__).resolve().parent.parent / "tools" / "slurm_cluster.py"
    spec = importlib.util.spec_from_file_location("slurm_cluster", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="session")
def slurm_cluster():
    """A real Slurm cluster for the executor's tests: yields ``SLURM_CONF``.

    ``BUMPDIFF_SLURM_CONF=/path/to/slurm.conf`` points the tests at a cluster of your own (nothing is started or
    stopped then; ``BUMPDIFF_SLURM_OPTIONS=file.json`` gives the `--slurm-config` options its jobs need, such as a
    partition or an account). Otherwise ``tools/slurm_cluster.py`` starts a private single-node cluster for the
    session and stops exactly its processes at the end. Without Slurm the tests skip with one line, and fail
    instead where ``BUMPDIFF_REQUIRE_SLURM=1`` (CI)."""
    own = os.environ.get("BUMPDIFF_SLURM_CONF")
    if own:
        os.environ["SLURM_CONF"] = own
        yield own
        return
    tools = _slurm_tools()
    missing = tools.missing_binaries()
    if missing or os.geteuid() != 0:
        why = (f"no Slurm here ({', '.join(missing)} missing)" if missing else
               "the private Slurm cluster runs its daemons as root")
        if os.environ.get("BUMPDIFF_REQUIRE_SLURM") == "1":
            pytest.fail(f"{why}, and BUMPDIFF_REQUIRE_SLURM=1 says the cluster must be there")
        pytest.skip(why)
    where = Path(f"/tmp/bumpdiff-slurm-{os.getpid()}")
    state = tools.start(where)
    old = os.environ.get("SLURM_CONF")
    os.environ["SLURM_CONF"] = state["slurm_conf"]
    try:
        yield state["slurm_conf"]
    finally:
        stopped = tools.stop(where)
        if old is None:
            os.environ.pop("SLURM_CONF", None)
        else:
            os.environ["SLURM_CONF"] = old
        left = [pid for pid in stopped if tools._alive(pid)] + tools._job_processes(where)
        shutil.rmtree(where, ignore_errors=True)
        assert not left, f"cluster processes left running: {left}"
