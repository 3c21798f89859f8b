"""Reading image and label files with errors that name the file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff")


class ImageFileError(ValueError):
    """An image or label file that cannot be used; the message names the file."""


def _open(path: Path) -> Image.Image:
    try:
        with Image.open(path) as image:
            image.load()
            return image.copy()
    except FileNotFoundError as error:
        raise ImageFileError(f"{path}: file not found") from error
    except (UnidentifiedImageError, OSError, SyntaxError) as error:
        raise ImageFileError(f"{path}: unreadable or truncated image file ({error})") from error


def read_image(path: str | Path) -> torch.Tensor:
    """RGB image as ``uint8`` ``(3, H, W)``."""
    image = _open(Path(path)).convert("RGB")
    return torch.from_numpy(np.asarray(image, dtype=np.uint8).copy()).permute(2, 0, 1)


def read_label(path: str | Path) -> torch.Tensor:
    """Single-channel label or instance map as ``int64`` ``(H, W)`` (8-bit, palette or 16/32-bit
    PNG; an RGB file is rejected rather than guessed)."""
    path = Path(path)
    image = _open(path)
    if image.mode not in ("L", "P", "I", "I;16", "I;16B", "I;16L", "1"):
        raise ImageFileError(
            f"{path}: expected a single-channel label map (PNG mode L, P or I), got mode "
            f"{image.mode!r}"
        )
    array = np.asarray(image)
    return torch.from_numpy(array.astype(np.int64))


def to_unit_range(image: torch.Tensor) -> torch.Tensor:
    """``uint8`` ``(C, H, W)`` -> float32 in ``[-1, 1]``."""
    return image.float().div(127.5).sub(1.0)


def list_images(folder: str | Path, recursive: bool = True) -> list[Path]:
    """Image files under ``folder`` (by extension), sorted."""
    folder = Path(folder)
    pattern = "**/*" if recursive else "*"
    return sorted(p for p in folder.glob(pattern) if p.suffix.lower() in IMAGE_EXTENSIONS)
