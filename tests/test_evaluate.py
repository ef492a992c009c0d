"""The generation-accuracy evaluator, on rendered bumps with known truth."""
import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from bumpdiff.analysis.evaluate import breakdown, detect, score
from bumpdiff.core.data import render

interior = st.floats(2.5, 29.5)


@given(interior, interior, st.floats(0.8, 1.3))
@settings(max_examples=200, deadline=None)
def test_single_bump_recovered_within_a_tenth_of_a_pixel(mx, my, sigma):
    det = detect(render(np.array([[mx, my]]), sigma=sigma))
    assert det.counts.tolist() == [1]
    assert np.abs(det.centers[0] - [mx, my]).max() < 0.1


@given(st.floats(0.0, 32.0), st.floats(0.0, 32.0))
@settings(max_examples=200, deadline=None)
def test_bumps_clipped_by_the_border_are_found(mx, my):
    det = detect(render(np.array([[mx, my]])))
    assert det.counts.tolist() == [1]
    assert np.abs(det.centers[0] - [mx, my]).max() < 0.25


@given(interior, interior, interior, interior)
@settings(max_examples=100, deadline=None)
def test_two_well_separated_bumps_are_multiple(ax, ay, bx, by):
    assume(max(abs(ax - bx), abs(ay - by)) >= 5)
    img = np.maximum(render(np.array([[ax, ay]])), render(np.array([[bx, by]])))
    s = score(img, np.array([[ax, ay]]))
    assert s.labels.tolist() == ["multiple"] and s.frac_multiple == 1.0


@pytest.mark.parametrize("fill", ["empty", "grey", "gauss", "uniform"])
def test_empty_or_pure_noise_is_none(fill):
    rng = np.random.default_rng(0)
    img = {"empty": np.full((20, 1, 32, 32), -1.0), "grey": np.zeros((20, 1, 32, 32)),
           "gauss": np.clip(rng.normal(0, 1, (20, 1, 32, 32)), -1, 1),
           "uniform": rng.uniform(-1, 1, (20, 1, 32, 32))}[fill]
    s = score(img, np.full((20, 2), 16.0))
    assert s.frac_none == 1.0 and s.accuracy == 0.0


@given(st.integers(0, 2**31 - 1))
@settings(max_examples=20, deadline=None)
def test_recovery_under_sample_like_noise(seed):
    """Residual noise of real samples is a few hundredths; at std 0.1 (in [-1, 1] units) the centres still
    come back within 0.3 px and every sample is scored correct at tol 1."""
    rng = np.random.default_rng(seed)
    c = rng.uniform(1.0, 31.0, (200, 2))
    img = np.clip(render(c) + rng.normal(0, 0.1, (200, 1, 32, 32)), -1, 1)
    s = score(img, c)
    assert s.frac_none == 0 and s.frac_multiple == 0
    assert np.nanmax(np.abs(s.estimated - c)) < 0.3
    assert s.accuracy >= 0.99


def test_per_axis_logic_and_fractions_sum_to_one():
    truth = np.array([[10.0, 10.0], [10.0, 10.0], [10.0, 10.0], [10.0, 10.0], [10.0, 10.0]])
    drawn = np.array([[10.2, 9.9], [14.0, 10.1], [10.1, 3.0], [20.0, 20.0]])
    img = np.concatenate([render(drawn), np.full((1, 1, 32, 32), -1.0, np.float32)])
    s = score(img, truth)
    assert s.labels.tolist() == ["correct", "single_wrong", "single_wrong", "single_wrong", "none"]
    assert s.accuracy == pytest.approx(0.2)
    assert s.acc_x == pytest.approx(0.4)  # samples 0 and 2
    assert s.acc_y == pytest.approx(0.4)  # samples 0 and 1
    assert s.accuracy + s.frac_none + s.frac_multiple + s.frac_single_wrong == pytest.approx(1.0)
    assert np.isnan(s.estimated[4]).all()


def test_tolerance_edges():
    c = np.array([[12.0, 12.0]] * 4)
    drawn = np.array([[12.95, 12.0], [13.05, 12.0], [12.0, 11.05], [12.0, 10.95]])
    s = score(render(drawn), c, tol=1.0)
    assert s.labels.tolist() == ["correct", "single_wrong", "correct", "single_wrong"]
    assert score(render(drawn), c, tol=1.1).accuracy == 1.0
    assert score(render(drawn), c, tol=0.5).accuracy == 0.0


def test_bad_arguments_are_named():
    img = render(np.array([[5.0, 5.0]]))
    with pytest.raises(ValueError, match="tol"):
        score(img, [[5.0, 5.0]], tol=0)
    with pytest.raises(ValueError, match="threshold"):
        detect(img, threshold=1.5)
    with pytest.raises(ValueError, match="requested_centers"):
        score(img, [[5.0, 5.0], [1.0, 1.0]])
    with pytest.raises(ValueError, match="images"):
        detect(np.full((1, 1, 32, 32), np.nan))


def test_ten_thousand_noisy_images_are_scored_correct():
    # (the evaluator's speed is measured by benchmarks/evaluator.py, not asserted here)
    rng = np.random.default_rng(1)
    c = rng.uniform(0, 32, (10000, 2))
    img = np.clip(render(c) + rng.normal(0, 0.05, (10000, 1, 32, 32)).astype(np.float32), -1, 1)
    s = score(img, c)
    assert s.accuracy > 0.99 and s.n == 10000


@given(st.lists(st.tuples(interior, interior, st.floats(-3, 3), st.floats(-3, 3)), min_size=1, max_size=12),
       st.floats(0.2, 3.0))
@settings(max_examples=50, deadline=None)
def test_breakdown_at_another_tolerance_is_the_score_at_that_tolerance(rows, tol):
    req = np.array([[x, y] for x, y, _, _ in rows])
    drawn = np.clip(req + np.array([[dx, dy] for _, _, dx, dy in rows]), 0.5, 31.5)
    imgs = render(drawn)
    stored = score(imgs, req, tol=1.0)                      # what a bundle keeps: detections at tol 1
    again = breakdown(stored.n_bumps, stored.estimated, stored.requested, tol=tol)
    direct = score(imgs, req, tol=tol)
    assert again["labels"].tolist() == direct.labels.tolist() and again["accuracy"] == direct.accuracy


# ---------------------------------------------------------------------------------------- periodic canvas
@given(st.floats(0.0, 32.0, exclude_max=True), st.floats(0.0, 32.0, exclude_max=True), st.floats(0.8, 1.3))
@settings(max_examples=200, deadline=None)
def test_periodic_bump_anywhere_is_one_bump_at_its_centre_round_the_torus(mx, my, sigma):
    """A bump wrapped across an edge or a corner (two or four pieces on the canvas) is found once, at its centre
    modulo the canvas; scored on the torus it is correct, and the same image scored as a plain canvas is not
    counted once when it is cut."""
    img = render(np.array([[mx, my]]), sigma=sigma, periodic=True)
    det = detect(img, periodic=True)
    assert det.counts.tolist() == [1]
    err = np.abs(((det.centers[0] - [mx, my]) + 16) % 32 - 16)
    assert err.max() < 0.1
    assert 0 <= det.centers[0].min() and det.centers[0].max() < 32
    assert score(img, np.array([[mx, my]]), periodic=True).labels.tolist() == ["correct"]


def test_periodic_cut_bump_is_multiple_on_a_plain_canvas():
    img = render(np.array([[0.0, 16.0]]), periodic=True)      # half on the left edge, half on the right
    assert detect(img).counts.tolist() == [2]
    assert detect(img, periodic=True).counts.tolist() == [1]


def test_periodic_error_is_the_shorter_way_round():
    img = render(np.array([[31.6, 0.3]]), periodic=True)
    s = score(img, np.array([[0.4, 31.8]]), periodic=True)      # 0.8 px and 0.5 px away across the edges
    assert s.labels.tolist() == ["correct"] and s.accuracy == 1.0
    assert breakdown(s.n_bumps, s.estimated, s.requested, tol=1.0, period=32)["accuracy"] == 1.0
    assert breakdown(s.n_bumps, s.estimated, s.requested, tol=1.0)["accuracy"] == 0.0


@given(st.floats(0.0, 32.0, exclude_max=True), st.floats(0.0, 32.0, exclude_max=True),
       st.floats(0.0, 32.0, exclude_max=True), st.floats(0.0, 32.0, exclude_max=True))
@settings(max_examples=100, deadline=None)
def test_periodic_two_separated_bumps_are_multiple(ax, ay, bx, by):
    d = np.abs((np.array([ax - bx, ay - by]) + 16) % 32 - 16)
    assume(d.max() >= 5)
    img = np.maximum(render(np.array([[ax, ay]]), periodic=True), render(np.array([[bx, by]]), periodic=True))
    assert detect(img, periodic=True).counts.tolist() == [2]


def test_periodic_detection_of_plain_interior_bumps_is_unchanged():
    rng = np.random.default_rng(1)
    c = rng.uniform(6.0, 26.0, (100, 2))
    img = np.clip(render(c) + rng.normal(0, 0.05, (100, 1, 32, 32)), -1, 1)
    a, b = score(img, c), score(img, c, periodic=True)
    assert a.labels.tolist() == b.labels.tolist()
    assert np.allclose(a.estimated, b.estimated)
