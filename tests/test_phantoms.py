"""Phantoms of known phase, the manifold measures on them, and the calibrated latent rule.

The rule's thresholds come from the committed calibration (fitted on the `fit` phantoms); here it must call every
held-out phantom at the `fast` size right, and the committed calibration must hold the rule's constants.
"""
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bumpdiff.analysis.calibration import fit_thresholds, old_call, rule_accuracy
from bumpdiff.analysis.manifold import (
    condition_distances,
    geodesic_order,
    multiscale_dimension,
    neighbourhood_agreement,
    noise_ratio,
)
from bumpdiff.analysis.phantom_metrics import phantom_metrics
from bumpdiff.analysis.phantoms import KINDS, NOISE_RANGE, TRUTH, Phantom, make_phantom, phantom_set
from bumpdiff.analysis.phases import LATENT_THRESHOLDS, LatentThresholds, dim_threshold, latent_call, latent_phase


def test_a_phantom_is_a_pure_function_of_its_fields():
    p = Phantom("blocks", side=12, dim=20, noise=0.3, block=4, seed=3)
    a1, c1 = make_phantom(p)
    a2, c2 = make_phantom(p)
    assert np.array_equal(a1, a2) and np.array_equal(c1, c2)
    assert not np.array_equal(a1, make_phantom(Phantom("blocks", side=12, dim=20, noise=0.3, block=4, seed=4))[0])
    assert a1.shape == (144, 20) and c1.shape == (144, 2)


@pytest.mark.parametrize("field, value, message", [("kind", "knot", "kind must be one of"),
                                                    ("side", 3, "side must be"), ("noise", -0.1, "noise must be"),
                                                    ("block", 40, "block must be"), ("length", 0.0, "length must be"),
                                                    ("pieces", 1, "pieces must be")])
def test_bad_phantom_fields_are_refused_by_name(field, value, message):
    with pytest.raises(ValueError, match=message):
        Phantom(**{field: value})


@settings(max_examples=15, deadline=None)
@given(noise=st.floats(0, 2), seed=st.integers(0, 50))
def test_the_noise_of_a_phantom_is_its_fraction_of_the_feature_scale(noise, seed):
    """Read twice with independent noise, a phantom's within / between variance is noise² (the noise_ratio scale)."""
    clean, _ = make_phantom(Phantom("sheet", side=10, dim=400, seed=seed))
    rng = np.random.default_rng(seed)
    scale = np.sqrt(clean.var(0).mean())
    reads = clean[None] + rng.normal(scale=noise * scale, size=(8, *clean.shape))
    assert noise_ratio(reads) == pytest.approx(noise ** 2, abs=0.03 + 0.1 * noise ** 2)


def test_noise_ratio_is_zero_without_noise_and_refuses_one_read():
    clean, _ = make_phantom(Phantom("sheet", side=10, dim=30))
    assert noise_ratio(np.stack([clean, clean])) == 0
    with pytest.raises(ValueError, match="K >= 2"):
        noise_ratio(clean[None])


def test_torus_distances_wrap():
    C = np.array([[0.5, 0.5], [15.5, 0.5], [8.5, 8.5]])
    d = condition_distances(C, period=16)
    assert d[0, 1] == pytest.approx(1.0) and condition_distances(C)[0, 1] == pytest.approx(15.0)


@pytest.mark.parametrize("kind", KINDS)
def test_each_kind_reads_as_its_truth_on_the_measures_that_define_it(kind):
    """What each phantom is built to be: clouds high-dimensional, every sheet low-dimensional; only an intact sheet
    is ordered both globally and locally."""
    p = Phantom(kind, side=16, dim=256, length=8.0, noise=0.1, block=4, seed=0)
    A, C = make_phantom(p)
    dim = multiscale_dimension(A)["dimension"]
    geo, agree = geodesic_order(A, C), neighbourhood_agreement(A, C)
    if kind == "cloud":
        assert dim > 20 and abs(geo) < 0.1
    else:
        assert dim < 4
    if kind == "sheet":
        assert geo > 0.95 and agree > 0.9
    elif kind != "cloud":
        assert geo < 0.9 or agree < 0.45, (geo, agree)


def test_a_noisy_sheet_keeps_a_low_dimension_at_its_own_scale_but_not_at_the_noise_scale():
    """The k = 10 MLE reads the noise; Gride read at the sheet's scale reads the sheet."""
    A, C = make_phantom(Phantom("sheet", side=16, dim=256, length=8.0, noise=0.6, seed=1))
    ms = multiscale_dimension(A)
    assert ms["dimension"] < 5 < ms["dimension_n1"]
    assert ms["scale"] > 1 and len(ms["dims"]) == len(ms["scales"])


def test_the_measures_are_nan_for_a_latent_that_ignores_the_condition():
    A = np.ones((64, 8))
    C = make_phantom(Phantom(side=8, dim=3, block=4))[1]
    out = latent_phase(A, C)
    assert out["phase"] == "A" and math.isnan(out["geodesic_order"]) and math.isnan(out["dimension"])


def test_latent_phase_names_the_mismatched_shapes():
    with pytest.raises(ValueError, match="must match"):
        latent_phase(np.zeros((10, 4)), np.zeros((9, 2)))


def test_fit_thresholds_is_max_margin_and_refuses_inseparable_rows():
    rows = [{"truth": "C", "dimension": 2.0, "geodesic_order": 0.95, "neighbourhood_agreement": 0.9},
            {"truth": "B", "dimension": 2.0, "geodesic_order": 0.5, "neighbourhood_agreement": 0.9},
            {"truth": "B", "dimension": 2.0, "geodesic_order": 0.95, "neighbourhood_agreement": 0.3},
            {"truth": "A", "dimension": 50.0, "geodesic_order": 0.0, "neighbourhood_agreement": 0.0}]
    rows = [dict(r, conditions=256, knn_r2=0.9, intrinsic_dim=r["dimension"]) for r in rows]
    rows += [dict(rows[0], conditions=1024, dimension=4.0),
                                                      dict(rows[3], conditions=1024, dimension=100.0)]
    th = fit_thresholds(rows)
    assert th.dim_a == ((256, 10.0), (1024, 20.0))
    assert dim_threshold(th, 512) == pytest.approx(np.sqrt(10.0 * 20.0))   # log-log between the fitted sizes
    assert dim_threshold(th, 64) == pytest.approx(10.0) and dim_threshold(th, 4096) == pytest.approx(20.0)
    # the widest margin is 0.225: order halfway between 0.5 and 0.95; any agreement in [0.525, 0.675] reaches it
    assert th.order_c == pytest.approx(0.725, abs=0.011) and 0.51 <= th.local_c <= 0.68
    assert rule_accuracy(rows, th)["new"]["all"] == 1.0
    with pytest.raises(ValueError, match="separate"):
        fit_thresholds(rows + [dict(rows[0], truth="B")])


@pytest.fixture(scope="module")
def heldout_fast():
    """The held-out phantoms at the `fast` size (seeds, length scales, noise, blocks, pieces and spectra the fit never
    saw) in the noise range the real latents show."""
    return [(p, phantom_metrics(p)) for p in phantom_set("heldout", side=16, dim=256)
            if p.seed == 2 and p.noise <= NOISE_RANGE]


def test_latent_phase_calls_every_heldout_phantom_right(heldout_fast):
    wrong = [(p.label(), latent_call(m)) for p, m in heldout_fast if latent_call(m) != p.truth]
    assert not wrong, wrong
    # the same calls through the public function on raw activations
    for p, _ in heldout_fast[:8]:
        A, C = make_phantom(p)
        assert latent_phase(A, C, period=p.period)["phase"] == p.truth


def test_the_old_rule_misses_noisy_ordered_sheets_that_the_calibrated_rule_calls_c(heldout_fast):
    """The defect this calibration fixes: an ordered sheet with noise at 45-80 % of the feature scale."""
    noisy = [m for p, m in heldout_fast if p.kind == "sheet" and p.noise >= 0.45]
    assert {p.noise for p, _ in heldout_fast} == {0.05, 0.2, 0.45}
    assert noisy and all(latent_call(m) == "C" for m in noisy)
    assert any(old_call(m) == "A" for m in noisy)


def test_the_committed_calibration_fitted_the_rules_constants():
    from bumpdiff.store.calibrations import load_calibration

    cal = load_calibration("latent", quiet=True)
    fitted = dict(cal["thresholds"], dim_a=tuple(tuple(p) for p in cal["thresholds"]["dim_a"]))
    assert LatentThresholds(**fitted) == LATENT_THRESHOLDS
    assert cal["accuracy"]["heldout"]["in_range"]["new"]["all"] == 1.0
    assert {r["truth"] for r in cal["rows"]} == set(TRUTH.values())
