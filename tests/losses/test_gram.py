"""Gram matrices, their relative distance, and ContrastiveFeatureLoss(gram_weight=w)."""

import math

import pytest
import torch
import torch.nn.functional as F

from cfl_lightning.losses import ContrastiveFeatureLoss
from cfl_lightning.losses.gram import gram_matrices, relative_gram_distance
from cfl_lightning.networks import ConvEncoderFeatures
from tests.losses.test_contrastive_feature import images, make_loss


def loop_gram(features):
    """Per image and channel pair, the mean over locations of the product (plain loops)."""
    b, c = features.shape[:2]
    out = torch.zeros(b, c, c)
    for n in range(b):
        for i in range(c):
            for j in range(c):
                out[n, i, j] = (features[n, i] * features[n, j]).mean()
    return out


def test_gram_matrices_against_loops():
    features = torch.randn(2, 3, 4, 5, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(gram_matrices(features), loop_gram(features))
    assert gram_matrices(features.half()).dtype == torch.float32


def test_relative_distance_against_independent_computation():
    g = torch.Generator().manual_seed(1)
    pred = {"a": torch.randn(2, 3, 4, 4, generator=g), "b": torch.randn(2, 5, 2, 2, generator=g)}
    target = {"a": torch.randn(2, 3, 4, 4, generator=g), "b": torch.randn(2, 5, 2, 2, generator=g)}
    want = 0.25 * (loop_gram(pred["a"]) - loop_gram(target["a"])).abs().mean() / loop_gram(
        target["a"]
    ).abs().mean() + 0.75 * (loop_gram(pred["b"]) - loop_gram(target["b"])).abs().mean() / (
        loop_gram(target["b"]).abs().mean()
    )
    value = relative_gram_distance(pred, target, {"a": 0.25, "b": 0.75})
    torch.testing.assert_close(value, want)
    assert float(relative_gram_distance(target, target, {"a": 0.25, "b": 0.75})) == 0.0


def reference_term(extractor, layers, layer_weights, pred, target):
    """Per layer mean|G_p - G_t| / mean|G_t| (loops), weighted sum."""
    feats_p, feats_t = extractor(pred), extractor(target.detach())
    total = 0.0
    for name, weight in zip(layers, layer_weights):
        flat_p, flat_t = feats_p[name].flatten(2), feats_t[name].flatten(2)
        g_p = torch.einsum("bil,bjl->bij", flat_p, flat_p) / flat_p.shape[-1]
        g_t = torch.einsum("bil,bjl->bij", flat_t, flat_t) / flat_t.shape[-1]
        total = total + weight * (g_p - g_t).abs().mean() / g_t.abs().mean()
    return total


@pytest.mark.parametrize("critic", ["joint", "target_views"])
def test_loss_value_and_gradients_match_independent_computation(extractor, critic):
    weights = [1.0, 2.0, 3.0, 4.0]
    plain = make_loss(extractor, critic=critic, num_patches=16, layer_weights=weights)
    loss = make_loss(
        extractor, critic=critic, num_patches=16, layer_weights=weights, gram_weight=2.5
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
    def build(weight):
        torch.manual_seed(0)
        encoder = ConvEncoderFeatures(widths=(4, 8, 8), trainable=True)
        return ContrastiveFeatureLoss(
            extractor=encoder, num_patches=16, critic=critic, gram_weight=weight
        )

    plain, loss = build(0.0), build(3.0)
    pred = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(1)) * 2 - 1
    target = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(2)) * 2 - 1
    pred.requires_grad_()
    locations = loss.draw_locations(pred.shape, torch.Generator().manual_seed(3))
    value = loss(pred, target, locations=locations)
    base = plain(pred, target, locations=locations)
    assert float(value.detach()) > float(base.detach()) + 1e-3
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
    wave = torch.tanh(sharpness * torch.sin(2 * math.pi * (x + shift) / period))
    wave = wave / math.tanh(sharpness)
    return (0.8 * wave).view(1, 1, 1, size).expand(1, 3, size, size).contiguous()


def test_the_term_sees_the_amount_of_detail_not_where_it_is(extractor):
    # Stripes moved by half a period cost little; the same stripes blurred cost more.
    loss = make_loss(extractor, head="identity", gram_weight=1.0)
    plain = make_loss(extractor, head="identity")
    target = _stripes(8, 3.0)
    moved = _stripes(8, 3.0, shift=4.0)
    blurred = F.avg_pool2d(F.pad(target, (2, 2, 2, 2), mode="reflect"), 5, stride=1)

    def term(pred):
        with torch.no_grad():
            return float(loss(pred, target, generator=torch.Generator().manual_seed(0))) - float(
                plain(pred, target, generator=torch.Generator().manual_seed(0))
            )

    assert term(target) == pytest.approx(0.0, abs=1e-5)
    assert term(blurred) > 0.1
    assert term(moved) < 0.25 * term(blurred)


@pytest.mark.parametrize("value", [-1.0, True, "3", float("nan")])
def test_bad_argument_is_rejected(extractor, value):
    with pytest.raises(ValueError, match="gram_weight: expected a number >= 0, got"):
        ContrastiveFeatureLoss(extractor=extractor, gram_weight=value)
