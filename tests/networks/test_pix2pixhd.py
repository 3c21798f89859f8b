import pytest
import torch
from torch import nn

from cfl_lightning.networks.pix2pixhd import Pix2PixHDGenerator, ReflectResBlock


def tiny_pix2pixhd(**kwargs) -> Pix2PixHDGenerator:
    torch.manual_seed(0)
    settings = {"ngf": 4, "n_downsampling": 3, "n_blocks": 2} | kwargs
    return Pix2PixHDGenerator(input_channels=5, **settings)


def test_output_shape_and_range():
    generator = tiny_pix2pixhd()
    out = generator(torch.randn(2, 5, 32, 32))
    assert out.shape == (2, 3, 32, 32)
    assert out.abs().max() <= 1.0
    assert out.std() > 0


def test_architecture_matches_settings():
    generator = tiny_pix2pixhd(ngf=4, n_downsampling=3, n_blocks=2, output_channels=1)
    blocks = [m for m in generator.modules() if isinstance(m, ReflectResBlock)]
    assert len(blocks) == 2
    assert blocks[0].body[1].in_channels == 4 * 2**3
    transposed = [m for m in generator.modules() if isinstance(m, nn.ConvTranspose2d)]
    assert [m.out_channels for m in transposed] == [16, 8, 4]
    assert isinstance(generator.model[0], nn.ReflectionPad2d)
    # pix2pixHD's instance norm has no affine parameters
    norms = [m for m in generator.modules() if isinstance(m, nn.InstanceNorm2d)]
    assert norms and not any(m.affine for m in norms)
    assert generator(torch.randn(1, 5, 16, 24)).shape == (1, 1, 16, 24)


def test_batch_norm_option():
    generator = tiny_pix2pixhd(norm="batch")
    assert any(isinstance(m, nn.BatchNorm2d) and m.affine for m in generator.modules())
    assert generator(torch.randn(2, 5, 32, 32)).shape == (2, 3, 32, 32)


def test_input_errors():
    generator = tiny_pix2pixhd()
    with pytest.raises(ValueError, match=r"divisible by 8 \(2\^n_downsampling.*got 36x32"):
        generator(torch.randn(1, 5, 36, 32))
    with pytest.raises(ValueError, match=r"x: expected a \(B, 5, H, W\) tensor, got shape"):
        generator(torch.randn(1, 3, 32, 32))
    with pytest.raises(ValueError, match="norm: expected one of"):
        Pix2PixHDGenerator(5, norm="layer")


def test_gradient_reaches_every_parameter():
    generator = tiny_pix2pixhd()
    generator(torch.randn(2, 5, 32, 32)).square().mean().backward()
    missing = [
        name
        for name, p in generator.named_parameters()
        if p.grad is None or not p.grad.abs().sum() > 0
    ]
    assert not missing
