"""Super-resolution generator that predicts a correction of the bicubic-upsampled input."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

SR_SCALES = (2, 4, 8)
UPSAMPLERS = ("pixelshuffle", "resize")


def icnr_(conv: nn.Conv2d, factor: int = 2) -> None:
    """ICNR initialisation (Aitken et al., 2017) of the conv before ``PixelShuffle(factor)``: the
    ``factor**2`` sub-pixel channels of each output channel start equal, so the pair starts as a
    conv followed by nearest upsampling, with no checkerboard."""
    out_channels = conv.out_channels // factor**2
    base = torch.empty(out_channels, *conv.weight.shape[1:])
    nn.init.kaiming_normal_(base, nonlinearity="leaky_relu", a=0.2)
    with torch.no_grad():
        conv.weight.copy_(base.repeat_interleave(factor**2, dim=0))
        if conv.bias is not None:
            conv.bias.zero_()


def upsampling_stage(kind: str, channels: int) -> list[nn.Module]:
    """One 2x stage: ``"pixelshuffle"`` (conv to 4x channels, ICNR-initialised, PixelShuffle) or
    ``"resize"`` (nearest 2x, then a 3x3 conv), each followed by LeakyReLU 0.2."""
    if kind == "pixelshuffle":
        conv = nn.Conv2d(channels, 4 * channels, kernel_size=3, padding=1)
        icnr_(conv)
        return [conv, nn.PixelShuffle(2), nn.LeakyReLU(0.2)]
    return [
        nn.Upsample(scale_factor=2, mode="nearest"),
        nn.Conv2d(channels, channels, kernel_size=3, padding=1),
        nn.LeakyReLU(0.2),
    ]


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
    blocks and a global skip at low resolution, then ``log2(scale)`` 2x upsampling stages (see
    ``upsampler``), then a 3x3 conv to ``C``) adds to the upsampled image in tanh's
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
        upsampler: ``"pixelshuffle"`` (sub-pixel convs with ICNR initialisation, default) or
            ``"resize"`` (nearest 2x + 3x3 conv). Feature losses (VGG, CFL) can drive
            sub-pixel convs into a grid with the upsampler's period; resize-convolutions cannot
            make one (see BENCHMARKS.md, quality).
    """

    def __init__(
        self,
        scale: int = 4,
        channels: int = 3,
        nf: int = 64,
        n_blocks: int = 8,
        saturation_margin: float = 1e-3,
        upsampler: str = "pixelshuffle",
    ) -> None:
        super().__init__()
        if upsampler not in UPSAMPLERS:
            raise ValueError(f"upsampler: expected one of {UPSAMPLERS}, got {upsampler!r}")
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
        stages: list[nn.Module] = []
        for _ in range(int(math.log2(scale))):
            stages += upsampling_stage(upsampler, nf)
        self.upsampler = nn.Sequential(*stages)
        self.tail = nn.Conv2d(nf, channels, kernel_size=3, padding=1)
        with torch.no_grad():
            self.tail.weight.mul_(0.01)
            self.tail.bias.zero_()

    @property
    def divisor(self) -> int:
        """H and W of the input may be any size (all its convolutions have stride 1)."""
        return 1

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
