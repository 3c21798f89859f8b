"""ContrastiveFeatureLoss(center_features=True): features centred by the target's per-channel
spatial mean before the heads."""

import pytest
import torch

from cfl_lightning.losses import ContrastiveFeatureLoss
from cfl_lightning.networks.critic_head import l2_normalize
from tests.losses.test_contrastive_feature import images, make_loss, reference_direction


def reference_loss(loss, query_image, key_image, locations):
    """Bidirectional CFL, uniform layer weights, every feature vector minus the key image's
    per-channel spatial mean (``key_image`` is the target)."""
    feats_q, feats_k = loss.extractor(query_image), loss.extractor(key_image)
    total = 0.0
    for name, row in zip(loss.layers, locations):
        mean = feats_k[name].mean((2, 3))[:, None, :]  # (B, 1, C)
        idx = row[: min(loss.num_patches, feats_k[name].shape[-2] * feats_k[name].shape[-1])]
        vq = feats_q[name].flatten(2)[:, :, idx].transpose(1, 2) - mean
        vk = feats_k[name].flatten(2)[:, :, idx].transpose(1, 2) - mean
        eq, ek = l2_normalize(loss.heads[name](vq)), l2_normalize(loss.heads[name](vk))
        layer = reference_direction(eq, ek, loss.temperature, loss.query_negatives)
        layer = layer + reference_direction(ek, eq, loss.temperature, loss.query_negatives)
        total = total + layer / len(loss.layers)
    return total


@pytest.mark.parametrize("num_patches", [16, 256])  # 256: the small layers are padded
def test_value_and_gradients_match_independent_computation(extractor, num_patches):
    loss = make_loss(extractor, center_features=True, num_patches=num_patches)
    pred = images(1).requires_grad_()
    target = images(2)
    locations = loss.draw_locations(pred.shape, torch.Generator().manual_seed(4))
    value = loss(pred, target, locations=locations)
    expected = reference_loss(loss, pred, target, locations)
    torch.testing.assert_close(value, expected)
    inputs = [pred, *loss.heads.parameters()]
    for grad, want in zip(
        torch.autograd.grad(value, inputs), torch.autograd.grad(expected, inputs)
    ):
        torch.testing.assert_close(grad, want, rtol=1e-4, atol=1e-6)
    plain = make_loss(extractor, num_patches=num_patches)(pred, target, locations=locations)
    assert abs(float(plain) - float(value)) > 1e-3  # the option changes the loss


def test_target_views_critic_is_centred_by_the_same_target_mean(extractor):
    kwargs = {"center_features": True, "num_patches": 16}
    joint = make_loss(extractor, **kwargs)
    views = make_loss(extractor, critic="target_views", **kwargs)
    pred = images(3).requires_grad_()
    target = images(4)
    locations = views.draw_locations(pred.shape, torch.Generator().manual_seed(5))
    value = views(pred, target, locations=locations)
    expected = joint(pred, target, locations=locations)
    torch.testing.assert_close(value, expected)  # the generator's term
    # The heads' gradient: the target against its copy moved 2 pixels, both centred by the
    # target's mean.
    rows = (torch.arange(64) - 2).abs()
    shifted = target[..., rows, :][..., rows]
    feats_t, feats_s = views.extractor(target), views.extractor(shifted)
    critic = 0.0
    for name, row in zip(views.layers, locations):
        mean = feats_t[name].mean((2, 3))[:, None, :]
        et, es = (
            l2_normalize(views.heads[name](f[name].flatten(2)[:, :, row].transpose(1, 2) - mean))
            for f in (feats_t, feats_s)
        )
        layer = reference_direction(et, es) + reference_direction(es, et)
        critic = critic + layer / len(views.layers)
    heads = list(views.heads.parameters())
    for grad, want in zip(torch.autograd.grad(value, heads), torch.autograd.grad(critic, heads)):
        torch.testing.assert_close(grad, want, rtol=1e-4, atol=1e-6)


def test_a_global_shift_of_the_prediction_stays_visible(extractor):
    # Centring by the target's mean, not each image's own: a brighter copy of the target costs more.
    loss = make_loss(extractor, center_features=True, head="identity")
    target = images(6) * 0.5
    with torch.no_grad():
        same = loss(target, target, generator=torch.Generator().manual_seed(7))
        brighter = loss(target + 0.4, target, generator=torch.Generator().manual_seed(7))
    assert float(brighter) > float(same) + 0.05


@pytest.mark.parametrize("value", [1, "yes", None])
def test_bad_argument_is_rejected(extractor, value):
    with pytest.raises(ValueError, match="center_features: expected True or False, got"):
        ContrastiveFeatureLoss(extractor=extractor, center_features=value)
