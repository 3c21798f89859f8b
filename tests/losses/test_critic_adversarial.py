"""ContrastiveFeatureLoss(critic_adversarial_weight=w): with target views, the heads also maximise
the generator's PatchNCE computed on the detached prediction."""

import pytest
import torch

from cfl_lightning.losses import ContrastiveFeatureLoss
from tests.losses.test_critic_views import images, target_views_objective


def make_losses(extractor, weight, **kwargs):
    """The joint critic, target views, and target views with an adversarial weight: same heads."""
    torch.manual_seed(0)
    joint = ContrastiveFeatureLoss(extractor=extractor, **kwargs)
    views = ContrastiveFeatureLoss(extractor=extractor, critic="target_views", **kwargs)
    adversarial = ContrastiveFeatureLoss(
        extractor=extractor, critic="target_views", critic_adversarial_weight=weight, **kwargs
    )
    for loss in (views, adversarial):
        loss.heads.load_state_dict(joint.heads.state_dict())
    return joint, views, adversarial


@pytest.mark.parametrize(
    ("weight", "kwargs"),
    [
        (0.5, {}),
        (1.0, {"bidirectional": False, "false_negative_threshold": 0.9}),
        (2.0, {"head": "linear", "query_negatives": False}),
    ],
)
def test_heads_get_views_minus_weight_times_the_generator_objective(extractor, weight, kwargs):
    joint, views, adversarial = make_losses(extractor, weight, layer_weights=[4, 3, 2, 1], **kwargs)
    pred = images(1, batch=3).requires_grad_()
    target = images(2, batch=3)
    locations = joint.draw_locations(pred.shape, torch.Generator().manual_seed(3))
    heads = list(adversarial.heads.parameters())

    value = adversarial(pred, target, locations=locations)
    expected = views(pred, target, locations=locations)
    torch.testing.assert_close(value, expected)  # the generator's term, unchanged
    pred_grad, *head_grads = torch.autograd.grad(value, [pred, *heads])
    torch.testing.assert_close(pred_grad, torch.autograd.grad(expected, pred)[0])

    # Independent computation: the target-views objective (plain autograd) minus w times the
    # joint loss on the detached prediction, both differentiated by the heads.
    if kwargs.get("false_negative_threshold") is None:
        views_objective = target_views_objective(views, target, locations, views.view_shift)
        views_grads = torch.autograd.grad(views_objective, list(views.heads.parameters()))
    else:  # the masked views objective: the heads' gradient of the plain target-views loss
        views_value = views(pred.detach(), target, locations=locations)
        views_grads = torch.autograd.grad(views_value, list(views.heads.parameters()))
    generator_objective = joint(pred.detach(), target, locations=locations)
    joint_grads = torch.autograd.grad(generator_objective, list(joint.heads.parameters()))
    for grad, from_views, from_joint in zip(head_grads, views_grads, joint_grads):
        torch.testing.assert_close(grad, from_views - weight * from_joint, rtol=1e-4, atol=1e-6)


def test_weight_zero_is_target_views_exactly(extractor):
    _, views, adversarial = make_losses(extractor, 0.0, num_patches=32)
    pred, target = images(4).requires_grad_(), images(5)
    locations = views.draw_locations(pred.shape, torch.Generator().manual_seed(0))
    heads = list(views.heads.parameters())
    a = torch.autograd.grad(views(pred, target, locations=locations), [pred, *heads])
    heads = list(adversarial.heads.parameters())
    b = torch.autograd.grad(adversarial(pred, target, locations=locations), [pred, *heads])
    for x, y in zip(a, b):
        assert torch.equal(x, y)


def test_heads_trained_adversarially_tell_the_prediction_from_the_target(extractor):
    """A few critic steps on a fixed blurred prediction raise its PatchNCE against the target
    (the heads separate prediction and target patches), where target views alone do not aim to."""
    _, _, adversarial = make_losses(extractor, 1.0, num_patches=16)
    target = images(6)
    pred = torch.nn.functional.avg_pool2d(target, 5, stride=1, padding=2)  # a blurred target
    locations = adversarial.draw_locations(pred.shape, torch.Generator().manual_seed(1))
    with torch.no_grad():
        before = float(adversarial(pred, target, locations=locations))
    optimizer = torch.optim.Adam(adversarial.critic_parameters(), lr=1e-3)
    for _ in range(5):
        optimizer.zero_grad()
        adversarial(pred, target, locations=locations).backward()
        optimizer.step()
    with torch.no_grad():
        assert float(adversarial(pred, target, locations=locations)) > before + 0.1


def test_no_gradient_reaches_the_target_or_the_extractor(extractor):
    _, _, adversarial = make_losses(extractor, 1.0, num_patches=32)
    pred, target = images(7).requires_grad_(), images(8).requires_grad_()
    adversarial(pred, target).backward()
    assert target.grad is None
    assert pred.grad is not None and pred.grad.abs().sum() > 0
    assert all(p.grad is None for p in adversarial.extractor.parameters())


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"critic_adversarial_weight": -1.0}, r"critic_adversarial_weight: expected a number >= 0"),
        ({"critic_adversarial_weight": True}, r"critic_adversarial_weight: expected a number"),
        (
            {"critic_adversarial_weight": 1.0},
            r"critic_adversarial_weight: 1.0 needs critic='target_views', got critic='joint'",
        ),
    ],
)
def test_invalid_settings_are_refused(extractor, kwargs, match):
    with pytest.raises(ValueError, match=match):
        ContrastiveFeatureLoss(extractor=extractor, **kwargs)
