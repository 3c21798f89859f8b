"""pix2pix U-Net generator (Isola et al., 2017)."""

from __future__ import annotations

import torch
from torch import nn

from cfl_lightning.networks.norms import (
    check_image_batch,
    check_norm_kind,
    init_gan_weights,
    make_norm_2d,
)

UPSAMPLE_MODES = ("transpose", "resize")


def upsampling_conv(mode: str, in_channels: int, out_channels: int, bias: bool) -> nn.Module:
    """A 2x upsampling layer: a 4x4 stride-2 transposed conv, or nearest resize + 3x3 conv."""
    if mode == "transpose":
        return nn.ConvTranspose2d(in_channels, out_channels, 4, stride=2, padding=1, bias=bias)
    return nn.Sequential(
        nn.Upsample(scale_factor=2, mode="nearest"),
        nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=bias),
    )


class UNetGenerator(nn.Module):
    """pix2pix U-Net: ``(B, input_channels, H, W) -> (B, C, H, W)`` in ``[-1, 1]``.

    ``num_downs`` stride-2 4x4 convs (LeakyReLU 0.2 before each but the first, norm after each but
    the first and the innermost) of widths ``ngf * min(2^i, 8)``; as many stride-2 4x4 transposed
    convs (ReLU before, norm after, ``tanh`` after the outermost), each taking the previous decoder
    output concatenated with the encoder output of the same resolution. With ``num_downs=8`` and
    ``ngf=64`` this is pix2pix's ``unet_256``. H and W must be divisible by ``2^num_downs``.

    Args:
        input_channels: channels of the input image or label map.
        output_channels: channels of the output image (3).
        num_downs: number of downsamplings (8; 7 for 128x128 images).
        ngf: width of the outermost layer (64).
        norm: ``"batch"`` (pix2pix's default), ``"instance"`` (no affine parameters), ``"sync"``
            or ``"none"``. With ``"instance"``, tiled inference normalises each tile by its own
            statistics (tiles then differ from whole-image inference); batch norm in eval mode
            does not, but a deep U-Net's receptive field can exceed a tile.
        use_dropout: dropout 0.5 in the decoder layers at width ``8 * ngf`` below the innermost,
            as pix2pix.
        upsample: ``"transpose"`` (pix2pix's 4x4 stride-2 transposed convs) or ``"resize"``
            (nearest 2x upsampling then a 3x3 conv, same widths). Transposed convs overlap
            unevenly and, driven by a feature loss (VGG or CFL), paint a period-2 checkerboard;
            resize-convolutions do not (see BENCHMARKS.md, quality).
    """

    def __init__(
        self,
        input_channels: int,
        output_channels: int = 3,
        num_downs: int = 8,
        ngf: int = 64,
        norm: str = "batch",
        use_dropout: bool = False,
        upsample: str = "transpose",
    ) -> None:
        super().__init__()
        check_norm_kind(norm)
        if upsample not in UPSAMPLE_MODES:
            raise ValueError(f"upsample: expected one of {UPSAMPLE_MODES}, got {upsample!r}")
        if num_downs < 1:
            raise ValueError(f"num_downs: expected an integer >= 1, got {num_downs}")
        self.input_channels = input_channels
        self.num_downs = num_downs
        # Batch norm has its own shift, so the convs before it have no bias (as pix2pix).
        bias = norm in ("instance", "none")
        affine = norm != "instance"
        widths = [ngf * min(2**i, 8) for i in range(num_downs)]
        innermost = num_downs - 1

        self.downs = nn.ModuleList()
        for i, width in enumerate(widths):
            in_width = input_channels if i == 0 else widths[i - 1]
            layers: list[nn.Module] = [] if i == 0 else [nn.LeakyReLU(0.2)]
            layers.append(nn.Conv2d(in_width, width, 4, stride=2, padding=1, bias=bias))
            if 0 < i < innermost:
                layers.append(make_norm_2d(norm, width, affine))
            self.downs.append(nn.Sequential(*layers))

        self.ups = nn.ModuleList()
        for i, width in enumerate(widths):
            in_width = width if i == innermost else 2 * width
            if i == 0:
                self.ups.append(
                    nn.Sequential(
                        nn.ReLU(),
                        upsampling_conv(upsample, in_width, output_channels, bias=True),
                        nn.Tanh(),
                    )
                )
                continue
            out_width = widths[i - 1]
            layers = [
                nn.ReLU(),
                upsampling_conv(upsample, in_width, out_width, bias=bias),
                make_norm_2d(norm, out_width, affine),
            ]
            if use_dropout and i < innermost and out_width == 8 * ngf:
                layers.append(nn.Dropout(0.5))
            self.ups.append(nn.Sequential(*layers))
        init_gan_weights(self, "normal", 0.02)

    @property
    def divisor(self) -> int:
        """H and W of the input must be multiples of this (``2^num_downs``)."""
        return 2**self.num_downs

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x``: ``(B, input_channels, H, W)``. Returns ``(B, C, H, W)`` in ``[-1, 1]``."""
        check_image_batch(
            x, self.input_channels, self.divisor, "x", f"2^num_downs, num_downs={self.num_downs}"
        )
        skips: list[torch.Tensor] = []
        for down in self.downs:
            x = down(x)
            skips.append(x)
        x = self.ups[-1](skips[-1])
        for i in range(self.num_downs - 2, -1, -1):
            x = self.ups[i](torch.cat([skips[i], x], dim=1))
        return x
