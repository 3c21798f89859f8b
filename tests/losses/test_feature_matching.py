"""ContrastiveFeatureLoss(feature_matching_weight=...): an L1 term between the extractor's
features of prediction and target, added to PatchNCE."""

import pytest
import torch
from torch import nn

from cfl_lightning.losses import ContrastiveFeatureLoss


def images(seed, batch=2, size=64):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(batch, 3, size, size, generator=g) * 2 - 1


def feature_l1(extractor, layers, pred, target):
    """Uniformly weighted mean absolute difference of the features, layer by layer."""
    fp, ft = extractor(pred), extractor(target)
    return sum((fp[name] - ft[name].detach()).abs().mean() for name in layers) / len(layers)


def pair(extractor, weight, **kwargs):
    """A loss without and one with the term, sharing their heads."""
    torch.manual_seed(0)
    plain = ContrastiveFeatureLoss(extractor=extractor, **kwargs)
    matched = ContrastiveFeatureLoss(extractor=extractor, feature_matching_weight=weight, **kwargs)
    matched.heads.load_state_dict(plain.heads.state_dict())
    return plain, matched


@pytest.mark.parametrize("critic", ["joint", "target_views"])
def test_value_and_gradient_add_the_feature_l1_term(extractor, critic):
    plain, matched = pair(extractor, 2.5, critic=critic, false_negative_threshold=0.99)
    pred, target = images(1).requires_grad_(), images(2)
    locations = plain.draw_locations(pred.shape, torch.Generator().manual_seed(3))
    value = matched(pred, target, locations=locations)
    term = feature_l1(extractor, plain.layers, pred, target)
    expected = plain(pred, target, locations=locations) + 2.5 * term
    torch.testing.assert_close(value, expected, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(
        torch.autograd.grad(value, pred, retain_graph=True)[0],
        torch.autograd.grad(expected, pred, retain_graph=True)[0],
        rtol=1e-4,
        atol=1e-8,
    )
    # The heads' gradient is the contrastive term's alone.
    heads = list(matched.heads.parameters())
    plain_value = plain(pred, target, locations=locations)
    for grad, reference in zip(
        torch.autograd.grad(value, heads),
        torch.autograd.grad(plain_value, list(plain.heads.parameters())),
    ):
        torch.testing.assert_close(grad, reference, rtol=1e-5, atol=1e-7)


def test_term_is_zero_at_a_perfect_prediction_and_grows_with_the_error(extractor):
    plain, matched = pair(extractor, 4.0, head="identity")
    target = images(4)
    locations = plain.draw_locations(target.shape, torch.Generator().manual_seed(0))
    with torch.no_grad():
        for pred in (target, target.flip(-1)):
            gap = matched(pred, target, locations=locations) - plain(
                pred, target, locations=locations
            )
            assert (
                abs(float(gap) - 4.0 * float(feature_l1(extractor, plain.layers, pred, target)))
                < 1e-4
            )
        assert matched(target, target, locations=locations) == plain(
            target, target, locations=locations
        )
        # Noise of growing size: the term grows with it.
        noise = torch.randn(target.shape, generator=torch.Generator().manual_seed(5))
        gaps = [
            float(
                matched((target + s * noise).clamp(-1, 1), target, locations=locations)
                - plain((target + s * noise).clamp(-1, 1), target, locations=locations)
            )
            for s in (0.05, 0.2, 0.5)
        ]
    assert 0 < gaps[0] < gaps[1] < gaps[2]


def test_default_is_off_and_leaves_the_paper_value(extractor):
    torch.manual_seed(0)
    loss = ContrastiveFeatureLoss(extractor=extractor)
    assert loss.feature_matching_weight == 0.0
    plain, matched = pair(extractor, 0.0)
    pred, target = images(6), images(7)
    locations = plain.draw_locations(pred.shape, torch.Generator().manual_seed(1))
    with torch.no_grad():
        assert torch.equal(
            matched(pred, target, locations=locations), plain(pred, target, locations=locations)
        )


@pytest.mark.parametrize("weight", [-0.1, float("nan"), float("inf")])
def test_bad_weight_is_rejected(extractor, weight):
    with pytest.raises(ValueError, match=r"feature_matching_weight: expected a finite weight >= 0"):
        ContrastiveFeatureLoss(extractor=extractor, feature_matching_weight=weight)


def test_trainable_extractor_is_refused():
    class TinyEncoder(nn.Module):
        def __init__(self):
            super().__init__()
            self.channels = {"a": 4}
            self.a = nn.Conv2d(3, 4, 3, padding=1)

        def forward(self, x):
            return {"a": torch.relu(self.a(x))}

    loss = ContrastiveFeatureLoss(
        extractor=TinyEncoder(), num_patches=8, feature_matching_weight=1.0
    )
    with pytest.raises(ValueError, match=r"feature_matching_weight: 1.0 needs a frozen extractor"):
        loss(images(8, size=16), images(9, size=16))
