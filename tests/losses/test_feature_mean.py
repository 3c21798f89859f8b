"""ContrastiveFeatureLoss(feature_mean_weight=w): a term matching each image's per-channel spatial
means of the extractor's features to the target's."""

import math

import pytest
import torch
import torch.nn.functional as F

from cfl_lightning.losses import ContrastiveFeatureLoss
from cfl_lightning.networks import ConvEncoderFeatures
from tests.losses.test_contrastive_feature import images, make_loss


def reference_term(extractor, layers, layer_weights, pred, target):
    """Per layer mean|mu_p - mu_t| / mean|mu_t| over images and channels, weighted sum."""
    feats_p, feats_t = extractor(pred), extractor(target.detach())
    total = 0.0
    for name, weight in zip(layers, layer_weights):
        mu_p, mu_t = feats_p[name].mean((2, 3)), feats_t[name].mean((2, 3))
        total = total + weight * (mu_p - mu_t).abs().mean() / mu_t.abs().mean()
    return total


@pytest.mark.parametrize("critic", ["joint", "target_views"])
def test_value_and_gradients_match_independent_computation(extractor, critic):
    weights = [1.0, 2.0, 3.0, 4.0]
    plain = make_loss(extractor, critic=critic, num_patches=16, layer_weights=weights)
    loss = make_loss(
        extractor, critic=critic, num_patches=16, layer_weights=weights, feature_mean_weight=2.5
    )
    pred = images(1).requires_grad_()
    target = images(2)
    locations = loss.draw_locations(pred.shape, torch.Generator().manual_seed(4))
    value = loss(pred, target, locations=locations)
    base = plain(pred, target, locations=locations)
    term = reference_term(extractor, loss.layers, [w / 10 for w in weights], pred, target)
    torch.testing.assert_close(value, base + 2.5 * term)
    assert float(term.detach()) > 0.01  # the term is not negligible for these images
    # The term's gradient goes to the prediction; the heads' gradient is the plain loss's.
    grad_pred, *grad_heads = torch.autograd.grad(value, [pred, *loss.heads.parameters()])
    want_pred, *want_heads = torch.autograd.grad(
        base + 2.5 * term, [pred, *plain.heads.parameters()]
    )
    torch.testing.assert_close(grad_pred, want_pred, rtol=1e-4, atol=1e-6)
    for grad, want in zip(grad_heads, want_heads):
        torch.testing.assert_close(grad, want, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("critic", ["joint", "target_views"])
def test_a_trainable_extractor_gets_no_gradient_from_the_term(critic):
    widths = (4, 8, 8)

    def build(weight):
        torch.manual_seed(0)
        encoder = ConvEncoderFeatures(widths=widths, trainable=True)
        return ContrastiveFeatureLoss(
            extractor=encoder, num_patches=16, critic=critic, feature_mean_weight=weight
        )

    plain, loss = build(0.0), build(3.0)
    pred = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(1)) * 2 - 1
    target = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(2)) * 2 - 1
    pred.requires_grad_()
    locations = loss.draw_locations(pred.shape, torch.Generator().manual_seed(3))
    value = loss(pred, target, locations=locations)
    base = plain(pred, target, locations=locations)
    assert float(value) > float(base) + 1e-3
    for grad, want in zip(
        torch.autograd.grad(value, list(loss.extractor.parameters())),
        torch.autograd.grad(base, list(plain.extractor.parameters())),
    ):
        torch.testing.assert_close(grad, want, rtol=1e-4, atol=1e-6)
    grad_pred = torch.autograd.grad(loss(pred, target, locations=locations), pred)[0]
    base_pred = torch.autograd.grad(plain(pred, target, locations=locations), pred)[0]
    assert (grad_pred - base_pred).abs().sum() > 0  # the prediction does get the term's gradient


def _stripes(period, sharpness, shift=0.0, size=64):
    x = torch.arange(size, dtype=torch.float32)
    wave = torch.sin(2 * math.pi * (x + shift) / period)
    wave = torch.tanh(sharpness * wave) / math.tanh(sharpness)
    return (0.8 * wave).view(1, 1, 1, size).expand(1, 3, size, size).contiguous()


def test_the_term_sees_the_amount_of_detail_not_where_it_is(extractor):
    # Stripes moved by half a period cost little; the same stripes blurred cost more.
    loss = make_loss(extractor, head="identity", feature_mean_weight=1.0)
    plain = make_loss(extractor, head="identity")
    target = _stripes(8, 3.0)
    moved = _stripes(8, 3.0, shift=4.0)
    blurred = F.avg_pool2d(F.pad(target, (2, 2, 2, 2), mode="reflect"), 5, stride=1)

    def term(pred):
        g = torch.Generator().manual_seed(0)
        with torch.no_grad():
            return float(loss(pred, target, generator=g)) - float(
                plain(pred, target, generator=torch.Generator().manual_seed(0))
            )

    assert term(target) == pytest.approx(0.0, abs=1e-5)
    assert term(blurred) > 0.1
    assert term(moved) < 0.25 * term(blurred)


@pytest.mark.parametrize("value", [-1.0, True, "3", float("nan")])
def test_bad_argument_is_rejected(extractor, value):
    with pytest.raises(ValueError, match="feature_mean_weight: expected a number >= 0, got"):
        ContrastiveFeatureLoss(extractor=extractor, feature_mean_weight=value)
