"""Spatial transforms applied identically to an image and its label and instance maps.

The preprocess modes follow SPADE/pix2pix:

- ``"resize_and_crop"``: resize to ``load_size x load_size``, then crop ``crop_size x crop_size``.
- ``"scale_width_and_crop"``: resize to width ``load_size`` keeping the aspect ratio (height at
  least ``crop_size``), then crop ``crop_size x crop_size``.
- ``"fixed"``: resize to width ``crop_size``, height ``round(crop_size / aspect_ratio)``; no crop.
- ``"none"``: keep the file's size; no crop.

Training draws the crop position and the horizontal flip from the dataset's
:class:`~cfl_lightning.data.augment_random.AugmentationRandom`; evaluation crops the centre and
never flips. Images are resized with antialiased bilinear filtering, labels and instances with
nearest neighbour (pixel-centre aligned, so label edges stay on image edges).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torchvision.transforms.v2.functional as tvf
from torchvision.transforms import InterpolationMode

from cfl_lightning.data.augment_random import AugmentationRandom

PREPROCESS_MODES = ("resize_and_crop", "scale_width_and_crop", "fixed", "none")


@dataclass(frozen=True)
class SpatialParams:
    """One draw of the spatial transform.

    ``size``: resize to ``(H, W)`` first (``None``: keep); ``box``: then crop ``(top, left, height,
    width)`` of the resized image (``None``: keep); ``flip``: then mirror left-right.
    """

    size: tuple[int, int] | None
    box: tuple[int, int, int, int] | None
    flip: bool


def resize_image(image: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Antialiased bilinear resize of ``(C, H, W)`` (uint8 or float) to ``size = (H', W')``."""
    if tuple(image.shape[-2:]) == tuple(size):
        return image
    return tvf.resize(image, list(size), interpolation=InterpolationMode.BILINEAR, antialias=True)


def _nearest_indices(source: int, target: int) -> torch.Tensor:
    centres = (torch.arange(target, dtype=torch.float64) + 0.5) * (source / target)
    return centres.floor().long().clamp_(max=source - 1)


def resize_label(label: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Nearest-neighbour resize of ``(..., H, W)`` of any dtype (ids are never blended).

    Output pixel ``i`` takes input pixel ``floor((i + 0.5) * H / H')``: pixel centres align as in
    the bilinear image resize.
    """
    height, width = label.shape[-2:]
    if (height, width) == tuple(size):
        return label
    rows = _nearest_indices(height, size[0])
    cols = _nearest_indices(width, size[1])
    return label.index_select(-2, rows).index_select(-1, cols)


def crop(tensor: torch.Tensor, box: tuple[int, int, int, int]) -> torch.Tensor:
    """Crop ``(..., H, W)`` to ``box = (top, left, height, width)``."""
    top, left, height, width = box
    return tensor[..., top : top + height, left : left + width]


def hflip(tensor: torch.Tensor) -> torch.Tensor:
    """Mirror ``(..., H, W)`` left-right."""
    return tensor.flip(-1)


class SpatialTransform:
    """Resize, crop and flip with the same parameters for an image and its maps.

    Args:
        preprocess: one of :data:`PREPROCESS_MODES`; default ``"resize_and_crop"``.
        load_size: side (``resize_and_crop``) or width (``scale_width_and_crop``) after resizing;
            default 286.
        crop_size: side of the square crop, or the width in ``"fixed"`` mode; default 256.
        aspect_ratio: width / height in ``"fixed"`` mode; default 1.0.
        flip: random horizontal flips when ``train``; default True.
        train: random crop position and flips; otherwise centre crop, no flip.
    """

    def __init__(
        self,
        preprocess: str = "resize_and_crop",
        load_size: int = 286,
        crop_size: int = 256,
        aspect_ratio: float = 1.0,
        flip: bool = True,
        train: bool = True,
    ) -> None:
        check_preprocess_args(preprocess, load_size, crop_size, aspect_ratio)
        self.preprocess = preprocess
        self.load_size = load_size
        self.crop_size = crop_size
        self.aspect_ratio = aspect_ratio
        self.flip = flip
        self.train = train

    def resized_size(self, height: int, width: int) -> tuple[int, int]:
        """``(H, W)`` after the resize step for an input of ``height x width``."""
        if self.preprocess == "resize_and_crop":
            return self.load_size, self.load_size
        if self.preprocess == "scale_width_and_crop":
            scaled = round(self.load_size * height / width)
            return max(scaled, self.crop_size), self.load_size
        if self.preprocess == "fixed":
            return max(round(self.crop_size / self.aspect_ratio), 1), self.crop_size
        return height, width

    def draw(self, height: int, width: int, random: AugmentationRandom) -> SpatialParams:
        """Parameters for an input of ``height x width``; random draws only when training."""
        size = self.resized_size(height, width)
        box = None
        if self.preprocess.endswith("_and_crop"):
            crop_h, crop_w = min(self.crop_size, size[0]), min(self.crop_size, size[1])
            free_h, free_w = size[0] - crop_h, size[1] - crop_w
            if self.train:
                top, left = random.randint(free_h + 1), random.randint(free_w + 1)
            else:
                top, left = free_h // 2, free_w // 2
            box = (top, left, crop_h, crop_w)
        flip = self.train and self.flip and random.uniform() < 0.5
        return SpatialParams(size=None if size == (height, width) else size, box=box, flip=flip)

    @staticmethod
    def apply_image(image: torch.Tensor, params: SpatialParams) -> torch.Tensor:
        """Transform an image ``(C, H, W)`` (uint8 or float)."""
        if params.size is not None:
            image = resize_image(image, params.size)
        return _crop_flip(image, params)

    @staticmethod
    def apply_label(label: torch.Tensor, params: SpatialParams) -> torch.Tensor:
        """Transform a label or instance map ``(H, W)`` (nearest neighbour)."""
        if params.size is not None:
            label = resize_label(label, params.size)
        return _crop_flip(label, params)


def _crop_flip(tensor: torch.Tensor, params: SpatialParams) -> torch.Tensor:
    if params.box is not None:
        tensor = crop(tensor, params.box)
    if params.flip:
        tensor = hflip(tensor)
    return tensor.contiguous()


def check_preprocess_args(
    preprocess: str, load_size: int, crop_size: int, aspect_ratio: float
) -> None:
    """Raise ``ValueError`` naming the argument when the preprocess settings are unusable."""
    if preprocess not in PREPROCESS_MODES:
        raise ValueError(f"preprocess: expected one of {PREPROCESS_MODES}, got {preprocess!r}")
    if load_size < 1:
        raise ValueError(f"load_size: expected an integer >= 1, got {load_size}")
    if crop_size < 1:
        raise ValueError(f"crop_size: expected an integer >= 1, got {crop_size}")
    if not aspect_ratio > 0:
        raise ValueError(f"aspect_ratio: expected a number > 0, got {aspect_ratio}")
    if preprocess.endswith("_and_crop") and load_size < crop_size:
        raise ValueError(
            f"load_size: expected >= crop_size ({crop_size}) with preprocess={preprocess!r}, "
            f"got {load_size}"
        )
