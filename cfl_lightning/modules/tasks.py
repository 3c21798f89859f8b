"""Thin task modules: batch unpacking and defaults on top of ``TaskModule``."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from cfl_lightning.modules.label_encoding import instance_edges, label_palette, one_hot_labels
from cfl_lightning.modules.task_module import NetworkFactory, TaskModule


class Pix2PixModule(TaskModule):
    """Paired image -> image (pix2pix): batches ``{"input": (B, input_channels, H, W), "image":
    (B, 3, H, W)}``.

    Args:
        generator: module or factory of ``input_channels`` (see ``TaskModule``).
        input_channels: channels of the input images; default 3. The ``cfl`` command takes it
            from the data (``data.input_channels``).
        **kwargs: the ``TaskModule`` and ``ImagePredictionModule`` arguments.
    """

    def __init__(
        self, generator: nn.Module | NetworkFactory, input_channels: int = 3, **kwargs: Any
    ) -> None:
        super().__init__(generator, input_channels, **kwargs)


class SemanticSynthesisModule(TaskModule):
    """Label map -> image (SPADE, pix2pixHD): batches ``{"label": (B, H, W), "image": ...}`` and,
    with ``use_instances``, ``"instance": (B, H, W)``.

    The generator's input is the one-hot label map (``num_classes`` channels, one more when
    ``dontcare_label`` is set) followed, with ``use_instances``, by the instance-edge map:
    ``input_channels(num_classes, dontcare_label, use_instances)`` channels in all, which a
    generator or discriminator given as a factory receives (see ``TaskModule``). The ``cfl``
    command takes the three values from the data (``data.num_classes``, ``data.dontcare_label``,
    ``data.has_instances``): a config states them once, in the data.

    Args:
        generator: module or factory of the input channel count, e.g. ``SPADEGenerator``.
        num_classes: number of label ids (35 Cityscapes, 150 ADE20K, 182 COCO-Stuff).
        dontcare_label: id of unlabelled pixels (e.g. 255), given its own channel; None if none.
        use_instances: append the instance-edge channel (needs ``"instance"`` in batches).
        **kwargs: the ``TaskModule`` and ``ImagePredictionModule`` arguments.
    """

    def __init__(
        self,
        generator: nn.Module | NetworkFactory,
        num_classes: int,
        dontcare_label: int | None = None,
        use_instances: bool = False,
        **kwargs: Any,
    ) -> None:
        if not isinstance(num_classes, int) or isinstance(num_classes, bool) or num_classes < 1:
            raise ValueError(
                f"num_classes: expected a positive integer, got {num_classes!r} (with the cfl "
                "command it comes from the data: use a DataModule of label maps)"
            )
        if dontcare_label is not None and 0 <= dontcare_label < num_classes:
            raise ValueError(
                f"dontcare_label: expected None or an id outside [0, num_classes={num_classes}), "
                f"got {dontcare_label}"
            )
        channels = input_channels(num_classes, dontcare_label, use_instances)
        super().__init__(generator, channels, **kwargs)
        self.num_classes = num_classes
        self.dontcare_label = dontcare_label
        self.use_instances = use_instances
        self.register_buffer(
            "_palette", label_palette(num_classes + 1 + (dontcare_label is not None)), False
        )

    def prepare_batch(self, batch: Any) -> tuple[torch.Tensor, torch.Tensor]:
        image = batch["image"]
        return self.predict_input(batch).to(image.dtype), image

    def predict_input(self, batch: Any) -> torch.Tensor:
        """The generator's input from ``batch["label"]`` (and ``batch["instance"]`` with
        ``use_instances``): float ``(B, input_channels, H, W)``; no image needed."""
        label = batch["label"]
        channels = [one_hot_labels(label, self.num_classes, self.dontcare_label)]
        if self.use_instances:
            if "instance" not in batch:
                raise ValueError(
                    "use_instances: True, but the batches have no 'instance' maps; set it to "
                    "False or use a dataset with instance maps"
                )
            channels.append(instance_edges(batch["instance"]))
        return torch.cat(channels, 1)

    def visualize_input(self, generator_input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        classes = self.num_classes + (1 if self.dontcare_label is not None else 0)
        ids = generator_input[:, :classes].argmax(1)
        return self._palette[ids].permute(0, 3, 1, 2).to(target.dtype)


def input_channels(num_classes: int, dontcare_label: int | None, use_instances: bool) -> int:
    """Channels of ``SemanticSynthesisModule``'s generator input."""
    return num_classes + (dontcare_label is not None) + bool(use_instances)
