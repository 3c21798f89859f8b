import pytest
import torch
from torch import nn

from cfl_lightning.networks.unet import UNetGenerator


def tiny_unet(**kwargs) -> UNetGenerator:
    torch.manual_seed(0)
    settings = {"num_downs": 5, "ngf": 4} | kwargs
    return UNetGenerator(input_channels=4, **settings)


def test_output_shape_and_range():
    generator = tiny_unet()
    out = generator(torch.randn(2, 4, 32, 32))
    assert out.shape == (2, 3, 32, 32)
    assert out.abs().max() <= 1.0
    assert out.std() > 0
    assert tiny_unet(output_channels=2)(torch.randn(2, 4, 32, 64)).shape == (2, 2, 32, 64)


def test_default_matches_pix2pix_unet_256_size():
    # pix2pix's unet_256 (batch norm, ngf 64, 8 downsamplings, RGB -> RGB) has 54,413,955
    # parameters.
    generator = UNetGenerator(input_channels=3)
    assert sum(p.numel() for p in generator.parameters()) == 54_413_955


def test_skip_connections_carry_fine_detail():
    # With the bottleneck's contribution removed, the output still depends on the input through
    # the skip connections.
    generator = tiny_unet(norm="instance").eval()
    with torch.no_grad():
        generator.ups[-1][1].weight.zero_()
    x = torch.randn(1, 4, 32, 32)
    y = x.clone()
    y[..., 0, 0] += 5.0
    difference = (generator(x) - generator(y)).abs()
    assert difference.max() > 0


def test_dropout_layers_as_pix2pix():
    # pix2pix: dropout in the num_downs - 5 decoder layers of width 8 * ngf below the innermost
    assert (
        sum(isinstance(m, nn.Dropout) for m in tiny_unet(num_downs=8, use_dropout=True).modules())
        == 3
    )
    assert not any(isinstance(m, nn.Dropout) for m in tiny_unet(num_downs=8).modules())
    generator = tiny_unet(num_downs=6, use_dropout=True)
    x = torch.randn(2, 4, 64, 64)
    generator.eval()
    with torch.no_grad():
        torch.testing.assert_close(generator(x), generator(x))
        generator.train()
        assert not torch.equal(generator(x), generator(x))


def test_size_error_names_size_and_divisor():
    generator = tiny_unet()
    with pytest.raises(
        ValueError, match=r"divisible by 32 \(2\^num_downs, num_downs=5\), got 48x32"
    ):
        generator(torch.randn(1, 4, 48, 32))
    with pytest.raises(ValueError, match="num_downs: expected an integer >= 1, got 0"):
        UNetGenerator(3, num_downs=0)


def test_gradient_reaches_every_parameter():
    generator = tiny_unet()
    generator(torch.randn(2, 4, 32, 32)).square().mean().backward()
    missing = [
        name
        for name, p in generator.named_parameters()
        if p.grad is None or not p.grad.abs().sum() > 0
    ]
    assert not missing


def test_resize_upsampling_keeps_shapes_and_has_no_transposed_convs():
    net = UNetGenerator(3, num_downs=4, ngf=8, upsample="resize")
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    out = net(x)
    assert out.shape == (2, 3, 32, 32) and out.abs().max() <= 1
    assert not any(isinstance(m, torch.nn.ConvTranspose2d) for m in net.modules())
    assert sum(isinstance(m, torch.nn.Upsample) for m in net.modules()) == 4


def test_resize_upsampling_has_no_checkerboard_at_init():
    # A constant input gives a constant output away from the borders with resize-convolutions;
    # transposed 4x4 stride-2 convs give a period-2 pattern.
    torch.manual_seed(0)
    x = torch.full((1, 3, 32, 32), 0.5)
    for mode, expect_pattern in (("resize", False), ("transpose", True)):
        net = UNetGenerator(3, num_downs=3, ngf=8, upsample=mode, norm="none")
        out = net(x)[0, 0, 8:24, 8:24]
        pattern = (out[::2, ::2].mean() - out[1::2, ::2].mean()).abs()
        assert bool(pattern > 1e-4) == expect_pattern, (mode, float(pattern))


def test_bad_upsample_mode():
    with pytest.raises(ValueError, match="upsample: expected one of"):
        UNetGenerator(3, upsample="bilinear")
