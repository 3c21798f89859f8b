import pytest
import torch
from torch import nn

from cfl_lightning.losses import ContrastiveFeatureLoss
from cfl_lightning.networks.conv_encoder import ConvEncoderFeatures

WIDTHS = (4, 8, 8)


def images(size: int = 32, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.rand(2, 3, size, size, generator=generator) * 2 - 1


def test_channels_and_strides_match_outputs():
    encoder = ConvEncoderFeatures(widths=WIDTHS)
    assert list(encoder.channels) == ["conv1", "conv2", "conv3"]
    assert encoder.strides == {"conv1": 1, "conv2": 2, "conv3": 4}
    out = encoder(images())
    assert list(out) == list(encoder.channels)
    for name, features in out.items():
        stride = encoder.strides[name]
        assert features.shape == (2, encoder.channels[name], 32 // stride, 32 // stride)


def test_trainable_encoder_gets_gradients_and_follows_train_mode():
    encoder = ConvEncoderFeatures(widths=WIDTHS, trainable=True)
    parent = nn.Sequential(encoder)
    parent.eval()
    assert not encoder.training
    parent.train()
    assert encoder.training and not encoder.frozen
    sum(f.mean() for f in encoder(images()).values()).backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in encoder.parameters())


def test_frozen_encoder_has_no_trainable_parameters_and_stays_in_eval():
    encoder = ConvEncoderFeatures(widths=WIDTHS, trainable=False)
    assert encoder.frozen
    assert not any(p.requires_grad for p in encoder.parameters())
    parent = nn.Sequential(encoder)
    parent.train()
    assert not encoder.training


def test_seeded_initialisation():
    a, b = ConvEncoderFeatures(widths=WIDTHS, seed=3), ConvEncoderFeatures(widths=WIDTHS, seed=3)
    c = ConvEncoderFeatures(widths=WIDTHS, seed=4)
    for (name, pa), pb, pc in zip(a.named_parameters(), b.parameters(), c.parameters()):
        assert torch.equal(pa, pb), name
        if name.endswith("weight"):
            assert not torch.equal(pa, pc), name


def test_input_range_is_mapped_to_the_same_features():
    unit = ConvEncoderFeatures(input_range=(0.0, 1.0), widths=WIDTHS)
    signed = ConvEncoderFeatures(input_range=(-1.0, 1.0), widths=WIDTHS)
    x = images()
    for name, features in signed(x).items():
        torch.testing.assert_close(unit((x + 1) / 2)[name], features)


def test_contrastive_loss_trains_the_encoder_with_the_critic():
    encoder = ConvEncoderFeatures(widths=WIDTHS, trainable=True)
    loss_fn = ContrastiveFeatureLoss(extractor=encoder, num_patches=16)
    critic = list(loss_fn.critic_parameters())
    assert all(any(p is q for q in critic) for p in encoder.parameters())
    pred = images(seed=1).requires_grad_()
    loss_fn(pred, images(seed=2), generator=torch.Generator().manual_seed(0)).backward()
    assert pred.grad is not None and pred.grad.abs().sum() > 0
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in encoder.parameters())


def test_argument_errors():
    with pytest.raises(ValueError, match=r"widths: expected a non-empty list.*got \(\)"):
        ConvEncoderFeatures(widths=())
    with pytest.raises(ValueError, match=r"input_range: expected \(low, high\) with high > low"):
        ConvEncoderFeatures(input_range=(1.0, 0.0))
    with pytest.raises(ValueError, match=r"in_channels: expected an integer >= 1, got 0"):
        ConvEncoderFeatures(in_channels=0)


@pytest.mark.parametrize("channels", [1, 4])
def test_takes_images_of_its_declared_channel_count(channels):
    encoder = ConvEncoderFeatures(in_channels=channels, widths=WIDTHS)
    assert encoder.in_channels == channels
    x = torch.rand(2, channels, 16, 16) * 2 - 1
    assert encoder(x)["conv1"].shape == (2, WIDTHS[0], 16, 16)
    with pytest.raises(RuntimeError):
        encoder(torch.rand(2, channels + 1, 16, 16))
