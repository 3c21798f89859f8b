"""A colorization generator that keeps its input's luminance and chooses only the colour."""

from __future__ import annotations

import torch
from torch import nn

from cfl_lightning.data.degradations import rgb_to_luminance


def replace_luminance(colour: torch.Tensor, luminance: torch.Tensor) -> torch.Tensor:
    """``(B, 3, H, W)`` colour images in ``[-1, 1]`` with their BT.601 luminance replaced by
    ``luminance`` ``(B, 1, H, W)``: the same offset added to every channel (the weights sum to 1),
    then clamped to ``[-1, 1]`` (which can move the luminance of saturated pixels)."""
    shifted = colour + (luminance.to(colour.dtype) - rgb_to_luminance(colour))
    return shifted.clamp(-1.0, 1.0)


class LuminancePassthrough(nn.Module):
    """Wraps a colorization generator ``(B, 1, H, W) -> (B, 3, H, W)`` (``[-1, 1]``) so that the
    ITU-R BT.601 luminance of the output is the input: ``y = clamp(g(x) + (x - Y(g(x))), -1, 1)``,
    the same offset on the three channels (the weights sum to 1). The wrapped generator then only
    chooses the colour, as colorization networks that predict chroma do; whatever luminance it
    produces is cancelled, so no gradient asks it to reproduce the grey image.

    The result is clamped to ``[-1, 1]``: where a saturated colour meets a very bright or dark
    input a channel saturates, and that pixel's luminance moves towards the colour's (no
    gradient reaches a saturated channel). ``divisor`` is the wrapped generator's.

    Args:
        generator: the colour network; one that states ``input_channels`` must state 1.
    """

    input_channels = 1

    def __init__(self, generator: nn.Module) -> None:
        super().__init__()
        if not isinstance(generator, nn.Module):
            raise TypeError(f"generator: expected an nn.Module, got {type(generator).__name__}")
        declared = getattr(generator, "input_channels", None)
        if declared is not None and declared != 1:
            raise ValueError(
                f"generator: {type(generator).__name__} takes {declared} input channels; a "
                "colorization generator takes 1 (the luminance)"
            )
        self.generator = generator

    @property
    def divisor(self) -> int | None:
        """The wrapped generator's required input size multiple (None if it states none)."""
        return getattr(self.generator, "divisor", None)

    def forward(self, luminance: torch.Tensor) -> torch.Tensor:
        if luminance.dim() != 4 or luminance.shape[1] != 1:
            raise ValueError(f"luminance: expected (B, 1, H, W), got {tuple(luminance.shape)}")
        return replace_luminance(self.generator(luminance), luminance)
