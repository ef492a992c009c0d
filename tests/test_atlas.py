"""The representation atlas on a smoke run: every named layer at every timestep plus the sampling read-out,
stored beside the run's bundle and extended checkpoint by checkpoint."""
import json

import numpy as np
import pytest

from bumpdiff.analysis.atlas import Atlas, atlas_matrix
from bumpdiff.core.model import LAYER_NAMES
from bumpdiff.store.compute_tracked import track as compute_atlas
from bumpdiff.store.tracking import load_tracked as load_atlas

pytestmark = pytest.mark.slow
SPEC = Atlas(timesteps=(5, 25, 45), max_conditions=64, sampling_steps=5, sampling_conditions=36)


def test_atlas_of_a_smoke_run(home, smoke_run):
    run_path = smoke_run
    p = compute_atlas(run_path, SPEC, steps=[0, 30], progress=False)
    assert p.parent.name == run_path.name and p.parent.parent == home / "data" / "results"
    data = json.loads(p.read_text())
    assert list(data["checkpoints"]) == ["0", "30"] and data["provenance"][0]["steps"] == [0, 30]
    rows = data["checkpoints"]["30"]["rows"]
    cells = {(r["layer"], r["readout"]) for r in rows}
    assert cells == {(layer, t) for layer in LAYER_NAMES for t in (5, 25, 45)} | {("down3", "sampling")}
    for r in rows:
        assert r["r2_x"] is None
        if r["layer"] == "stem" and r["readout"] != "sampling":
            # before any conditioning, on one shared noise image, every condition gives the same activations:
            # no order to measure (NaN), never a tie-broken number
            assert np.isnan(r["knn_r2_x"]) and np.isnan(r["intrinsic_dim"]) and np.isnan(r["trustworthiness"])
        else:
            assert np.isfinite(r["knn_r2_x"]) and 0 <= r["trustworthiness"] <= 1
    # extending: only the new checkpoint is computed, the others are kept as they were
    compute_atlas(run_path, SPEC, steps=[10], progress=False)
    again = load_atlas(run_path, SPEC)
    assert list(again["checkpoints"]) == ["0", "10", "30"] and again["checkpoints"]["30"] == data["checkpoints"]["30"]
    layers, steps, M = atlas_matrix(again, "knn", readout=25)
    assert layers == list(LAYER_NAMES) and steps == [0, 10, 30] and M.shape == (9, 3)
    assert np.isnan(M[0]).all() and np.isfinite(M[1:]).all()      # row 0 = stem (see above)
    with pytest.raises(ValueError, match="steps must be checkpoints"):
        compute_atlas(run_path, SPEC, steps=[7], progress=False)


def test_reading_top_components_keeps_the_order_parameters_of_a_manifold():
    from bumpdiff.analysis.order import order_parameters, top_components
    rng = np.random.default_rng(0)
    g = np.stack(np.meshgrid(np.arange(24) + 0.5, np.arange(24) + 0.5), -1).reshape(-1, 2) * (32 / 24)
    u = g / 32 * np.pi
    feats = np.c_[np.sin(u[:, 0]), np.cos(u[:, 0]), np.sin(u[:, 1]), np.cos(u[:, 1]), u[:, 0], u[:, 1]]
    wide = feats @ rng.normal(size=(6, 20000)) + 0.05 * rng.normal(size=(len(g), 20000))   # a sheet in 20,000-d
    raw = order_parameters(wide, g, umap=False)
    red = order_parameters(top_components(wide, 128), g, umap=False)
    for k in ("knn_r2_x", "knn_r2_y", "trustworthiness"):
        assert abs(raw[k] - red[k]) < 0.02, k
    assert abs(raw["intrinsic_dim"] - red["intrinsic_dim"]) < 0.3 and red["intrinsic_dim"] < 3.5
    assert top_components(wide[:, :50], 128).shape == (len(g), 50)           # narrow layers are read as they are


def test_latent_calls_apply_the_phase_rule_to_each_cell():
    from bumpdiff.analysis.atlas import latent_calls

    def row(layer, readout, kx, ky, dim):
        return {"layer": layer, "readout": readout, "knn_r2_x": kx, "knn_r2_y": ky, "intrinsic_dim": dim}
    data = {"checkpoints": {  # stored out of training order on purpose
        "900": {"step": 900, "rows": [row("down3", 500, 0.95, 0.70, 2.5), row("mid", 500, 0.9, 0.85, 3.0),
                                      row("mid", 100, 0.1, 0.1, 9.0), row("down3", "sampling", 0.9, 0.9, 2.0)]},
        "100": {"step": 100, "rows": [row("down3", 500, 0.99, 0.99, 4.5), row("mid", 500, 0.2, 0.3, 3.9),
                                      row("down3", "sampling", 0.1, 0.1, 7.0)]}}}
    got = latent_calls(data)
    assert list(got) == [100, 900]
    assert got[100] == {"down3": "A", "mid": "B"}      # ordered but 4.5-dimensional is not a sheet: A
    assert got[900] == {"down3": "B", "mid": "C"}      # one axis below 0.8: B
    assert latent_calls(data, "sampling") == {100: {"down3": "A"}, 900: {"down3": "C"}}


def test_condition_independent_activations_stay_without_order_through_the_components():
    """Identical rows (the stem on one shared noise image) must not become 'components' of float32 rounding
    residue — which once gave the stem a spurious kNN R² y of 0.95 (rows are in y-major order)."""
    from bumpdiff.analysis.order import order_parameters, top_components
    g = np.stack(np.meshgrid(np.arange(32) + 0.5, np.arange(32) + 0.5), -1).reshape(-1, 2)
    A = np.tile(np.random.default_rng(0).normal(size=(1, 4096)).astype(np.float32) * 3.3, (len(g), 1))
    Z = top_components(A, 128)
    assert Z.shape == (len(g), 128) and not Z.any()
    assert np.isnan(order_parameters(Z, g, umap=False)["knn_r2_y"])


def test_the_atlas_under_the_independent_read_out_from_the_command_line(home, smoke_run):
    """`track atlas --noise independent` stores a second atlas beside the first (its own key), which the reader
    finds by the same choice; a study without a choice of noise refuses it, naming the parameter."""
    from bumpdiff.app.cli import main
    from bumpdiff.store.reading import MissingResult
    from bumpdiff.store.tracking import load_tracked_study, tracked_spec

    with pytest.raises(MissingResult, match="track atlas --profile smoke --noise independent"):
        load_tracked_study("atlas", "smoke", 0, noise="independent")
    main(["track", "atlas", "--profile", "smoke", "--noise", "independent", "--steps", "30", "--quiet"])
    data = load_tracked_study("atlas", "smoke", 0, noise="independent")
    assert data["spec"]["noise"] == "independent" and list(data["checkpoints"]) == ["30"]
    assert data["key"] == tracked_spec("atlas", "smoke", "independent").key() != tracked_spec("atlas", "smoke").key()
    with pytest.raises(MissingResult, match="track atlas --profile smoke   "):   # the shared one is not computed
        load_tracked_study("atlas", "smoke", 0)
    from bumpdiff.app.report.readouts import _ordered_layers_section
    table = "\n".join(_ordered_layers_section("smoke"))   # the results' table: the shared column says it is missing
    assert "layers called C, independent" in table and "| `film` | seed 0 (" in table and "| — / " in table
    with pytest.raises(SystemExit, match="noise applies to the atlas study only"):
        main(["track", "spectrum", "--profile", "smoke", "--noise", "independent"])
