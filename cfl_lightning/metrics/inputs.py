"""Input handling shared by the metrics: shape checks and mapping of ``input_range`` to [0, 1]."""

from __future__ import annotations

import torch
from torchmetrics import Metric, MetricCollection
from torchmetrics.wrappers.transformations import MetricInputTransformer


def check_input_range(input_range: tuple[float, float]) -> tuple[float, float]:
    """``input_range`` as two floats; ``ValueError`` unless it is ``(low, high)``, low < high."""
    try:
        low, high = (float(v) for v in input_range)
    except (TypeError, ValueError):
        raise ValueError(
            f"input_range: expected (low, high), e.g. (-1, 1), got {input_range!r}"
        ) from None
    if not low < high:
        raise ValueError(f"input_range: expected low < high, got {input_range!r}")
    return low, high


def check_image_batches(preds: torch.Tensor, target: torch.Tensor, channels: int = 3) -> None:
    """``ValueError`` unless ``preds`` and ``target`` are equal-shaped float
    ``(B, channels, H, W)`` (default 3: RGB)."""
    for name, x in (("preds", preds), ("target", target)):
        if not isinstance(x, torch.Tensor):
            raise ValueError(f"{name}: expected a torch.Tensor, got {type(x).__name__}")
        if x.dim() != 4 or x.shape[1] != channels:
            raise ValueError(f"{name}: expected shape (B, {channels}, H, W), got {tuple(x.shape)}")
        if not x.is_floating_point():
            raise ValueError(f"{name}: expected a floating-point tensor, got {x.dtype}")
    if preds.shape != target.shape:
        raise ValueError(
            f"preds, target: expected equal shapes, got {tuple(preds.shape)} and "
            f"{tuple(target.shape)}"
        )


def to_unit_interval(images: torch.Tensor, input_range: tuple[float, float]) -> torch.Tensor:
    """Map ``images`` from ``input_range`` to float32 ``[0, 1]``; values outside are clipped (as
    when the image is saved), so every metric sees the image as it would be displayed."""
    low, high = input_range
    return ((images.float() - low) / (high - low)).clamp(0.0, 1.0)


class UnitRangeInput(MetricInputTransformer):
    """Feeds a wrapped metric ``preds`` and ``target`` mapped from ``input_range`` to ``[0, 1]``.

    Used for torchmetrics' PSNR and SSIM (``data_range=1.0``): SSIM is not shift-invariant, so
    images in ``[-1, 1]`` must be mapped to ``[0, 1]`` rather than given ``data_range=2``.
    """

    def __init__(
        self,
        wrapped_metric: Metric | MetricCollection,
        input_range: tuple[float, float] = (-1.0, 1.0),
        **kwargs,
    ) -> None:
        super().__init__(wrapped_metric, **kwargs)
        self.input_range = check_input_range(input_range)

    def transform_pred(self, pred: torch.Tensor) -> torch.Tensor:
        return to_unit_interval(pred, self.input_range)

    def transform_target(self, target: torch.Tensor) -> torch.Tensor:
        return to_unit_interval(target, self.input_range)
