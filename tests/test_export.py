"""The ONNX export of the UNet (both architectures) and the explorer page's noise generator."""
import numpy as np
import pytest
import torch

from bumpdiff.app.webexplorer import page_noise, reference_samples
from bumpdiff.core.diffusion import Diffusion
from bumpdiff.core.export import export_onnx, onnx_error
from bumpdiff.core.model import UNet
from bumpdiff.experiments.profiles import get_profile

ort = pytest.importorskip("onnxruntime")


@pytest.mark.parametrize("arch", ["film", "additive"])
def test_the_graph_computes_what_the_model_does_at_any_batch(tmp_path, arch):
    torch.manual_seed(0)
    cfg = get_profile("smoke").train_config(f"model.arch={arch}").model
    model = UNet(cfg)
    path = export_onnx(model, tmp_path / "m.onnx")
    err = onnx_error(path, model, batch=3)
    assert err["eps"] < 1e-5 and err["latent"] < 1e-5, err
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    x = np.zeros((5, 1, 32, 32), np.float32)
    eps, latent = sess.run(None, {"x": x, "t": np.full(5, 10, np.int64), "centers": np.full((5, 2), 8, np.float32)})
    assert eps.shape == (5, 1, 32, 32) and latent.shape == (5, int(np.prod(model.layer_shapes()["down3"])))
    assert not list(tmp_path.glob("*.export")) and not list(tmp_path.glob(".*tmp"))   # nothing half-written


def test_a_model_that_differs_from_its_graph_is_caught(tmp_path):
    torch.manual_seed(0)
    model = UNet(get_profile("smoke").train.model)
    path = export_onnx(model, tmp_path / "m.onnx")
    with torch.no_grad():
        next(model.parameters()).add_(0.5)
    assert onnx_error(path, model)["eps"] > 1e-3


def test_page_noise_golden_numbers_and_moments():
    # the page's generator (web/explorer.js: mulberry32 and Box-Muller); the browser test checks the page agrees
    assert page_noise(0, 6).tolist() == pytest.approx(
        [1.6264322996, 0.0033697339, 1.0509958268, 1.3762763739, -1.1843874454, -0.3444924653], abs=1e-9)
    assert page_noise(0, 5).tolist() == page_noise(0, 6)[:5].tolist()   # an odd count is a prefix
    a = page_noise(1, 100_000)
    assert a.dtype == np.float32 and abs(a.mean()) < 0.02 and abs(a.std() - 1) < 0.02
    assert not np.array_equal(page_noise(1, 8), page_noise(2, 8))


def test_reference_samples_are_a_function_of_the_request():
    torch.manual_seed(0)
    d = Diffusion(UNet(get_profile("smoke").train.model), get_profile("smoke").train.diffusion).eval()
    a = reference_samples(d, (10.0, 12.0), seed=3, steps=5, n=2)
    assert a.shape == (2, 32, 32) and np.array_equal(a, reference_samples(d, (10.0, 12.0), seed=3, steps=5, n=2))
    assert not np.array_equal(a, reference_samples(d, (10.0, 12.0), seed=4, steps=5, n=2))


def test_reference_samples_are_the_project_sampler_on_the_page_noise():
    """η = 0: exactly what `Diffusion.sample` gives from the page's x_T. η = 1: the same x_T, fresh page noise at
    every step but the last, so other images, and the same ones for the same request."""
    from bumpdiff.core.diffusion import DDIM

    torch.manual_seed(0)
    d = Diffusion(UNet(get_profile("smoke").train.model), get_profile("smoke").train.diffusion).eval()
    size = d.model.cfg.image_size
    x_T = torch.from_numpy(page_noise(3, 2 * size * size)).reshape(2, 1, size, size)
    expected, _ = d.sample(torch.tensor([[10.0, 12.0]] * 2), sampler=DDIM(5, 0.0), x_T=x_T)
    assert np.array_equal(reference_samples(d, (10.0, 12.0), seed=3, steps=5, n=2), expected[:, 0].numpy())
    stochastic = reference_samples(d, (10.0, 12.0), seed=3, steps=5, n=2, eta=1.0)
    assert not np.allclose(stochastic, expected[:, 0].numpy(), atol=1e-3)
    assert np.array_equal(stochastic, reference_samples(d, (10.0, 12.0), seed=3, steps=5, n=2, eta=1.0))
    with pytest.raises(ValueError, match="eta"):
        reference_samples(d, (10.0, 12.0), seed=3, steps=5, n=2, eta=1.5)
