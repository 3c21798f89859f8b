import pytest
import torch

from cfl_lightning.losses import ContrastiveFeatureLoss, PerceptualLoss
from cfl_lightning.losses.compute_dtype import cast_to_module_dtype, module_dtype


def images(dtype: torch.dtype, seed: int) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return (torch.rand(2, 3, 32, 32, generator=generator) * 2 - 1).to(dtype)


def value_and_grad(loss, pred, target, **kwargs):
    pred = pred.detach().requires_grad_()
    value = loss(pred, target, **kwargs)
    (grad,) = torch.autograd.grad(value, pred)
    return value, grad


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float64])
def test_cfl_of_other_float_dtypes_equals_float32_on_the_same_values(extractor, dtype):
    loss = ContrastiveFeatureLoss(extractor=extractor, num_patches=16)
    pred, target = images(dtype, 0), images(dtype, 1)
    locations = loss.draw_locations(pred.shape, torch.Generator().manual_seed(2))

    value, grad = value_and_grad(loss, pred, target, locations=locations)
    # reference: the same numbers given in float32
    expected, expected_grad = value_and_grad(
        loss, pred.float(), target.float(), locations=locations
    )

    assert value.dtype == torch.float32 and torch.equal(value, expected)
    assert grad.dtype == dtype and torch.equal(grad, expected_grad.to(dtype))


def test_perceptual_loss_of_float16_equals_float32_on_the_same_values():
    loss = PerceptualLoss(weights="random")
    pred, target = images(torch.float16, 0), images(torch.float16, 1)

    value, grad = value_and_grad(loss, pred, target)
    expected, expected_grad = value_and_grad(loss, pred.float(), target.float())

    assert torch.equal(value, expected)
    assert grad.dtype == torch.float16 and torch.equal(grad, expected_grad.half())


def test_a_float64_loss_computes_in_float64():
    loss = ContrastiveFeatureLoss(weights="random", num_patches=16).double()
    pred = images(torch.float32, 0)
    cast_pred, cast_target = cast_to_module_dtype(loss.extractor, pred, pred)
    assert cast_pred.dtype == cast_target.dtype == torch.float64
    assert torch.equal(cast_pred, pred.double())
    assert torch.isfinite(loss(pred, images(torch.float32, 1)))


def test_no_cast_under_autocast_or_without_floating_tensors(extractor):
    pred = images(torch.float16, 0)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        (same,) = cast_to_module_dtype(extractor, pred)
    assert same is pred
    assert module_dtype(torch.nn.ReLU()) is None
    assert cast_to_module_dtype(torch.nn.ReLU(), pred)[0] is pred


@pytest.mark.parametrize("loss_class", [ContrastiveFeatureLoss, PerceptualLoss])
def test_integer_images_are_refused_with_a_hint(loss_class):
    loss = loss_class(weights="random", validate_inputs="never")
    pixels = torch.randint(0, 256, (1, 3, 32, 32), dtype=torch.uint8)
    with pytest.raises(ValueError, match=r"pred: expected a floating-point tensor .* torch\.uint8"):
        loss(pixels, pixels.float() / 127.5 - 1)
