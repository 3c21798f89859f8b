import pytest
import torch

from cfl_lightning.losses import PerceptualLoss
from cfl_lightning.networks import VGG19Features


def test_value_is_weighted_l1_of_vgg_features():
    extractor = VGG19Features(
        layers=("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"), weights="random"
    )
    loss = PerceptualLoss(extractor=extractor)
    g = torch.Generator().manual_seed(0)
    pred = torch.rand(2, 3, 32, 32, generator=g) * 2 - 1
    target = torch.rand(2, 3, 32, 32, generator=g) * 2 - 1
    fp, ft = extractor(pred), extractor(target)
    expected = sum(
        w * (fp[name] - ft[name]).abs().mean()
        for name, w in zip(
            ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"),
            (1 / 32, 1 / 16, 1 / 8, 1 / 4, 1),
        )
    )
    torch.testing.assert_close(loss(pred, target), expected)
    assert float(loss(target, target)) == 0.0


def test_gradient_to_pred_only():
    loss = PerceptualLoss(weights="random")
    pred = (torch.rand(1, 3, 32, 32) * 2 - 1).requires_grad_()
    target = (torch.rand(1, 3, 32, 32) * 2 - 1).requires_grad_()
    loss(pred, target).backward()
    assert pred.grad is not None and pred.grad.abs().sum() > 0
    assert target.grad is None
    assert not any(p.requires_grad for p in loss.parameters())


def test_bad_inputs():
    loss = PerceptualLoss(weights="random")
    x = torch.zeros(1, 3, 32, 32)
    with pytest.raises(ValueError, match="pred, target: expected equal shapes"):
        loss(x, x[..., :16])
    with pytest.raises(ValueError, match=r"layer relu5_1 .* at least 16x16"):
        loss(x[..., :8, :8], x[..., :8, :8])
    with pytest.raises(ValueError, match="layer_weights: expected 5 weights"):
        PerceptualLoss(weights="random", layer_weights=(1.0,))


def test_value_checks_first_calls_by_default_always_when_asked():
    good = torch.zeros(1, 3, 32, 32)
    bad = torch.full((1, 3, 32, 32), float("nan"))
    loss = PerceptualLoss(weights="random")
    with pytest.raises(ValueError, match="pred: expected finite values"):
        loss(bad, good)
    loss(good, good)
    assert torch.isnan(loss(bad, good))  # third call: no value check, no host-device sync
    with pytest.raises(ValueError, match="pred, target: expected equal shapes"):
        loss(good, good[..., :16])  # shapes: every call
    always = PerceptualLoss(weights="random", validate_inputs="always")
    for _ in range(3):
        always(good, good)
    with pytest.raises(ValueError, match="pred: expected finite values"):
        always(bad, good)
    assert torch.isnan(PerceptualLoss(weights="random", validate_inputs=False)(bad, good))
