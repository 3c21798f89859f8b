"""The discriminator's view of a batch: conditioning, one forward on fake and real together, and
the split of its outputs back into the two halves."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn


def discriminate(
    discriminator: nn.Module, condition: torch.Tensor | None, images: torch.Tensor
) -> Any:
    """``discriminator(cat([condition, images], 1))``, or of ``images`` alone without condition."""
    if condition is None:
        return discriminator(images)
    return discriminator(torch.cat([condition, images.to(condition.dtype)], 1))


def discriminate_pair(
    discriminator: nn.Module,
    condition: torch.Tensor | None,
    prediction: torch.Tensor,
    target: torch.Tensor,
) -> tuple[Any, Any]:
    """The discriminator's ``(fake, real)`` outputs for ``prediction`` and ``target`` (one forward
    on both, so normalisation layers see one batch). Gradients flow into ``prediction`` unless it
    is detached by the caller."""
    both = torch.cat([prediction, target.to(prediction.dtype)], 0)
    if condition is not None:
        condition = torch.cat([condition, condition], 0)
    return split_fake_real(discriminate(discriminator, condition, both))


def split_fake_real(outputs: Any) -> tuple[Any, Any]:
    """Split a discriminator's output on ``cat([fake, real])`` into the fake and real halves
    (a tensor, a list of tensors, or per-scale lists of layer features)."""
    if isinstance(outputs, torch.Tensor):
        fake, real = outputs.chunk(2, dim=0)
        return fake, real
    fakes, reals = [], []
    for item in outputs:
        fake, real = split_fake_real(item)
        fakes.append(fake)
        reals.append(real)
    return fakes, reals
