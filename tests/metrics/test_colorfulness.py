import numpy as np
import pytest
import torch

from cfl_lightning.metrics import ColorfulnessRatio, colorfulness


def test_hand_computed_red_and_black_pixels():
    # pixels (255, 0, 0) and (0, 0, 0): rg = [255, 0], yb = [127.5, 0]
    # std_rg = mean_rg = 127.5, std_yb = mean_yb = 63.75 -> M = 1.3 * sqrt(127.5^2 + 63.75^2)
    image = torch.tensor([[[1.0, -1.0]], [[-1.0, -1.0]], [[-1.0, -1.0]]])[None]
    expected = 1.3 * (127.5**2 + 63.75**2) ** 0.5
    torch.testing.assert_close(colorfulness(image), torch.tensor([expected]))


def test_matches_numpy_formula():
    x = torch.rand(3, 3, 9, 7, generator=torch.Generator().manual_seed(0))
    rgb = x.numpy().astype(np.float64) * 255
    rg = rgb[:, 0] - rgb[:, 1]
    yb = 0.5 * (rgb[:, 0] + rgb[:, 1]) - rgb[:, 2]
    axes = (1, 2)
    expected = np.sqrt(rg.std(axis=axes) ** 2 + yb.std(axis=axes) ** 2) + 0.3 * np.sqrt(
        rg.mean(axis=axes) ** 2 + yb.mean(axis=axes) ** 2
    )
    np.testing.assert_allclose(colorfulness(x, input_range=(0, 1)).numpy(), expected, rtol=1e-4)


def test_ratio(textures):
    target = textures(4)
    grey = target.mean(dim=1, keepdim=True).expand_as(target)
    metric = ColorfulnessRatio()
    metric.update(target, target)
    assert float(metric.compute()) == pytest.approx(1.0)
    metric.reset()
    metric.update(grey, target)
    assert float(metric.compute()) == 0.0
    metric.reset()
    half = 0.5 * target + 0.5 * grey  # halves rg and yb of every pixel: exactly half as colourful
    metric.update(half[:1], target[:1])
    metric.update(half[1:], target[1:])
    assert float(metric.compute()) == pytest.approx(0.5, rel=1e-5)


def test_merge_state_sums_like_ddp(textures):
    target = textures(4)
    grey = target.mean(dim=1, keepdim=True).expand_as(target)
    first, second = ColorfulnessRatio(), ColorfulnessRatio()
    first.update(grey[:2], target[:2])
    second.update(target[2:], target[2:])
    first.merge_state(second)
    expected = colorfulness(target[2:]).sum() / colorfulness(target).sum()
    torch.testing.assert_close(first.compute(), expected)
    assert first._reductions["pred_sum"].__name__ == "dim_zero_sum"
