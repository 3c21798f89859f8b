"""ContrastiveFeatureLoss(detail_negatives=sigma): a three-way contrast between the key and the
target blurred and sharpened at the query's own location."""

import math

import pytest
import torch
from torchvision.transforms.functional import gaussian_blur as torchvision_blur

from cfl_lightning.losses.detail_negatives import add_detail_contrast, detail_copies, gaussian_blur
from cfl_lightning.networks.critic_head import l2_normalize
from tests.losses.test_contrastive_feature import images, make_loss


def nce_rows(q, k, temperature=0.07):
    """Per-row PatchNCE of queries ``q`` (B, N, D) against detached keys ``k``, the other
    queries as negatives; plain autograd."""
    n = q.shape[1]
    k = k.detach()
    logits = torch.cat([q @ k.transpose(1, 2), q @ q.transpose(1, 2)], -1) / temperature
    mask = torch.cat([torch.zeros(n, n, dtype=torch.bool), torch.eye(n, dtype=torch.bool)], -1)
    logits = logits.masked_fill(mask, float("-inf"))
    return torch.logsumexp(logits, -1) - logits.diagonal(dim1=1, dim2=2)


def detail_rows(q, k, b, s, temperature=0.07):
    """Per-row cross-entropy of ``[q.k, q.b, q.s] / temperature``, positive first, row by row."""
    rows = torch.zeros(q.shape[:2])
    for image in range(q.shape[0]):
        for i in range(q.shape[1]):
            logits = torch.stack([q[image, i] @ x[image, i].detach() for x in (k, b, s)])
            rows[image, i] = torch.logsumexp(logits / temperature, 0) - logits[0] / temperature
    return rows


def blurred_and_sharpened(images, sigma=1.0):
    size = 2 * math.ceil(3 * sigma) + 1
    blurred = torchvision_blur(images, [size, size], [sigma, sigma])
    return blurred, images + (images - blurred)


def reference_loss(loss, query_image, key_image, target, locations):
    """CFL of ``query_image`` against ``key_image`` (bidirectional, uniform layer weights) with
    the detail contrast against ``target`` blurred and sharpened (torchvision's blur) added to
    every query row."""
    blurred, sharpened = blurred_and_sharpened(target, loss.detail_negatives)
    feats = [loss.extractor(x) for x in (query_image, key_image, blurred, sharpened)]
    total = 0.0
    for name, row in zip(loss.layers, locations):
        idx = row[: min(loss.num_patches, feats[1][name].shape[-2] * feats[1][name].shape[-1])]
        eq, ek, eb, es = (
            l2_normalize(loss.heads[name](f[name].flatten(2)[:, :, idx].transpose(1, 2)))
            for f in feats
        )
        query = nce_rows(eq, ek, loss.temperature) + detail_rows(eq, ek, eb, es, loss.temperature)
        layer = query.mean() + nce_rows(ek, eq, loss.temperature).mean()
        total = total + layer / len(loss.layers)
    return total


def test_gaussian_blur_matches_torchvision():
    x = images(0, size=32)
    for sigma in (0.5, 1.0, 2.0):
        size = 2 * int(torch.tensor(3 * sigma).ceil()) + 1
        expected = torchvision_blur(x, [size, size], [sigma, sigma])
        torch.testing.assert_close(gaussian_blur(x, sigma), expected, rtol=1e-5, atol=1e-6)
    assert gaussian_blur(x, 1.0).shape == x.shape


@pytest.mark.parametrize(
    ("sigma", "size", "match"),
    [(0.0, 32, "sigma: expected a value > 0"), (-1.0, 32, "got -1.0"), (2.0, 6, "radius of 6")],
)
def test_gaussian_blur_rejects_bad_sigma(sigma, size, match):
    with pytest.raises(ValueError, match=match):
        gaussian_blur(images(0, size=size), sigma)


@pytest.mark.parametrize("value", [0, -0.5, True, "1"])
def test_bad_sigma_argument_is_rejected(extractor, value):
    with pytest.raises(ValueError, match="detail_negatives: expected None or a Gaussian sigma"):
        make_loss(extractor, detail_negatives=value)


def test_detail_copies_are_the_blur_and_the_unsharp_mask():
    x = images(0, size=32)
    blurred, sharpened = detail_copies(x, 1.0)
    want_blurred, want_sharpened = blurred_and_sharpened(x)
    torch.testing.assert_close(blurred, want_blurred, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(sharpened, want_sharpened, rtol=1e-5, atol=1e-6)


def test_value_and_gradients_match_independent_computation(extractor):
    loss = make_loss(extractor, detail_negatives=1.0, num_patches=16)
    pred = images(1).requires_grad_()
    target = images(2)
    locations = loss.draw_locations(pred.shape, torch.Generator().manual_seed(4))
    value = loss(pred, target, locations=locations)
    expected = reference_loss(loss, pred, target, target, locations)
    torch.testing.assert_close(value, expected)
    inputs = [pred, *loss.heads.parameters()]
    for grad, want in zip(
        torch.autograd.grad(value, inputs), torch.autograd.grad(expected, inputs)
    ):
        torch.testing.assert_close(grad, want, rtol=1e-4, atol=1e-6)


def test_padded_layers_match_the_reference(extractor):
    # 256 patches: relu4_1 and relu5_1 have fewer locations and are padded in the batched call.
    loss = make_loss(extractor, detail_negatives=1.0)
    pred = images(11).requires_grad_()
    target = images(12)
    locations = loss.draw_locations(pred.shape, torch.Generator().manual_seed(13))
    value = loss(pred, target, locations=locations)
    blurred, sharpened = blurred_and_sharpened(target)
    feats = [loss.extractor(x) for x in (pred, target, blurred, sharpened)]
    expected = 0.0
    for name, row in zip(loss.layers, locations):
        idx = row[: min(256, feats[1][name].shape[-2] * feats[1][name].shape[-1])]
        eq, ek, eb, es = (
            l2_normalize(loss.heads[name](f[name].flatten(2)[:, :, idx].transpose(1, 2)))
            for f in feats
        )
        logits = torch.stack([(eq * x).sum(-1) for x in (ek, eb, es)]) / loss.temperature
        contrast = (torch.logsumexp(logits, 0) - logits[0]).mean()
        layer = nce_rows(eq, ek).mean() + nce_rows(ek, eq).mean() + contrast
        expected = expected + layer / 4
    torch.testing.assert_close(value, expected)
    torch.testing.assert_close(
        torch.autograd.grad(value, pred)[0],
        torch.autograd.grad(expected, pred)[0],
        rtol=1e-4,
        atol=1e-6,
    )


def test_target_views_critic_learns_the_contrast_and_the_generator_term_is_unchanged(extractor):
    joint = make_loss(extractor, detail_negatives=1.0, num_patches=16)
    views = make_loss(extractor, detail_negatives=1.0, num_patches=16, critic="target_views")
    pred = images(3).requires_grad_()
    target = images(4)
    locations = views.draw_locations(pred.shape, torch.Generator().manual_seed(5))
    value = views(pred, target, locations=locations)
    expected = joint(pred, target, locations=locations)
    torch.testing.assert_close(value, expected)  # the generator's term
    torch.testing.assert_close(
        torch.autograd.grad(value, pred)[0], torch.autograd.grad(expected, pred)[0]
    )
    # The heads' gradient is the critic's term's alone: the target against its copy moved
    # view_shift = 2 pixels down and right, with the target's detail copies (not moved).
    value = views(pred, target, locations=locations)
    rows = (torch.arange(64) - 2).abs()
    shifted = target[..., rows, :][..., rows]
    critic = reference_loss(views, target, shifted, target, locations)
    heads = list(views.heads.parameters())
    for grad, want in zip(torch.autograd.grad(value, heads), torch.autograd.grad(critic, heads)):
        torch.testing.assert_close(grad, want, rtol=1e-4, atol=1e-6)


def test_blur_and_over_sharpening_cost_more_than_the_target_level_of_detail(extractor):
    # Identity heads (no critic to train): the contrast on the features alone. Smooth images with
    # some texture, as photographs, where blurring and sharpening change the detail only.
    g = torch.Generator().manual_seed(6)
    coarse = torch.nn.functional.interpolate(
        torch.rand(3, 3, 16, 16, generator=g) * 2 - 1, size=64, mode="bicubic"
    )
    target = (0.8 * coarse + 0.2 * (torch.rand(3, 3, 64, 64, generator=g) * 2 - 1)).clamp(-1, 1)
    blurred, sharpened = detail_copies(target, 1.0)
    plain = make_loss(extractor, head="identity")
    detail = make_loss(extractor, head="identity", detail_negatives=1.0)
    added = {}
    with torch.no_grad():
        for name, pred in {"target": target, "blurred": blurred, "sharpened": sharpened}.items():
            pred = pred.clamp(-1, 1)
            before = plain(pred, target, generator=torch.Generator().manual_seed(7))
            after = detail(pred, target, generator=torch.Generator().manual_seed(7))
            added[name] = float(after - before)
    assert added["blurred"] > added["target"] + 0.03
    assert added["sharpened"] > added["target"] + 0.03


def test_left_out_where_the_copies_are_alike_the_target(extractor):
    # A flat target is its own blur and sharpening: with false negatives left out, no contrast.
    pred = images(8)
    kwargs = {"false_negative_threshold": 0.99, "num_patches": 32}
    locations = make_loss(extractor, num_patches=32).draw_locations(
        pred.shape, torch.Generator().manual_seed(9)
    )
    uniform = torch.full((2, 3, 64, 64), 0.3)
    detail = make_loss(extractor, detail_negatives=1.0, **kwargs)
    torch.testing.assert_close(
        detail(pred, uniform, locations=locations),
        make_loss(extractor, **kwargs)(pred, uniform, locations=locations),
    )
    # Without the threshold the same target gains the contrast: log 3 at equal logits.
    gain = make_loss(extractor, detail_negatives=1.0, num_patches=32)(
        pred, uniform, locations=locations
    ) - make_loss(extractor, num_patches=32)(pred, uniform, locations=locations)
    torch.testing.assert_close(float(gain.detach()), math.log(3), rtol=1e-3, atol=1e-3)


def test_add_detail_contrast_checks_shapes():
    with pytest.raises(ValueError, match=r"embeddings: expected shape \(\.\.\., 16, D\)"):
        add_detail_contrast(torch.zeros(2, 8), torch.zeros(2, 12, 5), 0.07)
