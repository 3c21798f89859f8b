"""Base class of the feature extractors the losses run on.

An extractor is any ``nn.Module`` whose ``forward(images)`` returns ``{layer_name: (B, C, h, w)}``
and that declares ``channels: dict[str, int]`` before any forward (the critic heads are built from
it). ``strides: dict[str, int]`` (input pixels per feature location) is optional; when present the
losses reject too-small images before running the network.
"""

from __future__ import annotations

from torch import nn


class FrozenFeatureExtractor(nn.Module):
    """An extractor whose parameters never require grad and that stays in eval mode.

    Subclasses call ``freeze()`` at the end of ``__init__``. ``trainable=True`` subclasses (a conv
    encoder trained with the critic) skip it and behave as ordinary modules.
    """

    def __init__(self, channels: dict[str, int], strides: dict[str, int] | None = None) -> None:
        super().__init__()
        self.channels = dict(channels)
        self.strides = dict(strides) if strides is not None else None
        self._frozen = False

    def freeze(self) -> None:
        """Stop gradients into the parameters and pin eval mode."""
        for parameter in self.parameters():
            parameter.requires_grad_(False)
        self._frozen = True
        nn.Module.train(self, False)

    @property
    def frozen(self) -> bool:
        return self._frozen

    def train(self, mode: bool = True) -> FrozenFeatureExtractor:
        """A frozen extractor ignores ``train(True)`` from a parent module."""
        return super().train(False if self._frozen else mode)
