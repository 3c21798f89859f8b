"""Image -> image tasks made from plain photos: super-resolution, colorization, inpainting and
denoising. Batches come from ``ImageFolderDataModule`` with a degradation:
``{"input": ..., "image": (B, 3, H, W), "path": [...]}`` (and ``"mask"`` for inpainting).

Generators and discriminators are modules or factories (see ``TaskModule``); each task's input
channel count is fixed by the task (colorization 1, inpainting 4, the others 3)."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from cfl_lightning.modules.task_module import (
    IMAGE_CHANNELS,
    NetworkFactory,
    TaskModule,
    build_network,
)
from cfl_lightning.networks.luminance_passthrough import LuminancePassthrough
from cfl_lightning.networks.residual_sr import ResidualSRGenerator
from cfl_lightning.networks.unet import UNetGenerator

DEFAULT_SCALE = 4
ScaledNetworkFactory = Callable[[int], nn.Module]
"""``scale -> nn.Module``: a super-resolution network with its first argument, the scale, left
open (``ResidualSRGenerator`` with ``init_args`` that leave out ``scale``)."""


def _unet(num_downs: int = 5) -> NetworkFactory:
    return partial(UNetGenerator, num_downs=num_downs)


class SuperResolutionModule(TaskModule):
    """Low-resolution ``(B, 3, H/s, W/s)`` -> ``(B, 3, H, W)``, ``s = scale``.

    Args:
        generator: a module, a factory called with ``scale``, or None for
            ``ResidualSRGenerator(scale)`` (which predicts the difference from the bicubic
            upsampling of its input).
        scale: the upsampling factor (2, 4 or 8). The ``cfl`` command takes it from the data
            (``data.degradation.factor``). None: the given generator's ``scale`` attribute, or 4.
            A generator whose ``scale`` differs is an error, and so is a batch whose input and
            target sizes differ by another factor.
        **kwargs: the ``TaskModule`` and ``ImagePredictionModule`` arguments. The discriminator's
            condition is the bicubic upsampling of the input (3 channels).
    """

    def __init__(
        self,
        generator: nn.Module | ScaledNetworkFactory | None = None,
        scale: int | None = None,
        **kwargs: Any,
    ) -> None:
        if scale is not None and (not isinstance(scale, int) or scale < 1):
            raise ValueError(f"scale: expected an integer >= 1 or None, got {scale!r}")
        if isinstance(generator, nn.Module):
            declared = getattr(generator, "scale", None)
            if scale is None:
                scale = declared
            elif declared is not None and declared != scale:
                raise ValueError(
                    f"generator: {type(generator).__name__} upsamples by {declared}, but "
                    f"scale={scale} (with the cfl command: the data's degradation factor)"
                )
        else:
            scale = DEFAULT_SCALE if scale is None else scale
            factory = ResidualSRGenerator if generator is None else generator
            generator = factory(scale)
        super().__init__(generator, IMAGE_CHANNELS, **kwargs)
        self.scale = scale

    def prepare_batch(self, batch: Any) -> tuple[torch.Tensor, torch.Tensor]:
        low_res, target = batch["input"], batch["image"]
        if self.scale is not None:
            expected = tuple(size // self.scale for size in target.shape[-2:])
            if tuple(low_res.shape[-2:]) != expected:
                raise ValueError(
                    f"scale: {self.scale}, but the batch pairs {tuple(low_res.shape[-2:])} inputs "
                    f"with {tuple(target.shape[-2:])} targets; the data's downscaling factor and "
                    "the model's scale must agree"
                )
        return low_res, target

    def _upsample(self, low_res: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        up = F.interpolate(low_res.float(), size=target.shape[-2:], mode="bicubic")
        return up.clamp(-1, 1).to(low_res.dtype)

    def discriminator_condition(
        self, generator_input: torch.Tensor, target: torch.Tensor
    ) -> torch.Tensor | None:
        if not self.conditional_discriminator:
            return None
        return self._upsample(generator_input, target)

    def visualize_input(self, generator_input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return F.interpolate(generator_input.float(), size=target.shape[-2:], mode="nearest")


class ColorizationModule(TaskModule):
    """Luminance ``(B, 1, H, W)`` -> colour ``(B, 3, H, W)``.

    Args:
        generator: module or factory of the input channels (1); default
            ``UNetGenerator(1, num_downs=5)`` (inputs divisible by 32).
        keep_luminance: wrap the generator in
            :class:`~cfl_lightning.networks.LuminancePassthrough`, so that every prediction (in
            training, evaluation, prediction and ONNX export) has the input's BT.601 luminance
            (exactly, but where a saturated colour clips a channel) and the generator only
            chooses the colour. Default False: the generator
            predicts all of RGB, luminance included.
        **kwargs: the ``TaskModule`` and ``ImagePredictionModule`` arguments.
    """

    def __init__(
        self,
        generator: nn.Module | NetworkFactory | None = None,
        keep_luminance: bool = False,
        **kwargs: Any,
    ) -> None:
        if not isinstance(keep_luminance, bool):
            raise ValueError(f"keep_luminance: expected True or False, got {keep_luminance!r}")
        network = _unet() if generator is None else generator
        if keep_luminance:
            network = LuminancePassthrough(
                build_network(network, 1, "generator", "ColorizationModule")
            )
        super().__init__(network, 1, **kwargs)
        self.keep_luminance = keep_luminance


class DenoisingModule(TaskModule):
    """Noisy ``(B, 3, H, W)`` -> clean ``(B, 3, H, W)``.

    Args:
        generator: module or factory of the input channels (3); default
            ``UNetGenerator(3, num_downs=5)`` (inputs divisible by 32).
        **kwargs: the ``TaskModule`` and ``ImagePredictionModule`` arguments.
    """

    def __init__(self, generator: nn.Module | NetworkFactory | None = None, **kwargs: Any) -> None:
        super().__init__(_unet() if generator is None else generator, IMAGE_CHANNELS, **kwargs)


class InpaintingModule(TaskModule):
    """Masked image plus mask ``(B, 4, H, W)`` -> completed image ``(B, 3, H, W)``.

    The input's last channel is the mask (1 = missing). At validation, test and prediction the
    output is composited with the known pixels: ``mask * prediction + (1 - mask) * image``.

    Args:
        generator: module or factory of the input channels (4); default
            ``UNetGenerator(4, num_downs=5)`` (inputs divisible by 32).
        masked_loss: compute the loss terms on the composited prediction, so only the missing
            region is trained; the L1 term is then the mean over missing pixels. Default False.
        **kwargs: the ``TaskModule`` and ``ImagePredictionModule`` arguments.
    """

    def __init__(
        self,
        generator: nn.Module | NetworkFactory | None = None,
        masked_loss: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(_unet() if generator is None else generator, 4, **kwargs)
        self.masked_loss = masked_loss

    @staticmethod
    def mask_of(generator_input: torch.Tensor) -> torch.Tensor:
        """The ``(B, 1, H, W)`` mask channel of an inpainting input (1 = missing)."""
        return generator_input[:, -1:]

    def composite(
        self, prediction: torch.Tensor, generator_input: torch.Tensor, target: torch.Tensor
    ) -> torch.Tensor:
        mask = self.mask_of(generator_input).to(prediction.dtype)
        return mask * prediction + (1 - mask) * target.to(prediction.dtype)

    def generator_loss_terms(
        self,
        generator_input: torch.Tensor,
        prediction: torch.Tensor,
        target: torch.Tensor,
        patch_generator: torch.Generator | None = None,
    ) -> dict[str, torch.Tensor]:
        if not self.masked_loss:
            return super().generator_loss_terms(
                generator_input, prediction, target, patch_generator
            )
        composite = self.composite(prediction, generator_input, target)
        terms = super().generator_loss_terms(generator_input, composite, target, patch_generator)
        if "l1" in terms:
            mask = self.mask_of(generator_input).float()
            error = (composite.float() - target.float()).abs() * mask
            terms["l1"] = error.sum() / (mask.sum() * target.shape[1]).clamp_min(1.0)
        return terms

    def generate(self, generator_input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return self.composite(self.generator(generator_input), generator_input, target)

    def complete_prediction(
        self, prediction: torch.Tensor, generator_input: torch.Tensor
    ) -> torch.Tensor:
        """Keep the known pixels exactly: they are the input's first three channels where the
        mask (last channel) is 0."""
        return self.composite(prediction, generator_input, generator_input[:, :3])

    def visualize_input(self, generator_input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return generator_input[:, :3].clamp(-1, 1)
