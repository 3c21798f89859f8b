"""Image -> image tasks made from plain photos: super-resolution, colorization, inpainting and
denoising. Batches come from ``ImageFolderDataModule`` with a degradation:
``{"input": ..., "image": (B, 3, H, W), "path": [...]}`` (and ``"mask"`` for inpainting)."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from cfl_lightning.modules.image_prediction import ImagePredictionModule
from cfl_lightning.networks.residual_sr import ResidualSRGenerator
from cfl_lightning.networks.unet import UNetGenerator


class SuperResolutionModule(ImagePredictionModule):
    """Low-resolution ``(B, 3, H/s, W/s)`` -> ``(B, 3, H, W)``.

    Args:
        generator: default ``ResidualSRGenerator(scale)``, which predicts the difference from the
            bicubic upsampling of its input.
        scale: the upsampling factor (2, 4 or 8) of the default generator; default 4.
        **kwargs: the ``ImagePredictionModule`` arguments. The discriminator's condition is the
            bicubic upsampling of the input.
    """

    def __init__(self, generator: nn.Module | None = None, scale: int = 4, **kwargs: Any) -> None:
        super().__init__(
            generator if generator is not None else ResidualSRGenerator(scale), **kwargs
        )
        self.scale = scale

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


class ColorizationModule(ImagePredictionModule):
    """Luminance ``(B, 1, H, W)`` -> colour ``(B, 3, H, W)``.

    Args:
        generator: default ``UNetGenerator(1, num_downs=5)`` (inputs divisible by 32).
        **kwargs: the ``ImagePredictionModule`` arguments.
    """

    def __init__(self, generator: nn.Module | None = None, **kwargs: Any) -> None:
        super().__init__(
            generator if generator is not None else UNetGenerator(1, num_downs=5), **kwargs
        )


class DenoisingModule(ImagePredictionModule):
    """Noisy ``(B, 3, H, W)`` -> clean ``(B, 3, H, W)``.

    Args:
        generator: default ``UNetGenerator(3, num_downs=5)`` (inputs divisible by 32).
        **kwargs: the ``ImagePredictionModule`` arguments.
    """

    def __init__(self, generator: nn.Module | None = None, **kwargs: Any) -> None:
        super().__init__(
            generator if generator is not None else UNetGenerator(3, num_downs=5), **kwargs
        )


class InpaintingModule(ImagePredictionModule):
    """Masked image plus mask ``(B, 4, H, W)`` -> completed image ``(B, 3, H, W)``.

    The input's last channel is the mask (1 = missing). At validation, test and prediction the
    output is composited with the known pixels: ``mask * prediction + (1 - mask) * image``.

    Args:
        generator: default ``UNetGenerator(4, num_downs=5)`` (inputs divisible by 32).
        masked_loss: compute the loss terms on the composited prediction, so only the missing
            region is trained; the L1 term is then the mean over missing pixels. Default False.
        **kwargs: the ``ImagePredictionModule`` arguments.
    """

    def __init__(
        self, generator: nn.Module | None = None, masked_loss: bool = False, **kwargs: Any
    ) -> None:
        super().__init__(
            generator if generator is not None else UNetGenerator(4, num_downs=5), **kwargs
        )
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
