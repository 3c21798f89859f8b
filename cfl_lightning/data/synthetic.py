"""Procedural label -> image dataset that needs no download: random shapes over a background,
each class rendered with a stochastic texture (see :mod:`cfl_lightning.data.textures`)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import Dataset

from .base import SPLITS, ImageDataModule
from .degradations import item_generator
from .predict_inputs import LabelInputs
from .textures import render_image

SHAPES = ("ellipse", "rectangle", "polygon", "blob")


def _inside_polygon(xs: torch.Tensor, ys: torch.Tensor, vertices: torch.Tensor) -> torch.Tensor:
    """Even-odd rule: ``(H, W)`` bool, pixels inside the closed polygon ``vertices`` (V, 2)."""
    x1, y1 = vertices[:, 0].view(-1, 1, 1), vertices[:, 1].view(-1, 1, 1)
    nxt = vertices.roll(-1, dims=0)
    x2, y2 = nxt[:, 0].view(-1, 1, 1), nxt[:, 1].view(-1, 1, 1)
    straddles = (y1 > ys) != (y2 > ys)
    dy = torch.where(y2 == y1, torch.ones_like(y2), y2 - y1)
    crossing = xs < x1 + (ys - y1) * (x2 - x1) / dy
    return ((straddles & crossing).sum(dim=0) % 2).bool()


def random_label_map(
    size: int, num_classes: int, generator: torch.Generator, max_shapes: int = 6
) -> torch.Tensor:
    """Label map ``(size, size)`` int64: background 0 with 2..``max_shapes`` random shapes
    (ellipses, rectangles, polygons, blobs; radius 12-30 % of the size, random rotation) of classes
    drawn uniformly from ``1 .. num_classes - 1``; later shapes cover earlier ones."""
    label = torch.zeros(size, size, dtype=torch.int64)
    if num_classes < 2:
        return label
    count = int(torch.randint(2, max_shapes + 1, (), generator=generator))
    kinds = torch.randint(len(SHAPES), (count,), generator=generator).tolist()
    classes = torch.randint(1, num_classes, (count,), generator=generator).tolist()
    params = torch.rand(count, 6, generator=generator).tolist()
    ys, xs = torch.meshgrid(
        torch.arange(size, dtype=torch.float32) + 0.5,
        torch.arange(size, dtype=torch.float32) + 0.5,
        indexing="ij",
    )
    for kind, cls, (cx, cy, radius, ratio, angle, extra) in zip(kinds, classes, params):
        cx, cy = (0.1 + 0.8 * cx) * size, (0.1 + 0.8 * cy) * size
        rx = (0.12 + 0.18 * radius) * size
        ry = rx * (0.5 + 0.5 * ratio)
        angle *= math.pi
        dx, dy = xs - cx, ys - cy
        u = dx * math.cos(angle) + dy * math.sin(angle)
        v = -dx * math.sin(angle) + dy * math.cos(angle)
        shape = SHAPES[kind]
        if shape == "ellipse":
            inside = (u / rx) ** 2 + (v / ry) ** 2 <= 1.0
        elif shape == "rectangle":
            inside = (u.abs() <= rx) & (v.abs() <= ry)
        elif shape == "polygon":
            corners = 3 + int(extra * 5)  # 3..7 vertices, star-shaped around the centre
            turns = torch.sort(torch.rand(corners, generator=generator)).values * 2 * math.pi
            radii = rx * (0.6 + 0.4 * torch.rand(corners, generator=generator))
            vertices = torch.stack(
                [cx + radii * torch.cos(turns + angle), cy + radii * torch.sin(turns + angle)], 1
            )
            inside = _inside_polygon(xs, ys, vertices)
        else:  # blob: radius modulated by random harmonics 2, 3, 4 of the polar angle
            amplitude = (
                torch.rand(3, generator=generator) * torch.tensor([0.25, 0.15, 0.1])
            ).tolist()
            phase = (torch.rand(3, generator=generator) * 2 * math.pi).tolist()
            rho = torch.hypot(u, v).clamp_min(1e-6)
            cos_t, sin_t = u / rho, v / rho
            cos_k, sin_k = cos_t, sin_t  # cos(k t), sin(k t) by the angle-sum recurrence
            wobble = torch.ones_like(u)
            for k in range(3):
                cos_k, sin_k = cos_k * cos_t - sin_k * sin_t, sin_k * cos_t + cos_k * sin_t
                # cos(k t + phase) = cos(k t) cos(phase) - sin(k t) sin(phase)
                wobble += amplitude[k] * (cos_k * math.cos(phase[k]) - sin_k * math.sin(phase[k]))
            inside = rho <= rx * wobble
        label[inside] = cls
    return label


class SyntheticTexturesDataset(Dataset):
    """``size`` synthetic items of one split; item ``i`` depends only on ``(seed, split, i)``.

    Items: ``"label"`` int64 ``(H, W)`` in ``[0, num_classes)``, ``"image"`` float32
    ``(3, H, W)`` in ``[-1, 1]``, ``"path"`` ``"synthetic/<split>/<i>.png"``.
    """

    def __init__(
        self, split: str, size: int, num_classes: int = 6, image_size: int = 64, seed: int = 0
    ) -> None:
        if split not in SPLITS:
            raise ValueError(f"split: expected one of {SPLITS}, got {split!r}")
        if size < 0:
            raise ValueError(f"size: expected an integer >= 0, got {size}")
        self.split = split
        self.size = size
        self.num_classes = num_classes
        self.image_size = image_size
        self.seed = seed

    def __len__(self) -> int:
        return self.size

    def __getitem__(self, index: int) -> dict[str, Any]:
        if not 0 <= index < self.size:
            raise IndexError(f"index {index} out of range for {self.size} {self.split} items")
        generator = item_generator(self.seed, f"synthetic-{self.split}", index)
        label = random_label_map(self.image_size, self.num_classes, generator)
        image = render_image(label, generator)
        return {"label": label, "image": image, "path": f"synthetic/{self.split}/{index}.png"}


class SyntheticTexturesDataModule(ImageDataModule):
    """Label -> image data with no download: random shapes of ``num_classes - 1`` textured classes
    over a background class 0 (see :mod:`cfl_lightning.data.textures`).

    Args:
        num_classes: classes including the background (default 6: background, stripes, checks,
            dots, smooth noise, gradient bands; more classes cycle the families with other
            colours, periods and orientations).
        image_size: side of the square images (default 64).
        train_size, val_size, test_size: items per split (defaults 2000, 64, 64).
        **kwargs: :class:`ImageDataModule` arguments (``batch_size``, ``num_workers``, ...):
            ``split_seed`` seeds the items (item ``i`` of a split depends only on ``split_seed``,
            the split and ``i``; splits use separate streams), ``seed`` the train shuffle.
    """

    dontcare_label: int | None = None
    has_instances = False  # no instance maps

    def __init__(
        self,
        num_classes: int = 6,
        image_size: int = 64,
        train_size: int = 2000,
        val_size: int = 64,
        test_size: int = 64,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if num_classes < 2:
            raise ValueError(f"num_classes: expected an integer >= 2, got {num_classes}")
        if image_size < 8:
            raise ValueError(f"image_size: expected an integer >= 8, got {image_size}")
        sizes = {"train_size": train_size, "val_size": val_size, "test_size": test_size}
        for name, value in sizes.items():
            if value < 0:
                raise ValueError(f"{name}: expected an integer >= 0, got {value}")
        self.num_classes = num_classes
        self.image_size = image_size
        self.split_sizes = {"train": train_size, "val": val_size, "test": test_size}
        self.dontcare_label = None

    def build_predict_dataset(self, root: Path) -> LabelInputs:
        """Label maps (ids ``0 .. num_classes - 1``) under ``root``."""
        return LabelInputs(root, self.num_classes)

    def build_dataset(self, split: str) -> SyntheticTexturesDataset:
        return SyntheticTexturesDataset(
            split, self.split_sizes[split], self.num_classes, self.image_size, self.split_seed
        )
