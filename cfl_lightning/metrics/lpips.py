"""LPIPS (torchmetrics) with a warning plus NaN instead of a crash when the backbone's ImageNet
weights are neither in the torch hub cache nor downloadable."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

import torch
import torchvision
from torchmetrics import Metric
from torchmetrics.image.lpip import LearnedPerceptualImagePatchSimilarity

from cfl_lightning.metrics.inputs import check_image_batches, to_unit_interval
from cfl_lightning.metrics.pretrained import PretrainedNetworkMetric, WeightsUnavailableError

LPIPS_BACKBONE_WEIGHTS = {
    "alex": "AlexNet_Weights",
    "vgg": "VGG16_Weights",
    "squeeze": "SqueezeNet1_1_Weights",
}


def lpips_backbone_cache_path(net_type: str) -> tuple[str, Path]:
    """URL and torch hub cache path of the ImageNet weights LPIPS' ``net_type`` backbone needs."""
    url = getattr(torchvision.models, LPIPS_BACKBONE_WEIGHTS[net_type]).DEFAULT.url
    return url, Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(url)


class LPIPS(PretrainedNetworkMetric):
    """Learned perceptual image patch similarity (torchmetrics, mean over images), lower is better.

    ``preds``, ``target``: ``(B, 3, H, W)`` floats in ``input_range``. The linear layers ship with
    torchmetrics; the backbone's torchvision ImageNet weights come from the torch hub cache (or are
    downloaded). Without them: a warning naming the file and where it goes, then NaN (see
    :class:`PretrainedNetworkMetric`). ``forward`` returns the batch's LPIPS.

    Args:
        net_type: ``"alex"`` (default), ``"vgg"`` or ``"squeeze"``.
        input_range: value range of the inputs (default ``(-1, 1)``).
        on_missing: ``"warn"`` (default) or ``"raise"`` when the weights are unavailable.
        kwargs: torchmetrics ``Metric`` options for the wrapped metric.
    """

    def __init__(
        self,
        net_type: Literal["alex", "vgg", "squeeze"] = "alex",
        input_range: tuple[float, float] = (-1.0, 1.0),
        on_missing: Literal["warn", "raise"] = "warn",
        **kwargs: Any,
    ) -> None:
        if net_type not in LPIPS_BACKBONE_WEIGHTS:
            raise ValueError(
                f"net_type: expected one of {tuple(LPIPS_BACKBONE_WEIGHTS)}, got {net_type!r}"
            )
        super().__init__(input_range, on_missing, net_type=net_type, **kwargs)

    def build(self, net_type: str, **kwargs: Any) -> Metric:
        try:
            return LearnedPerceptualImagePatchSimilarity(
                net_type=net_type, normalize=True, **kwargs
            )
        except OSError as error:  # URLError, HTTPError, timeouts: no file and no download
            url, cache = lpips_backbone_cache_path(net_type)
            raise WeightsUnavailableError(
                f"LPIPS: the {net_type} backbone's ImageNet weights are not available (not in the "
                f"cache, download failed: {error}). Download {url} on a machine with internet "
                f"access and put it at {cache} (folder {cache.parent}; set TORCH_HOME to move "
                "it). Until then LPIPS records nothing and computes NaN; the other metrics are "
                "unaffected."
            ) from error

    def update_wrapped(self, preds: torch.Tensor, target: torch.Tensor) -> None:
        self._wrapped.update(*self._unit(preds, target))

    def _unit(self, preds: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return to_unit_interval(preds, self.input_range), to_unit_interval(target, self.input_range)

    def compute_wrapped(self) -> torch.Tensor:
        lpips = self._wrapped
        with self.synced():
            if isinstance(lpips.all_scores, list) and not lpips.all_scores:
                return self.nan()
            return type(lpips).compute(lpips)

    def forward(self, preds: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Accumulate and return the LPIPS of this batch (NaN when unavailable)."""
        check_image_batches(preds, target)
        if self._wrapped is None:
            return self.nan()
        return self._wrapped(*self._unit(preds, target))
