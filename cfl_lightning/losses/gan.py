"""Adversarial losses (hinge, least squares, non-saturating BCE) and feature matching."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

GAN_MODES = ("hinge", "ls", "bce")
# Factor of the discriminator's loss per mode, as in the reference that uses the mode: pix2pix
# (``bce``, its "vanilla") and pix2pixHD (``ls``) train D on ``(loss_D_fake + loss_D_real) *
# 0.5``; SPADE (``hinge``) on the plain sum. Adam makes a constant factor nearly irrelevant to
# training (it rescales the logged values, and the gradients only relative to Adam's eps).
DISCRIMINATOR_LOSS_FACTOR = {"hinge": 1.0, "ls": 0.5, "bce": 0.5}
DiscriminatorOutput = torch.Tensor | Sequence[torch.Tensor] | Sequence[Sequence[torch.Tensor]]


def _logits(output: DiscriminatorOutput) -> list[torch.Tensor]:
    """One logit map per scale from a tensor, a list of tensors, or a list (scales) of lists of
    layer features whose last entry is the logit map (``MultiscaleDiscriminator``'s output)."""
    if isinstance(output, torch.Tensor):
        return [output]
    logits = []
    for item in output:
        logits.append(item if isinstance(item, torch.Tensor) else item[-1])
    if not logits:
        raise ValueError("discriminator output: expected at least one tensor, got an empty list")
    return logits


class GANLoss(nn.Module):
    """Adversarial loss, averaged over discriminator scales.

    ``mode``: ``"hinge"`` (SPADE's default), ``"ls"`` (least squares, pix2pixHD) or ``"bce"``
    (non-saturating, on logits; pix2pix). Call ``generator_loss(fake)`` in the generator step and
    ``discriminator_loss(real, fake)`` in the discriminator step; each takes a discriminator's
    output (a logit tensor, or per-scale lists whose last element is the logit map).

    Discriminator losses follow the reference of each mode (``DISCRIMINATOR_LOSS_FACTOR``):
    ``hinge`` ``relu(1 - real) + relu(1 + fake)`` (SPADE); ``ls`` ``0.5 * ((real - 1)^2 +
    fake^2)`` (pix2pixHD); ``bce`` ``0.5 * (BCE(real, 1) + BCE(fake, 0))`` (pix2pix). Generator
    losses are not scaled: ``-fake``, ``(fake - 1)^2``, ``BCE(fake, 1)``; all are means over
    logits, averaged over scales.
    """

    def __init__(self, mode: str = "hinge") -> None:
        super().__init__()
        if mode not in GAN_MODES:
            raise ValueError(f"mode: expected one of {GAN_MODES}, got {mode!r}")
        self.mode = mode

    def generator_loss(self, fake: DiscriminatorOutput) -> torch.Tensor:
        losses = []
        for logit in _logits(fake):
            logit = logit.float()
            if self.mode == "hinge":
                losses.append(-logit.mean())
            elif self.mode == "ls":
                losses.append(((logit - 1) ** 2).mean())
            else:
                losses.append(F.binary_cross_entropy_with_logits(logit, torch.ones_like(logit)))
        return torch.stack(losses).mean()

    def discriminator_loss(
        self, real: DiscriminatorOutput, fake: DiscriminatorOutput
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Returns ``(loss_on_real, loss_on_fake)``, each with the mode's factor
        (``DISCRIMINATOR_LOSS_FACTOR``); their sum is the discriminator's loss."""
        factor = DISCRIMINATOR_LOSS_FACTOR[self.mode]
        real_losses, fake_losses = [], []
        for real_logit, fake_logit in zip(_logits(real), _logits(fake), strict=True):
            real_logit, fake_logit = real_logit.float(), fake_logit.float()
            if self.mode == "hinge":
                real_losses.append(F.relu(1 - real_logit).mean())
                fake_losses.append(F.relu(1 + fake_logit).mean())
            elif self.mode == "ls":
                real_losses.append(((real_logit - 1) ** 2).mean())
                fake_losses.append((fake_logit**2).mean())
            else:
                real_losses.append(
                    F.binary_cross_entropy_with_logits(real_logit, torch.ones_like(real_logit))
                )
                fake_losses.append(
                    F.binary_cross_entropy_with_logits(fake_logit, torch.zeros_like(fake_logit))
                )
        return (
            factor * torch.stack(real_losses).mean(),
            factor * torch.stack(fake_losses).mean(),
        )

    def forward(self, fake: DiscriminatorOutput) -> torch.Tensor:
        """The generator's loss (so the module can be used as a plain loss term)."""
        return self.generator_loss(fake)


def feature_matching_loss(
    fake_features: Sequence[Sequence[torch.Tensor]], real_features: Sequence[Sequence[torch.Tensor]]
) -> torch.Tensor:
    """Discriminator feature matching (pix2pixHD): per scale, the sum over intermediate layers
    (all but the last, the logits) of ``mean|D_l(fake) - D_l(real)|``, averaged over scales.
    Real features are detached. Multiply by its weight (10 in pix2pixHD and SPADE)."""
    if len(fake_features) != len(real_features) or not fake_features:
        raise ValueError(
            f"fake_features, real_features: expected the same non-zero number of scales, got "
            f"{len(fake_features)} and {len(real_features)}"
        )
    per_scale = []
    for fake_scale, real_scale in zip(fake_features, real_features):
        if isinstance(fake_scale, torch.Tensor) or len(fake_scale) < 2:
            raise ValueError(
                "fake_features: expected per scale a list of layer features ending with logits"
            )
        terms = [
            F.l1_loss(f.float(), r.detach().float())
            for f, r in zip(fake_scale[:-1], real_scale[:-1], strict=True)
        ]
        per_scale.append(torch.stack(terms).sum())
    return torch.stack(per_scale).mean()
