"""Multi-scale PatchGAN discriminator of pix2pix, pix2pixHD and SPADE, returning every layer's
features."""

from __future__ import annotations

from collections.abc import Sequence

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
_KERNEL = 4
_POOL = (3, 2)  # kernel and stride of the average pooling between scales


def receptive_field(layers: Sequence[tuple[int, int]]) -> int:
    """Side in input pixels of the window one output pixel sees, for a chain of
    ``(kernel, stride)`` layers (first layer first)."""
    size = 1
    for kernel, stride in reversed(layers):
        size = (size - 1) * stride + kernel
    return size


def patch_strides(n_layers: int) -> list[int]:
    """Strides of a ``PatchDiscriminator``'s convs: ``n_layers`` convs, stride 2 except the last
    of them when ``n_layers > 1``, then the stride-1 logit conv."""
    return [1 if n == n_layers - 1 and n > 0 else 2 for n in range(n_layers)] + [1]


class PatchDiscriminator(nn.Module):
    """PatchGAN: ``(B, input_channels, H, W) -> [features_1, ..., features_n_layers, logits]``.

    4x4 convs with LeakyReLU 0.2: the first (width ``ndf``, stride 2) without norm, then
    ``n_layers - 1`` convs doubling the width (capped at 512; stride 2 except the last, stride 1)
    with optional spectral norm and a norm layer, then a stride-1 conv to one logit channel.
    ``n_layers`` counts the stride-1 conv, as SPADE's ``n_layers_D`` does: ``n_layers=4`` has
    three stride-2 convs and is the 70x70 PatchGAN of pix2pix (``n_layers=3`` there) and pix2pixHD
    (``n_layers_D=3``). ``receptive_field`` gives the window side (70; 34 for ``n_layers=3``).
    With ``n_layers=4`` and padding 2 a 64x64 input gives 11x11 logits.
    """

    def __init__(
        self,
        input_channels: int,
        ndf: int,
        n_layers: int,
        spectral_norm: bool,
        norm: str,
        padding: int = 2,
    ) -> None:
        super().__init__()
        strides = patch_strides(n_layers)
        self.receptive_field = receptive_field([(_KERNEL, s) for s in strides])
        layers: list[nn.Module] = [
            nn.Sequential(
                nn.Conv2d(input_channels, ndf, _KERNEL, stride=strides[0], padding=padding),
                nn.LeakyReLU(0.2),
            )
        ]
        width = ndf
        for n in range(1, n_layers):
            previous, width = width, min(2 * width, _MAX_WIDTH)
            # A conv followed by a norm does not need a bias (the norm removes it).
            conv = nn.Conv2d(
                previous, width, _KERNEL, stride=strides[n], padding=padding, bias=norm == "none"
            )
            layers.append(
                nn.Sequential(
                    maybe_spectral_norm(conv, spectral_norm),
                    make_norm_2d(norm, width, affine=norm != "instance"),
                    nn.LeakyReLU(0.2),
                )
            )
        layers.append(nn.Conv2d(width, 1, _KERNEL, stride=strides[-1], padding=padding))
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
    ``input_channels`` = condition channels + 3 (task modules pass it when the discriminator is
    given as a factory, see ``cfl_lightning.modules.TaskModule``).

    ``receptive_fields[scale]``: side of the input window one logit of that scale sees, in
    pixels of ``x`` (70 and 141 for the default ``n_layers=4``, two scales).

    The references' settings: SPADE ``n_layers=4, num_scales=2`` (``n_layers_D=4, num_D=2``),
    spectral + instance norm, padding 2, Xavier init (the defaults); pix2pixHD the same network
    without spectral norm (its ``n_layers_D=3`` counts only stride-2 convs); pix2pix's 70x70
    PatchGAN ``n_layers=4, num_scales=1, spectral_norm=False, norm="batch", padding=1,
    init="normal"`` (its ``n_layers=3`` counts only stride-2 convs).

    Args:
        input_channels: channels of ``x``.
        ndf: width of the first layer (64).
        n_layers: convs before the logit conv, the last of them with stride 1 (4, as SPADE's
            ``n_layers_D``); see ``PatchDiscriminator``.
        num_scales: number of discriminators (2).
        spectral_norm: spectral normalisation of the inner convs (True).
        norm: norm after the inner convs: ``"instance"`` (default), ``"batch"``, ``"sync"`` or
            ``"none"``.
        padding: zero padding of every 4x4 conv: 2 (pix2pixHD, SPADE; default) or 1 (pix2pix,
            whose 256x256 inputs then give 30x30 logits).
        init: weight initialisation, ``"xavier"`` (SPADE; default) or ``"normal"`` (pix2pix,
            pix2pixHD), gain 0.02 (see ``init_gan_weights``).
    """

    def __init__(
        self,
        input_channels: int,
        ndf: int = 64,
        n_layers: int = 4,
        num_scales: int = 2,
        spectral_norm: bool = True,
        norm: str = "instance",
        padding: int = 2,
        init: str = "xavier",
    ) -> None:
        super().__init__()
        check_norm_kind(norm)
        if n_layers < 1 or num_scales < 1 or ndf < 1:
            raise ValueError(
                "n_layers, num_scales, ndf: expected positive integers, got "
                f"{n_layers}, {num_scales}, {ndf}"
            )
        if padding < 0:
            raise ValueError(f"padding: expected an integer >= 0, got {padding}")
        self.input_channels = input_channels
        self.discriminators = nn.ModuleList(
            PatchDiscriminator(input_channels, ndf, n_layers, spectral_norm, norm, padding)
            for _ in range(num_scales)
        )
        convs = [(_KERNEL, s) for s in patch_strides(n_layers)]
        self.receptive_fields = [
            receptive_field([_POOL] * scale + convs) for scale in range(num_scales)
        ]
        init_gan_weights(self, init, 0.02)

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
