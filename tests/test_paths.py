"""Where the project's folders are: from the checkout, never from the working directory — also when the package
is installed away from its checkout (a non-editable ``pip install .``)."""
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CODE = "from bumpdiff.common import paths; print(paths.root()); print(paths.results_dir())"


def _installed_copy(tmp_path):
    site = tmp_path / "site-packages"
    shutil.copytree(ROOT / "bumpdiff", site / "bumpdiff", ignore=shutil.ignore_patterns("__pycache__"))
    return {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(site)}


def test_installed_package_finds_the_checkout_from_inside_it(tmp_path):
    env = _installed_copy(tmp_path)
    r = subprocess.run([sys.executable, "-c", CODE], cwd=ROOT / "notebooks", env=env, capture_output=True, text=True,
                       check=False)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == [str(ROOT), str(ROOT / "data" / "results")]


def test_installed_package_outside_a_checkout_says_how_to_point_it(tmp_path):
    env = _installed_copy(tmp_path)
    r = subprocess.run([sys.executable, "-m", "bumpdiff", "report", "--check"], cwd=tmp_path, env=env,
                       capture_output=True, text=True, check=False)
    assert r.returncode == 2 and "BUMPDIFF_HOME" in r.stderr and "Traceback" not in r.stderr
    env["BUMPDIFF_HOME"] = str(ROOT)
    r = subprocess.run([sys.executable, "-c", CODE], cwd=tmp_path, env=env, capture_output=True, text=True, check=False)
    assert r.stdout.split()[0] == str(ROOT)
