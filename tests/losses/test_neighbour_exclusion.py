"""ContrastiveFeatureLoss(exclude_neighbours_within=...): sampled locations a few pixels apart are
not each other's negatives."""

import pytest
import torch

from cfl_lightning.losses import ContrastiveFeatureLoss
from cfl_lightning.networks import VGG19Features
from cfl_lightning.networks.critic_head import l2_normalize


def images(seed, batch=2, size=64):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(batch, 3, size, size, generator=g) * 2 - 1


def nce_without(q, k, out, temperature):
    """Mean PatchNCE of queries ``q`` (B, N, D) against detached keys ``k``, query negatives on,
    where ``out`` (N, N) removes ``k_j`` and ``q_j`` from row ``i``'s negatives; plain loops over
    the rows."""
    k = k.detach()
    n = q.shape[1]
    total = 0.0
    for b in range(q.shape[0]):
        for i in range(n):
            negatives = [j for j in range(n) if j != i and not out[i, j]]
            logits = [q[b, i] @ k[b, i]]
            logits += [q[b, i] @ k[b, j] for j in negatives]
            logits += [q[b, i] @ q[b, j] for j in negatives]
            row = torch.stack(logits) / temperature
            total = total + torch.logsumexp(row, 0) - row[0]
    return total / (q.shape[0] * n)


def reference_loss(loss, pred, target, locations, radius):
    """Independent CFL where locations at most ``radius`` pixels apart (Chebyshev distance in
    image pixels) are not negatives of each other."""
    feats_p, feats_t = loss.extractor(pred), loss.extractor(target)
    total = 0.0
    for name, row in zip(loss.layers, locations):
        fp, ft = feats_p[name], feats_t[name]
        stride, width = loss.extractor.strides[name], ft.shape[-1]
        idx = row[: min(loss.num_patches, ft.shape[-2] * width)]
        y, x = (idx // width).tolist(), (idx % width).tolist()
        out = torch.tensor(
            [
                [
                    max(abs(y[i] - y[j]), abs(x[i] - x[j])) * stride <= radius
                    for j in range(len(idx))
                ]
                for i in range(len(idx))
            ]
        )
        vp = fp.flatten(2)[:, :, idx].transpose(1, 2)
        vt = ft.flatten(2)[:, :, idx].transpose(1, 2)
        ep, et = l2_normalize(loss.heads[name](vp)), l2_normalize(loss.heads[name](vt))
        layer = nce_without(ep, et, out, loss.temperature) + nce_without(
            et, ep, out, loss.temperature
        )
        total = total + loss.layer_weights[name] * layer
    return total


def small_extractor():
    torch.manual_seed(0)
    return VGG19Features(layers=("relu2_1", "relu3_1", "relu4_1"), weights="random")


@pytest.mark.parametrize("radius", [2, 4, 8])
def test_value_and_gradient_match_an_independent_computation(radius):
    extractor = small_extractor()
    torch.manual_seed(1)
    loss = ContrastiveFeatureLoss(
        extractor=extractor, num_patches=24, exclude_neighbours_within=radius
    )
    pred, target = images(1, size=32).requires_grad_(), images(2, size=32)
    # 32x32 images: relu2_1 16x16 (24 of 256 drawn), relu3_1 8x8, relu4_1 4x4 (all 16: padded).
    locations = loss.draw_locations(pred.shape, torch.Generator().manual_seed(3))
    value = loss(pred, target, locations=locations)
    expected = reference_loss(loss, pred, target, locations, radius)
    torch.testing.assert_close(value, expected, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(
        torch.autograd.grad(value, pred)[0],
        torch.autograd.grad(expected, pred)[0],
        rtol=1e-4,
        atol=1e-8,
    )


def test_radius_below_the_finest_stride_keeps_the_paper_value_and_a_wide_one_leaves_no_negative():
    extractor = small_extractor()
    losses = {
        r: ContrastiveFeatureLoss(extractor=extractor, num_patches=24, exclude_neighbours_within=r)
        for r in (0, 1, 8, 100)
    }
    for loss in losses.values():
        loss.heads.load_state_dict(losses[0].heads.state_dict())
    pred, target = images(4, size=32), images(5, size=32)
    locations = losses[0].draw_locations(pred.shape, torch.Generator().manual_seed(0))
    with torch.no_grad():
        values = {r: loss(pred, target, locations=locations) for r, loss in losses.items()}
    assert torch.equal(values[1], values[0])  # neighbours are 2 px apart at stride 2
    assert values[8] < values[0] - 0.1  # fewer negatives, lower cross-entropy
    assert values[100] == 0  # every row is left with its positive alone


def test_combines_with_false_negatives_and_masks_the_critics_views_too():
    extractor = small_extractor()
    options = {"extractor": extractor, "num_patches": 24, "false_negative_threshold": 0.99}
    views = ContrastiveFeatureLoss(critic="target_views", exclude_neighbours_within=4, **options)
    joint = ContrastiveFeatureLoss(exclude_neighbours_within=4, **options)
    plain = ContrastiveFeatureLoss(critic="target_views", **options)
    joint.heads.load_state_dict(views.heads.state_dict())
    plain.heads.load_state_dict(views.heads.state_dict())
    pred, target = images(6, size=32), images(7, size=32)
    target[:, :, 16:] = 0.25  # alike patches for the threshold
    locations = views.draw_locations(pred.shape, torch.Generator().manual_seed(1))
    value = views(pred, target, locations=locations)
    # The generator's term is the joint loss with both exclusions ...
    torch.testing.assert_close(value, joint(pred, target, locations=locations))
    # ... and the heads learn from views whose neighbours are not negatives either.
    grads = torch.autograd.grad(value, list(views.heads.parameters()))
    unmasked = torch.autograd.grad(
        plain(pred, target, locations=locations), list(plain.heads.parameters())
    )
    assert all(torch.isfinite(g).all() for g in grads)
    assert not all(torch.allclose(g, u) for g, u in zip(grads, unmasked))


@pytest.mark.parametrize("radius", [-1, 2.5, True, "4"])
def test_radius_that_is_not_a_pixel_count_is_rejected(radius):
    with pytest.raises(ValueError, match=r"exclude_neighbours_within: expected an integer >= 0"):
        ContrastiveFeatureLoss(extractor=small_extractor(), exclude_neighbours_within=radius)


def test_extractor_without_strides_is_rejected():
    class NoStrides(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.channels = {"a": 3}

        def forward(self, x):
            return {"a": x}

    with pytest.raises(ValueError, match=r"exclude_neighbours_within: 4 pixels needs the"):
        ContrastiveFeatureLoss(extractor=NoStrides(), exclude_neighbours_within=4)
