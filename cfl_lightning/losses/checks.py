"""Validation of the image pairs given to the losses: clear errors instead of deep shape errors.

Shape checks cost nothing on the device and run on every call. Value checks (finite, in range) copy
a few numbers to the host, which waits for the device: one host-device sync. They run on the first
calls only unless asked (:class:`ValueChecks`), so a training step after the first ones dispatches
its kernels without waiting.
"""

from __future__ import annotations

import math

import torch

RANGE_TOLERANCE = 0.01  # fraction of the range's width that values may overshoot it by
FIRST_CALLS = 2  # value checks in the default mode "first": on this many calls
VALUE_CHECK_MODES = ("first", "always", "never")


def value_check_mode(validate_inputs: bool | str) -> str:
    """``validate_inputs`` as one of ``VALUE_CHECK_MODES``: True is ``"always"``, False
    ``"never"``; ``ValueError`` for anything else."""
    if validate_inputs is True:
        return "always"
    if validate_inputs is False:
        return "never"
    if validate_inputs not in VALUE_CHECK_MODES:
        raise ValueError(
            f"validate_inputs: expected True, False or one of {VALUE_CHECK_MODES}, got "
            f"{validate_inputs!r}"
        )
    return validate_inputs


class ValueChecks:
    """When the value checks of a loss (or any repeated call) are due.

    ``mode``: ``"first"`` (default) on the first ``first_calls`` calls, ``"always"`` (or True) on
    every call, ``"never"`` (or False) not at all. :meth:`due` counts a call and says whether its
    checks run. Never due while ``torch.compile`` traces (a host copy would break the graph).
    """

    def __init__(self, mode: bool | str = "first", first_calls: int = FIRST_CALLS) -> None:
        self.mode = value_check_mode(mode)
        self.first_calls = first_calls
        self.calls = 0

    def due(self) -> bool:
        if torch.compiler.is_compiling() or self.mode == "never":
            return False
        if self.mode == "always":
            return True
        self.calls += 1
        return self.calls <= self.first_calls

    def __repr__(self) -> str:
        return f"ValueChecks(mode={self.mode!r}, calls={self.calls})"


def check_image_pair(
    pred: torch.Tensor,
    target: torch.Tensor,
    input_range: tuple[float, float],
    channels: int = 3,
    values: bool = True,
    channels_hint: str = "",
) -> None:
    """Raise ``ValueError`` unless ``pred`` and ``target`` are equal-shaped ``(B, channels, H, W)``
    tensors and, with ``values`` (one host-device sync), finite with values inside ``input_range``
    (plus 1% of its width). ``channels_hint`` ends the message of a wrong channel count."""
    for name, x in (("pred", pred), ("target", target)):
        if not isinstance(x, torch.Tensor):
            raise ValueError(f"{name}: expected a torch.Tensor, got {type(x).__name__}")
        if x.dim() != 4:
            raise ValueError(
                f"{name}: expected a 4-D (B, {channels}, H, W) tensor, got shape {tuple(x.shape)}"
            )
        if not x.is_floating_point():
            raise ValueError(
                f"{name}: expected a floating-point tensor in input_range={input_range}, got "
                f"{x.dtype} (convert integer images, e.g. uint8 / 127.5 - 1)"
            )
        if x.shape[1] != channels:
            raise ValueError(
                f"{name}: expected {channels} channels (B, {channels}, H, W), got shape "
                f"{tuple(x.shape)}{channels_hint}"
            )
    if pred.shape != target.shape:
        raise ValueError(
            "pred, target: expected equal shapes, got "
            f"{tuple(pred.shape)} and {tuple(target.shape)}"
        )
    if not values:
        return
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
