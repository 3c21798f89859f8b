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


def test_least_squares():
    loss = GANLoss("ls")
    real, fake = loss.discriminator_loss(REAL, FAKE)
    torch.testing.assert_close(real, 0.5 * ((REAL - 1) ** 2).mean())
    torch.testing.assert_close(fake, 0.5 * (FAKE**2).mean())
    torch.testing.assert_close(loss.generator_loss(FAKE), ((FAKE - 1) ** 2).mean())


def test_non_saturating_bce():
    loss = GANLoss("bce")
    real, fake = loss.discriminator_loss(REAL, FAKE)
    torch.testing.assert_close(real, -F.logsigmoid(REAL).mean())
    torch.testing.assert_close(fake, -F.logsigmoid(-FAKE).mean())
    torch.testing.assert_close(loss.generator_loss(FAKE), -F.logsigmoid(FAKE).mean())


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
