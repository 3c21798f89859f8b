"""pix2pixHD global generator (Wang et al., 2018): encoder, residual blocks, decoder."""

from __future__ import annotations

import torch
from torch import nn

from cfl_lightning.networks.norms import (
    check_image_batch,
    check_norm_kind,
    init_gan_weights,
    make_norm_2d,
)


class ReflectResBlock(nn.Module):
    """``x + (pad, conv3x3, norm, ReLU, pad, conv3x3, norm)(x)`` with reflection padding."""

    def __init__(self, channels: int, norm: str) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.ReflectionPad2d(1),
            nn.Conv2d(channels, channels, kernel_size=3),
            make_norm_2d(norm, channels, affine=norm != "instance"),
            nn.ReLU(),
            nn.ReflectionPad2d(1),
            nn.Conv2d(channels, channels, kernel_size=3),
            make_norm_2d(norm, channels, affine=norm != "instance"),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class Pix2PixHDGenerator(nn.Module):
    """pix2pixHD's global generator: ``(B, input_channels, H, W) -> (B, C, H, W)`` in ``[-1, 1]``.

    Reflection-padded 7x7 conv to ``ngf``; ``n_downsampling`` stride-2 3x3 convs doubling the width;
    ``n_blocks`` residual blocks at ``ngf * 2^n_downsampling``; as many stride-2 transposed convs
    halving it; reflection-padded 7x7 conv and ``tanh``. Each conv but the last is followed by the
    norm and ReLU. H and W must be divisible by ``2^n_downsampling``.

    Args:
        input_channels: channels of the input (one-hot label map, image, ...).
        output_channels: channels of the output image (3).
        ngf: base width (64).
        n_downsampling: number of 2x downsamplings (4).
        n_blocks: number of residual blocks (9).
        norm: ``"instance"`` (no affine parameters, pix2pixHD's default), ``"batch"``, ``"sync"``
            or ``"none"``. Instance norm normalises by the statistics of the image it sees: in
            tiled inference (``tile_size``) each tile gets its own, so tiles differ from
            whole-image inference (blended without seams, not equal).
    """

    def __init__(
        self,
        input_channels: int,
        output_channels: int = 3,
        ngf: int = 64,
        n_downsampling: int = 4,
        n_blocks: int = 9,
        norm: str = "instance",
    ) -> None:
        super().__init__()
        check_norm_kind(norm)
        if n_downsampling < 0 or n_blocks < 0:
            raise ValueError(
                "n_downsampling, n_blocks: expected non-negative integers, got "
                f"{n_downsampling}, {n_blocks}"
            )
        self.input_channels = input_channels
        self.n_downsampling = n_downsampling

        def norm_layer(channels: int) -> nn.Module:
            return make_norm_2d(norm, channels, affine=norm != "instance")

        layers: list[nn.Module] = [
            nn.ReflectionPad2d(3),
            nn.Conv2d(input_channels, ngf, kernel_size=7),
            norm_layer(ngf),
            nn.ReLU(),
        ]
        for i in range(n_downsampling):
            width = ngf * 2**i
            layers += [
                nn.Conv2d(width, 2 * width, kernel_size=3, stride=2, padding=1),
                norm_layer(2 * width),
                nn.ReLU(),
            ]
        bottom = ngf * 2**n_downsampling
        layers += [ReflectResBlock(bottom, norm) for _ in range(n_blocks)]
        for i in range(n_downsampling, 0, -1):
            width = ngf * 2**i
            layers += [
                nn.ConvTranspose2d(
                    width, width // 2, kernel_size=3, stride=2, padding=1, output_padding=1
                ),
                norm_layer(width // 2),
                nn.ReLU(),
            ]
        layers += [
            nn.ReflectionPad2d(3),
            nn.Conv2d(ngf, output_channels, kernel_size=7),
            nn.Tanh(),
        ]
        self.model = nn.Sequential(*layers)
        init_gan_weights(self, "normal", 0.02)

    @property
    def divisor(self) -> int:
        """H and W of the input must be multiples of this (``2^n_downsampling``)."""
        return 2**self.n_downsampling

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x``: ``(B, input_channels, H, W)``. Returns ``(B, C, H, W)`` in ``[-1, 1]``."""
        check_image_batch(
            x,
            self.input_channels,
            self.divisor,
            "x",
            f"2^n_downsampling, n_downsampling={self.n_downsampling}",
        )
        return self.model(x)
