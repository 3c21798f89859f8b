"""Sharpness of predictions relative to targets: ratio of mean image-gradient magnitudes."""

from __future__ import annotations

from typing import Any

import torch
from torchmetrics import Metric

from cfl_lightning.metrics.inputs import check_image_batches, check_input_range, to_unit_interval


def gradient_magnitude_map(images: torch.Tensor) -> torch.Tensor:
    """Gradient magnitude at every pixel: ``(B, C, H, W)`` -> ``(B, H-1, W-1)``.

    Forward differences ``dx = x[i, j+1] - x[i, j]``, ``dy = x[i+1, j] - x[i, j]`` on each channel
    separately (so colour-only edges and chroma noise count), magnitude ``sqrt(dx^2 + dy^2)`` at
    pixel ``(i, j)`` of the ``(H-1) x (W-1)`` grid where both exist, averaged over channels.
    """
    dx = images[..., :-1, 1:] - images[..., :-1, :-1]
    dy = images[..., 1:, :-1] - images[..., :-1, :-1]
    return torch.sqrt(dx.square() + dy.square()).mean(dim=1)


def mean_gradient_magnitude(images: torch.Tensor) -> torch.Tensor:
    """Mean gradient magnitude per image: ``(B, C, H, W)`` -> ``(B,)``, the mean over pixels of
    :func:`gradient_magnitude_map`."""
    return gradient_magnitude_map(images).flatten(1).mean(dim=1)


class SharpnessRatio(Metric):
    """Mean gradient magnitude of predictions over that of targets (1 is ideal).

    Per image, :func:`mean_gradient_magnitude` of the RGB channels mapped from ``input_range`` to
    ``[0, 1]`` (clipped); the ratio of the sums over all images (= ratio of the means). Below 1:
    blurrier than the targets; above 1: more high-frequency content (noise, artifacts). NaN before
    any update, inf when all targets are flat.

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
        self.pred_sum += mean_gradient_magnitude(to_unit_interval(preds, self.input_range)).sum()
        self.target_sum += mean_gradient_magnitude(to_unit_interval(target, self.input_range)).sum()

    def compute(self) -> torch.Tensor:
        return self.pred_sum / self.target_sum
