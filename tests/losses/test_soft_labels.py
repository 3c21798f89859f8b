"""ContrastiveFeatureLoss(soft_labels=True): the generator's PatchNCE rows are matched to the
target's own patch similarities (KL divergence) instead of one-hot positives."""

import pytest
import torch

from cfl_lightning.losses import ContrastiveFeatureLoss
from cfl_lightning.networks import VGG19Features
from cfl_lightning.networks.critic_head import l2_normalize
from tests.losses.compiled import assert_compiled_matches_eager
from tests.losses.test_false_negatives import (
    assert_value_and_gradient_close,
    half_flat,
    images,
    reference_loss,
    shifted_by_indexing,
)


def soft_nce(q, k, labels_from, alike, temperature, query_negatives):
    """Mean KL divergence per row of queries ``q`` (B, N, D) against detached keys ``k``, from
    labels that are the softmax of ``labels_from``'s (the target's) similarities over the same
    columns; ``alike`` (B, N, N) removes pairs as false negatives. Plain autograd."""
    n = q.shape[1]
    k, t = k.detach(), labels_from.detach()
    eye = torch.eye(n, dtype=torch.bool)
    key_out = alike & ~eye
    query_out = alike | eye if query_negatives else torch.ones_like(alike)
    mask = torch.cat([key_out, query_out], -1)
    logits = torch.cat([q @ k.transpose(1, 2), q @ q.transpose(1, 2)], -1) / temperature
    log_p = torch.log_softmax(logits.masked_fill(mask, float("-inf")), -1)
    similarity = t @ t.transpose(1, 2) / temperature
    labels = torch.cat([similarity, similarity], -1).masked_fill(mask, float("-inf"))
    labels = torch.softmax(labels, -1)
    return torch.where(labels > 0, labels * (labels.log() - log_p), 0.0).sum(-1).mean()


def reference_soft_loss(loss, pred, target, locations, threshold=None):
    """Independent soft-label CFL, layer by layer (``threshold``: false negatives, or None)."""
    feats_p, feats_t = loss.extractor(pred), loss.extractor(target)
    total = 0.0
    for name, row in zip(loss.layers, locations):
        fp, ft = feats_p[name], feats_t[name]
        idx = row[: min(loss.num_patches, ft.shape[-2] * ft.shape[-1])]
        vp = fp.flatten(2)[:, :, idx].transpose(1, 2)
        vt = ft.flatten(2)[:, :, idx].transpose(1, 2)
        unit = torch.nn.functional.normalize(vt.detach(), dim=-1)
        alike = unit @ unit.transpose(1, 2) > (2.0 if threshold is None else threshold)
        ep, et = l2_normalize(loss.heads[name](vp)), l2_normalize(loss.heads[name](vt))
        args = (alike, loss.temperature, loss.query_negatives)
        layer = soft_nce(ep, et, et, *args)
        if loss.bidirectional:
            layer = layer + soft_nce(et, ep, et, *args)
        total = total + loss.layer_weights[name] * layer
    return total


@pytest.mark.parametrize(
    ("critic", "head", "query_negatives", "threshold"),
    [
        ("target_views", "mlp", True, None),
        ("target_views", "mlp", True, 0.99),
        ("target_views", "linear", False, None),
        ("joint", "identity", True, 0.95),
    ],
)
def test_value_and_gradient_match_an_independent_computation(
    extractor, critic, head, query_negatives, threshold
):
    torch.manual_seed(0)
    loss = ContrastiveFeatureLoss(
        extractor=extractor,
        critic=critic,
        head=head,
        query_negatives=query_negatives,
        false_negative_threshold=threshold,
        soft_labels=True,
    )
    pred, target = images(1).requires_grad_(), half_flat(2)
    # 64x64 images, 256 patches: relu4_1 and relu5_1 are padded in the batched computation.
    locations = loss.draw_locations(pred.shape, torch.Generator().manual_seed(3))
    value = loss(pred, target, locations=locations)
    assert_value_and_gradient_close(
        value, reference_soft_loss(loss, pred, target, locations, threshold), pred
    )
    if critic == "target_views":
        # The heads learn from the target's two views with one-hot labels, as without the option.
        heads = list(loss.heads.parameters())
        shifted = shifted_by_indexing(target, 2)
        critic_term = reference_loss(loss, target, shifted, locations, threshold or 2.0)
        for grad, wanted in zip(
            torch.autograd.grad(value, heads), torch.autograd.grad(critic_term, heads)
        ):
            torch.testing.assert_close(grad, wanted, rtol=1e-4, atol=1e-6)


def test_zero_at_the_target_and_positive_for_a_blurred_prediction(extractor):
    torch.manual_seed(0)
    loss = ContrastiveFeatureLoss(extractor=extractor, critic="target_views", soft_labels=True)
    target = images(4)
    blurred = torch.nn.functional.avg_pool2d(target, 5, 1, 2, count_include_pad=False)
    locations = loss.draw_locations(target.shape, torch.Generator().manual_seed(0))
    with torch.no_grad():
        exact = loss(target.clone(), target, locations=locations)
        blur = loss(blurred, target, locations=locations)
    assert abs(float(exact)) < 1e-4
    assert blur > 0.5


def test_off_by_default_and_one_hot_values_unchanged(extractor):
    torch.manual_seed(0)
    default = ContrastiveFeatureLoss(extractor=extractor, critic="target_views")
    soft = ContrastiveFeatureLoss(extractor=extractor, critic="target_views", soft_labels=True)
    soft.heads.load_state_dict(default.heads.state_dict())
    assert default.soft_labels is False
    pred, target = images(6), half_flat(7)
    locations = default.draw_locations(pred.shape, torch.Generator().manual_seed(1))
    with torch.no_grad():
        hard_value = default(pred, target, locations=locations)
        soft_value = soft(pred, target, locations=locations)
    # A KL divergence to labels that spread over alike patches is below the cross-entropy.
    assert 0 < soft_value < hard_value


@pytest.mark.parametrize("head", ["mlp", "linear"])
def test_joint_critic_with_trainable_heads_is_refused(extractor, head):
    with pytest.raises(ValueError, match=r"soft_labels: True needs critic='target_views'.*head="):
        ContrastiveFeatureLoss(extractor=extractor, head=head, soft_labels=True)


def test_compiles_to_one_graph_equal_to_eager():
    torch.manual_seed(0)
    small = VGG19Features(layers=("relu1_1", "relu2_1"), weights="random")
    loss = ContrastiveFeatureLoss(
        extractor=small, num_patches=64, critic="target_views", soft_labels=True
    )
    pred, target = images(10, size=32).requires_grad_(), half_flat(11, size=32)
    locations = loss.draw_locations(pred.shape, torch.Generator().manual_seed(0))
    assert_compiled_matches_eager(loss, pred, target, locations)
