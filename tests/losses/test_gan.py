import math

import pytest
import torch
import torch.nn.functional as F

from cfl_lightning.losses import GANLoss, feature_matching_loss

REAL = torch.tensor([[2.0, 0.5], [-1.0, 0.0]])
FAKE = torch.tensor([[-2.0, 0.5], [1.5, -0.2]])


def test_hinge():
    loss = GANLoss("hinge")
    real, fake = loss.discriminator_loss(REAL, FAKE)
    torch.testing.assert_close(real, torch.clamp(1 - REAL, min=0).mean())
    torch.testing.assert_close(fake, torch.clamp(1 + FAKE, min=0).mean())
    torch.testing.assert_close(loss.generator_loss(FAKE), -FAKE.mean())


def test_least_squares_halves_the_discriminator_loss_as_pix2pixhd():
    # pix2pixHD: loss_D = (MSE(D(fake), 0) + MSE(D(real), 1)) * 0.5
    loss = GANLoss("ls")
    real, fake = loss.discriminator_loss(REAL, FAKE)
    torch.testing.assert_close(real, 0.5 * F.mse_loss(REAL, torch.ones_like(REAL)))
    torch.testing.assert_close(fake, 0.5 * F.mse_loss(FAKE, torch.zeros_like(FAKE)))
    torch.testing.assert_close(loss.generator_loss(FAKE), ((FAKE - 1) ** 2).mean())


def test_bce_halves_the_discriminator_loss_as_pix2pix():
    # pix2pix: loss_D = (BCEWithLogits(D(fake), 0) + BCEWithLogits(D(real), 1)) * 0.5
    loss = GANLoss("bce")
    real, fake = loss.discriminator_loss(REAL, FAKE)
    torch.testing.assert_close(real, 0.5 * -F.logsigmoid(REAL).mean())
    torch.testing.assert_close(fake, 0.5 * -F.logsigmoid(-FAKE).mean())
    # the generator's loss is not halved
    torch.testing.assert_close(loss.generator_loss(FAKE), -F.logsigmoid(FAKE).mean())


@pytest.mark.parametrize(
    ("mode", "real_at_zero", "fake_at_zero"),
    [("hinge", 1.0, 1.0), ("ls", 0.5, 0.0), ("bce", 0.5 * math.log(2), 0.5 * math.log(2))],
)
def test_discriminator_loss_at_zero_logits(mode, real_at_zero, fake_at_zero):
    # SPADE sums its hinge terms; pix2pixHD (ls) and pix2pix (bce) halve the sum.
    zero = [[torch.zeros(1, 4)], [torch.zeros(1, 4)]]  # two scales of logit maps
    real, fake = GANLoss(mode).discriminator_loss(zero, zero)
    assert real.item() == pytest.approx(real_at_zero)
    assert fake.item() == pytest.approx(fake_at_zero)


def test_multiscale_outputs_are_averaged_over_scales():
    loss = GANLoss("hinge")
    scales = [[torch.zeros(1), FAKE], [torch.zeros(1), FAKE[:1] * 3]]
    expected = 0.5 * (-FAKE.mean() - (FAKE[:1] * 3).mean())
    torch.testing.assert_close(loss.generator_loss(scales), expected)
    torch.testing.assert_close(loss(scales), expected)


def test_feature_matching_skips_logits_and_detaches_real():
    fake = [[torch.ones(2, 3, requires_grad=True), torch.full((2, 1), 9.0)]]
    real = [[torch.zeros(2, 3, requires_grad=True), torch.zeros(2, 1)]]
    value = feature_matching_loss(fake, real)
    torch.testing.assert_close(value, torch.tensor(1.0))
    value.backward()
    assert fake[0][0].grad is not None and real[0][0].grad is None
    two_scales = feature_matching_loss(fake * 2, real * 2)
    torch.testing.assert_close(two_scales, torch.tensor(1.0))


def test_bad_arguments():
    with pytest.raises(ValueError, match="mode: expected one of"):
        GANLoss("wgan")
    with pytest.raises(ValueError, match="expected the same non-zero number of scales"):
        feature_matching_loss([], [])
