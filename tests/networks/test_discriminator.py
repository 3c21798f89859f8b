import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import parametrize

from cfl_lightning.networks.discriminator import MultiscaleDiscriminator, PatchDiscriminator


def tiny_discriminator(**kwargs) -> MultiscaleDiscriminator:
    torch.manual_seed(0)
    return MultiscaleDiscriminator(input_channels=6, ndf=4, **kwargs)


def conv_out(size: int, stride: int) -> int:
    """Output size of a 4x4 conv with padding 2."""
    return (size + 2 * 2 - 4) // stride + 1


def expected_sizes(size: int, n_layers: int) -> list[int]:
    sizes = []
    for n in range(n_layers):
        size = conv_out(size, 1 if n == n_layers - 1 and n > 0 else 2)
        sizes.append(size)
    sizes.append(conv_out(size, 1))
    return sizes


@pytest.mark.parametrize(("n_layers", "num_scales"), [(4, 2), (3, 3), (1, 1)])
def test_scales_layers_and_shapes(n_layers, num_scales):
    discriminator = tiny_discriminator(n_layers=n_layers, num_scales=num_scales)
    outputs = discriminator(torch.randn(2, 6, 64, 64))
    assert len(outputs) == num_scales
    widths = [4 * 2**n for n in range(n_layers)] + [1]
    for scale, layers in enumerate(outputs):
        assert len(layers) == n_layers + 1
        sizes = expected_sizes(64 // 2**scale, n_layers)
        assert [t.shape for t in layers] == [(2, w, s, s) for w, s in zip(widths, sizes)]


def test_default_logit_maps_for_64x64():
    outputs = tiny_discriminator()(torch.randn(1, 6, 64, 64))
    assert [layers[-1].shape for layers in outputs] == [(1, 1, 11, 11), (1, 1, 7, 7)]


def test_second_scale_sees_the_average_pooled_input():
    discriminator = tiny_discriminator().eval()
    x = torch.randn(2, 6, 32, 32)
    pooled = F.avg_pool2d(x, 3, stride=2, padding=1, count_include_pad=False)
    # corners average 4 pixels, not 9 (the padding is not counted)
    torch.testing.assert_close(pooled[0, 0, 0, 0], x[0, 0, :2, :2].mean())
    expected = discriminator.discriminators[1](pooled)
    for got, want in zip(discriminator(x)[1], expected):
        torch.testing.assert_close(got, want)


def test_spectral_and_instance_norm_on_inner_convs():
    discriminator = tiny_discriminator(n_layers=4)
    layers = discriminator.discriminators[0].layers
    assert not parametrize.is_parametrized(layers[0][0])
    assert not parametrize.is_parametrized(layers[-1])
    for inner in layers[1:-1]:
        assert parametrize.is_parametrized(inner[0], "weight")
        assert inner[0].bias is None
        assert isinstance(inner[1], nn.InstanceNorm2d) and not inner[1].affine
    plain = tiny_discriminator(spectral_norm=False, norm="none")
    assert not any(parametrize.is_parametrized(m) for m in plain.modules())
    assert all(layer[0].bias is not None for layer in plain.discriminators[0].layers[:-1])


def test_width_capped_at_512():
    discriminator = MultiscaleDiscriminator(3, ndf=256, n_layers=3, num_scales=1)
    convs = [m for m in discriminator.modules() if isinstance(m, nn.Conv2d)]
    assert [c.out_channels for c in convs] == [256, 512, 512, 1]


def test_gradient_reaches_every_parameter():
    discriminator = tiny_discriminator()
    outputs = discriminator(torch.randn(2, 6, 64, 64))
    sum(layers[-1].mean() for layers in outputs).backward()
    missing = [
        name
        for name, p in discriminator.named_parameters()
        if p.grad is None or not p.grad.abs().sum() > 0
    ]
    assert not missing


def test_input_errors():
    with pytest.raises(ValueError, match=r"x: expected a \(B, 6, H, W\) tensor, got shape"):
        tiny_discriminator()(torch.randn(1, 3, 64, 64))
    with pytest.raises(ValueError, match="n_layers, num_scales, ndf: expected positive"):
        MultiscaleDiscriminator(6, num_scales=0)


# The PatchGAN sizes of the pix2pix paper (Isola et al. 2017, sec. 4.4): 16x16, 70x70 and
# 286x286 patches for its n_layers = 1, 3, 5, i.e. that many stride-2 convs; ours counts the
# stride-1 conv as well (SPADE's n_layers_D), hence n_layers = 2, 4, 6 here.
PIX2PIX_PATCH_SIZES = {2: 16, 4: 70, 6: 286}


def window_by_hand(n_layers: int) -> int:
    """Receptive field of one logit, walking back from it: each 4x4 conv with stride s turns a
    window of r pixels into (r - 1) * s + 4 pixels of its input."""
    strides = [2] * (n_layers - 1) + [1 if n_layers > 1 else 2, 1]
    window = 1
    for stride in reversed(strides):
        window = (window - 1) * stride + 4
    return window


def measured_window(network, channels: int, size: int, scale: int = 0) -> tuple[int, int]:
    """Rows and columns of the input that the centre logit depends on (by its gradient)."""
    x = torch.randn(1, channels, size, size, dtype=torch.float64, requires_grad=True)
    outputs = network(x)
    logits = outputs[scale][-1] if isinstance(outputs[0], list) else outputs[-1]
    h, w = logits.shape[-2:]
    logits[0, 0, h // 2, w // 2].backward()
    touched = x.grad[0].abs().sum(0) > 0
    rows = touched.any(1).nonzero().flatten()
    cols = touched.any(0).nonzero().flatten()
    return int(rows.max() - rows.min() + 1), int(cols.max() - cols.min() + 1)


def plain_patchgan(n_layers: int) -> PatchDiscriminator:
    torch.manual_seed(0)
    # No norm: instance/batch norm would make every logit depend on the whole image.
    return PatchDiscriminator(2, 2, n_layers, spectral_norm=False, norm="none").double()


@pytest.mark.parametrize("n_layers", [2, 3, 4])
def test_receptive_field_by_hand_and_by_gradient(n_layers):
    network = plain_patchgan(n_layers)
    assert network.receptive_field == window_by_hand(n_layers)
    assert measured_window(network, 2, 160) == (window_by_hand(n_layers),) * 2


def test_patch_sizes_of_the_pix2pix_paper():
    for n_layers, size in PIX2PIX_PATCH_SIZES.items():
        assert window_by_hand(n_layers) == size
        assert plain_patchgan(n_layers).receptive_field == size
    # n_layers=3 here is a 34x34 PatchGAN, not pix2pix's n_layers=3
    assert plain_patchgan(3).receptive_field == 34


def test_second_scale_sees_twice_the_window_plus_the_pooling():
    torch.manual_seed(0)
    discriminator = MultiscaleDiscriminator(2, ndf=2, spectral_norm=False, norm="none").double()
    assert discriminator.receptive_fields == [70, (70 - 1) * 2 + 3]
    assert measured_window(discriminator, 2, 288, scale=1) == (141, 141)


def test_pix2pix_padding_gives_its_30x30_logits_for_256x256():
    discriminator = MultiscaleDiscriminator(
        6, ndf=2, n_layers=4, num_scales=1, spectral_norm=False, norm="batch", padding=1
    )
    assert discriminator(torch.randn(1, 6, 256, 256))[0][-1].shape == (1, 1, 30, 30)
    assert discriminator.receptive_fields == [70]
