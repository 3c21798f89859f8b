"""Multi-scale PatchGAN discriminator of pix2pixHD and SPADE, returning every layer's features."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from cfl_lightning.networks.norms import (
    check_norm_kind,
    init_gan_weights,
    make_norm_2d,
    maybe_spectral_norm,
)

_MAX_WIDTH = 512


class PatchDiscriminator(nn.Module):
    """PatchGAN: ``(B, input_channels, H, W) -> [features_1, ..., features_n_layers, logits]``.

    4x4 convs with padding 2 and LeakyReLU 0.2: the first (width ``ndf``, stride 2) without norm,
    then ``n_layers - 1`` convs doubling the width (capped at 512; stride 2 except the last, stride
    1) with optional spectral norm and a norm layer, then a stride-1 conv to one logit channel.
    With ``n_layers=4`` a 64x64 input gives 11x11 logits.
    """

    def __init__(
        self, input_channels: int, ndf: int, n_layers: int, spectral_norm: bool, norm: str
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = [
            nn.Sequential(
                nn.Conv2d(input_channels, ndf, kernel_size=4, stride=2, padding=2),
                nn.LeakyReLU(0.2),
            )
        ]
        width = ndf
        for n in range(1, n_layers):
            previous, width = width, min(2 * width, _MAX_WIDTH)
            stride = 1 if n == n_layers - 1 else 2
            # A conv followed by a norm does not need a bias (the norm removes it).
            conv = nn.Conv2d(
                previous, width, kernel_size=4, stride=stride, padding=2, bias=norm == "none"
            )
            layers.append(
                nn.Sequential(
                    maybe_spectral_norm(conv, spectral_norm),
                    make_norm_2d(norm, width, affine=norm != "instance"),
                    nn.LeakyReLU(0.2),
                )
            )
        layers.append(nn.Conv2d(width, 1, kernel_size=4, stride=1, padding=2))
        self.layers = nn.ModuleList(layers)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        outputs = []
        for layer in self.layers:
            x = layer(x)
            outputs.append(x)
        return outputs


class MultiscaleDiscriminator(nn.Module):
    """``num_scales`` PatchGANs on the input and on 2x, 4x, ... average-pooled copies of it.

    ``forward(x)`` with ``x`` ``(B, input_channels, H, W)`` returns ``outputs[scale][layer]``:
    for each scale (full resolution first) the list of its ``n_layers + 1`` layer outputs, the last
    being the ``(B, 1, h, w)`` logit map; the others serve the feature-matching loss. Between
    scales the input is average-pooled (3x3, stride 2, padding 1, padding not counted).

    A conditional discriminator gets the condition and the image concatenated by the caller, so
    ``input_channels`` = condition channels + 3.

    Args:
        input_channels: channels of ``x``.
        ndf: width of the first layer (64).
        n_layers: convs before the logit conv (4, as SPADE's ``n_layers_D``; pix2pixHD's
            ``n_layers_D=3`` is the same network).
        num_scales: number of discriminators (2).
        spectral_norm: spectral normalisation of the inner convs (True).
        norm: norm after the inner convs: ``"instance"`` (default), ``"batch"``, ``"sync"`` or
            ``"none"``.
    """

    def __init__(
        self,
        input_channels: int,
        ndf: int = 64,
        n_layers: int = 4,
        num_scales: int = 2,
        spectral_norm: bool = True,
        norm: str = "instance",
    ) -> None:
        super().__init__()
        check_norm_kind(norm)
        if n_layers < 1 or num_scales < 1 or ndf < 1:
            raise ValueError(
                "n_layers, num_scales, ndf: expected positive integers, got "
                f"{n_layers}, {num_scales}, {ndf}"
            )
        self.input_channels = input_channels
        self.discriminators = nn.ModuleList(
            PatchDiscriminator(input_channels, ndf, n_layers, spectral_norm, norm)
            for _ in range(num_scales)
        )
        init_gan_weights(self, "xavier", 0.02)

    def forward(self, x: torch.Tensor) -> list[list[torch.Tensor]]:
        """``x``: ``(B, input_channels, H, W)``. Returns per scale the list of layer outputs."""
        if x.dim() != 4 or x.shape[1] != self.input_channels:
            raise ValueError(
                f"x: expected a (B, {self.input_channels}, H, W) tensor, got shape {tuple(x.shape)}"
            )
        outputs = []
        for index, discriminator in enumerate(self.discriminators):
            if index > 0:
                x = F.avg_pool2d(x, kernel_size=3, stride=2, padding=1, count_include_pad=False)
            outputs.append(discriminator(x))
        return outputs
