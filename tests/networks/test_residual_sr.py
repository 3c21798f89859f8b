import pytest
import torch
import torch.nn.functional as F

from cfl_lightning.networks.residual_sr import ResidualSRGenerator


def tiny_sr(scale: int = 4, **kwargs) -> ResidualSRGenerator:
    torch.manual_seed(0)
    return ResidualSRGenerator(scale=scale, nf=8, n_blocks=2, **kwargs)


def low_res(size: int = 8, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.rand(2, 3, size, size, generator=generator) * 2 - 1


def bicubic(x: torch.Tensor, scale: int) -> torch.Tensor:
    return F.interpolate(x, scale_factor=scale, mode="bicubic", align_corners=False).clamp(-1, 1)


@pytest.mark.parametrize("scale", [2, 4, 8])
def test_output_shape_and_range(scale):
    out = tiny_sr(scale)(low_res())
    assert out.shape == (2, 3, 8 * scale, 8 * scale)
    assert out.dtype == torch.float32
    assert out.abs().max() <= 1.0


def test_output_stays_in_range_with_a_large_residual():
    generator = tiny_sr()
    with torch.no_grad():
        generator.tail.weight.normal_(0, 10.0)
    x = low_res().sign()  # saturated input: bicubic overshoots beyond +-1
    out = generator(x)
    assert out.abs().max() <= 1.0
    assert torch.isfinite(out).all()


def test_zero_residual_reproduces_bicubic_upsampling():
    generator = tiny_sr()
    with torch.no_grad():
        generator.tail.weight.zero_()
        generator.tail.bias.zero_()
    x = low_res().sign() * 0.5 + low_res(seed=1) * 0.5  # hits +-1 and overshoots
    assert bicubic(x, 4).abs().max() == 1.0
    torch.testing.assert_close(generator(x), bicubic(x, 4), atol=1.01e-3, rtol=0)


def test_initial_output_is_close_to_bicubic():
    x = low_res()
    assert (tiny_sr()(x) - bicubic(x, 4)).abs().max() < 0.05


def test_gradient_reaches_every_parameter():
    generator = tiny_sr()
    generator(low_res()).square().mean().backward()
    missing = [
        name
        for name, p in generator.named_parameters()
        if p.grad is None or not p.grad.abs().sum() > 0
    ]
    assert not missing


def test_saturated_pixels_keep_a_gradient():
    generator = tiny_sr()
    x = torch.ones(1, 3, 8, 8)
    out = generator(x)
    out.sum().backward()
    assert out.max() < 1.0
    assert generator.tail.bias.grad.abs().min() > 0


def test_bf16_autocast_keeps_the_bicubic_path_exact():
    generator = tiny_sr()
    with torch.no_grad():
        generator.tail.weight.zero_()
    x = low_res()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = generator(x)
    assert out.dtype == torch.float32
    torch.testing.assert_close(out, bicubic(x, 4), atol=1.01e-3, rtol=0)


def test_argument_errors():
    with pytest.raises(ValueError, match=r"scale: expected one of \[2, 4, 8\], got 3"):
        ResidualSRGenerator(scale=3)
    with pytest.raises(ValueError, match="saturation_margin: expected a value in"):
        ResidualSRGenerator(saturation_margin=0.0)
    with pytest.raises(ValueError, match=r"x: expected a \(B, 3, h, w\) tensor"):
        tiny_sr()(torch.zeros(1, 1, 8, 8))


@pytest.mark.parametrize("upsampler", ["pixelshuffle", "resize"])
def test_upsampler_starts_without_a_checkerboard(upsampler):
    torch.manual_seed(0)
    net = ResidualSRGenerator(scale=4, nf=8, n_blocks=1, upsampler=upsampler)
    features = torch.randn(1, 8, 6, 6)
    up = net.upsampler(features)
    assert up.shape == (1, 8, 24, 24)
    # ICNR: the last stage is a conv followed by nearest 2x upsampling, so every 2x2 block of
    # the output repeats one value.
    blocks = up.unfold(2, 2, 2).unfold(3, 2, 2)
    spread = blocks.amax(dim=(-1, -2)) - blocks.amin(dim=(-1, -2))
    assert float(spread.max()) < 1e-5 if upsampler == "pixelshuffle" else float(spread.max()) > 0
    assert net(torch.zeros(1, 3, 6, 6)).shape == (1, 3, 24, 24)


def test_bad_upsampler():
    with pytest.raises(ValueError, match="upsampler: expected one of"):
        ResidualSRGenerator(upsampler="deconv")
