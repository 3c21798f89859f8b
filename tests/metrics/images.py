"""Structured test images for the metric tests."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def make_textures(count: int, size: int = 32, seed: int = 0) -> torch.Tensor:
    """``(count, 3, size, size)`` in [-1, 1]: smooth colour blobs plus oriented stripes, so that
    every pyramid level has content."""
    g = torch.Generator().manual_seed(seed)
    blobs = F.interpolate(
        torch.rand(count, 3, 4, 4, generator=g) * 2 - 1,
        size=(size, size),
        mode="bicubic",
        align_corners=False,
    )
    ys, xs = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    angle = torch.rand(count, 1, 1, generator=g) * math.pi
    frequency = 0.6 + torch.rand(count, 1, 1, generator=g) * 0.8
    phase = xs * torch.cos(angle) + ys * torch.sin(angle)
    stripes = torch.sin(frequency * phase)[:, None] * (torch.rand(count, 3, 1, 1, generator=g))
    return (0.6 * blobs + 0.4 * stripes).clamp(-1, 1)
