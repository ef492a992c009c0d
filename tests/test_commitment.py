"""Commitment times along the reverse process, the PCA spectrum, and studies tracked over training."""
import json

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from bumpdiff.analysis.commitment import commit_index, commitment_summary
from bumpdiff.analysis.order import participation_ratio, pca_spectrum


@given(arrays(bool, st.tuples(st.integers(1, 12), st.integers(1, 6))))
def test_commit_index_is_the_first_step_from_which_it_holds_to_the_end(ok):
    got = commit_index(ok)
    S = ok.shape[0]
    for b in range(ok.shape[1]):
        want = next((i for i in range(S) if ok[i:, b].all()), -1)
        assert got[b] == want


def test_commitment_summary_of_a_known_trajectory():
    ts = [900, 700, 500, 300, 100, 0]
    req = np.array([[10.0, 20.0], [5.0, 5.0]])
    n_bumps = np.array([[0, 2], [1, 2], [1, 1], [1, 1], [1, 1], [1, 1]])
    est = np.full((6, 2, 2), np.nan)
    # sample 0: one bump from step 1; x right from step 1, y right from step 3 (wrong again at no later step)
    est[1:, 0] = [[10.2, 25.0], [10.1, 23.0], [10.0, 20.5], [10.0, 20.1], [10.0, 20.0]]
    # sample 1: one bump from step 2, right on both axes from step 2, but x drifts off at the last step
    est[2:, 1] = [[5.0, 5.0], [5.0, 5.0], [5.0, 5.0], [7.0, 5.0]]
    s = commitment_summary(ts, n_bumps, est, req, tol=1.0)
    assert s["per_sample_x"] == [700, None] and s["per_sample_y"] == [300, 500]
    assert s["per_sample_both"] == [300, None]
    assert s["committed_x"] == 0.5 and s["committed_y"] == 1.0 and s["committed_both"] == 0.5
    assert s["same_step_xy"] == 0.0 and s["t_x_minus_t_y"] == [400.0, 400.0, 400.0]
    assert s["mean_bumps"] == [1.0, 1.5, 1.0, 1.0, 1.0, 1.0] and s["frac_single"][0] == 0.0


def test_participation_ratio_counts_equal_directions():
    assert participation_ratio([1, 1, 1, 0, 0]) == pytest.approx(3)
    assert participation_ratio([5, 0, 0]) == pytest.approx(1)
    rng = np.random.default_rng(0)
    X = rng.normal(size=(2000, 4)) @ np.diag([3, 3, 3, 3]) @ rng.normal(size=(4, 50))   # 4 directions in 50-d
    ev = pca_spectrum(X)
    assert ev.shape == (2000,) and np.all(np.diff(ev) <= 1e-9)
    assert (ev[:4].sum() / ev.sum()) > 0.999
    assert 2.5 < participation_ratio(ev) <= 4.0 + 1e-9


@pytest.mark.slow
def test_tracked_studies_of_a_smoke_run_and_reading_them_from_a_retrain(home, smoke_run):
    from bumpdiff.experiments.profiles import get_profile
    from bumpdiff.store.compute_tracked import track
    from bumpdiff.store.reading import MissingResult
    from bumpdiff.store.tracking import load_tracked_study
    specs = get_profile("smoke").studies
    run_path = smoke_run
    with pytest.raises(MissingResult, match="python -m bumpdiff track commitment --profile smoke"):
        load_tracked_study("commitment", "smoke", quiet=True)
    p = track(run_path, specs["commitment"], steps=[0, 30], progress=False)
    data = json.loads(p.read_text())
    assert list(data["checkpoints"]) == ["0", "30"] and data["provenance"][0]["steps"] == [0, 30]
    c = data["checkpoints"]["30"]
    assert len(c["per_sample_x"]) == 16 and len(c["mean_bumps"]) == len(c["timesteps"]) == 5
    assert load_tracked_study("commitment", "smoke", quiet=True)["checkpoints"]["30"] == c
    # extended, never recomputed
    track(run_path, specs["commitment"], steps=[10], progress=False)
    again = json.loads(p.read_text())
    assert list(again["checkpoints"]) == ["0", "10", "30"] and again["checkpoints"]["30"] == c
    # a retrain's study is found beside the retrain's bundle when the run's own folder has none
    retrain = home / "data" / "results" / "retrains" / f"{run_path.name}-elsewhere"
    q = track(run_path, specs["spectrum"], steps=[30], progress=False, out_dir=retrain)
    assert q.parent == retrain
    got = load_tracked_study("spectrum", "smoke", quiet=True)
    assert got["source"].endswith(f"{run_path.name}-elsewhere")
    assert {r["layer"] for r in got["checkpoints"]["30"]["rows"]} == {"down3", "mid", "up1"}
    # of several, the one that reaches furthest in training is read (not the first by name), the run's own folder
    # winning a tie
    track(run_path, specs["spectrum"], steps=[10], progress=False, out_dir=retrain.with_name(f"{run_path.name}-a"))
    assert load_tracked_study("spectrum", "smoke", quiet=True)["source"].endswith(f"{run_path.name}-elsewhere")
    own = track(run_path, specs["spectrum"], steps=[30], progress=False).parent
    assert (home / load_tracked_study("spectrum", "smoke", quiet=True)["source"]) == own
