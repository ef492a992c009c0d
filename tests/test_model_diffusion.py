"""The UNet and the DDPM: golden numbers for tiny deterministic runs, layer capture, sampler properties."""
import numpy as np
import pytest
import torch

from bumpdiff.diffusion import Diffusion, DiffusionConfig
from bumpdiff.model import LAYER_ALIASES, ModelConfig, UNet, resolve_layer
from bumpdiff.train import PROFILES


def smoke_model():
    torch.manual_seed(0)
    return UNet(PROFILES["smoke"].model)


def inputs():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 1, 32, 32, generator=g)
    return x, torch.tensor([3, 40]), torch.tensor([[4.5, 7.5], [20.0, 30.0]])


def test_golden_forward():
    m = smoke_model()
    x, t, c = inputs()
    with torch.no_grad():
        y = m(x, t, c)
    assert y.shape == (2, 1, 32, 32)
    assert y.sum().item() == pytest.approx(-49.50764465332031, rel=1e-4)
    assert y.abs().mean().item() == pytest.approx(0.25356507301330566, rel=1e-4)
    assert y[0, 0, 5, 5].item() == pytest.approx(0.2502133846282959, rel=1e-4, abs=1e-5)


def test_golden_loss_and_samplers():
    m = smoke_model()
    d = Diffusion(m, PROFILES["smoke"].diffusion)
    x, _, c = inputs()
    assert d(x.clamp(-1, 1), c, torch.Generator().manual_seed(1)).item() == pytest.approx(1.1378509998321533, rel=1e-4)
    s, _ = d.sample(c, torch.Generator().manual_seed(2))
    assert s.sum().item() == pytest.approx(52.23882293701172, rel=1e-3)
    s, _ = d.sample(c, torch.Generator().manual_seed(2), sampler="ddim", steps=10)
    assert s.sum().item() == pytest.approx(83.17633056640625, rel=1e-3)


def test_standard_linear_schedule():
    d = Diffusion(smoke_model(), DiffusionConfig())
    assert d.T == 1000
    assert d.betas[0].item() == pytest.approx(1e-4) and d.betas[-1].item() == pytest.approx(0.02)
    # ᾱ_T of the DDPM linear schedule
    assert d.alphas_cumprod[-1].item() == pytest.approx(4.036e-05, rel=1e-3)


def test_q_sample_marginals():
    d = Diffusion(smoke_model(), DiffusionConfig())
    x0 = torch.full((20000, 1, 1, 1), 0.5)
    g = torch.Generator().manual_seed(0)
    t = torch.full((20000,), 300)
    xt = d.q_sample(x0, t, torch.randn(x0.shape, generator=g))
    ac = d.alphas_cumprod[300].item()
    assert xt.mean().item() == pytest.approx(0.5 * ac**0.5, abs=0.02)
    assert xt.var().item() == pytest.approx(1 - ac, rel=0.05)


def test_layer_names_and_capture():
    assert resolve_layer(4) == resolve_layer("4") == "down3" == LAYER_ALIASES[4]
    with pytest.raises(ValueError, match="layer"):
        resolve_layer(12)
    m = UNet(ModelConfig(widths=(64, 128, 256, 256)))
    x, t, c = inputs()
    with torch.no_grad(), m.capture([4, "stem", "mid", "up3"]) as store:
        m(x, t, c)
    assert store["down3"].shape == (2, 256, 4, 4)   # "layer 4" at paper size
    assert store["stem"].shape == (2, 64, 32, 32)
    assert store["mid"].shape == (2, 256, 4, 4)
    assert store["up3"].shape == (2, 64, 32, 32)
    with torch.no_grad():
        m(x, t, c)  # outside the block nothing is kept
    assert m._capture is None


def test_sampler_seed_determinism_and_batch_independence():
    d = Diffusion(smoke_model(), PROFILES["smoke"].diffusion)
    c = torch.tensor([[4.5, 7.5], [20.0, 30.0], [10.0, 10.0]])
    a, _ = d.sample(c, torch.Generator().manual_seed(5))
    b, _ = d.sample(c, torch.Generator().manual_seed(5), batch_size=1)
    z, _ = d.sample(c, torch.Generator().manual_seed(6))
    assert torch.allclose(a, b, atol=1e-5)
    assert not torch.allclose(a, z)
    assert a.min() >= -1 and a.max() <= 1


def test_sampler_capture_steps():
    d = Diffusion(smoke_model(), PROFILES["smoke"].diffusion)
    c = torch.tensor([[4.5, 7.5], [20.0, 30.0]])
    _, cap = d.sample(c, torch.Generator().manual_seed(0), sampler="ddim", steps=5,
                      capture_layers=[4, "mid"], capture_steps=[49, 0])
    assert set(cap) == {"down3", "mid"} and set(cap["down3"]) == {49, 0}
    assert cap["down3"][0].shape == (2, 16, 4, 4)


@pytest.mark.parametrize("kw, name", [(dict(widths=(8, 16)), "widths"), (dict(image_size=30), "image_size"),
                                      (dict(embed_dim=15), "embed_dim"), (dict(heads=3), "heads")])
def test_bad_model_config(kw, name):
    with pytest.raises(ValueError, match=name):
        ModelConfig(**kw)


def test_bad_sampler_arguments():
    d = Diffusion(smoke_model(), PROFILES["smoke"].diffusion)
    with pytest.raises(ValueError, match="sampler"):
        d.sample(torch.zeros(1, 2), sampler="euler")
    with pytest.raises(ValueError, match="steps"):
        d.sample(torch.zeros(1, 2), sampler="ddim", steps=0)
    with pytest.raises(ValueError, match="timesteps"):
        DiffusionConfig(timesteps=0)
