"""Laplacian image pyramids with the 5-tap binomial filter (like OpenCV's pyrDown/pyrUp)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

_BINOMIAL_5 = (1.0, 4.0, 6.0, 4.0, 1.0)


def _binomial_blur(images: torch.Tensor, gain: float = 1.0) -> torch.Tensor:
    """Separable ``[1, 4, 6, 4, 1] / 16`` blur of ``(B, C, H, W)`` with mirror (reflect) borders,
    times ``gain``."""
    channels = images.shape[1]
    taps = torch.tensor(_BINOMIAL_5, dtype=images.dtype, device=images.device) / 16.0
    kernel = (torch.outer(taps, taps) * gain).expand(channels, 1, 5, 5)
    padded = F.pad(images, (2, 2, 2, 2), mode="reflect")
    return F.conv2d(padded, kernel, groups=channels)


def pyramid_down(images: torch.Tensor) -> torch.Tensor:
    """Blur and keep every second row and column: ``(B, C, H, W)`` -> ``(B, C, ceil(H/2),
    ceil(W/2))``."""
    return _binomial_blur(images)[..., ::2, ::2]


def pyramid_up(images: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Insert zeros between pixels, blur with gain 4 and crop to ``size`` ``(H, W)``."""
    batch, channels, height, width = images.shape
    upsampled = images.new_zeros(batch, channels, 2 * height, 2 * width)
    upsampled[..., ::2, ::2] = images
    return _binomial_blur(upsampled, gain=4.0)[..., : size[0], : size[1]]


def laplacian_pyramid(images: torch.Tensor, num_levels: int) -> list[torch.Tensor]:
    """Laplacian pyramid of ``(B, C, H, W)`` images, finest level first.

    Level ``i < num_levels - 1`` is ``G_i - up(G_{i+1})`` (band-pass detail at ``H / 2**i``); the
    last level is the low-pass Gaussian level ``G_{num_levels - 1}``. ``num_levels=1`` returns the
    images themselves. Each level must be at least 3 pixels on each side before it is reduced.
    """
    if num_levels < 1:
        raise ValueError(f"num_levels: expected >= 1, got {num_levels}")
    levels = [images]
    for _ in range(1, num_levels):
        coarser = pyramid_down(levels[-1])
        levels[-1] = levels[-1] - pyramid_up(coarser, levels[-1].shape[-2:])
        levels.append(coarser)
    return levels
