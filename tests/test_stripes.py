"""Stripes and sums of stripes: the lattices, the renderer and the detector, on rendered images of known labels."""
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from bumpdiff.analysis.stripe_detect import detect_stripes, score_stripes
from bumpdiff.core.stripes import StripeLattice, margin_for, render_stripes, visible


def test_the_margin_scales_with_the_window():
    assert margin_for(32) == 6 and margin_for(16) == 3
    assert StripeLattice(n=32).frame == 44


def test_render_places_each_stripe_at_its_frame_coordinate():
    img = render_stripes(np.array([[10.5, 20.5]]), n=32)[0, 0]     # margin 6: column 4, row 14
    assert img.shape == (32, 32) and img.max() == pytest.approx(1.0) and img.min() == pytest.approx(-1.0, abs=1e-3)
    assert img[14, 4] == pytest.approx(1.0)                            # the crossing
    assert img[0, 4] == pytest.approx(0.0, abs=1e-3) and img[14, 30] == pytest.approx(0.0, abs=1e-3)
    t = render_stripes(torch.tensor([[10.5, 20.5]]), n=32)
    assert isinstance(t, torch.Tensor)
    np.testing.assert_allclose(t.numpy(), render_stripes(np.array([[10.5, 20.5]]), n=32), atol=1e-5)


def test_a_stripe_whose_other_coordinate_is_hidden_shows_one_stripe():
    img = render_stripes(np.array([[20.0, 3.0]]), n=32)
    xs, ys = detect_stripes(img)
    assert len(xs[0]) == 1 and ys[0] == []
    assert score_stripes(img, [[20.0, 3.0]]).correct[0]


@settings(max_examples=60, deadline=None)
@given(n=st.sampled_from([16, 32]), fx=st.floats(0, 1), fy=st.floats(0, 1), sigma=st.floats(0.8, 1.5),
       hide=st.sampled_from(["none", "x", "y"]))
def test_the_detector_finds_every_rendered_label(n, fx, fy, sigma, hide):
    """Any SOS or 1-D stripe at least 1.5 px inside the window is found within 0.15 px and scored correct."""
    m = margin_for(n)
    lo, hi = m + 1.5, m + n - 1.5
    mu = [lo + fx * (hi - lo), lo + fy * (hi - lo)]
    if hide == "x":
        mu[0] = m / 2
    elif hide == "y":
        mu[1] = m / 2
    img = render_stripes(np.array([mu]), n=n, sigma=sigma)
    xs, ys = detect_stripes(img)
    for found, coord, h in ((xs[0], mu[0], hide == "x"), (ys[0], mu[1], hide == "y")):
        if h:
            assert found == []
        else:
            assert len(found) == 1 and abs(found[0] - coord) < 0.15
    assert score_stripes(img, [mu]).correct[0]


def test_the_taxonomy_of_failures():
    n, m = 32, 6
    two = render_stripes(np.array([[12.5, 3.0]]), n=n) + render_stripes(np.array([[30.5, 3.0]]), n=n) + 1
    blank = -np.ones((1, 1, n, n), np.float32)
    shifted = render_stripes(np.array([[15.0, 25.0]]), n=n)
    spurious = render_stripes(np.array([[15.0, 25.0]]), n=n)
    s = score_stripes(np.concatenate([two, blank, shifted, spurious]),
                      [[12.5, 3.0], [12.5, 25.0], [18.0, 25.0], [15.0, 2.0]], tol=1.0)
    assert list(s.x) == ["multiple", "missing", "wrong", "correct"]
    assert list(s.y) == ["absent", "missing", "correct", "spurious"]
    assert not s.correct.any()
    summary = s.summary()
    assert summary["accuracy"] == 0 and summary["x_multiple"] == 0.25 and summary["y_spurious"] == 0.25
    assert visible([m - 0.1, m, m + n - 0.01, m + n], n, m).tolist() == [False, True, True, False]


def test_a_gaussian_bump_is_not_a_stripe():
    from bumpdiff.core.lattice import render
    bump = render(np.array([[16.0, 16.0]]), 32, 1.0)
    xs, ys = detect_stripes(bump)
    assert xs == [[]] and ys == [[]]


def test_lattices_hold_what_their_kind_says():
    sos = StripeLattice(n=16, kind="2d")
    assert len(sos.labels()) == 256 and visible(sos.labels(), 16, 3).all()
    cross = StripeLattice(n=16, kind="2d", band=(9.0, 13.0))
    held = cross.heldout_labels()
    assert len(cross.labels()) + len(held) == 256 and cross.in_band(held).all()
    assert not cross.in_band(cross.labels()).any()
    stripes = StripeLattice(n=16, kind="stripes")
    lab = stripes.labels()
    assert len(lab) == 32 and (visible(lab, 16, 3).sum(axis=1) == 1).all()
    rim = StripeLattice(n=16, kind="stripes+rim", rim=2.0)
    extra = rim.labels()[32:]
    inner = extra - 3
    assert len(extra) == 256 - 144 and ((inner < 2) | (inner > 14)).any(axis=1).all()
    thin = StripeLattice(n=16, kind="stripes+2d", kept=0.25, seed=1)
    assert len(thin.labels()) == 32 + round(0.25 * 256)             # every stripe, a quarter of the 2-D examples
    np.testing.assert_array_equal(thin.labels()[:32], lab)
    assert not np.array_equal(thin.labels(), StripeLattice(n=16, kind="stripes+2d", kept=0.25, seed=2).labels())
    assert set(map(tuple, thin.labels()[32:])) <= set(map(tuple, thin.all_two_d()))


@pytest.mark.parametrize("field, value, message", [("kind", "bars", "kind must be one of"),
                                                    ("band", (1.0, 5.0), "band must be"),
                                                    ("kept", 0.0, "kept must be"), ("d", 0.0, "d must be"),
                                                    ("shape", "disc", "shape must be one of")])
def test_bad_lattice_fields_are_refused_by_name(field, value, message):
    with pytest.raises(ValueError, match=message):
        StripeLattice(n=16, **{field: value})


def test_thinning_a_lattice_of_stripes_alone_is_refused():
    with pytest.raises(ValueError, match="kept must be 1 for kind 'stripes'"):
        StripeLattice(n=16, kind="stripes", kept=0.5)


def test_a_lattice_draws_2d_examples_as_its_shape_and_1d_ones_as_stripes():
    from bumpdiff.core.lattice import render
    bumps = StripeLattice(n=16, kind="stripes+2d", shape="bump")
    lab = np.array([[10.5, 7.5], [10.5, 1.5]])                      # a 2-D label, a vertical stripe
    img = bumps.render(lab)
    np.testing.assert_allclose(img[0], render(lab[:1] - 3, 16, 1.0)[0], atol=1e-6)   # the bump, in window pixels
    np.testing.assert_allclose(img[1], render_stripes(lab[1:], n=16)[0], atol=1e-6)
    t = bumps.render(torch.tensor(lab, dtype=torch.float32))
    np.testing.assert_allclose(t.numpy(), img, atol=1e-5)
    sos = StripeLattice(n=16, kind="stripes+2d").render(lab)
    np.testing.assert_allclose(sos, render_stripes(lab, n=16), atol=1e-6)
