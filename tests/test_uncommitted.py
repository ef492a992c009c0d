"""What is read from uncommitted results says so: a figure's stamp is ``+dirty`` when its inputs hold files git does
not track (a run's bundle still being written), and ``report`` — which says it is generated from the committed
results — refuses to write from them unless asked."""
import subprocess

from bumpdiff.app.cli import main
from bumpdiff.common import paths
from bumpdiff.common.commits import inputs_stamp, uncommitted


def _git(home, *args):
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=home, check=True,
                   capture_output=True)


def _committed_results(home):
    (home / "data" / "results" / "experiments").mkdir(parents=True)
    (home / "data" / "results" / "experiments" / "phases-smoke.json").write_text("{}\n")
    _git(home, "init", "-q")
    _git(home, "add", "-A")
    _git(home, "commit", "-q", "-m", "results")


def test_an_untracked_bundle_under_a_figure_s_inputs_marks_its_stamp_dirty(home):
    _committed_results(home)
    clean = inputs_stamp(paths.results_dir())
    assert clean and not clean.endswith("+dirty") and uncommitted(paths.results_dir()) == []
    bundle = home / "data" / "results" / "smoke-0123456789" / "analysis-abc"
    bundle.mkdir(parents=True)
    (bundle / "bundle.json").write_text("{}\n")
    assert inputs_stamp(paths.results_dir()) == clean + "+dirty"
    assert uncommitted(paths.results_dir()) == ["data/results/smoke-0123456789/analysis-abc/bundle.json"]
    (home / ".gitignore").write_text("data/results/smoke-*/\n")     # ignored files are nobody's input
    assert inputs_stamp(paths.results_dir()) == clean


def test_report_will_not_write_from_uncommitted_results_unless_asked(home, capsys):
    _committed_results(home)
    (home / "data" / "results" / "benchmarks").mkdir()
    (home / "data" / "results" / "benchmarks" / "calibration-x.json").write_text("{}\n")
    assert main(["report"]) == 2
    err = capsys.readouterr().err
    assert "data/results/benchmarks/calibration-x.json" in err and "--uncommitted" in err
    assert not (home / "docs" / "RESULTS.md").exists()              # nothing half-written
