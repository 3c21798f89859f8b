"""Tiny datasets written in the real layouts, and helpers to check label/image alignment.

Label maps are blocks of 8x8 pixels with random ids; each image encodes its label's parity
(white where the id is odd, black where even), so after any shared resize/crop/flip the sign of
the image must still tell the label's parity at every pixel.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

BLOCK = 8


def _seed(split: str, index: int) -> int:
    return zlib.crc32(f"{split}/{index}".encode())


def block_label(height: int, width: int, high: int, seed: int) -> np.ndarray:
    """``(H, W)`` int64 of ``BLOCK x BLOCK`` blocks with ids in ``[0, high)``."""
    rng = np.random.default_rng(seed)
    blocks = rng.integers(0, high, size=(height // BLOCK, width // BLOCK))
    # both parities present, so that alignment checks cannot pass trivially
    blocks.flat[0], blocks.flat[-1] = 1 % high, 0
    return np.kron(blocks, np.ones((BLOCK, BLOCK), dtype=np.int64)).astype(np.int64)


def parity_image(label: np.ndarray) -> np.ndarray:
    """``(H, W, 3)`` uint8: white where ``label`` is odd, black where even."""
    return np.repeat(((label % 2) * 255).astype(np.uint8)[..., None], 3, axis=2)


def save(path: Path, array: np.ndarray) -> Path:
    """Save as PNG or JPEG by extension (uint16 arrays become 16-bit PNG)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if array.dtype == np.uint16:
        Image.fromarray(array).save(path)
    elif path.suffix == ".jpg":
        Image.fromarray(array).save(path, quality=95)
    else:
        Image.fromarray(array).save(path)
    return path


def snapshot(root: Path) -> dict[str, tuple[int, int]]:
    """Every file under ``root`` with its size and modification time."""
    return {
        str(p): (p.stat().st_size, p.stat().st_mtime_ns) for p in root.rglob("*") if p.is_file()
    }


def assert_aligned(item: dict, parity_of: Callable[[torch.Tensor], torch.Tensor] | None = None):
    """The image's sign tells the label's parity at every pixel (label and image share every
    resize, crop and flip). ``parity_of`` maps the item's label to the parity drawn in the
    image (default ``label % 2``)."""
    label = item["label"]
    parity = label % 2 if parity_of is None else parity_of(label)
    white = item["image"] > 0
    assert white.shape[-2:] == label.shape
    assert torch.equal(white[0], parity.bool()), "label and image are misaligned"
    assert parity.any() and not parity.all()


@pytest.fixture
def write_cityscapes(tmp_path: Path) -> Callable[..., Path]:
    """Cityscapes layout, 64x32 images (PNG), ``counts`` images per split over two cities."""

    def write(counts: dict[str, int] | None = None) -> Path:
        root = tmp_path / "cityscapes"
        counts = counts or {"train": 3, "val": 2}
        for split, count in counts.items():
            for i in range(count):
                city = ("aachen", "bremen")[i % 2]
                stem = f"{city}_{i:06d}_000019"
                label = block_label(32, 64, 34, seed=_seed(split, i))
                instance = label * 1000 + (np.arange(64)[None, :] // BLOCK) * (label >= 24)
                save(
                    root / "leftImg8bit" / split / city / f"{stem}_leftImg8bit.png",
                    parity_image(label),
                )
                gt = root / "gtFine" / split / city
                save(gt / f"{stem}_gtFine_labelIds.png", label.astype(np.uint8))
                save(gt / f"{stem}_gtFine_instanceIds.png", instance.astype(np.uint16))
                save(gt / f"{stem}_gtFine_color.png", parity_image(label))
        return root

    return write


@pytest.fixture
def write_ade20k(tmp_path: Path) -> Callable[..., Path]:
    """ADEChallengeData2016 layout, 64x64 JPEG images and PNG annotations (raw values 0..150)."""

    def write(counts: dict[str, int] | None = None) -> Path:
        root = tmp_path / "ade"
        base = root / "ADEChallengeData2016"
        counts = counts or {"training": 3, "validation": 2}
        for folder, count in counts.items():
            for i in range(count):
                stem = f"ADE_{folder[:5]}_{i + 1:08d}"
                raw = block_label(64, 64, 151, seed=_seed(folder, i))
                # the image encodes the parity of the class id (raw - 1); 0 ("other") is black
                mapped_odd = (raw > 0) & ((raw - 1) % 2 == 1)
                save(base / "images" / folder / f"{stem}.jpg", parity_image(mapped_odd))
                save(base / "annotations" / folder / f"{stem}.png", raw.astype(np.uint8))
        return root

    return write


@pytest.fixture
def write_coco_stuff(tmp_path: Path) -> Callable[..., Path]:
    """COCO-Stuff layout (SPADE), 64x48 JPEG images, PNG labels with some 255 (don't care)."""

    def write(counts: dict[str, int] | None = None, instances: bool = True) -> Path:
        root = tmp_path / "coco"
        counts = counts or {"train": 3, "val": 2}
        for prefix, count in counts.items():
            for i in range(count):
                stem = f"{i:012d}"
                label = block_label(48, 64, 182, seed=_seed(prefix, i))
                label[:BLOCK, BLOCK : 2 * BLOCK] = 255
                save(root / f"{prefix}_img" / f"{stem}.jpg", parity_image(label))
                save(root / f"{prefix}_label" / f"{stem}.png", label.astype(np.uint8))
                if instances:
                    instance = (label // 2).astype(np.uint8)
                    save(root / f"{prefix}_inst" / f"{stem}.png", instance)
        return root

    return write


@pytest.fixture
def check_aligned() -> Callable[..., None]:
    """:func:`assert_aligned`."""
    return assert_aligned


@pytest.fixture
def make_pair() -> Callable[..., tuple[torch.Tensor, torch.Tensor]]:
    """``(height, width, seed) -> (label int64 (H, W), parity image uint8 (3, H, W))``."""

    def make(height: int = 64, width: int = 64, seed: int = 0):
        label = block_label(height, width, 20, seed=seed)
        image = torch.from_numpy(parity_image(label)).permute(2, 0, 1).contiguous()
        return torch.from_numpy(label), image

    return make


@pytest.fixture
def file_snapshot() -> Callable[[Path], dict[str, tuple[int, int]]]:
    """:func:`snapshot`."""
    return snapshot
