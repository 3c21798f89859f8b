"""ContrastiveFeatureLoss(false_negative_threshold=...): patches whose target features are alike
are not each other's negatives."""

import pytest
import torch

from cfl_lightning.losses import ContrastiveFeatureLoss
from cfl_lightning.networks import VGG19Features
from cfl_lightning.networks.critic_head import l2_normalize
from tests.losses.compiled import assert_compiled_matches_eager


def images(seed, batch=2, size=64):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(batch, 3, size, size, generator=g) * 2 - 1


def half_flat(seed, batch=2, size=64):
    """Random images whose bottom half is one flat grey: many identical target patches."""
    x = images(seed, batch, size)
    x[:, :, size // 2 :] = 0.25
    return x


def masked_nce(q, k, alike, temperature, query_negatives):
    """Mean PatchNCE of queries ``q`` (B, N, D) against detached keys ``k``, where ``alike``
    (B, N, N) removes ``k_j`` and ``q_j`` from row ``i``'s negatives; plain autograd."""
    n = q.shape[1]
    k = k.detach()
    eye = torch.eye(n, dtype=torch.bool)
    key_out = alike & ~eye  # never the positive
    query_out = alike | eye if query_negatives else torch.ones_like(alike)
    logits = torch.cat([q @ k.transpose(1, 2), q @ q.transpose(1, 2)], -1) / temperature
    logits = logits.masked_fill(torch.cat([key_out, query_out], -1), float("-inf"))
    return (torch.logsumexp(logits, -1) - logits.diagonal(dim1=1, dim2=2)).mean()


def shifted_by_indexing(x, shift):
    """``x`` moved ``shift`` pixels down and right, mirrored at the top/left border."""
    rows = (torch.arange(x.shape[-2]) - shift).abs()
    cols = (torch.arange(x.shape[-1]) - shift).abs()
    return x[..., rows, :][..., cols]


def reference_loss(loss, pred, target, locations, threshold):
    """Independent CFL with false negatives left out: per layer, the key patches' feature cosine
    similarities above ``threshold`` mark pairs that are not negatives of each other. ``pred`` is
    the query image and ``target`` the key image (for the critic: the target and its shifted
    copy)."""
    feats_p, feats_t = loss.extractor(pred), loss.extractor(target)
    total = 0.0
    for name, row in zip(loss.layers, locations):
        fp, ft = feats_p[name], feats_t[name]
        idx = row[: min(loss.num_patches, ft.shape[-2] * ft.shape[-1])]
        vp = fp.flatten(2)[:, :, idx].transpose(1, 2)
        vt = ft.flatten(2)[:, :, idx].transpose(1, 2)
        unit = torch.nn.functional.normalize(vt.detach(), dim=-1)
        alike = unit @ unit.transpose(1, 2) > threshold
        ep, et = l2_normalize(loss.heads[name](vp)), l2_normalize(loss.heads[name](vt))
        layer = masked_nce(ep, et, alike, loss.temperature, loss.query_negatives)
        if loss.bidirectional:
            layer = layer + masked_nce(et, ep, alike, loss.temperature, loss.query_negatives)
        total = total + loss.layer_weights[name] * layer
    return total


@pytest.mark.parametrize(
    ("head", "query_negatives", "bidirectional", "threshold"),
    [("mlp", True, True, 0.99), ("identity", True, True, 0.9), ("mlp", False, False, 0.95)],
)
def test_value_and_gradient_match_an_independent_computation(
    extractor, head, query_negatives, bidirectional, threshold
):
    torch.manual_seed(0)
    loss = ContrastiveFeatureLoss(
        extractor=extractor,
        head=head,
        query_negatives=query_negatives,
        bidirectional=bidirectional,
        false_negative_threshold=threshold,
    )
    pred, target = images(1).requires_grad_(), half_flat(2)
    # 64x64 images, 256 patches: relu4_1 and relu5_1 are padded in the batched computation.
    locations = loss.draw_locations(pred.shape, torch.Generator().manual_seed(3))
    value = loss(pred, target, locations=locations)
    expected = reference_loss(loss, pred, target, locations, threshold)
    torch.testing.assert_close(value, expected, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(
        torch.autograd.grad(value, pred)[0],
        torch.autograd.grad(expected, pred)[0],
        rtol=1e-4,
        atol=1e-8,
    )


def test_alike_targets_change_the_loss_and_none_keeps_the_paper_value(extractor):
    torch.manual_seed(0)
    paper = ContrastiveFeatureLoss(extractor=extractor)
    masked = ContrastiveFeatureLoss(extractor=extractor, false_negative_threshold=0.99)
    masked.heads.load_state_dict(paper.heads.state_dict())
    pred, target = images(4), half_flat(5)
    locations = paper.draw_locations(pred.shape, torch.Generator().manual_seed(0))
    with torch.no_grad():
        full = paper(pred, target, locations=locations)
        fewer = masked(pred, target, locations=locations)
        # Random targets have no alike patches: nothing is left out.
        random_target = images(6)
        same = masked(pred, random_target, locations=locations)
        assert torch.equal(same, paper(pred, random_target, locations=locations))
    assert fewer < full - 0.1  # fewer negatives, lower cross-entropy


def test_critic_on_target_views_masks_its_own_pairs_and_trains(extractor):
    torch.manual_seed(0)
    views = ContrastiveFeatureLoss(
        extractor=extractor, critic="target_views", false_negative_threshold=0.99, num_patches=64
    )
    joint = ContrastiveFeatureLoss(
        extractor=extractor, false_negative_threshold=0.99, num_patches=64
    )
    joint.heads.load_state_dict(views.heads.state_dict())
    pred, target = images(8).requires_grad_(), half_flat(9)
    locations = views.draw_locations(pred.shape, torch.Generator().manual_seed(2))
    value = views(pred, target, locations=locations)
    # The generator's term is the masked joint value ...
    torch.testing.assert_close(value, joint(pred, target, locations=locations))
    # ... and the heads' gradient that of the masked PatchNCE between the target and its
    # shifted copy, whose features decide which patches are alike.
    heads = list(views.heads.parameters())
    critic = reference_loss(views, target, shifted_by_indexing(target, 2), locations, 0.99)
    for grad, expected in zip(
        torch.autograd.grad(value, heads), torch.autograd.grad(critic, heads)
    ):
        torch.testing.assert_close(grad, expected, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("threshold", [1.0, 1.5, -1.5, float("nan")])
def test_threshold_outside_the_cosine_range_is_rejected(extractor, threshold):
    with pytest.raises(ValueError, match=r"false_negative_threshold: expected None or a cosine"):
        ContrastiveFeatureLoss(extractor=extractor, false_negative_threshold=threshold)


def test_compiles_to_one_graph_equal_to_eager():
    torch.manual_seed(0)
    small = VGG19Features(layers=("relu1_1", "relu2_1"), weights="random")
    loss = ContrastiveFeatureLoss(
        extractor=small, num_patches=64, critic="target_views", false_negative_threshold=0.99
    )
    pred, target = images(10, size=32).requires_grad_(), half_flat(11, size=32)
    locations = loss.draw_locations(pred.shape, torch.Generator().manual_seed(0))
    assert_compiled_matches_eager(loss, pred, target, locations)
