"""The bump dataset: lattice geometry, rendering, validation."""
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from bumpdiff.core.data import BumpDataset, Lattice, render


def test_pixel_lattice_is_pixel_centres():
    c = Lattice().centers()
    assert c.shape == (1024, 2)
    assert np.allclose(np.unique(c[:, 0]), np.arange(32) + 0.5)
    assert np.allclose(c[:3], [[0.5, 0.5], [1.5, 0.5], [2.5, 0.5]])  # x inner, y outer


def test_imbalanced_lattice_size_and_spacing():
    lat = Lattice(dx=0.1, dy=1.0)
    c = lat.centers()
    assert c.shape == (10240, 2) and len(lat) == 10240
    xs = np.unique(c[:, 0])
    assert xs.size == 320 and np.allclose(np.diff(xs), 0.1)
    assert np.isclose(xs[0], 0.05) and np.isclose(xs[-1], 31.95)
    assert np.unique(c[:, 1]).size == 32


def test_paper_lattice_is_cheap():
    ds = BumpDataset(Lattice(dx=0.1, dy=0.1))
    assert len(ds) == 102400
    img, c = ds[12345]
    assert img.shape == (1, 32, 32) and c.shape == (2,)
    imgs, cs = ds.batch(torch.arange(5))
    assert imgs.shape == (5, 1, 32, 32)


def test_render_range_peak_and_position():
    img = render(np.array([[10.5, 20.5]]))
    assert img.dtype == np.float32 and img.shape == (1, 1, 32, 32)
    assert img.max() == pytest.approx(1.0) and img.min() == pytest.approx(-1.0, abs=1e-6)
    j, i = np.unravel_index(np.argmax(img[0, 0]), (32, 32))
    assert (i, j) == (10, 20)  # column i = x, row j = y


def test_render_numpy_and_torch_agree():
    c = np.array([[3.3, 7.9], [31.0, 0.2]])
    a = render(c, sigma=1.5)
    b = render(torch.tensor(c), sigma=1.5)
    assert isinstance(b, torch.Tensor) and b.dtype == torch.float32
    assert np.allclose(a, b.numpy(), atol=1e-6)


@given(st.floats(0, 32), st.floats(0, 32), st.floats(0.3, 3.0))
@settings(max_examples=50, deadline=None)
def test_render_matches_formula(mx, my, sigma):
    img = render(np.array([[mx, my]]), sigma=sigma)[0, 0]
    j, i = 5, 17
    expect = np.exp(-((i + 0.5 - mx) ** 2 + (j + 0.5 - my) ** 2) / (2 * sigma**2))
    assert img[j, i] == pytest.approx(2 * expect - 1, abs=1e-5)


@pytest.mark.parametrize("kw, name", [
    (dict(sigma=0), "sigma"), (dict(sigma=-1), "sigma"), (dict(dx=0), "dx"), (dict(dy=-0.5), "dy"),
    (dict(dx=32), "dx"), (dict(n=3), "n"), (dict(dx=float("nan")), "dx"), (dict(sigma=float("nan")), "sigma"),
])
def test_bad_lattice_parameters(kw, name):
    with pytest.raises(ValueError, match=name):
        Lattice(**kw)


@pytest.mark.parametrize("centers", [[[-0.1, 3]], [[3, 32.5]], [[np.nan, 3]], [[1, 2, 3]]])
def test_bad_centers(centers):
    with pytest.raises(ValueError, match="centers"):
        render(np.array(centers, dtype=float))


# ---------------------------------------------------------------------------------------- periodic canvas
@given(st.floats(0, 32), st.floats(0, 32), st.integers(-40, 40), st.integers(-40, 40))
@settings(max_examples=50, deadline=None)
def test_periodic_render_is_translation_equivariant_round_the_torus(mx, my, sx, sy):
    """On a torus, moving the centre by whole pixels rolls the image by as many pixels, across the edges."""
    img = render(np.array([[mx, my]]), periodic=True)[0, 0]
    moved = render(np.array([[(mx + sx) % 32, (my + sy) % 32]]), periodic=True)[0, 0]
    assert np.allclose(np.roll(img, (sy, sx), axis=(0, 1)), moved, atol=1e-5)


@given(st.floats(3.5, 28.5), st.floats(3.5, 28.5))
@settings(max_examples=30, deadline=None)
def test_periodic_render_equals_plain_render_away_from_the_edges(mx, my):
    """A bump that does not reach an edge (here ≥ 3.5 σ from it, to 1e-3 of its height) is the same either way."""
    c = np.array([[mx, my]])
    assert np.allclose(render(c, periodic=True), render(c), atol=2e-3)


def test_periodic_bump_at_a_corner_continues_on_every_opposite_edge():
    img = render(np.array([[0.25, 0.25]]), periodic=True)[0, 0]
    v = (img + 1) / 2
    # the four pixels around the corner (0, 0) ≡ (32, 32) are equally bright: 0.25 px from the pixel centres' grid
    assert v[0, 0] > 0.75 and v[0, 31] == pytest.approx(v[31, 0]) and v[31, 31] > 0.3
    assert np.allclose(render(torch.tensor([[0.25, 0.25]]), periodic=True).numpy()[0, 0], img, atol=1e-6)


def test_periodic_lattice_dataset_and_identity():
    lat = Lattice(dx=4.0, dy=4.0, periodic=True)
    ds = BumpDataset(lat)
    img, c = ds[0]
    assert np.allclose(img.numpy(), render(c[None].numpy(), periodic=True)[0], atol=1e-6)
    assert np.allclose(lat.images(), render(lat.centers(), periodic=True))
    with pytest.raises(ValueError, match="periodic"):
        Lattice(periodic="yes")


# ---------------------------------------------------------------------------------------- held-out squares
@given(st.integers(0, 28), st.integers(0, 28), st.integers(1, 4))
@settings(max_examples=50, deadline=None)
def test_a_held_out_square_is_never_trained_on(x0, y0, w):
    lat = Lattice(holdout=(x0, y0, w))
    train, held, grid = lat.centers(), lat.held_out(), lat.grid()
    inside = lambda c: (c[:, 0] >= x0) & (c[:, 0] < x0 + w) & (c[:, 1] >= y0) & (c[:, 1] < y0 + w)
    assert len(held) == w * w and not inside(train).any() and inside(held).all()
    assert len(lat) == len(train) == 1024 - w * w and len(grid) == 1024
    assert sorted(map(tuple, np.r_[train, held])) == sorted(map(tuple, grid))
    ds = BumpDataset(lat)
    assert len(ds) == len(train) and not inside(ds.centers.numpy()).any()


@pytest.mark.parametrize("holdout, name", [((1, 2), "holdout"), ((0, 0, 0), "w"), ((30, 0, 4), "x0"),
                                           ((0, -1, 4), "y0"), ((0.1, 0.1, 0.2), "no centre"),
                                           ((0, 0, 32), "every centre"), ("abc", "holdout")])
def test_bad_held_out_squares_are_named(holdout, name):
    with pytest.raises(ValueError, match=name):
        Lattice(holdout=holdout)


def test_a_lattice_without_a_held_out_square_is_unchanged():
    lat = Lattice()
    assert np.array_equal(lat.centers(), lat.grid()) and len(lat.held_out()) == 0 and len(lat) == 1024
