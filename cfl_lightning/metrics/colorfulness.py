"""Colourfulness of predictions relative to targets (Hasler and Suesstrunk 2003)."""

from __future__ import annotations

from typing import Any

import torch
from torchmetrics import Metric

from cfl_lightning.metrics.inputs import check_image_batches, check_input_range, to_unit_interval


def colorfulness(
    images: torch.Tensor, input_range: tuple[float, float] = (-1.0, 1.0)
) -> torch.Tensor:
    """Hasler-Suesstrunk colourfulness per image: ``(B, 3, H, W)`` RGB -> ``(B,)``.

    On values in ``[0, 255]`` (``input_range`` mapped and clipped): ``rg = R - G``,
    ``yb = (R + G) / 2 - B``; ``M = sqrt(std_rg^2 + std_yb^2) + 0.3 sqrt(mean_rg^2 + mean_yb^2)``
    with population standard deviations over the pixels. 0 for grey images.
    """
    rgb = to_unit_interval(images, check_input_range(input_range)) * 255.0
    red, green, blue = rgb.unbind(dim=1)
    rg = (red - green).flatten(1)
    yb = (0.5 * (red + green) - blue).flatten(1)
    spread = torch.sqrt(rg.var(dim=1, correction=0) + yb.var(dim=1, correction=0))
    offset = torch.sqrt(rg.mean(dim=1).square() + yb.mean(dim=1).square())
    return spread + 0.3 * offset


class ColorfulnessRatio(Metric):
    """Mean colourfulness of predictions over that of targets (1 is ideal, < 1 greyer).

    Per image :func:`colorfulness`; the ratio of the sums over all images (= ratio of the means).
    NaN before any update, inf when all targets are grey.

    Args:
        input_range: value range of the inputs (default ``(-1, 1)``).
        kwargs: torchmetrics ``Metric`` options.
    """

    higher_is_better = None
    is_differentiable = False
    full_state_update = False

    def __init__(self, input_range: tuple[float, float] = (-1.0, 1.0), **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.input_range = check_input_range(input_range)
        self.add_state("pred_sum", default=torch.tensor(0.0), dist_reduce_fx="sum")
        self.add_state("target_sum", default=torch.tensor(0.0), dist_reduce_fx="sum")

    def update(self, preds: torch.Tensor, target: torch.Tensor) -> None:
        """``preds``, ``target``: ``(B, 3, H, W)`` float in ``input_range``."""
        check_image_batches(preds, target)
        self.pred_sum += colorfulness(preds, self.input_range).sum()
        self.target_sum += colorfulness(target, self.input_range).sum()

    def compute(self) -> torch.Tensor:
        return self.pred_sum / self.target_sum
