"""Base class of the feature extractors the losses run on.

An extractor is any ``nn.Module`` whose ``forward(images)`` returns ``{layer_name: (B, C, h, w)}``
and that declares ``channels: dict[str, int]`` before any forward (the critic heads are built from
it). ``strides: dict[str, int]`` (input pixels per feature location) is optional; when present the
losses reject too-small images before running the network. ``in_channels`` (an int, default 3 when
absent) is the number of image channels ``forward`` takes; the losses check images against it.
"""

from __future__ import annotations

from torch import nn


class FrozenFeatureExtractor(nn.Module):
    """An extractor whose parameters never require grad and that stays in eval mode.

    Subclasses call ``freeze()`` at the end of ``__init__``. ``trainable=True`` subclasses (a conv
    encoder trained with the critic) skip it and behave as ordinary modules.
    """

    def __init__(
        self,
        channels: dict[str, int],
        strides: dict[str, int] | None = None,
        in_channels: int = 3,
    ) -> None:
        super().__init__()
        if isinstance(in_channels, bool) or not isinstance(in_channels, int) or in_channels < 1:
            raise ValueError(f"in_channels: expected an integer >= 1, got {in_channels!r}")
        self.in_channels = in_channels
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
