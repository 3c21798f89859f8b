"""Degradations that turn a photo into a model input: super-resolution, colorization, inpainting,
denoising.

Each task has a plain function and a small callable class (usable as a jsonargparse
``class_path``). The classes share one interface, :class:`Degradation`::

    out = degradation(image, generator)  # image: float (3, H, W) in [-1, 1]
    out["input"]                         # float (degradation.input_channels, h, w)
    out["mask"]                          # inpainting only: float (1, H, W), 1 = missing

All randomness comes from the ``torch.Generator`` passed in (``None``: torch's default generator).
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageDraw

from cfl_lightning.seeding import seeded_generator

LUMINANCE_WEIGHTS = (0.299, 0.587, 0.114)  # ITU-R BT.601


def item_generator(seed: int, split: str, index: int) -> torch.Generator:
    """A generator seeded from ``(seed, split, index)`` only: the same on every call and machine,
    independent streams for different splits and items (used for synthetic items and for
    deterministic validation/test degradations)."""
    return seeded_generator(seed, split, index)


def _check_image(image: torch.Tensor, name: str = "image") -> None:
    if image.dim() not in (3, 4) or image.shape[-3] != 3 or not image.is_floating_point():
        raise ValueError(
            f"{name}: expected a float tensor (3, H, W) or (B, 3, H, W) in [-1, 1], got "
            f"{image.dtype} {tuple(image.shape)}"
        )


def _uniform(low: float, high: float, generator: torch.Generator | None) -> float:
    return low + (high - low) * float(torch.rand((), generator=generator))


def _check_range(name: str, value: tuple[float, float], low: float, high: float) -> None:
    if len(value) != 2 or not (low <= value[0] <= value[1] <= high):
        raise ValueError(
            f"{name}: expected (min, max) with {low} <= min <= max <= {high}, got {value}"
        )


# ----------------------------------------------------------------------------- super-resolution


def _check_factor(factor: int) -> None:
    if not isinstance(factor, int) or isinstance(factor, bool) or factor < 1:
        raise ValueError(f"factor: expected an integer >= 1 (usually 2, 4 or 8), got {factor!r}")


def bicubic_downscale(image: torch.Tensor, factor: int) -> torch.Tensor:
    """Antialiased bicubic downscaling by an integer ``factor``, clamped to ``[-1, 1]``.

    ``image`` float ``(3, H, W)`` or ``(B, 3, H, W)``; ``H`` and ``W`` must be divisible by
    ``factor``. Returns ``(..., 3, H / factor, W / factor)``.
    """
    _check_image(image)
    _check_factor(factor)
    height, width = image.shape[-2:]
    if height % factor or width % factor:
        raise ValueError(
            f"image: size {height}x{width} is not divisible by the downscaling factor {factor}; "
            f"use a crop size that is a multiple of {factor}"
        )
    batch = image if image.dim() == 4 else image.unsqueeze(0)
    small = F.interpolate(
        batch, size=(height // factor, width // factor), mode="bicubic", antialias=True
    )
    small = small.clamp(-1.0, 1.0)
    return small if image.dim() == 4 else small.squeeze(0)


# ----------------------------------------------------------------------------- colorization


def rgb_to_luminance(image: torch.Tensor) -> torch.Tensor:
    """ITU-R BT.601 luminance ``0.299 R + 0.587 G + 0.114 B`` (computed on ``[0, 1]`` values),
    returned in ``[-1, 1]``: ``(3, H, W)`` -> ``(1, H, W)`` (or batched)."""
    _check_image(image)
    unit = (image + 1.0) / 2.0
    weights = image.new_tensor(LUMINANCE_WEIGHTS).view(3, 1, 1)
    luminance = (unit * weights).sum(dim=-3, keepdim=True)
    return luminance * 2.0 - 1.0


# ----------------------------------------------------------------------------- inpainting


def box_mask(
    height: int,
    width: int,
    coverage: tuple[float, float] = (0.1, 0.4),
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """One random axis-aligned box, float ``(1, H, W)``, 1 inside (missing), 0 elsewhere.

    Its area fraction is drawn uniformly from ``coverage``, its aspect ratio log-uniformly from
    ``[1/2, 2]`` (narrowed when the box would not fit), its position uniformly.
    """
    _check_range("coverage", coverage, 0.0, 1.0)
    area = _uniform(*coverage, generator) * height * width
    aspect = math.exp(_uniform(math.log(0.5), math.log(2.0), generator))  # height / width
    box_h = min(height, max(1, round(math.sqrt(area * aspect))))
    box_w = min(width, max(1, round(area / box_h)))
    box_h = min(height, max(1, round(area / box_w)))
    top = int(torch.randint(height - box_h + 1, (), generator=generator))
    left = int(torch.randint(width - box_w + 1, (), generator=generator))
    mask = torch.zeros(1, height, width)
    mask[:, top : top + box_h, left : left + box_w] = 1.0
    return mask


def _reflect(value: float, high: float) -> tuple[float, bool]:
    """``value`` mirrored into ``[0, high]``; whether it was mirrored."""
    if value < 0.0:
        return min(-value, high), True
    if value > high:
        return max(2 * high - value, 0.0), True
    return value, False


def _brush_stroke(height: int, width: int, generator: torch.Generator | None) -> np.ndarray:
    """One brush stroke, ``(H, W)`` bool: a random walk of 4-12 vertices (turns up to 72 degrees,
    steps 5-25 % of the image size, bouncing off the borders) drawn with a round brush 3-12 % of
    the image size wide."""
    size = min(height, width)
    num_vertices = int(torch.randint(4, 13, (), generator=generator))
    brush = max(1, round(_uniform(0.03, 0.12, generator) * size))
    x, y = _uniform(0, width - 1, generator), _uniform(0, height - 1, generator)
    angle = _uniform(0.0, 2 * math.pi, generator)
    vertices = [(x, y)]
    for _ in range(num_vertices - 1):
        angle += _uniform(-0.4 * math.pi, 0.4 * math.pi, generator)
        step = _uniform(0.05, 0.25, generator) * size
        x, bounced_x = _reflect(x + step * math.cos(angle), width - 1.0)
        y, bounced_y = _reflect(y + step * math.sin(angle), height - 1.0)
        if bounced_x:
            angle = math.pi - angle
        if bounced_y:
            angle = -angle
        vertices.append((x, y))
    canvas = Image.new("L", (width, height), 0)
    draw = ImageDraw.Draw(canvas)
    draw.line(vertices, fill=255, width=brush, joint="curve")
    radius = brush / 2
    for vx, vy in vertices:
        draw.ellipse((vx - radius, vy - radius, vx + radius, vy + radius), fill=255)
    return np.asarray(canvas) > 0


def free_form_mask(
    height: int,
    width: int,
    coverage: tuple[float, float] = (0.1, 0.4),
    generator: torch.Generator | None = None,
    max_strokes: int = 32,
) -> torch.Tensor:
    """Free-form brush-stroke mask (DeepFill v2 style), float ``(1, H, W)``, 1 = missing.

    A target area fraction is drawn uniformly from ``coverage``; random strokes (polylines with
    random vertices, turning angles and brush widths) are added until the mask reaches it. A stroke
    that would push the mask past ``coverage[1]`` is redrawn (a few tries); ``max_strokes`` bounds
    the work, so a very high target may be missed on tiny images.
    """
    _check_range("coverage", coverage, 0.0, 1.0)
    target = _uniform(*coverage, generator) * height * width
    limit = coverage[1] * height * width
    mask = np.zeros((height, width), dtype=bool)
    for _ in range(max_strokes):
        if mask.sum() >= target:
            break
        for _try in range(4):
            candidate = mask | _brush_stroke(height, width, generator)
            if candidate.sum() <= limit:
                mask = candidate
                break
    return torch.from_numpy(mask).float().unsqueeze(0)


def mask_image(image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Inpainting input: ``image`` with pixels where ``mask == 1`` set to 0 (mid-grey in
    ``[-1, 1]``), concatenated with the mask: ``(3, H, W)``, ``(1, H, W)`` -> ``(4, H, W)``."""
    _check_image(image)
    if mask.shape[-3] != 1 or mask.shape[-2:] != image.shape[-2:]:
        raise ValueError(
            f"mask: expected shape (1, {image.shape[-2]}, {image.shape[-1]}), got "
            f"{tuple(mask.shape)}"
        )
    mask = mask.to(image.dtype)
    return torch.cat([image * (1.0 - mask), mask], dim=-3)


# ----------------------------------------------------------------------------- denoising


def add_gaussian_noise(
    image: torch.Tensor,
    sigma: float,
    generator: torch.Generator | None = None,
    clip: bool = True,
) -> torch.Tensor:
    """Additive white Gaussian noise of standard deviation ``sigma`` in ``[0, 255]`` units (as
    denoising papers state it: 25 means ``25 / 127.5`` in ``[-1, 1]``), clamped to ``[-1, 1]``
    when ``clip``."""
    _check_image(image)
    if sigma < 0:
        raise ValueError(f"sigma: expected a noise level >= 0 in [0, 255] units, got {sigma}")
    noise = torch.randn(image.shape, generator=generator, dtype=image.dtype)
    noisy = image + noise.to(image.device) * (sigma / 127.5)
    return noisy.clamp(-1.0, 1.0) if clip else noisy


# ----------------------------------------------------------------------------- callable classes


class Degradation:
    """Base of the degradations: ``__call__(image, generator) -> {"input": ...}``.

    ``image`` is float ``(3, H, W)`` in ``[-1, 1]``; ``input_channels`` is the channel count of
    ``"input"``. ``check_size(height, width)`` raises ``ValueError`` when a crop size cannot work
    (called by the DataModules before any data is read).
    """

    input_channels: int = 3

    def __call__(
        self, image: torch.Tensor, generator: torch.Generator | None = None
    ) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def check_size(self, height: int, width: int) -> None:
        """Raise ``ValueError`` if images of this size cannot be degraded."""

    def __repr__(self) -> str:
        fields = ", ".join(
            f"{k}={v!r}"
            for k, v in vars(self).items()
            if not k.startswith("_") and k != "input_channels"
        )
        return f"{type(self).__name__}({fields})"


class SuperResolution(Degradation):
    """Bicubic (antialiased) downscaling by ``factor`` (2, 4 or 8; default 4).

    ``"input"`` is ``(3, H / factor, W / factor)``; with ``upsample=True`` it is bicubically
    upsampled back to ``(3, H, W)`` (for generators that keep the resolution).
    """

    def __init__(self, factor: int = 4, upsample: bool = False) -> None:
        _check_factor(factor)
        self.factor = factor
        self.upsample = upsample
        self.input_channels = 3

    def check_size(self, height: int, width: int) -> None:
        if height % self.factor or width % self.factor:
            raise ValueError(
                f"crop_size: {height}x{width} is not divisible by the super-resolution factor "
                f"{self.factor}; choose a multiple of {self.factor}"
            )

    def __call__(
        self, image: torch.Tensor, generator: torch.Generator | None = None
    ) -> dict[str, torch.Tensor]:
        small = bicubic_downscale(image, self.factor)
        if self.upsample:
            small = F.interpolate(
                small.unsqueeze(0), size=image.shape[-2:], mode="bicubic", align_corners=False
            ).squeeze(0)
            small = small.clamp(-1.0, 1.0)
        return {"input": small}


class Colorization(Degradation):
    """RGB -> BT.601 luminance; ``"input"`` is ``(1, H, W)`` in ``[-1, 1]``. Deterministic."""

    def __init__(self) -> None:
        self.input_channels = 1

    def __call__(
        self, image: torch.Tensor, generator: torch.Generator | None = None
    ) -> dict[str, torch.Tensor]:
        return {"input": rgb_to_luminance(image)}


class Inpainting(Degradation):
    """Random hole: ``"input"`` is the image with the hole set to 0 plus the mask as a 4th channel
    ``(4, H, W)``; ``"mask"`` is ``(1, H, W)``, 1 = missing.

    Args:
        mask: ``"free_form"`` (brush strokes, default) or ``"box"`` (one rectangle).
        coverage: range of the masked area fraction; default ``(0.1, 0.4)``.
    """

    def __init__(
        self,
        mask: Literal["free_form", "box"] = "free_form",
        coverage: tuple[float, float] = (0.1, 0.4),
    ) -> None:
        if mask not in ("free_form", "box"):
            raise ValueError(f"mask: expected 'free_form' or 'box', got {mask!r}")
        coverage = tuple(float(c) for c in coverage)  # type: ignore[assignment]
        _check_range("coverage", coverage, 0.0, 1.0)
        self.mask = mask
        self.coverage = coverage
        self.input_channels = 4

    def make_mask(
        self, height: int, width: int, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """A random mask ``(1, H, W)`` of the configured kind."""
        make = free_form_mask if self.mask == "free_form" else box_mask
        return make(height, width, self.coverage, generator)

    def __call__(
        self, image: torch.Tensor, generator: torch.Generator | None = None
    ) -> dict[str, torch.Tensor]:
        _check_image(image)
        mask = self.make_mask(image.shape[-2], image.shape[-1], generator).to(image.device)
        return {"input": mask_image(image, mask), "mask": mask}


class Denoising(Degradation):
    """Additive Gaussian noise; ``"input"`` is ``(3, H, W)``.

    Args:
        sigma: noise std in ``[0, 255]`` units (default 25).
        sigma_range: if given, ``(min, max)``: a sigma drawn uniformly per image instead
            (blind denoising).
        clip: clamp the noisy image to ``[-1, 1]`` (default True).
    """

    def __init__(
        self,
        sigma: float = 25.0,
        sigma_range: tuple[float, float] | None = None,
        clip: bool = True,
    ) -> None:
        if sigma < 0:
            raise ValueError(f"sigma: expected a noise level >= 0 in [0, 255] units, got {sigma}")
        if sigma_range is not None:
            sigma_range = (float(sigma_range[0]), float(sigma_range[1]))
            _check_range("sigma_range", sigma_range, 0.0, math.inf)
        self.sigma = float(sigma)
        self.sigma_range = sigma_range
        self.clip = clip
        self.input_channels = 3

    def __call__(
        self, image: torch.Tensor, generator: torch.Generator | None = None
    ) -> dict[str, torch.Tensor]:
        sigma = self.sigma if self.sigma_range is None else _uniform(*self.sigma_range, generator)
        return {"input": add_gaussian_noise(image, sigma, generator, self.clip)}
