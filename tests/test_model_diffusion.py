"""The UNet and the DDPM: golden numbers for tiny deterministic runs, layer capture, sampler properties."""
import numpy as np
import pytest
import torch

from bumpdiff.analysis.activations import collect_layers, condition_noise
from bumpdiff.core.diffusion import DDIM, Capture, Diffusion, DiffusionConfig
from bumpdiff.core.model import LAYER_ALIASES, ModelConfig, UNet, resolve_layer
from bumpdiff.experiments.profiles import get_profile


def smoke_model():
    torch.manual_seed(0)
    return UNet(get_profile("smoke").train.model)


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
    d = Diffusion(m, get_profile("smoke").train.diffusion)
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
    d = Diffusion(smoke_model(), get_profile("smoke").train.diffusion)
    c = torch.tensor([[4.5, 7.5], [20.0, 30.0], [10.0, 10.0]])
    a, _ = d.sample(c, torch.Generator().manual_seed(5))
    b, _ = d.sample(c, torch.Generator().manual_seed(5), batch_size=1)
    z, _ = d.sample(c, torch.Generator().manual_seed(6))
    assert torch.allclose(a, b, atol=1e-5)
    assert not torch.allclose(a, z)
    assert a.min() >= -1 and a.max() <= 1


@pytest.mark.parametrize("noise", ["shared", "independent"])
@pytest.mark.parametrize("mode", ["noise", "sampling"])
def test_latent_read_out_does_not_depend_on_the_inference_chunk(mode, noise):
    d = Diffusion(smoke_model(), get_profile("smoke").train.diffusion)
    grid = np.array([[x + 0.5, y + 0.5] for x in range(0, 32, 8) for y in range(0, 32, 16)], dtype=np.float32)
    kw = dict(layers=("stem", "down3", "up3"), t=30, mode=mode, seed=1, sampler_steps=2, noise=noise)
    default = collect_layers(d, grid, **kw)                  # the device's inference chunk
    for chunk in (3, len(grid)):
        other = collect_layers(d, grid, batch_size=chunk, **kw)
        for name in kw["layers"]:
            assert other[name].shape == (len(grid), default[name].size // len(grid))
            np.testing.assert_allclose(other[name], default[name], atol=1e-5, err_msg=f"{name}, chunk {chunk}")
    with pytest.raises(ValueError, match="batch_size"):
        collect_layers(d, grid, batch_size=0, **kw)


@pytest.mark.parametrize("mode", ["noise", "noised", "sampling"])
def test_independent_noise_is_each_conditions_own(mode):
    d = Diffusion(smoke_model(), get_profile("smoke").train.diffusion)
    grid = np.array([[x + 0.5, y + 0.5] for x in range(0, 32, 8) for y in range(0, 32, 16)], dtype=np.float32)
    kw = dict(layers=("stem",), t=30, mode=mode, seed=1, sampler_steps=2, noise="independent")
    whole = collect_layers(d, grid, **kw)["stem"]
    perm = np.random.default_rng(0).permutation(len(grid))
    np.testing.assert_allclose(collect_layers(d, grid[perm], **kw)["stem"], whole[perm], atol=1e-5)
    np.testing.assert_allclose(collect_layers(d, grid[2:3], **kw)["stem"], whole[2:3], atol=1e-5)
    # another seed draws other noise; the shared read-out of two conditions differs only through the condition
    assert not np.allclose(collect_layers(d, grid[:2], **(kw | {"seed": 2}))["stem"], whole[:2], atol=1e-3)
    same = np.repeat(grid[:1], 2, axis=0)   # one condition twice: one noise image, one read-out
    rows = collect_layers(d, same, **kw)["stem"]
    np.testing.assert_array_equal(rows[0], rows[1])
    with pytest.raises(ValueError, match="noise must be"):
        collect_layers(d, grid, **(kw | {"noise": "per-row"}))


def test_condition_noise_is_a_function_of_seed_and_condition():
    c = np.array([[1.5, 2.5], [30.5, 0.5]], dtype=np.float32)
    a = condition_noise(c, (1, 4, 4), seed=3)
    np.testing.assert_array_equal(condition_noise(c[::-1], (1, 4, 4), seed=3), a.flip(0))
    assert not torch.equal(condition_noise(c, (1, 4, 4), seed=4), a)
    assert not torch.equal(a[0], a[1])
    assert abs(float(condition_noise(np.random.default_rng(0).uniform(0, 32, (64, 2)), (1, 32, 32)).std()) - 1) < 0.05


def test_sampler_capture_steps():
    d = Diffusion(smoke_model(), get_profile("smoke").train.diffusion)
    c = torch.tensor([[4.5, 7.5], [20.0, 30.0]])
    _, cap = d.sample(c, torch.Generator().manual_seed(0), sampler=DDIM(5), capture=Capture((4, "mid"), (49, 0)),
                      trajectory=True)
    assert set(cap) == {"down3", "mid", "x0_pred"} and set(cap["down3"]) == {49, 0}
    assert sorted(cap["x0_pred"]) == [0, 12, 24, 37, 49] and cap["x0_pred"][0].shape == (2, 1, 32, 32)
    assert cap["down3"][0].shape == (2, 16, 4, 4)


def test_additive_architecture_has_the_same_named_layers():
    m = UNet(ModelConfig(widths=(64, 128, 256, 256), arch="additive"))
    assert type(m).__name__ == "AdditiveUNet" and 20e6 < m.num_parameters() < 25e6
    x, t, c = inputs()
    with torch.no_grad(), m.capture(list(LAYER_ALIASES)) as store:
        y = m(x, t, c)
    assert y.shape == (2, 1, 32, 32)
    assert store["down3"].shape == (2, 256, 4, 4)                 # "layer 4" at paper size, before the bottleneck
    assert store["mid"].shape == (2, 256, 4, 4) and store["up1"].shape == (2, 128, 8, 8)
    # the condition reaches the output through the additive biases: other centres, other ε̂
    with torch.no_grad():
        assert not torch.allclose(m(x, t, c), m(x, t, c + 3.0))


def _diffusers_pair(prediction):
    from diffusers import DDIMScheduler, DDPMScheduler
    kw = dict(num_train_timesteps=1000, beta_start=1e-4, beta_end=0.02, beta_schedule="linear", clip_sample=True,
              clip_sample_range=1.0)
    return DDPMScheduler(variance_type="fixed_small", **kw) if prediction == "ddpm" else DDIMScheduler(
        set_alpha_to_one=True, **kw)


@pytest.mark.parametrize("t", [999, 500, 37, 1])
def test_one_ddpm_step_matches_diffusers(t):
    d = Diffusion(smoke_model(), DiffusionConfig())
    g = torch.Generator().manual_seed(t)
    x, eps = torch.randn(3, 1, 32, 32, generator=g), 3 * torch.randn(3, 1, 32, 32, generator=g)  # x0 gets clipped
    z = torch.randn(3, 1, 32, 32, generator=torch.Generator().manual_seed(7))   # diffusers draws the same noise
    ours, x0 = d.ddpm_step(x, t, eps, z)
    sched = _diffusers_pair("ddpm")
    sched.set_timesteps(1000)
    ref = sched.step(eps, t, x, generator=torch.Generator().manual_seed(7))
    assert torch.allclose(ref.pred_original_sample, x0, atol=1e-5)
    assert torch.allclose(ref.prev_sample, ours, atol=1e-4)


@pytest.mark.parametrize("t, t_prev", [(999, 979), (500, 480), (20, 0), (0, -1)])
def test_one_ddim_step_matches_diffusers(t, t_prev):
    d = Diffusion(smoke_model(), DiffusionConfig())
    g = torch.Generator().manual_seed(t + 1)
    x, eps = torch.randn(3, 1, 32, 32, generator=g), 3 * torch.randn(3, 1, 32, 32, generator=g)
    ours, x0 = d.ddim_step(x, t, t_prev, eps, eta=0.0)
    sched = _diffusers_pair("ddim")
    sched.set_timesteps(50)
    sched.num_inference_steps = 1000 // (t - t_prev)           # so that diffusers' previous step is t_prev
    ref = sched.step(eps, t, x, eta=0.0, use_clipped_model_output=True)
    assert torch.allclose(ref.pred_original_sample, x0, atol=1e-5)
    assert torch.allclose(ref.prev_sample, ours, atol=1e-4)


@pytest.mark.parametrize("kw, name", [(dict(widths=(8, 16)), "widths"), (dict(arch="dit"), "arch"),
                                      (dict(image_size=30), "image_size"), (dict(embed_dim=15), "embed_dim"),
                                      (dict(heads=3), "heads")])
def test_bad_model_config(kw, name):
    with pytest.raises(ValueError, match=name):
        ModelConfig(**kw)


def test_bad_sampler_arguments():
    d = Diffusion(smoke_model(), get_profile("smoke").train.diffusion)
    with pytest.raises(ValueError, match="sampler"):
        d.sample(torch.zeros(1, 2), sampler="euler")
    with pytest.raises(ValueError, match="steps"):
        d.sample(torch.zeros(1, 2), sampler="ddim", steps=0)
    with pytest.raises(ValueError, match="timesteps"):
        DiffusionConfig(timesteps=0)


def _conv_under_autocast(conv, x, native):
    from bumpdiff.core import layers as M
    saved = M._BF16_CONV["native"]
    M._BF16_CONV["native"] = native
    try:
        x = x.clone().requires_grad_()
        conv.zero_grad()
        with torch.autocast("cpu", dtype=torch.bfloat16):
            y = conv(x)
        g = torch.linspace(-1, 1, y.numel()).view_as(y)
        (y.float() * g).sum().backward()
        return y, x.grad, conv.weight.grad, conv.bias.grad
    finally:
        M._BF16_CONV["native"] = saved


def test_emulated_bf16_convolution_keeps_bf16_arithmetic():
    """On a CPU without native bf16 convolutions, bf16 autocast computes each convolution from bf16-rounded
    operands with fp32 sums and rounds its output and gradients to bf16: within bf16 rounding of the exact
    result (fp64 from the same rounded operands), forward and backward."""
    from bumpdiff.core.model import Conv2d
    torch.manual_seed(0)
    conv = Conv2d(16, 32, 3, padding=1)
    x = torch.randn(4, 16, 8, 8)
    y, gx, gw, gb = _conv_under_autocast(conv, x, native=False)
    assert y.dtype == torch.bfloat16 and gx.dtype == x.dtype and gw.dtype == torch.float32
    xr = x.to(torch.bfloat16).double().requires_grad_()
    w = conv.weight.detach().to(torch.bfloat16).double().requires_grad_()
    b = conv.bias.detach().to(torch.bfloat16).double().requires_grad_()
    ref = torch.nn.functional.conv2d(xr, w, b, padding=1)
    ref.backward(torch.linspace(-1, 1, ref.numel()).view_as(ref).to(torch.bfloat16).double())
    for got, want in ((y, ref.detach()), (gx, xr.grad), (gw, w.grad), (gb, b.grad)):
        err = (got.double() - want).abs().max() / want.abs().max()
        assert err < 2 ** -8, err                       # bf16 has 8 significant bits
        # and each value is a bf16 number (rounded, not left in fp32)
        assert torch.equal(got.to(torch.bfloat16).double(), got.double())
    # outside autocast it is nn.Conv2d, bit for bit
    assert torch.equal(conv(x), torch.nn.functional.conv2d(x, conv.weight, conv.bias, padding=1))


def test_bf16_convolution_modes_agree_to_bf16_rounding():
    """Native (whatever kernel torch picks here) and emulated bf16 convolutions compute the same function."""
    from bumpdiff.core.model import Conv2d
    torch.manual_seed(1)
    conv = Conv2d(8, 8, 3, padding=1)
    x = torch.randn(2, 8, 6, 6)
    a, b = _conv_under_autocast(conv, x, native=True)[0], _conv_under_autocast(conv, x, native=False)[0]
    assert a.dtype == b.dtype == torch.bfloat16
    assert ((a.float() - b.float()).abs().max() / b.float().abs().max()) < 2 ** -7
