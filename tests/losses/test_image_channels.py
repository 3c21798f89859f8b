"""CFL on images that are not RGB (grey, multispectral, depth): the extractor's `in_channels`."""

import pytest
import torch

from cfl_lightning.losses import ContrastiveFeatureLoss
from cfl_lightning.networks import ConvEncoderFeatures
from tests.losses.test_contrastive_feature import reference_loss

WIDTHS = (4, 8, 8)


def images(channels, seed, size=32, batch=2):
    generator = torch.Generator().manual_seed(seed)
    return torch.rand(batch, channels, size, size, generator=generator) * 2 - 1


@pytest.mark.parametrize("channels", [1, 5])
def test_value_and_gradient_match_the_reference_on_c_channel_images(channels):
    torch.manual_seed(0)
    encoder = ConvEncoderFeatures(in_channels=channels, widths=WIDTHS, trainable=False)
    loss = ContrastiveFeatureLoss(extractor=encoder, num_patches=64)
    assert loss.image_channels == channels
    pred = images(channels, 1).requires_grad_()
    target = images(channels, 2)
    locations = loss.draw_locations(pred.shape, torch.Generator().manual_seed(3))
    value = loss(pred, target, locations=locations)
    expected = reference_loss(loss, pred, target, locations, [1 / 3] * 3)
    torch.testing.assert_close(value, expected)
    inputs = [pred, *loss.heads.parameters()]
    for grad, expected_grad in zip(
        torch.autograd.grad(value, inputs), torch.autograd.grad(expected, inputs)
    ):
        torch.testing.assert_close(grad, expected_grad, rtol=1e-4, atol=1e-6)
    assert torch.autograd.grad(loss(pred, target), pred)[0].abs().sum() > 0


def test_target_views_train_a_four_channel_encoder_from_the_targets_only():
    torch.manual_seed(0)
    encoder = ConvEncoderFeatures(in_channels=4, widths=WIDTHS, trainable=True)
    loss = ContrastiveFeatureLoss(extractor=encoder, num_patches=32, critic="target_views")
    pred = images(4, 1).requires_grad_()
    target = images(4, 2)
    value = loss(pred, target, generator=torch.Generator().manual_seed(0))
    grads = torch.autograd.grad(value, [pred, *encoder.parameters()])
    assert all(grad.abs().sum() > 0 for grad in grads)
    # The encoder's gradient comes from the target's two views: a different prediction leaves it.
    other = loss(images(4, 7), target, generator=torch.Generator().manual_seed(0))
    other_grads = torch.autograd.grad(other, list(encoder.parameters()))
    for grad, other_grad in zip(grads[1:], other_grads):
        torch.testing.assert_close(grad, other_grad)


def test_vgg19_rejects_grey_images_and_says_what_to_use():
    loss = ContrastiveFeatureLoss(weights="random")
    grey = images(1, 0, size=64)
    with pytest.raises(
        ValueError,
        match=r"pred: expected 3 channels .* got shape \(2, 1, 64, 64\); the extractor "
        r"VGG19Features takes 3-channel images .*ConvEncoderFeatures\(in_channels=C\)",
    ):
        loss(grey, grey)


def test_encoder_checks_images_against_its_own_channel_count():
    loss = ContrastiveFeatureLoss(extractor=ConvEncoderFeatures(in_channels=4, widths=WIDTHS))
    rgb = images(3, 0)
    with pytest.raises(ValueError, match=r"pred: expected 4 channels \(B, 4, H, W\)"):
        loss(rgb, rgb)


def test_extractor_with_a_non_integer_in_channels_is_rejected():
    encoder = ConvEncoderFeatures(widths=WIDTHS)
    encoder.in_channels = "rgb"
    with pytest.raises(ValueError, match=r"extractor: expected `in_channels` .* got 'rgb'"):
        ContrastiveFeatureLoss(extractor=encoder)
