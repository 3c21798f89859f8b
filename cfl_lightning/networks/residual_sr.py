"""Super-resolution generator that predicts a correction of the bicubic-upsampled input."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

SR_SCALES = (2, 4, 8)


class _ResBlock(nn.Module):
    """``x + conv3x3(ReLU(conv3x3(x)))`` without normalisation (EDSR)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(channels, channels, kernel_size=3, padding=1),
            nn.ReLU(),
            nn.Conv2d(channels, channels, kernel_size=3, padding=1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class ResidualSRGenerator(nn.Module):
    """``(B, C, h, w)`` in ``[-1, 1]`` -> ``(B, C, h * scale, w * scale)`` in ``[-1, 1]``.

    ``out = tanh(atanh(clamp(bicubic(x), -L, L)) + residual(x))`` with ``L = 1 -
    saturation_margin``: the residual branch (a 3x3 conv to ``nf``, ``n_blocks`` EDSR residual
    blocks and a global skip at low resolution, then ``log2(scale)`` stages of conv +
    PixelShuffle(2) + LeakyReLU 0.2, then a 3x3 conv to ``C``) adds to the upsampled image in tanh's
    pre-activation space. The output is thus always inside ``(-1, 1)`` with a non-zero gradient
    everywhere, and a zero residual returns the bicubic upsampling clamped to ``[-L, L]`` (within
    ``saturation_margin`` of the bicubic upsampling clamped to ``[-1, 1]``). Near zero the residual
    is an additive correction; near +-1 its effect shrinks by ``1 - out^2``. The last conv starts
    with weights scaled by 0.01 and zero bias, so the initial output is close to bicubic. The
    bicubic/atanh path runs in float32 even under autocast.

    Args:
        scale: upsampling factor, 2, 4 or 8.
        channels: image channels (3).
        nf: width of the residual branch (64).
        n_blocks: residual blocks (8).
        saturation_margin: distance from +-1 at which the upsampled input is clamped before atanh
            (1e-3; larger keeps more gradient at saturated pixels).
    """

    def __init__(
        self,
        scale: int = 4,
        channels: int = 3,
        nf: int = 64,
        n_blocks: int = 8,
        saturation_margin: float = 1e-3,
    ) -> None:
        super().__init__()
        if scale not in SR_SCALES:
            raise ValueError(f"scale: expected one of {list(SR_SCALES)}, got {scale!r}")
        if not 0.0 < saturation_margin < 1.0:
            raise ValueError(
                f"saturation_margin: expected a value in (0, 1), got {saturation_margin}"
            )
        self.scale = scale
        self.channels = channels
        self.saturation_margin = float(saturation_margin)
        self.head = nn.Conv2d(channels, nf, kernel_size=3, padding=1)
        self.body = nn.Sequential(
            *(_ResBlock(nf) for _ in range(n_blocks)),
            nn.Conv2d(nf, nf, kernel_size=3, padding=1),
        )
        upsampler: list[nn.Module] = []
        for _ in range(int(math.log2(scale))):
            upsampler += [
                nn.Conv2d(nf, 4 * nf, kernel_size=3, padding=1),
                nn.PixelShuffle(2),
                nn.LeakyReLU(0.2),
            ]
        self.upsampler = nn.Sequential(*upsampler)
        self.tail = nn.Conv2d(nf, channels, kernel_size=3, padding=1)
        with torch.no_grad():
            self.tail.weight.mul_(0.01)
            self.tail.bias.zero_()

    def residual(self, x: torch.Tensor) -> torch.Tensor:
        """The correction in tanh's pre-activation space, ``(B, C, h * scale, w * scale)``."""
        features = self.head(x)
        features = features + self.body(features)
        return self.tail(self.upsampler(features))

    def upsample(self, x: torch.Tensor) -> torch.Tensor:
        """Bicubic upsampling by ``scale`` (float32, ``align_corners=False``), not clamped."""
        height, width = x.shape[-2:]
        size = (height * self.scale, width * self.scale)
        with torch.autocast(device_type=x.device.type, enabled=False):
            return F.interpolate(x.float(), size=size, mode="bicubic", align_corners=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x``: ``(B, C, h, w)`` in ``[-1, 1]``. Returns ``(B, C, h*scale, w*scale)`` float32."""
        if x.dim() != 4 or x.shape[1] != self.channels:
            raise ValueError(
                f"x: expected a (B, {self.channels}, h, w) tensor, got shape {tuple(x.shape)}"
            )
        limit = 1.0 - self.saturation_margin
        with torch.autocast(device_type=x.device.type, enabled=False):
            base = torch.atanh(self.upsample(x).clamp(-limit, limit))
        return torch.tanh(base + self.residual(x).float())
