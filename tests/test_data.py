"""The bump dataset: lattice geometry, rendering, validation."""
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from bumpdiff.data import BumpDataset, Lattice, render


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
