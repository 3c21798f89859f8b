import pytest
import torch
from torchvision.transforms.functional import gaussian_blur

from cfl_lightning.metrics import SharpnessRatio, gradient_magnitude_map, mean_gradient_magnitude


def ratio(preds, target, **kwargs):
    metric = SharpnessRatio(**kwargs)
    metric.update(preds, target)
    return float(metric.compute())


def ramp(slope_x: float, slope_y: float, size: int = 8) -> torch.Tensor:
    """(1, 3, size, size) image in [-1, 1] whose [0, 1] value is slope_x * col + slope_y * row."""
    ys, xs = torch.meshgrid(torch.arange(float(size)), torch.arange(float(size)), indexing="ij")
    unit = slope_x * xs + slope_y * ys
    return (unit * 2 - 1).expand(1, 3, size, size)


def test_gradient_magnitude_of_a_ramp():
    # [0, 1] values with steps 0.03 across and 0.04 down: |grad| = 0.05 everywhere.
    magnitude = mean_gradient_magnitude((ramp(0.03, 0.04) + 1) / 2)
    torch.testing.assert_close(magnitude, torch.tensor([0.05]))
    assert ratio(ramp(0.06, 0.08), ramp(0.03, 0.04)) == pytest.approx(2.0, rel=1e-5)


def test_gradient_magnitude_map_locates_an_edge():
    # One vertical step of 0.5 between columns 2 and 3 in channel 0 only: magnitude 0.5 / 3 (the
    # mean over 3 channels) at column 2 of the (H-1) x (W-1) grid, zero elsewhere.
    image = torch.zeros(1, 3, 5, 6)
    image[:, 0, :, 3:] = 0.5
    magnitude = gradient_magnitude_map(image)
    expected = torch.zeros(1, 4, 5)
    expected[:, :, 2] = 0.5 / 3
    torch.testing.assert_close(magnitude, expected)
    torch.testing.assert_close(mean_gradient_magnitude(image), expected.flatten(1).mean(1))


def test_one_for_identical_below_for_blur_above_for_noise(textures):
    target = textures(4)
    assert ratio(target, target) == pytest.approx(1.0)
    assert ratio(gaussian_blur(target, 7, 1.5), target) < 0.8
    noise = 0.2 * torch.randn(target.shape, generator=torch.Generator().manual_seed(0))
    assert ratio((target + noise).clamp(-1, 1), target) > 1.5


def test_accumulation_merge_and_input_range(textures):
    preds, target = gaussian_blur(textures(6, seed=0), 5, 1.0), textures(6, seed=1)
    once = ratio(preds, target)
    split = SharpnessRatio()
    split.update(preds[:2], target[:2])
    other = SharpnessRatio()
    other.update(preds[2:], target[2:])
    split.merge_state(other)  # what DDP's sum reduction does across processes
    assert float(split.compute()) == pytest.approx(once, rel=1e-6)
    assert set(split._reductions.values()) == {split._reductions["pred_sum"]}
    assert split._reductions["pred_sum"].__name__ == "dim_zero_sum"
    assert ratio((preds + 1) / 2, (target + 1) / 2, input_range=(0, 1)) == pytest.approx(once)


def test_errors():
    with pytest.raises(ValueError, match=r"input_range: expected low < high, got \(1, 0\)"):
        SharpnessRatio(input_range=(1, 0))
    with pytest.raises(ValueError, match="preds: expected a floating-point tensor"):
        SharpnessRatio().update(torch.zeros(1, 3, 8, 8, dtype=torch.uint8), torch.zeros(1, 3, 8, 8))
