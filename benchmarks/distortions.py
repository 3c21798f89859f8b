"""Image distortions of known strength, for checking what a quality metric sees.

Every function takes ``(B, 3, H, W)`` float images in ``[-1, 1]`` and returns new images of the
same shape and dtype, clipped to ``[-1, 1]``; strength 0 returns an unchanged copy. Amplitudes
and noise levels are in ``[-1, 1]`` units (half the ``[0, 1]`` figure).
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable

import numpy as np
import torch
from PIL import Image
from torchvision.transforms.functional import gaussian_blur as _torchvision_blur

# Rec. 601 luma weights (what PIL's convert("L") uses).
LUMA_WEIGHTS = (0.299, 0.587, 0.114)


def _check_images(images: torch.Tensor) -> None:
    if not isinstance(images, torch.Tensor) or images.dim() != 4 or images.shape[1] != 3:
        shape = tuple(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__
        raise ValueError(f"images: expected a (B, 3, H, W) tensor in [-1, 1], got {shape}")


def _check_strength(name: str, value: float, low: float = 0.0, high: float = math.inf) -> None:
    if not low <= value <= high:
        raise ValueError(f"{name}: expected a value in [{low}, {high}], got {value!r}")


def gaussian_blur(images: torch.Tensor, sigma: float) -> torch.Tensor:
    """Gaussian blur of standard deviation ``sigma`` pixels (kernel ``2 * ceil(3 sigma) + 1``
    taps, reflected borders)."""
    _check_images(images)
    _check_strength("sigma", sigma)
    if sigma == 0:
        return images.clone()
    size = 2 * math.ceil(3 * sigma) + 1
    return _torchvision_blur(images, [size, size], [sigma, sigma]).clamp(-1, 1)


def gaussian_noise(images: torch.Tensor, sigma: float, seed: int = 0) -> torch.Tensor:
    """Add independent Gaussian noise of standard deviation ``sigma`` to every value (drawn from
    ``torch.Generator().manual_seed(seed)``), then clip."""
    _check_images(images)
    _check_strength("sigma", sigma)
    generator = torch.Generator().manual_seed(seed)
    noise = torch.randn(images.shape, generator=generator).to(images)
    return (images + sigma * noise).clamp(-1, 1)


def to_uint8(images: torch.Tensor) -> np.ndarray:
    """``(B, 3, H, W)`` in ``[-1, 1]`` -> ``(B, H, W, 3)`` uint8 (rounded)."""
    scaled = ((images.detach().float().cpu().clamp(-1, 1) + 1) * 127.5).round()
    return scaled.to(torch.uint8).permute(0, 2, 3, 1).numpy()


def from_uint8(array: np.ndarray, like: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`to_uint8`, on ``like``'s device and dtype."""
    images = torch.from_numpy(np.ascontiguousarray(array)).permute(0, 3, 1, 2).float()
    return (images / 127.5 - 1).to(like)


def jpeg(images: torch.Tensor, quality: int) -> torch.Tensor:
    """Round trip through PIL's JPEG encoder at ``quality`` (1-95; PIL's default 4:2:0 chroma
    subsampling), via 8-bit RGB."""
    _check_images(images)
    if not isinstance(quality, int) or not 1 <= quality <= 95:
        raise ValueError(f"quality: expected an int in [1, 95], got {quality!r}")
    decoded = []
    for array in to_uint8(images):
        buffer = io.BytesIO()
        Image.fromarray(array).save(buffer, format="JPEG", quality=quality)
        buffer.seek(0)
        decoded.append(np.asarray(Image.open(buffer).convert("RGB")))
    return from_uint8(np.stack(decoded), images)


def desaturate(images: torch.Tensor, fraction: float) -> torch.Tensor:
    """Blend each pixel towards its Rec. 601 luma by ``fraction`` (0: unchanged, 1: grey, all
    three channels equal)."""
    _check_images(images)
    _check_strength("fraction", fraction, 0.0, 1.0)
    weights = torch.tensor(LUMA_WEIGHTS, dtype=images.dtype, device=images.device)
    luma = (images * weights[:, None, None]).sum(dim=1, keepdim=True)
    return ((1 - fraction) * images + fraction * luma).clamp(-1, 1)


def checkerboard(images: torch.Tensor, amplitude: float) -> torch.Tensor:
    """Add ``+amplitude`` where ``row + column`` is even and ``-amplitude`` where it is odd (a
    period-2 checkerboard, the artifact of stride-2 transposed convolutions), to all channels."""
    _check_images(images)
    _check_strength("amplitude", amplitude)
    height, width = images.shape[-2:]
    rows = torch.arange(height, device=images.device)[:, None]
    cols = torch.arange(width, device=images.device)[None, :]
    sign = 1.0 - 2.0 * ((rows + cols) % 2).to(images.dtype)
    return (images + amplitude * sign).clamp(-1, 1)


def colour_cast(images: torch.Tensor, shift: float) -> torch.Tensor:
    """A global colour cast: ``+shift`` on red, ``-shift`` on blue, green unchanged."""
    _check_images(images)
    _check_strength("shift", shift, -2.0, 2.0)
    offsets = torch.tensor([shift, 0.0, -shift], dtype=images.dtype, device=images.device)
    return (images + offsets[:, None, None]).clamp(-1, 1)


Distortion = Callable[[torch.Tensor, float], torch.Tensor]

# (name, function, unit, levels): the ladders of ``benchmarks/metric_check.py`` (issue 13).
LADDERS: tuple[tuple[str, Distortion, str, tuple[float, ...]], ...] = (
    ("blur", gaussian_blur, "sigma px", (0.5, 1.0, 2.0)),
    ("noise", gaussian_noise, "sigma", (0.02, 0.05, 0.1)),
    ("jpeg", jpeg, "quality", (90, 50, 20)),
    ("desaturation", desaturate, "fraction", (0.25, 0.5, 1.0)),
    ("checkerboard", checkerboard, "amplitude", (0.02, 0.05, 0.1)),
    ("colour_cast", colour_cast, "R+/B- shift", (0.05, 0.1, 0.2)),
)
