"""Stochastic per-class textures for the synthetic dataset.

Every class has a fixed style (texture family, two colours, period, orientation); every image
redraws the texture's randomness (phase/offset, orientation jitter, period jitter, colour jitter),
so a label map has many plausible images whose mean is flat: the case where an L1-trained model
turns grey and blurry while each sample stays recognisable per class.

Families: class 0 is the background (a flat, jittered colour); classes 1, 2, ... cycle through
stripes, checks, dots, smooth noise and gradient bands. Periods are 4-14 px at 64x64 and scale with
the image size.
"""

from __future__ import annotations

import colorsys
import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

FAMILIES = ("stripes", "checks", "dots", "noise", "gradient")
_BASE_PERIODS = {"stripes": 8.0, "checks": 10.0, "dots": 9.0, "noise": 6.0, "gradient": 12.0}
_GOLDEN = 0.618033988749895


@dataclass(frozen=True)
class ClassStyle:
    """Fixed appearance of one class: family, colours in ``[-1, 1]``, period (px at 64x64),
    orientation (radians)."""

    family: str
    bright: tuple[float, float, float]
    dark: tuple[float, float, float]
    period: float
    orientation: float


def _rgb(hue: float, saturation: float, value: float) -> tuple[float, float, float]:
    r, g, b = colorsys.hsv_to_rgb(hue % 1.0, saturation, value)
    return (2 * r - 1, 2 * g - 1, 2 * b - 1)


def class_style(index: int) -> ClassStyle:
    """The fixed style of class ``index`` (independent of any seed). Class 0 is the background."""
    if index == 0:
        grey = _rgb(0.6, 0.15, 0.55)
        return ClassStyle("flat", grey, grey, 0.0, 0.0)
    family = FAMILIES[(index - 1) % len(FAMILIES)]
    cycle = (index - 1) // len(FAMILIES)
    hue = (index * _GOLDEN) % 1.0
    # a bright saturated colour over a dark complementary one: their mean is close to grey
    bright = _rgb(hue, 0.75, 0.95)
    dark = _rgb(hue + 0.5, 0.6, 0.25)
    # later cycles of the same family get other periods and orientations, within 4-14 px
    period = min(14.0, max(4.0, _BASE_PERIODS[family] * (1.0 + 0.25 * ((cycle % 3) - 1))))
    orientation = (index * 0.9) % math.pi
    return ClassStyle(family, bright, dark, period, orientation)


def _draws(generator: torch.Generator, count: int) -> list[float]:
    return torch.rand(count, generator=generator).tolist()


def _wave(
    cos_angle: float, sin_angle: float, phase: float, period: float, height: int, width: int
) -> torch.Tensor:
    """``sin(2 pi (x cos_angle + y sin_angle) / period + 2 pi phase)`` on the ``(H, W)`` grid.

    Built from 1-D sines and cosines (the angle-sum identity), so the full-size grid sees only
    multiplications and additions: cheaper, and free of the multi-threaded elementwise kernels that
    stall when the CPU is oversubscribed.
    """
    step = 2 * math.pi / period
    along_x = torch.arange(width, dtype=torch.float32) * (step * cos_angle) + 2 * math.pi * phase
    along_y = torch.arange(height, dtype=torch.float32) * (step * sin_angle)
    return (
        torch.sin(along_x)[None, :] * torch.cos(along_y)[:, None]
        + torch.cos(along_x)[None, :] * torch.sin(along_y)[:, None]
    )


def _ramp(
    cos_angle: float, sin_angle: float, phase: float, period: float, height: int, width: int
) -> torch.Tensor:
    """``(x cos_angle + y sin_angle) / period + phase`` modulo 1 on the ``(H, W)`` grid."""
    along_x = torch.arange(width, dtype=torch.float32) * (cos_angle / period) + phase
    along_y = torch.arange(height, dtype=torch.float32) * (sin_angle / period)
    return torch.remainder(along_x[None, :] + along_y[:, None], 1.0)


def texture_pattern(
    style: ClassStyle, height: int, width: int, generator: torch.Generator
) -> torch.Tensor:
    """The class's pattern ``t`` in ``[0, 1]``, ``(H, W)``, with fresh random phase/offset,
    orientation jitter (+-20 degrees) and period jitter (x0.85-1.15)."""
    u_phase, v_phase, turn, stretch = _draws(generator, 4)
    scale = min(height, width) / 64.0
    period = style.period * scale * (0.85 + 0.3 * stretch)
    angle = style.orientation + math.radians(40.0) * (turn - 0.5)
    cos_a, sin_a = math.cos(angle), math.sin(angle)
    grid = (height, width)
    if style.family == "stripes":  # soft square wave
        return (0.5 + 1.5 * _wave(cos_a, sin_a, u_phase, period, *grid)).clamp(0.0, 1.0)
    if style.family == "checks":
        waves = _wave(cos_a, sin_a, u_phase, period, *grid) * _wave(
            -sin_a, cos_a, v_phase, period, *grid
        )
        return (0.5 + 2.0 * waves).clamp(0.0, 1.0)
    if style.family == "dots":  # discs of radius 0.3 period on a rotated lattice
        du = _ramp(cos_a, sin_a, u_phase, period, *grid) - 0.5
        dv = _ramp(-sin_a, cos_a, v_phase, period, *grid) - 0.5
        radius = 0.3 * period
        distance2 = (du * du + dv * dv) * (period * period)
        # (r^2 - d^2) / (2 r) is the signed distance to the disc's edge near the edge
        return (0.5 + (radius * radius - distance2) / (2 * radius)).clamp(0.0, 1.0)
    if style.family == "gradient":  # sawtooth bands
        return _ramp(cos_a, sin_a, u_phase, period, *grid)
    if style.family == "noise":  # bicubically upsampled random grid, randomly offset
        cells_h = math.ceil(height / period) + 3
        cells_w = math.ceil(width / period) + 3
        cells = torch.rand(1, 1, cells_h, cells_w, generator=generator)
        big = F.interpolate(cells, scale_factor=period, mode="bicubic", align_corners=False)[0, 0]
        top = int(u_phase * (big.shape[0] - height))
        left = int(v_phase * (big.shape[1] - width))
        smooth = big[top : top + height, left : left + width]
        return (0.5 + 2.5 * (smooth - 0.5)).clamp(0.0, 1.0)
    if style.family == "flat":
        return torch.zeros(height, width)
    raise ValueError(f"style.family: unknown texture family {style.family!r}")


def render_texture(
    style: ClassStyle, height: int, width: int, generator: torch.Generator
) -> torch.Tensor:
    """One random rendering of the class's texture, float ``(3, H, W)`` in ``[-1, 1]``: the pattern
    mixes the two class colours, each jittered by up to +-0.15 per channel."""
    pattern = texture_pattern(style, height, width, generator)
    jitter = (torch.rand(2, 3, generator=generator) - 0.5) * 0.3
    bright = torch.tensor(style.bright) + jitter[0]
    dark = torch.tensor(style.dark) + jitter[1]
    image = dark.view(3, 1, 1) + (bright - dark).view(3, 1, 1) * pattern
    return image.clamp(-1.0, 1.0)


def render_image(label: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Image for a label map ``(H, W)`` int64: each present class filled with a fresh rendering of
    its texture. float32 ``(3, H, W)`` in ``[-1, 1]``."""
    height, width = label.shape
    image = torch.zeros(3, height, width)
    for index in torch.unique(label).tolist():
        texture = render_texture(class_style(int(index)), height, width, generator)
        image = torch.where(label == index, texture, image)
    return image
