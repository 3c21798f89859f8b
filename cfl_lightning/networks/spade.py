"""SPADE generator (Park et al., 2019): label map -> image through spatially-adaptive norms."""

from __future__ import annotations

import itertools

import torch
import torch.nn.functional as F
from torch import nn

from cfl_lightning.networks.norms import (
    check_image_batch,
    check_norm_kind,
    init_gan_weights,
    make_norm_2d,
    maybe_spectral_norm,
)

# Number of 2x upsamplings for each ``num_upsampling_layers`` setting, as in SPADE.
SPADE_UPSAMPLINGS = {"normal": 5, "more": 6, "most": 7}
_SPADE_NORMS = ("batch", "instance", "sync")


class SPADE(nn.Module):
    """Spatially-adaptive denormalisation of ``(B, channels, h, w)`` features by a label map.

    ``x -> norm(x) * (1 + gamma(label)) + beta(label)``, where ``norm`` has no parameters of its
    own and ``gamma``/``beta`` come from a small conv net on the label map resized (nearest) to
    ``h x w``.
    """

    def __init__(self, channels: int, label_channels: int, norm: str, hidden: int) -> None:
        super().__init__()
        self.param_free_norm = make_norm_2d(norm, channels, affine=False)
        self.shared = nn.Sequential(
            nn.Conv2d(label_channels, hidden, kernel_size=3, padding=1), nn.ReLU()
        )
        self.gamma = nn.Conv2d(hidden, channels, kernel_size=3, padding=1)
        self.beta = nn.Conv2d(hidden, channels, kernel_size=3, padding=1)

    def forward(self, x: torch.Tensor, label_map: torch.Tensor) -> torch.Tensor:
        normalized = self.param_free_norm(x)
        label_map = F.interpolate(label_map, size=x.shape[-2:], mode="nearest")
        hidden = self.shared(label_map)
        return normalized * (1 + self.gamma(hidden)) + self.beta(hidden)


class SPADEResBlock(nn.Module):
    """Residual block ``in_channels -> out_channels`` with SPADE before each 3x3 conv.

    The shortcut is the identity when the widths match, else SPADE + a 1x1 conv (no bias).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        label_channels: int,
        norm: str,
        spectral_norm: bool,
        hidden: int,
    ) -> None:
        super().__init__()
        middle = min(in_channels, out_channels)
        self.norm_0 = SPADE(in_channels, label_channels, norm, hidden)
        self.conv_0 = maybe_spectral_norm(
            nn.Conv2d(in_channels, middle, kernel_size=3, padding=1), spectral_norm
        )
        self.norm_1 = SPADE(middle, label_channels, norm, hidden)
        self.conv_1 = maybe_spectral_norm(
            nn.Conv2d(middle, out_channels, kernel_size=3, padding=1), spectral_norm
        )
        self.learned_shortcut = in_channels != out_channels
        if self.learned_shortcut:
            self.norm_s = SPADE(in_channels, label_channels, norm, hidden)
            self.conv_s = maybe_spectral_norm(
                nn.Conv2d(in_channels, out_channels, kernel_size=1, bias=False), spectral_norm
            )

    def forward(self, x: torch.Tensor, label_map: torch.Tensor) -> torch.Tensor:
        shortcut = self.conv_s(self.norm_s(x, label_map)) if self.learned_shortcut else x
        dx = self.conv_0(F.leaky_relu(self.norm_0(x, label_map), 0.2))
        dx = self.conv_1(F.leaky_relu(self.norm_1(dx, label_map), 0.2))
        return shortcut + dx


class SPADEGenerator(nn.Module):
    """SPADE generator without the VAE encoder: ``(B, label_channels, H, W) -> (B, C, H, W)``.

    The label map (one-hot classes, optionally with an instance-edge channel; float) is resized
    (nearest) to ``H / 2^n x W / 2^n`` and mapped by a 3x3 conv to ``16 * ngf`` channels; SPADE
    residual blocks and ``n`` nearest 2x upsamplings bring it back to ``H x W``; a 3x3 conv and
    ``tanh`` give an image in ``[-1, 1]``. Widths: ``16, 16, 16, 8, 4, 2, 1 (, 1/2) x ngf``.

    Args:
        label_channels: channels of the label map given to ``forward``.
        ngf: base width (64 in SPADE).
        num_upsampling_layers: ``"normal"`` (n=5), ``"more"`` (6) or ``"most"`` (7); H and W must
            be divisible by ``2^n``.
        output_channels: channels of the output image (3).
        norm: parameter-free norm inside SPADE: ``"batch"`` (``nn.BatchNorm2d(affine=False)``,
            which ``nn.SyncBatchNorm.convert_sync_batchnorm`` converts), ``"sync"`` or
            ``"instance"`` (in tiled inference each tile is then normalised by its own
            statistics, so tiles differ from whole-image inference).
        spectral_norm: spectral normalisation of the residual blocks' convolutions.
        hidden: width of the conv net that predicts SPADE's scale and shift (128).
    """

    def __init__(
        self,
        label_channels: int,
        ngf: int = 64,
        num_upsampling_layers: str = "normal",
        output_channels: int = 3,
        norm: str = "batch",
        spectral_norm: bool = True,
        hidden: int = 128,
    ) -> None:
        super().__init__()
        if num_upsampling_layers not in SPADE_UPSAMPLINGS:
            raise ValueError(
                f"num_upsampling_layers: expected one of {list(SPADE_UPSAMPLINGS)}, "
                f"got {num_upsampling_layers!r}"
            )
        check_norm_kind(norm, _SPADE_NORMS)
        if label_channels < 1 or ngf < 1 or hidden < 1 or output_channels < 1:
            raise ValueError(
                "label_channels, ngf, hidden, output_channels: expected positive integers, got "
                f"{label_channels}, {ngf}, {hidden}, {output_channels}"
            )
        self.label_channels = label_channels
        self.num_upsampling_layers = num_upsampling_layers
        self.num_upsamplings = SPADE_UPSAMPLINGS[num_upsampling_layers]

        def block(in_channels: int, out_channels: int) -> SPADEResBlock:
            return SPADEResBlock(
                in_channels, out_channels, label_channels, norm, spectral_norm, hidden
            )

        self.fc = nn.Conv2d(label_channels, 16 * ngf, kernel_size=3, padding=1)
        self.head_0 = block(16 * ngf, 16 * ngf)
        self.middle_0 = block(16 * ngf, 16 * ngf)
        self.middle_1 = block(16 * ngf, 16 * ngf)
        widths = [16 * ngf, 8 * ngf, 4 * ngf, 2 * ngf, ngf]
        if num_upsampling_layers == "most":
            widths.append(max(ngf // 2, 1))
        self.up_blocks = nn.ModuleList(block(a, b) for a, b in itertools.pairwise(widths))
        self.conv_img = nn.Conv2d(widths[-1], output_channels, kernel_size=3, padding=1)
        init_gan_weights(self, "xavier", 0.02)

    @property
    def divisor(self) -> int:
        """H and W of the label map must be multiples of this (``2^n``)."""
        return 2**self.num_upsamplings

    def forward(self, label_map: torch.Tensor) -> torch.Tensor:
        """Map float labels ``(B, label_channels, H, W)`` to images ``(B, C, H, W)`` in [-1, 1]."""
        check_image_batch(
            label_map,
            self.label_channels,
            self.divisor,
            "label_map",
            f"2^{self.num_upsamplings} for num_upsampling_layers={self.num_upsampling_layers!r}",
        )
        height, width = label_map.shape[-2:]
        start = (height // self.divisor, width // self.divisor)
        x = self.fc(F.interpolate(label_map, size=start, mode="nearest"))
        x = self.head_0(x, label_map)
        x = _upsample(x)
        x = self.middle_0(x, label_map)
        if self.num_upsampling_layers in ("more", "most"):
            x = _upsample(x)
        x = self.middle_1(x, label_map)
        for up_block in self.up_blocks:
            x = _upsample(x)
            x = up_block(x, label_map)
        return torch.tanh(self.conv_img(F.leaky_relu(x, 0.2)))


def _upsample(x: torch.Tensor) -> torch.Tensor:
    return F.interpolate(x, scale_factor=2.0, mode="nearest")
