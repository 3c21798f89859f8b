"""The VGG perceptual loss baseline (pix2pixHD / SPADE flavour)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from cfl_lightning.losses.checks import ValueChecks, check_feature_size, check_image_pair
from cfl_lightning.losses.compute_dtype import cast_to_module_dtype
from cfl_lightning.networks.vgg import VGG19Features

PERCEPTUAL_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
PERCEPTUAL_WEIGHTS = (1.0 / 32, 1.0 / 16, 1.0 / 8, 1.0 / 4, 1.0)


class PerceptualLoss(nn.Module):
    """Weighted L1 distance between VGG19 features of ``pred`` and ``target``.

    ``sum_l w_l * mean|phi_l(pred) - phi_l(target)|`` over ``relu1_1 .. relu5_1`` with weights
    ``1/32, 1/16, 1/8, 1/4, 1`` (pix2pixHD, SPADE). No trainable parameters.

    Args:
        weights: VGG19 weights, ``"imagenet"`` (default), ``"random"`` or a state-dict path.
        layers, layer_weights: the layers and their (unnormalised) weights.
        input_range, normalize_input: as for :class:`VGG19Features`.
        extractor: an existing extractor to share (must provide ``layers``).
        validate_inputs: when to check that ``pred`` and ``target`` are finite and inside
            ``input_range`` (one host-device sync): ``"first"`` (default) on the first 2 calls,
            ``"always"`` (or True) on every call, ``"never"`` (or False) not at all. Shapes are
            checked on every call (no sync).
    """

    def __init__(
        self,
        weights: str | Path = "imagenet",
        layers: Sequence[str] = PERCEPTUAL_LAYERS,
        layer_weights: Sequence[float] = PERCEPTUAL_WEIGHTS,
        input_range: tuple[float, float] = (-1.0, 1.0),
        normalize_input: bool = True,
        extractor: nn.Module | None = None,
        validate_inputs: bool | str = "first",
    ) -> None:
        super().__init__()
        layers = tuple(layers)
        if len(layer_weights) != len(layers):
            raise ValueError(
                f"layer_weights: expected {len(layers)} weights (one per layer of {list(layers)}), "
                f"got {list(layer_weights)}"
            )
        if extractor is None:
            extractor = VGG19Features(layers, weights, input_range, normalize_input)
        missing = [name for name in layers if name not in getattr(extractor, "channels", {})]
        if missing:
            raise ValueError(f"layers: the extractor does not provide {missing}")
        self.extractor = extractor
        self.layer_weights = dict(zip(layers, (float(w) for w in layer_weights)))
        self.input_range = (float(input_range[0]), float(input_range[1]))
        self.value_checks = ValueChecks(validate_inputs)

    @property
    def validate_inputs(self) -> str:
        """The value-check mode, ``"first"``, ``"always"`` or ``"never"`` (settable)."""
        return self.value_checks.mode

    @validate_inputs.setter
    def validate_inputs(self, mode: bool | str) -> None:
        self.value_checks = ValueChecks(mode)

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """``pred``, ``target``: ``(B, 3, H, W)`` in ``input_range``. Returns a scalar."""
        check_image_pair(pred, target, self.input_range, values=self.value_checks.due())
        check_feature_size(pred, getattr(self.extractor, "strides", None), min_locations=1)
        pred, target = cast_to_module_dtype(self.extractor, pred, target)
        pred_features = self.extractor(pred)
        with torch.no_grad():
            target_features = self.extractor(target)
        total = pred.new_zeros((), dtype=torch.float32)
        for name, weight in self.layer_weights.items():
            total = total + weight * F.l1_loss(
                pred_features[name].float(), target_features[name].float()
            )
        return total
