import numpy as np
import pytest
import torch
from scipy import ndimage

from cfl_lightning.metrics import laplacian_pyramid
from cfl_lightning.metrics.pyramid import pyramid_up

KERNEL = np.outer([1, 4, 6, 4, 1], [1, 4, 6, 4, 1])[None, None] / 256.0


def reference_pyramid(images: np.ndarray, num_levels: int) -> list[np.ndarray]:
    """Karras et al.'s definition, written with scipy ('mirror' borders like cv2.pyrDown/Up)."""

    def down(x):
        return ndimage.convolve(x, KERNEL, mode="mirror")[:, :, ::2, ::2]

    def up(x):
        z = np.zeros((x.shape[0], x.shape[1], x.shape[2] * 2, x.shape[3] * 2))
        z[:, :, ::2, ::2] = x
        return ndimage.convolve(z, KERNEL * 4.0, mode="mirror")

    levels = [images.astype(np.float64)]
    for _ in range(1, num_levels):
        levels.append(down(levels[-1]))
        levels[-2] = levels[-2] - up(levels[-1])
    return levels


def test_matches_scipy_reference():
    x = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    ours = laplacian_pyramid(x, 3)
    ref = reference_pyramid(x.numpy(), 3)
    assert [tuple(level.shape[-2:]) for level in ours] == [(32, 32), (16, 16), (8, 8)]
    for mine, theirs in zip(ours, ref):
        np.testing.assert_allclose(mine.numpy(), theirs, atol=1e-5)


def test_reconstructs_images_including_odd_sizes():
    x = torch.rand(1, 3, 21, 18, generator=torch.Generator().manual_seed(1))
    levels = laplacian_pyramid(x, 3)
    image = levels[-1]
    for detail in reversed(levels[:-1]):
        image = detail + pyramid_up(image, detail.shape[-2:])
    torch.testing.assert_close(image, x)
    assert laplacian_pyramid(x, 1)[0] is x
    with pytest.raises(ValueError, match="num_levels: expected >= 1, got 0"):
        laplacian_pyramid(x, 0)
