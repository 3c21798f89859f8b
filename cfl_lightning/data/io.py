"""Reading image and label files with errors that name the file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff")


class ImageFileError(ValueError):
    """An image or label file that cannot be used; the message names the file."""


def open_image(path: Path) -> Image.Image:
    """The decoded image at ``path``; :class:`ImageFileError` naming it if missing or unreadable."""
    try:
        with Image.open(path) as image:
            image.load()
            return image.copy()
    except FileNotFoundError as error:
        raise ImageFileError(f"{path}: file not found") from error
    except (UnidentifiedImageError, OSError, SyntaxError) as error:
        raise ImageFileError(f"{path}: unreadable or truncated image file ({error})") from error


SIXTEEN_BIT_MODES = ("I;16", "I;16B", "I;16L", "I;16N")


def rgb_array(image: Image.Image, source: str | Path = "image") -> np.ndarray:
    """``image`` as ``uint8`` ``(H, W, 3)``.

    8-bit modes go through PIL's RGB conversion (grey and palette expanded, alpha dropped, CMYK
    converted). Grey images of more than 8 bits are scaled to 8 bits, not clipped: 16-bit
    (``I;16``, and ``I`` as older Pillow opens 16-bit PNGs) by ``255 / 65535``, which needs
    values in ``[0, 65535]``; 32-bit float (``F``, e.g. a float TIFF) by 255, which needs values
    in ``[0, 1]``. Values outside those ranges raise :class:`ImageFileError` naming ``source``.
    """
    mode = image.mode
    if mode in SIXTEEN_BIT_MODES or mode == "I":
        grey = np.asarray(image).astype(np.int64)
        low, high, limit, scale = int(grey.min()), int(grey.max()), 65535, 255 / 65535
    elif mode == "F":
        grey = np.asarray(image, dtype=np.float64)
        low, high, limit, scale = float(grey.min()), float(grey.max()), 1, 255
    else:
        try:
            return np.asarray(image.convert("RGB"), dtype=np.uint8).copy()
        except ValueError as error:  # a mode PIL cannot convert (e.g. "La")
            message = f"{source}: mode {mode!r} cannot be read as RGB ({error})"
            raise ImageFileError(message) from error
    if not (np.isfinite(low) and np.isfinite(high) and low >= 0 and high <= limit):
        raise ImageFileError(
            f"{source}: mode {mode!r} grey image with values in [{low}, {high}]; expected "
            f"[0, {limit}] ({'16-bit integer' if limit == 65535 else 'float'} intensities); "
            "save it as 8- or 16-bit PNG"
        )
    eight_bit = np.rint(grey * scale).astype(np.uint8)
    return np.repeat(eight_bit[:, :, None], 3, axis=2)


def read_image(path: str | Path) -> torch.Tensor:
    """RGB image as ``uint8`` ``(3, H, W)``; 16-bit and float grey files scaled to 8 bits (see
    :func:`rgb_array`)."""
    path = Path(path)
    return torch.from_numpy(rgb_array(open_image(path), path)).permute(2, 0, 1)


def read_label(path: str | Path) -> torch.Tensor:
    """Single-channel label or instance map as ``int64`` ``(H, W)`` (8-bit, palette or 16/32-bit
    PNG; an RGB file is rejected rather than guessed)."""
    path = Path(path)
    image = open_image(path)
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
