"""A small conv encoder usable as the CFL feature extractor, trained from scratch or frozen."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from cfl_lightning.networks.frozen import FrozenFeatureExtractor


class ConvEncoderFeatures(FrozenFeatureExtractor):
    """Conv encoder returning ``{"conv1": ..., "convK": ...}`` for ``K = len(widths)`` stages.

    It takes images of any number of channels (``in_channels``): the feature network for CFL on
    grey, multispectral or depth images, which a VGG19 (3 channels) cannot take.

    Stage ``k`` is ``conv3x3(stride) -> ReLU -> conv3x3 -> ReLU`` to ``widths[k-1]`` channels;
    stage 1 has stride 1, the others stride 2, so ``"convk"`` is ``(B, widths[k-1], H / 2^(k-1),
    W / 2^(k-1))`` (rounded up). Images are mapped linearly from ``input_range`` to ``[-1, 1]``.
    Weights are Kaiming-normal from a generator seeded with ``seed``, biases zero.

    Args:
        input_range: ``(low, high)`` of the images given to ``forward``.
        in_channels: channels of those images; default 3.
        widths: channels of each stage (64, 128, 256, 256).
        trainable: True keeps the parameters trainable, to be trained with the CFL critic heads
            (``ContrastiveFeatureLoss.critic_parameters()`` includes them); False freezes the
            encoder at its random initialisation (no gradients, always in eval mode).
        seed: seed of the initialisation.
    """

    def __init__(
        self,
        input_range: tuple[float, float] = (-1.0, 1.0),
        in_channels: int = 3,
        widths: Sequence[int] = (64, 128, 256, 256),
        trainable: bool = True,
        seed: int = 0,
    ) -> None:
        widths = tuple(int(w) for w in widths)
        if not widths or min(widths) < 1:
            raise ValueError(f"widths: expected a non-empty list of positive ints, got {widths}")
        low, high = (float(v) for v in input_range)
        if not high > low:
            raise ValueError(
                f"input_range: expected (low, high) with high > low, got {input_range}"
            )
        names = [f"conv{k + 1}" for k in range(len(widths))]
        super().__init__(
            channels=dict(zip(names, widths)),
            strides={name: 2**k for k, name in enumerate(names)},
            in_channels=in_channels,
        )
        self.input_range = (low, high)
        self.trainable = trainable
        self.stages = nn.ModuleDict()
        previous = in_channels
        for k, (name, width) in enumerate(zip(names, widths)):
            self.stages[name] = nn.Sequential(
                nn.Conv2d(previous, width, 3, stride=1 if k == 0 else 2, padding=1),
                nn.ReLU(),
                nn.Conv2d(width, width, 3, padding=1),
                nn.ReLU(),
            )
            previous = width
        generator = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            for module in self.stages.modules():
                if isinstance(module, nn.Conv2d):
                    nn.init.kaiming_normal_(module.weight, nonlinearity="relu", generator=generator)
                    module.bias.zero_()
        if not trainable:
            self.freeze()

    def forward(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        """``images``: ``(B, in_channels, H, W)`` in ``input_range``. Returns every stage's
        output."""
        low, high = self.input_range
        x = (images - low) * (2.0 / (high - low)) - 1.0
        out: dict[str, torch.Tensor] = {}
        for name, stage in self.stages.items():
            x = stage(x)
            out[name] = x
        return out
