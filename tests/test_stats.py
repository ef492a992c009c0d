"""Statistics over runs: early-stop rule, crossings, coupling verdicts, phase onsets (synthetic records)."""
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bumpdiff.analysis.phases import PHASE_THRESHOLDS, recall
from bumpdiff.experiments.registry import EarlyStop
from bumpdiff.experiments.stats import (
    SENSITIVITY_DIMS,
    SENSITIVITY_ORDERS,
    coupling_summary,
    crossing,
    crossing_table,
    finished_training,
    initial_order,
    latent_after_generation,
    order_path,
    phase_summary,
    shows_phase_a,
    threshold_sensitivity,
)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.floats(0, 1), st.floats(0, 1)), min_size=1, max_size=30), st.floats(0.05, 0.95))
def test_early_stop_is_the_first_record_with_both_axes_crossed(values, thr):
    recs = [{"step": 100 * i, "acc_x": x, "acc_y": y} for i, (x, y) in enumerate(values)]
    hit = EarlyStop(thr).reached(recs)
    # expectation from first principles: the first index by which each axis has reached thr at least once
    first = {k: next((i for i, r in enumerate(recs) if r[k] >= thr), None) for k in ("acc_x", "acc_y")}
    if None in first.values():
        assert hit is None
    else:
        assert hit["step"] == 100 * max(first.values())
    assert crossing(recs, "acc_x", thr) == (None if first["acc_x"] is None else recs[first["acc_x"]])


def _fake_results(crossings: dict[str, list[tuple[int, int]]], every: int = 100, batch: int = 128) -> dict:
    """Bundles whose acc_x / acc_y jump from 0 to 1 at the given steps (one (x step, y step) per seed)."""
    out = {}
    for group, seeds in crossings.items():
        for seed, (sx, sy) in enumerate(seeds):
            recs = [{"step": s, "epoch": s / 10, "images_seen": s * batch, "accuracy": 0.0,
                     "acc_x": float(s >= sx), "acc_y": float(s >= sy), "r2_x": 0.5, "r2_y": 0.5,
                     "knn_r2_x": 0.9, "knn_r2_y": 0.9} for s in range(0, 2001, every)]
            out[f"{group} seed {seed}"] = ({"checkpoints": recs, "group": group, "seed": seed}, {})
    return out


def test_coupling_summary_verdicts_and_spread():
    res = _fake_results({"same": [(1300, 1300), (1600, 1600), (1200, 1200)],
                         "one apart": [(1200, 1300), (1300, 1300)],          # within one checkpoint: together
                         "x first": [(500, 1500), (600, 1200)],
                         "y first": [(1500, 500), (1500, 700)],
                         "mixed": [(500, 1500), (1500, 500)],
                         "lone": [(800, 900)]})
    got = {g["group"]: g for g in coupling_summary(crossing_table(res, threshold=0.5))}
    assert got["same"]["verdict"] == "together" and got["one apart"]["verdict"] == "together"
    assert got["x first"]["verdict"] == "apart: acc_x first" and got["y first"]["verdict"] == "apart: acc_y first"
    assert got["mixed"]["verdict"] == "mixed over seeds"
    s = got["same"]["acc_x"]
    assert s["images_seen"] == [166_400, 204_800, 153_600] and s["mean"] == pytest.approx(174_933.33, abs=0.01)
    assert s["sd"] == pytest.approx(26_645.32, abs=0.01)                    # sample sd (ddof = 1) over seeds
    assert got["one apart"]["gap_images"] == [12_800, 0] and got["one apart"]["resolution_images"] == [12_800] * 2
    assert got["lone"]["acc_x"]["sd"] is None and got["lone"]["acc_x"]["mean"] == 800 * 128
    never = _fake_results({"never": [(5000, 1000)]})                           # x never crosses within 2,000 steps
    g = coupling_summary(crossing_table(never, threshold=0.5))[0]
    assert g["verdict"] == "no seed crossed on both axes" and g["acc_x"]["mean"] is None


def _phased(calls: str, gen: str | None = None, every: int = 100) -> list[dict]:
    gen = gen or calls
    return [{"step": i * every, "epoch": i * every / 8, "images_seen": i * every * 128, "phase": p,
             "phase_generation": g, "phase_representation": p} for i, (p, g) in enumerate(zip(calls, gen))]


def test_phase_summary_onsets_and_spread():
    runs = {"s0": _phased("AABBBCC"), "s1": _phased("ABBBBBC", gen="ABBBCCC"), "s2": _phased("AAABBBA", gen="AABCCCC")}
    got = phase_summary(runs)
    b, c = got["phase"]["B"], got["phase"]["C"]
    assert b["step"] == [200, 100, 300] and b["epoch"] == [25, 12.5, 37.5]
    assert b["images_seen"] == [25_600, 12_800, 38_400]
    assert b["mean_images"] == pytest.approx(25_600) and b["sd_images"] == pytest.approx(12_800)  # ddof = 1
    assert c["step"] == [500, 600, None] and c["n_reached"] == 2 and c["n_runs"] == 3
    assert c["mean_images"] == pytest.approx(550 * 128) and c["sd_images"] == pytest.approx(50 * 128 * 2 ** 0.5)
    assert got["phase_generation"]["C"]["step"] == [500, 400, 300]
    lone = phase_summary({"only": _phased("ABB")})["phase"]
    assert lone["B"]["sd_images"] is None and lone["C"]["mean_images"] is None and lone["C"]["step"] == [None]


def test_latent_after_generation_verdicts():
    # order parameters that the latent rule calls A (ordered, not low-dimensional), B (low-dimensional, one axis
    # lost) and C (both)
    order = {"A": (6.0, 0.95, 0.9), "B": (3.0, 0.95, 0.3), "C": (2.5, 0.9, 0.85)}

    def run(latent, gen):
        recs = _phased(latent, gen=gen)
        for r in recs:  # the latent call is what this summary reads; the combined call is irrelevant to it
            r["phase"] = "A"
            r["intrinsic_dim"], r["knn_r2_x"], r["knn_r2_y"] = order[r["phase_representation"]]
        return latent_after_generation(recs)

    got = run("ABBCCCC", gen="ABBBCCC")
    assert got["verdict"] == "persists" and got["generation_c"]["step"] == 400 and got["latent_c"]["step"] == 300
    assert (got["after"], got["latent_c_after"], got["last"]["step"]) == (3, 3, 600)
    assert (got["not_low_dim"], got["not_ordered"], got["steps"]) == (0, 0, [400, 500, 600])
    got = run("ABBCBBB", gen="ABBCCCC")
    assert got["verdict"] == "transient" and (got["after"], got["latent_c_after"]) == (4, 1)
    assert (got["not_low_dim"], got["not_ordered"]) == (0, 3) and got["worse_axis"] == [0.85, 0.3, 0.3, 0.3]
    got = run("ACCACBA", gen="AAACCCC")  # from step 300: A C B A — two not low-dimensional, one not ordered
    assert (got["not_low_dim"], got["not_ordered"], got["dims"]) == (2, 1, [6.0, 2.5, 3.0, 6.0])
    assert run("ABCBCCC", gen="ABCCCCC")["verdict"] == "settles"
    assert run("ABCCBBB", gen="ABBBCCC")["verdict"] == "never ordered"  # latent C only before generation C
    got = run("ABCCCCC", gen="ABBBBBB")
    assert got["verdict"] == "generation never reaches C" and got["generation_c"] is None and got["after"] == 0
    with pytest.raises(ValueError, match="records"):
        latent_after_generation([])


def test_compare_bundles_finds_every_difference_and_nothing_else():
    import copy

    import pytest

    from bumpdiff.common import paths
    from bumpdiff.experiments.stats import compare_bundles
    from bumpdiff.store.bundles import load_bundle
    b, _ = load_bundle(paths.results_dir() / "cpu-a8b9797d9e" / "analysis-05a7935b01")
    same = compare_bundles(b, copy.deepcopy(b))
    assert same["identical"] and all(v["max_abs_diff"] == 0 for v in same["fields"].values() if v["n"])
    assert same["loss"]["first_divergent_step"] is None and len(same["steps"]) == len(b["checkpoints"])
    other = copy.deepcopy(b)
    other["checkpoints"][3]["knn_r2_x"] += 0.01
    other["checkpoints"][5]["phase"] = "C" if b["checkpoints"][5]["phase"] != "C" else "A"
    other["loss"]["loss"][7] *= 1.01
    c = compare_bundles(b, other)
    assert not c["identical"]
    assert c["fields"]["knn_r2_x"]["identical"] == c["fields"]["knn_r2_x"]["n"] - 1
    assert c["fields"]["knn_r2_x"]["max_abs_diff"] == pytest.approx(0.01)
    assert c["fields"]["accuracy"]["identical"] == c["fields"]["accuracy"]["n"]
    assert not c["same_calls"]["phase"] and c["same_calls"]["phase_generation"]
    assert c["loss"]["first_divergent_step"] == b["loss"]["step"][7]
    assert compare_bundles(b, other, upto=200)["identical"]          # the differences lie after step 200
    other["run_key"] = "0000000000"
    with pytest.raises(ValueError, match="same run and analysis"):
        compare_bundles(b, other)


def _step0(knn_x, knn_y, seed, steps=(0, 100)):
    recs = [{"step": s, "knn_r2_x": knn_x, "knn_r2_y": knn_y, "r2_x": 0.5, "r2_y": 0.4, "intrinsic_dim": 9.0,
             "phase_representation": "C" if min(knn_x, knn_y) >= 0.8 else "A"} for s in steps]
    return ({"checkpoints": recs, "config": {"seed": seed}}, {})


def test_initial_order_reads_step_0_of_both_read_outs_of_each_run():
    readouts = {"additive": {f"seed {s}": {"source": "a", "shared": _step0(0.95, 0.97, s),
                                           "independent": _step0(0.1, 0.3, s)} for s in (0, 1)},
                "film": {"seed 0": {"source": "f", "shared": _step0(0.79, 0.86, 0),
                                    "independent": _step0(0.2, -0.1, 0, steps=(100,))}}}   # no step 0: left out
    rows = initial_order(readouts)
    assert [(r["arch"], r["noise"], r["seed"]) for r in rows] == [
        ("additive", "shared", 0), ("additive", "shared", 1), ("additive", "independent", 0),
        ("additive", "independent", 1), ("film", "shared", 0)]
    assert rows[-1]["worse_axis"] == 0.79 and rows[-1]["source"] == "f"


def test_a_read_out_shows_phase_a_only_if_no_untrained_network_is_ordered():
    archs, seeds = ("additive", "film"), (0, 1)
    def rows(noise, worse):   # worse axis per (arch, seed)
        return [{"arch": a, "seed": s, "noise": noise, "worse_axis": w} for (a, s), w in worse.items()]
    low = {(a, s): 0.3 for a in archs for s in seeds}
    assert shows_phase_a(rows("independent", low), "independent", archs, seeds)["passes"] is True
    one = low | {("film", 1): 0.8}            # at the threshold is ordered
    v = shows_phase_a(rows("shared", one), "shared", archs, seeds)
    assert v["passes"] is False and [(r["arch"], r["seed"]) for r in v["ordered"]] == [("film", 1)]
    partial = {k: w for k, w in low.items() if k != ("film", 1)}
    assert shows_phase_a(rows("shared", partial), "shared", archs, seeds)["passes"] is None   # not decided yet
    assert shows_phase_a(rows("shared", partial | {("film", 0): 0.9}), "shared", archs, seeds)["passes"] is False
    assert shows_phase_a(rows("shared", low), "independent", archs, seeds)["passes"] is None   # other read-out


_orders = st.tuples(st.floats(2.0, 8.0), st.floats(-0.2, 1.0), st.floats(-0.2, 1.0))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(_orders, st.floats(0, 1)), min_size=1, max_size=12))
def test_threshold_sensitivity_is_monotone_and_its_default_cell_is_the_rule(points):
    recs = recall([{"step": 100 * i, "epoch": i, "images_seen": 100 * i, "intrinsic_dim": d, "knn_r2_x": x,
                    "knn_r2_y": y, "accuracy": acc, "frac_single_wrong": 0.0}
                   for i, ((d, x, y), acc) in enumerate(points)])
    rows = threshold_sensitivity(recs)
    assert [(r["knn_r2_c"], r["dim_b"]) for r in rows] == [(o, d) for o in SENSITIVITY_ORDERS for d in SENSITIVITY_DIMS]
    own = [r for r in rows if r["default"]]
    th = PHASE_THRESHOLDS
    assert len(own) == 1 and (own[0]["dim_b"], own[0]["knn_r2_c"]) == (th.dim_b, th.knn_r2_c)
    v = latent_after_generation(recs)  # the records' own calls are the rule's
    assert own[0]["verdict"] == v["verdict"]
    assert own[0]["latent_c_step"] == (None if v["latent_c"] is None else v["latent_c"]["step"])
    # a looser threshold (higher dimension, lower order) calls C no later: the first-C step never moves later
    first = {(r["knn_r2_c"], r["dim_b"]): (float("inf") if r["latent_c_step"] is None else r["latent_c_step"])
             for r in rows}
    for (o, d), s in first.items():
        for (o2, d2), s2 in first.items():
            if o2 <= o and d2 >= d:
                assert s2 <= s


def test_threshold_sensitivity_moves_a_run_across_the_dimension_line():
    # ordered throughout, generation correct from step 100, the dimension settles at 4.2: the rule's own
    # threshold (4) never calls it C, 4.5 does from step 100 on
    recs = recall([{"step": s, "epoch": s, "images_seen": s, "intrinsic_dim": dim, "knn_r2_x": 0.99, "knn_r2_y": 0.95,
                    "accuracy": acc, "frac_single_wrong": 0.0}
                   for s, dim, acc in ((0, 12.0, 0.0), (100, 4.2, 0.9), (200, 4.2, 0.9), (300, 4.2, 0.95))])
    cell = {(r["knn_r2_c"], r["dim_b"]): r for r in threshold_sensitivity(recs)}
    assert (cell[0.8, 4.0]["latent_c_step"], cell[0.8, 4.0]["verdict"]) == (None, "never ordered")
    assert (cell[0.8, 4.5]["latent_c_step"], cell[0.8, 4.5]["verdict"]) == (100, "persists")
    assert cell[0.9, 6.0]["verdict"] == "persists" and cell[0.9, 3.0]["verdict"] == "never ordered"
    with pytest.raises(ValueError, match="records"):
        threshold_sensitivity([])


def test_order_path_sorts_by_step_and_takes_the_worse_axis():
    recs = [{"step": 200, "intrinsic_dim": 3.0, "knn_r2_x": 0.9, "knn_r2_y": 0.7, "r2_x": 0.2, "r2_y": 0.6},
            {"step": 0, "intrinsic_dim": 12.0, "knn_r2_x": 0.1, "knn_r2_y": 0.3, "r2_x": 0.5, "r2_y": 0.4}]
    p = order_path(recs)
    assert p["step"].tolist() == [0, 200] and p["intrinsic_dim"].tolist() == [12.0, 3.0]
    assert p["worse_axis"].tolist() == [0.1, 0.7] and p["umap_worse"].tolist() == [0.4, 0.2]


def test_the_layer4_table_never_says_never_of_a_run_still_training(home):
    from pathlib import Path

    from bumpdiff.app.report.readouts import _layer4_section

    recs = _phased("AAAB", gen="ABBB")   # generation never reaches C in these four checkpoints (steps 0-300)
    for r in recs:
        r["accuracy"], r["intrinsic_dim"], r["knn_r2_x"], r["knn_r2_y"] = 0.1, 6.0, 0.9, 0.9

    def bundle(budget):
        return {"seed": 0, "run": "smoke-0000000000", "analysis_key": "0123456789", "trained_to": 300,
                "config": {"steps": budget}, "checkpoints": recs}

    retrain = Path("retrains/smoke-0000000000-retrain1/analysis-0123456789")
    text = "\n".join(_layer4_section({("phases", "smoke"): {"s0": (bundle(300), None)}}, "smoke",
                                     [(retrain, bundle(600))]))
    done, still = (next(line for line in text.splitlines() if line.startswith(f"| `film` | {seed} |"))
                   for seed in ("0", "0 (retrain `smoke-0000000000-retrain1`)"))
    assert "| 300 / 300 | never | never |" in done and done.endswith("| **generation never reaches C** |")
    assert "| 300 / 600 | not by 300 | not by 300 |" in still
    assert still.endswith("| **generation not C yet** (training unfinished) |") and "never" not in still
    assert "`film` — generation never reaches C in 1 of 1" in text   # the tally counts the experiment's runs only


def test_a_retrains_comparison_names_the_bf16_convolutions_each_run_was_trained_with():
    import copy

    from bumpdiff.app.report.experiments import _retrain_sections
    from bumpdiff.common import paths
    from bumpdiff.store.bundles import load_bundle

    path = paths.results_dir() / "retrains" / "cpu-a8b9797d9e-retrain2" / "analysis-05a7935b01"
    retrain, _ = load_bundle(path)

    def intro(b):
        return next(line for line in _retrain_sections([(path, b)]) if line.startswith("The committed run"))

    other = copy.deepcopy(retrain)
    other["training_provenance"] = dict(other["training_provenance"], device="cpu: x86_64 (1 threads, AVX512)",
                                        bf16_conv="native")
    assert "(commit 882663c on cpu: x86_64 (1 threads, AVX2), emulated bf16 convolutions;" in intro(retrain)
    assert "on cpu: x86_64 (1 threads, AVX512), native bf16 convolutions;" in intro(other)
    other["config"] = dict(other["config"], precision="fp32")     # an fp32 run: which bf16 path ran is irrelevant
    assert "on cpu: x86_64 (1 threads, AVX512);" in intro(other)


def test_the_sensitivity_table_never_says_never_of_a_run_still_training():
    """The threshold-sensitivity table says what a run never does only of a run trained to its budget: the same
    checkpoints of a run still training read *not yet*."""
    from bumpdiff.app.report.tables import sensitivity_table
    from bumpdiff.common import paths
    from bumpdiff.store.bundles import load_bundle

    folder = "retrains/cpu-2a84c850d2-retrain2"   # additive seed 2: layer 4 never ordered at dim ≤ 4, trained 4,000
    done, _ = load_bundle(paths.results_dir() / folder / "analysis-d68b27ed47")
    still = dict(done, config=dict(done["config"], steps=2 * done["trained_to"]))

    def row(b):
        return sensitivity_table({"additive": {"seed 2": {"shared": (folder, b)}}}, 0.9).splitlines()[-1]

    assert finished_training(done) and not finished_training(still)
    assert "· never |" in row(done)
    assert "never" not in row(still) and "· not yet |" in row(still)
    assert row(done).replace("· never |", "· not yet |") == row(still)   # only the "never" cells change
    recs = done["checkpoints"]
    assert {r["verdict"] for r in threshold_sensitivity(recs, finished=False)} <= {
        "persists", "settles", "transient", "not ordered yet", "generation not C yet"}
