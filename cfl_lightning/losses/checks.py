"""Validation of the image pairs given to the losses: clear errors instead of deep shape errors."""

from __future__ import annotations

import math

import torch

RANGE_TOLERANCE = 0.01  # fraction of the range's width that values may overshoot it by


def check_image_pair(
    pred: torch.Tensor,
    target: torch.Tensor,
    input_range: tuple[float, float],
    channels: int = 3,
) -> None:
    """Raise ``ValueError`` unless ``pred`` and ``target`` are equal-shaped finite
    ``(B, channels, H, W)`` tensors with values inside ``input_range`` (plus 1% of its width)."""
    for name, x in (("pred", pred), ("target", target)):
        if not isinstance(x, torch.Tensor):
            raise ValueError(f"{name}: expected a torch.Tensor, got {type(x).__name__}")
        if x.dim() != 4:
            raise ValueError(
                f"{name}: expected a 4-D (B, {channels}, H, W) tensor, got shape {tuple(x.shape)}"
            )
        if x.shape[1] != channels:
            raise ValueError(
                f"{name}: expected {channels} channels (B, {channels}, H, W), got shape "
                f"{tuple(x.shape)}"
            )
    if pred.shape != target.shape:
        raise ValueError(
            "pred, target: expected equal shapes, got "
            f"{tuple(pred.shape)} and {tuple(target.shape)}"
        )
    low, high = input_range
    slack = RANGE_TOLERANCE * (high - low)
    # Min and max of both tensors in one device-to-host copy (one sync); aminmax propagates
    # NaN and inf, so the same numbers tell whether the values are finite.
    stats = torch.stack(
        [*torch.aminmax(pred.detach().float()), *torch.aminmax(target.detach().float())]
    ).tolist()
    for name, (lo, hi) in (("pred", stats[:2]), ("target", stats[2:])):
        if not (math.isfinite(lo) and math.isfinite(hi)):
            raise ValueError(f"{name}: expected finite values, found NaN or inf")
        if lo < low - slack or hi > high + slack:
            raise ValueError(
                f"{name}: values span [{lo:.4g}, {hi:.4g}], outside input_range=({low}, {high}); "
                "rescale the images or set input_range (e.g. (0, 1) for images in [0, 1])"
            )


def check_feature_size(
    images: torch.Tensor, strides: dict[str, int] | None, min_locations: int = 2
) -> None:
    """Raise ``ValueError`` if a layer of stride ``strides[layer]`` has fewer than
    ``min_locations`` feature locations for ``images`` ``(B, C, H, W)`` (the deepest such layer is
    named). No check when ``strides`` is None."""
    if not strides:
        return
    height, width = images.shape[-2:]
    for layer, stride in sorted(strides.items(), key=lambda item: -item[1]):
        locations = (height // stride) * (width // stride)
        if locations < min_locations:
            side = stride * (2 if min_locations > 1 else 1)
            raise ValueError(
                f"pred: a {height}x{width} image gives layer {layer} (stride {stride}) "
                f"{locations} feature location(s); at least {min_locations} are needed, so images "
                f"must be at least {side}x{side} pixels for this layer"
            )
