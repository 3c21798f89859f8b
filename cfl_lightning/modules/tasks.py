"""Thin task modules: batch unpacking and defaults on top of ``ImagePredictionModule``."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from cfl_lightning.modules.image_prediction import ImagePredictionModule
from cfl_lightning.modules.label_encoding import instance_edges, label_palette, one_hot_labels


class Pix2PixModule(ImagePredictionModule):
    """Paired image -> image (pix2pix): batches ``{"input": (B, C, H, W), "image": (B, 3, H, W)}``.
    Same arguments as ``ImagePredictionModule``."""


class SemanticSynthesisModule(ImagePredictionModule):
    """Label map -> image (SPADE, pix2pixHD): batches ``{"label": (B, H, W), "image": ...}`` and,
    with ``use_instance``, ``"instance": (B, H, W)``.

    The generator's input is the one-hot label map (``num_classes`` channels, one more when
    ``dontcare_label`` is set) followed, with ``use_instance``, by the instance-edge map:
    ``input_channels(num_classes, dontcare_label, use_instance)`` channels in all.

    Args:
        num_classes: number of label ids (35 Cityscapes, 150 ADE20K, 182 COCO-Stuff).
        dontcare_label: id of unlabelled pixels (e.g. 255), given its own channel; None if none.
        use_instance: append the instance-edge channel (needs ``"instance"`` in batches).
        **kwargs: the ``ImagePredictionModule`` arguments.
    """

    def __init__(
        self,
        generator: nn.Module,
        num_classes: int,
        dontcare_label: int | None = None,
        use_instance: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(generator, **kwargs)
        if num_classes < 1:
            raise ValueError(f"num_classes: expected a positive integer, got {num_classes}")
        self.num_classes = num_classes
        self.dontcare_label = dontcare_label
        self.use_instance = use_instance
        expected = input_channels(num_classes, dontcare_label, use_instance)
        declared = getattr(self.generator, "label_channels", None) or getattr(
            self.generator, "input_channels", None
        )
        if declared is not None and declared != expected:
            raise ValueError(
                f"generator: takes {declared} input channels, but num_classes={num_classes}, "
                f"dontcare_label={dontcare_label}, use_instance={use_instance} make {expected}"
            )
        self.register_buffer(
            "_palette", label_palette(num_classes + 1 + (dontcare_label is not None)), False
        )

    def prepare_batch(self, batch: Any) -> tuple[torch.Tensor, torch.Tensor]:
        image = batch["image"]
        return self.predict_input(batch).to(image.dtype), image

    def predict_input(self, batch: Any) -> torch.Tensor:
        """The generator's input from ``batch["label"]`` (and ``batch["instance"]`` with
        ``use_instance``): float ``(B, input_channels, H, W)``; no image needed."""
        label = batch["label"]
        channels = [one_hot_labels(label, self.num_classes, self.dontcare_label)]
        if self.use_instance:
            if "instance" not in batch:
                raise ValueError(
                    "use_instance: True, but the batches have no 'instance' maps; set it to False "
                    "or use a dataset with instance maps"
                )
            channels.append(instance_edges(batch["instance"]))
        return torch.cat(channels, 1)

    def visualize_input(self, generator_input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        classes = self.num_classes + (1 if self.dontcare_label is not None else 0)
        ids = generator_input[:, :classes].argmax(1)
        return self._palette[ids].permute(0, 3, 1, 2).to(target.dtype)


def input_channels(num_classes: int, dontcare_label: int | None, use_instance: bool) -> int:
    """Channels of ``SemanticSynthesisModule``'s generator input."""
    return num_classes + (dontcare_label is not None) + use_instance
