"""Pieces shared by the generators and the discriminator.

Normalisation layers by name, spectral normalisation, the small-Gaussian weight initialisation of
pix2pix/pix2pixHD/SPADE, and the check of an input batch's channels and size.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils import parametrize

from cfl_lightning.networks.spectral_norm import spectral_norm

NORM_KINDS = ("batch", "instance", "sync", "none")


def make_norm_2d(kind: str, channels: int, affine: bool) -> nn.Module:
    """A 2-D normalisation layer over ``channels`` feature maps.

    ``kind``: ``"batch"`` (``nn.BatchNorm2d``, converts with
    ``nn.SyncBatchNorm.convert_sync_batchnorm``), ``"sync"`` (``nn.SyncBatchNorm``; outside a
    process group it behaves as batch norm), ``"instance"`` (``nn.InstanceNorm2d`` without running
    statistics) or ``"none"`` (``nn.Identity``). ``affine``: learn a per-channel scale and shift.
    """
    if kind == "batch":
        return nn.BatchNorm2d(channels, affine=affine)
    if kind == "sync":
        return nn.SyncBatchNorm(channels, affine=affine)
    if kind == "instance":
        return nn.InstanceNorm2d(channels, affine=affine, track_running_stats=False)
    if kind == "none":
        return nn.Identity()
    raise ValueError(f"norm: expected one of {list(NORM_KINDS)}, got {kind!r}")


def check_norm_kind(kind: str, allowed: tuple[str, ...] = NORM_KINDS) -> None:
    """Raise ``ValueError`` unless ``kind`` is one of ``allowed``."""
    if kind not in allowed:
        raise ValueError(f"norm: expected one of {list(allowed)}, got {kind!r}")


def maybe_spectral_norm(module: nn.Module, enabled: bool) -> nn.Module:
    """``module`` with spectral normalisation of its ``weight`` (a parametrization, picklable for
    convolutions: see :mod:`cfl_lightning.networks.spectral_norm`) if ``enabled``."""
    return spectral_norm(module) if enabled else module


def init_gan_weights(network: nn.Module, scheme: str = "normal", gain: float = 0.02) -> None:
    """Initialise convolutions and batch norms in place, as pix2pix, pix2pixHD and SPADE do.

    Convolution weights: ``"normal"`` draws from N(0, ``gain``^2), ``"xavier"`` is Xavier-normal
    with ``gain``; biases are zeroed. Affine batch-norm scales draw from N(1, ``gain``^2), shifts
    are zeroed. Spectrally normalised weights keep PyTorch's default initialisation: their scale is
    normalised away, and re-drawing them would leave the power-iteration vectors stale. Uses the
    global RNG (seed it with ``seed_everything``).
    """
    if scheme not in ("normal", "xavier"):
        raise ValueError(f"scheme: expected 'normal' or 'xavier', got {scheme!r}")
    for module in network.modules():
        if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            if not parametrize.is_parametrized(module, "weight"):
                if scheme == "normal":
                    nn.init.normal_(module.weight, 0.0, gain)
                else:
                    nn.init.xavier_normal_(module.weight, gain=gain)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, (nn.BatchNorm2d, nn.SyncBatchNorm)) and module.affine:
            nn.init.normal_(module.weight, 1.0, gain)
            nn.init.zeros_(module.bias)


def check_image_batch(
    images: torch.Tensor, channels: int, divisor: int, name: str, reason: str
) -> None:
    """Raise ``ValueError`` unless ``images`` is ``(B, channels, H, W)`` with H and W divisible by
    ``divisor``. ``name``: the argument's name; ``reason``: where the divisor comes from."""
    if images.dim() != 4 or images.shape[1] != channels:
        raise ValueError(
            f"{name}: expected a (B, {channels}, H, W) tensor, got shape {tuple(images.shape)}"
        )
    height, width = images.shape[-2:]
    if height % divisor or width % divisor:
        raise ValueError(
            f"{name}: height and width must be divisible by {divisor} ({reason}), "
            f"got {height}x{width}"
        )
