"""ContrastiveFeatureLoss(critic="target_views"): heads trained on two views of the target."""

import pytest
import torch
from torch import nn

from cfl_lightning.losses import ContrastiveFeatureLoss, sample_patch_locations
from cfl_lightning.networks import VGG19Features
from cfl_lightning.networks.critic_head import l2_normalize
from tests.losses.compiled import assert_compiled_matches_eager


def images(seed, batch=2, size=64):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(batch, 3, size, size, generator=g) * 2 - 1


def make_pair(extractor, **kwargs):
    """The same loss (same heads) with the joint critic and with target views."""
    torch.manual_seed(0)
    joint = ContrastiveFeatureLoss(extractor=extractor, **kwargs)
    views = ContrastiveFeatureLoss(extractor=extractor, critic="target_views", **kwargs)
    views.heads.load_state_dict(joint.heads.state_dict())
    return joint, views


def shifted_by_indexing(x, shift):
    """``x`` moved ``shift`` pixels down and right, mirrored at the top/left border (index -k
    reads k), written with plain indexing."""
    rows = (torch.arange(x.shape[-2]) - shift).abs()
    cols = (torch.arange(x.shape[-1]) - shift).abs()
    return x[..., rows, :][..., cols]


def nce_direction(q, k, temperature, query_negatives):
    """Mean PatchNCE of queries ``q`` (B, N, D) against detached keys, plain autograd."""
    n = q.shape[1]
    k = k.detach()
    logits = torch.cat([q @ k.transpose(1, 2), q @ q.transpose(1, 2)], -1) / temperature
    eye = torch.eye(n, dtype=torch.bool)
    own = eye if query_negatives else torch.ones_like(eye)
    logits = logits.masked_fill(torch.cat([torch.zeros_like(eye), own], -1), float("-inf"))
    return (torch.logsumexp(logits, -1) - logits.diagonal(dim1=1, dim2=2)).mean()


def target_views_objective(loss, target, locations, shift):
    """Independent critic objective: PatchNCE between the target's features and those of its
    shifted copy, at the first min(num_patches, h*w) locations of each layer's row."""
    feats_t = loss.extractor(target)
    feats_s = loss.extractor(shifted_by_indexing(target, shift))
    total = 0.0
    for name, row in zip(loss.layers, locations):
        ft, fs = feats_t[name], feats_s[name]
        idx = row[: min(loss.num_patches, ft.shape[-2] * ft.shape[-1])]
        et = l2_normalize(loss.heads[name](ft.flatten(2)[:, :, idx].transpose(1, 2)))
        es = l2_normalize(loss.heads[name](fs.flatten(2)[:, :, idx].transpose(1, 2)))
        layer = nce_direction(et, es, loss.temperature, loss.query_negatives)
        if loss.bidirectional:
            layer = layer + nce_direction(es, et, loss.temperature, loss.query_negatives)
        total = total + loss.layer_weights[name] * layer
    return total


CASES = [
    # (head, bidirectional, query_negatives, batch); 64x64 images with 256 patches pad relu4_1
    # and relu5_1 (fewer locations than the other layers) in the batched computation.
    ("mlp", True, True, 2),
    ("mlp", False, True, 3),
    ("mlp", True, False, 2),
    ("linear", True, True, 2),
]


@pytest.mark.parametrize(("head", "bidirectional", "query_negatives", "batch"), CASES)
def test_value_and_pred_gradient_are_the_joint_ones_heads_train_on_target_views(
    extractor, head, bidirectional, query_negatives, batch
):
    kwargs = {"head": head, "bidirectional": bidirectional, "query_negatives": query_negatives}
    joint, views = make_pair(extractor, layer_weights=[4, 3, 2, 1], **kwargs)
    pred = images(1, batch).requires_grad_()
    target = images(2, batch)
    locations = joint.draw_locations(pred.shape, torch.Generator().manual_seed(3))

    expected = joint(pred, target, locations=locations)
    value = views(pred, target, locations=locations)
    torch.testing.assert_close(value, expected)

    (expected_pred_grad,) = torch.autograd.grad(expected, pred)
    heads = list(views.heads.parameters())
    pred_grad, *head_grads = torch.autograd.grad(value, [pred, *heads])
    torch.testing.assert_close(pred_grad, expected_pred_grad, rtol=1e-4, atol=1e-7)

    reference = target_views_objective(views, target, locations, views.view_shift)
    for grad, expected_grad in zip(head_grads, torch.autograd.grad(reference, heads)):
        torch.testing.assert_close(grad, expected_grad, rtol=1e-4, atol=1e-6)


def test_view_shift_sets_the_second_view(extractor):
    _, views = make_pair(extractor, num_patches=32)
    views.view_shift = 5
    pred, target = images(4).requires_grad_(), images(5)
    locations = views.draw_locations(pred.shape, torch.Generator().manual_seed(0))
    heads = list(views.heads.parameters())
    grads = torch.autograd.grad(views(pred, target, locations=locations), heads)
    reference = target_views_objective(views, target, locations, 5)
    for grad, expected in zip(grads, torch.autograd.grad(reference, heads)):
        torch.testing.assert_close(grad, expected, rtol=1e-4, atol=1e-6)
    shift_2 = target_views_objective(views, target, locations, 2)
    assert not torch.allclose(
        torch.autograd.grad(shift_2, heads[0])[0], grads[0], rtol=1e-3, atol=1e-6
    )


def test_no_gradient_reaches_the_target(extractor):
    _, views = make_pair(extractor, num_patches=32)
    pred, target = images(6).requires_grad_(), images(7).requires_grad_()
    views(pred, target).backward()
    assert target.grad is None
    assert pred.grad is not None and pred.grad.abs().sum() > 0
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in views.heads.parameters())
    assert all(p.grad is None for p in views.extractor.parameters())


def test_identity_heads_make_the_option_a_no_op(extractor):
    joint, views = make_pair(extractor, head="identity")
    assert list(views.critic_parameters()) == []
    pred, target = images(8).requires_grad_(), images(9)
    locations = joint.draw_locations(pred.shape, torch.Generator().manual_seed(1))
    value, expected = (
        views(pred, target, locations=locations),
        joint(pred, target, locations=locations),
    )
    assert torch.equal(value, expected)
    assert torch.equal(torch.autograd.grad(value, pred)[0], torch.autograd.grad(expected, pred)[0])


def test_without_gradients_the_value_is_the_joint_one(extractor):
    joint, views = make_pair(extractor)
    pred, target = images(10), images(11)
    locations = joint.draw_locations(pred.shape, torch.Generator().manual_seed(2))
    with torch.no_grad():
        assert torch.equal(
            views(pred, target, locations=locations), joint(pred, target, locations=locations)
        )


def test_frozen_heads_skip_the_views_and_give_the_joint_loss(extractor):
    # The views cost a VGG19 pass; with no critic parameter to train they are not computed.
    joint, views = make_pair(extractor)
    for parameter in views.critic_parameters():
        parameter.requires_grad_(False)
    seen = []
    hook = extractor.register_forward_hook(lambda module, args, out: seen.append(len(args[0])))
    try:
        pred, target = images(12).requires_grad_(), images(13)
        locations = joint.draw_locations(pred.shape, torch.Generator().manual_seed(3))
        value = views(pred, target, locations=locations)
        assert seen == [2, 2]  # the prediction, then the target: no shifted copy
        expected = joint(pred, target, locations=locations)
    finally:
        hook.remove()
    torch.testing.assert_close(value, expected)
    torch.testing.assert_close(
        torch.autograd.grad(value, pred)[0], torch.autograd.grad(expected, pred)[0]
    )


class TinyEncoder(nn.Module):
    """A trainable two-layer encoder (part of the critic)."""

    def __init__(self):
        super().__init__()
        self.channels = {"a": 4, "b": 8}
        self.a = nn.Conv2d(3, 4, 3, padding=1)
        self.b = nn.Conv2d(4, 8, 3, stride=2, padding=1)

    def forward(self, x):
        a = torch.relu(self.a(x))
        return {"a": a, "b": torch.relu(self.b(a))}


def test_trainable_extractor_is_trained_by_the_target_views_only():
    torch.manual_seed(0)
    joint = ContrastiveFeatureLoss(extractor=TinyEncoder(), num_patches=8)
    views = ContrastiveFeatureLoss(extractor=joint.extractor, num_patches=8, critic="target_views")
    views.heads.load_state_dict(joint.heads.state_dict())
    pred, target = images(12, size=16).requires_grad_(), images(13, size=16)
    locations = sample_patch_locations([16 * 16, 8 * 8], 8, "cpu", torch.Generator().manual_seed(4))
    critic = list(views.critic_parameters())
    assert len(critic) == len(list(views.heads.parameters())) + 4

    value = views(pred, target, locations=locations)
    expected = joint(pred, target, locations=locations)
    torch.testing.assert_close(value, expected)
    pred_grad, *critic_grads = torch.autograd.grad(value, [pred, *critic])
    torch.testing.assert_close(pred_grad, torch.autograd.grad(expected, pred)[0])
    reference = target_views_objective(views, target, locations, views.view_shift)
    for grad, expected_grad in zip(critic_grads, torch.autograd.grad(reference, critic)):
        torch.testing.assert_close(grad, expected_grad, rtol=1e-4, atol=1e-6)


def test_heads_trained_on_target_views_lower_that_objective(extractor):
    _, views = make_pair(extractor, num_patches=16)
    optimizer = torch.optim.Adam(views.critic_parameters(), lr=1e-3)
    pred, target = images(14), images(15)
    locations = views.draw_locations(pred.shape, torch.Generator().manual_seed(5))
    with torch.no_grad():
        before = float(target_views_objective(views, target, locations, 2))
    for _ in range(5):
        optimizer.zero_grad()
        views(pred, target, locations=locations).backward()
        optimizer.step()
    with torch.no_grad():
        assert float(target_views_objective(views, target, locations, 2)) < before - 0.1


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (
            {"critic": "frozen"},
            r"critic: expected one of \('joint', 'target_views'\), got 'frozen'",
        ),
        ({"critic": "target_views", "view_shift": 0}, "view_shift: expected an integer >= 1"),
        ({"critic": "target_views", "view_shift": 1.5}, r"view_shift: .* got 1\.5"),
        ({"critic": "target_views", "view_shift": True}, r"view_shift: .* got True"),
    ],
)
def test_bad_arguments_raise_clear_errors(extractor, kwargs, match):
    with pytest.raises(ValueError, match=match):
        ContrastiveFeatureLoss(extractor=extractor, **kwargs)


def test_shift_as_large_as_the_images_is_rejected(extractor):
    _, views = make_pair(extractor)
    views.view_shift = 64
    with pytest.raises(ValueError, match=r"view_shift: expected fewer pixels .* got 64 for 64x64"):
        views(images(16), images(17))


def test_compiles_to_one_graph_equal_to_eager():
    torch.manual_seed(0)
    small = VGG19Features(layers=("relu1_1", "relu2_1"), weights="random")
    loss = ContrastiveFeatureLoss(extractor=small, num_patches=64, critic="target_views")
    pred = images(18, size=32).requires_grad_()
    target = images(19, size=32)
    locations = loss.draw_locations(pred.shape, torch.Generator().manual_seed(0))
    assert_compiled_matches_eager(loss, pred, target, locations)


@pytest.mark.slow
def test_bfloat16_autocast_close_to_float32(extractor):
    _, views = make_pair(extractor, num_patches=64)
    # 48x48 (relu5_1 still 3x3): bfloat16 convolutions are slow on CPUs without native support.
    pred, target = images(20, size=48).requires_grad_(), images(21, size=48)
    locations = views.draw_locations(pred.shape, torch.Generator().manual_seed(0))
    heads = list(views.heads.parameters())
    reference = views(pred, target, locations=locations)
    reference_grads = torch.autograd.grad(reference, heads)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        value = views(pred, target, locations=locations)
    assert value.dtype == torch.float32
    torch.testing.assert_close(value, reference, rtol=0.05, atol=0)
    for grad, expected in zip(torch.autograd.grad(value, heads), reference_grads):
        assert grad.dtype == torch.float32
        cosine = torch.nn.functional.cosine_similarity(grad.flatten(), expected.flatten(), 0)
        assert cosine > 0.9
