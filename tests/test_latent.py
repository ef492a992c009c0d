"""Latent analysis on synthetic activations with known truth, and end to end on a smoke run."""
import numpy as np
import pytest

from bumpdiff.analysis.evaluate import score
from bumpdiff.analysis.order import embed, order_parameters
from bumpdiff.analysis.phases import PHASE_THRESHOLDS, call_phase, describe_sequence, phase_onsets, phase_sequence
from bumpdiff.store.bundles import load_bundle

GRID = np.stack(np.meshgrid(np.arange(24) + 0.5, np.arange(24) + 0.5), -1).reshape(-1, 2) * (32 / 24)


def sheet(rng, noise=0.05, dim=128):
    u = GRID / 32 * np.pi
    feats = np.c_[np.sin(u[:, 0]), np.cos(u[:, 0]), np.sin(u[:, 1]), np.cos(u[:, 1]), u[:, 0], u[:, 1]]
    return feats @ rng.normal(size=(6, dim)) + noise * rng.normal(size=(len(GRID), dim))


@pytest.fixture(scope="module")
def synthetic():
    rng = np.random.default_rng(0)
    A = sheet(rng)
    return {"ordered": order_parameters(A, GRID),
            "permuted": order_parameters(A[rng.permutation(len(GRID))], GRID),
            "noise": order_parameters(rng.normal(size=A.shape), GRID)}


def test_ordered_sheet_is_phase_c(synthetic):
    o = synthetic["ordered"]
    assert o["r2_x"] > 0.8 and o["r2_y"] > 0.8
    assert o["knn_r2_x"] > 0.95 and o["knn_r2_y"] > 0.95
    assert o["intrinsic_dim"] < 3.5
    assert call_phase(order=o) == "C"


def test_permuted_sheet_is_a_disordered_manifold_phase_b(synthetic):
    o = synthetic["permuted"]
    assert o["r2_x"] < 0.2 and o["r2_y"] < 0.2 and o["knn_r2_x"] < 0.2
    assert o["intrinsic_dim"] < 3.5
    assert call_phase(order=o) == "B"


def test_isotropic_noise_is_phase_a(synthetic):
    o = synthetic["noise"]
    assert o["intrinsic_dim"] > 10 and o["knn_r2_x"] < 0.2
    assert call_phase(order=o) == "A"


def torus(rng, dim=128, noise=0.02):
    """A flat torus in (cos, sin, cos, sin) of the grid's angles, linearly embedded in ``dim`` dimensions."""
    a = 2 * np.pi * GRID / 32
    feats = np.c_[np.cos(a[:, 0]), np.sin(a[:, 0]), np.cos(a[:, 1]), np.sin(a[:, 1])]
    return feats @ rng.normal(size=(4, dim)) + noise * rng.normal(size=(len(GRID), dim))


def test_a_torus_is_ordered_round_the_circles_not_along_the_lines():
    """On a periodic canvas the axes are circles: a torus latent orders both (R² near 1 round the circles,
    and better than read as lines, where μ = 0.5 and μ = 31.5 are neighbours in the latent but far apart)."""
    A = torus(np.random.default_rng(1))
    on_torus = order_parameters(A, GRID, umap=False, period=32)
    as_lines = order_parameters(A, GRID, umap=False)
    assert on_torus["knn_r2_x"] > 0.95 and on_torus["knn_r2_y"] > 0.95
    assert as_lines["knn_r2_x"] < on_torus["knn_r2_x"] - 0.05
    assert on_torus["trustworthiness"] > as_lines["trustworthiness"]
    with pytest.raises(ValueError, match="period"):
        order_parameters(A, GRID, umap=False, period=0)


def test_a_latent_that_ignores_the_condition_has_no_order_parameters():
    """Identical activations for every condition (a layer before any conditioning, read on one shared noise
    image) are neither ordered nor low-dimensional: NaN, and phase A, whatever a tie-breaking kNN would say."""
    A = np.tile(np.random.default_rng(2).normal(size=(1, 64)), (len(GRID), 1))
    o = order_parameters(A, GRID)
    assert all(np.isnan(o[k]) for k in ("r2_x", "r2_y", "knn_r2_x", "knn_r2_y", "trustworthiness", "intrinsic_dim"))
    assert o["embedding"].shape == (len(GRID), 3)
    assert call_phase(order=o) == "A"
    assert np.isnan(order_parameters(A, GRID, umap=False)["knn_r2_x"])


def test_umap_is_reproducible_with_fixed_seed():
    rng = np.random.default_rng(1)
    A = sheet(rng)
    e1, e2 = embed(A, seed=3), embed(A, seed=3)
    assert e1.shape == (len(GRID), 3)
    assert np.array_equal(e1, e2)


def test_umap_keeps_the_callers_torch_thread_count():
    # a job limited to n torch threads (`reproduce --executor local --threads n`) must stay limited after UMAP
    import torch
    before = torch.get_num_threads()
    wanted = before + 1  # differs from the machine's default, to which UMAP's numba layer used to reset it
    torch.set_num_threads(wanted)
    try:
        embed(sheet(np.random.default_rng(2)), seed=0)
        assert torch.get_num_threads() == wanted
    finally:
        torch.set_num_threads(before)


def test_phase_call_from_generation_and_combination():
    from bumpdiff.core.data import render
    c = GRID[:40]
    good = score(render(c), c)
    wrong = score(render(np.clip(c + 5, 0, 32)), c)
    empty = score(np.full((40, 1, 32, 32), -1.0), c)
    assert [call_phase(s) for s in (good, wrong, empty)] == ["C", "B", "A"]
    ordered = {"knn_r2_x": 0.99, "knn_r2_y": 0.99, "intrinsic_dim": 2.0}
    # ordered neighbours but not a low-dimensional manifold: not C (C is an ordered *2-D* manifold), and not B
    assert call_phase(order={"knn_r2_x": 0.99, "knn_r2_y": 0.99, "intrinsic_dim": 12.6}) == "A"
    assert call_phase(order={"knn_r2_x": 0.99, "knn_r2_y": 0.99, "intrinsic_dim": float("nan")}) == "A"
    disordered = {"knn_r2_x": 0.0, "knn_r2_y": 0.0, "intrinsic_dim": 2.0}
    assert call_phase(good, ordered) == "C"
    assert call_phase(good, disordered, detail=True) == ("B", "C", "B")  # the earlier of the two
    with pytest.raises(ValueError):
        call_phase()
    assert 0 < PHASE_THRESHOLDS.acc_c <= 1


def test_phase_sequence_reads_the_changes_of_a_call():
    recs = [{"step": s, "epoch": s / 8, "images_seen": s * 128, "phase": p, "phase_generation": g,
             "phase_representation": r} for s, p, g, r in
            [(0, "A", "A", "A"), (100, "A", "B", "A"), (200, "B", "B", "C"), (300, "B", "C", "B"),
             (400, "A", "C", "A")]]
    shuffled = [recs[i] for i in (3, 0, 4, 2, 1)]                         # order of the records does not matter
    seq = phase_sequence(shuffled)
    assert [(e["phase"], e["step"], e["until_step"]) for e in seq] == [("A", 0, 100), ("B", 200, 300), ("A", 400, 400)]
    assert seq[1]["epoch"] == 25 and seq[1]["images_seen"] == 25_600
    assert describe_sequence(seq) == "A → B (step 200) → A (step 400)"
    assert describe_sequence(phase_sequence(recs, "phase_generation")) == "A → B (step 100) → C (step 300)"
    assert describe_sequence(phase_sequence(recs, "phase_representation")) == \
        "A → C (step 200) → B (step 300) → A (step 400)"
    on = phase_onsets(recs)
    assert on["B"]["step"] == 200 and on["C"] is None
    assert phase_onsets(recs, "phase_representation")["C"]["step"] == 200
    with pytest.raises(ValueError, match="key must be"):
        phase_sequence(recs, "accuracy")


@pytest.mark.slow
def test_analyze_smoke_run_end_to_end(home, monkeypatch):
    from bumpdiff.core.train import checkpoint_steps, train
    from bumpdiff.experiments.profiles import get_profile
    from bumpdiff.store.compute_bundle import analyze
    cfg = get_profile("smoke").train
    run_path = train(cfg, progress=False)
    out = analyze(run_path, "smoke", progress=False)
    bundle, arrays = load_bundle(out)
    recs = bundle["checkpoints"]
    assert [r["step"] for r in recs] == checkpoint_steps(cfg)
    for r in recs:
        for k in ("step", "epoch", "images_seen", "accuracy", "frac_none", "frac_multiple", "frac_single_wrong",
                  "acc_x", "acc_y", "r2_x", "r2_y", "phase"):
            assert k in r
        assert r["phase"] in "ABC"
        assert r["accuracy"] + r["frac_none"] + r["frac_multiple"] + r["frac_single_wrong"] == pytest.approx(1)
    assert bundle["config"]["name"] == "smoke" and bundle["analysis"]["sampler"] == "ddim"
    assert arrays[f"embedding_{30:07d}"].shape == (64, 3)
    assert bundle["provenance"][0]["steps"] == checkpoint_steps(cfg) and bundle["provenance"][0]["versions"]
    # a second call reuses every per-checkpoint result and gives the same bundle
    before = (out / "bundle.json").read_bytes(), (out / "arrays.npz").read_bytes()
    out2 = analyze(run_path, "smoke", progress=False)
    b2, _ = load_bundle(out2)
    assert [r["accuracy"] for r in b2["checkpoints"]] == [r["accuracy"] for r in recs]
    # … and leaves an unchanged bundle byte for byte as it was (no churn in git)
    assert ((out / "bundle.json").read_bytes(), (out / "arrays.npz").read_bytes()) == before


@pytest.mark.slow
def test_analysing_more_checkpoints_extends_one_bundle(home, smoke_run):
    from dataclasses import replace

    from bumpdiff.experiments.profiles import get_profile
    from bumpdiff.store.compute_bundle import analyze
    run_path = smoke_run
    coarse = analyze(run_path, replace(get_profile("smoke").analysis, every=2), progress=False)   # steps 0, 20, 30
    b1, a1 = load_bundle(coarse)
    assert [r["step"] for r in b1["checkpoints"]] == [0, 20, 30]
    fine = analyze(run_path, "smoke", progress=False, steps=[10])
    assert fine == coarse                                        # `every` and `steps` are not part of the key
    b2, a2 = load_bundle(fine)
    assert [r["step"] for r in b2["checkpoints"]] == [0, 10, 20, 30]
    assert [r for r in b2["checkpoints"] if r["step"] != 10] == b1["checkpoints"]
    assert all(a2[k].tobytes() == a1[k].tobytes() for k in a1)
    # each step is credited to the session that added it; two sessions of one machine and commit are one entry
    assert [p["steps"] for p in b2["provenance"]] == [[0, 10, 20, 30]]
    with pytest.raises(ValueError, match="steps must be checkpoints"):
        analyze(run_path, "smoke", progress=False, steps=[15])


@pytest.mark.slow
def test_a_retrained_run_is_analysed_from_its_own_weights_into_a_bundle_of_its_own(home, smoke_run):
    """A run retrained under the same key (another machine) must not pick up the first run's finished steps,
    and analysing it elsewhere (``out``) leaves the run's own bundle untouched."""
    import torch

    from bumpdiff.core.train import list_checkpoints
    from bumpdiff.store.compute_bundle import analyze
    run_path = smoke_run
    first = analyze(run_path, "smoke", progress=False, steps=[30])
    before = (first / "bundle.json").read_bytes()
    # "retrain": the same run folder with other weights at step 30
    path = dict(list_checkpoints(run_path))[30]
    state = torch.load(path, weights_only=True)
    state["ema"] = {k: v + 0.05 * torch.randn_like(v) if v.is_floating_point() else v for k, v in state["ema"].items()}
    torch.save(state, path)
    other = analyze(run_path, "smoke", progress=False, steps=[30], out=home / "retrain")
    assert other == home / "retrain" and (first / "bundle.json").read_bytes() == before
    b1, a1 = load_bundle(first)
    b2, a2 = load_bundle(other)
    assert b2["run_key"] == b1["run_key"] and b2["analysis_key"] == b1["analysis_key"]
    assert a1[f"embedding_{30:07d}"].tobytes() != a2[f"embedding_{30:07d}"].tobytes()


def test_heldout_error_tells_a_filled_hole_from_a_collapsed_one():
    """Held-out conditions placed in order inside the hole are interpolated from their seen neighbours (which all
    lie outside it) to about a pixel; pushed onto the hole's border, they
    are off by a third of the width."""
    from bumpdiff.analysis.order import heldout_error
    g = np.stack(np.meshgrid(np.arange(32) + 0.5, np.arange(32) + 0.5), -1).reshape(-1, 2)
    hole = (g[:, 0] >= 12) & (g[:, 0] < 20) & (g[:, 1] >= 12) & (g[:, 1] < 20)
    rng = np.random.default_rng(0)
    W = rng.normal(size=(2, 64))
    filled = heldout_error(g @ W, g, hole)
    collapsed = heldout_error(np.where(hole[:, None], np.where(g < 16, 11.5, 20.5), g) @ W, g, hole)
    assert max(filled.values()) < 1.5 and min(collapsed.values()) > 2.0
    with pytest.raises(ValueError, match="held_out"):
        heldout_error(g @ W, g, np.zeros(len(g), bool))


def test_a_new_process_embeds_from_umaps_cached_kernels_with_the_same_numbers():
    """UMAP's numba kernels are compiled once (by ``make env``, or by the first process that embeds) and then read
    from numba's disk cache by every later process (each notebook kernel, each job), with the very same embedding."""
    import subprocess
    import sys

    x = np.random.default_rng(3).normal(size=(40, 6))
    here = embed(x, seed=0)                                 # compiles, or reads, and writes the cache if missing
    code = ("import sys, numpy as np; from numba.core.dispatcher import Dispatcher; "
            "from bumpdiff.analysis.order import embed; "
            "e = embed(np.random.default_rng(3).normal(size=(40, 6)), seed=0); "
            "hits = sum(len(f.stats.cache_hits) for n, m in list(sys.modules.items()) if n.startswith('umap') "
            "for f in vars(m).values() if isinstance(f, Dispatcher)); "
            "print(hits, e.tobytes().hex())")
    hits, there = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                 check=True).stdout.split()
    assert int(hits) >= 5                                   # UMAP's kernels read back (7; 1 without the cache)
    assert there == here.tobytes().hex()
