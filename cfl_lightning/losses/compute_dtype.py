"""Images cast to the floating dtype a loss's network computes in."""

from __future__ import annotations

import itertools

import torch
from torch import nn


def module_dtype(module: nn.Module) -> torch.dtype | None:
    """The dtype of ``module``'s first floating-point parameter or buffer (None: it has none)."""
    for tensor in itertools.chain(module.parameters(), module.buffers()):
        if tensor.is_floating_point():
            return tensor.dtype
    return None


def cast_to_module_dtype(module: nn.Module, *images: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """``images`` in ``module``'s floating dtype, so that a float16 or float64 prediction works
    with a float32 loss (the cast is differentiable). Unchanged under autocast, which casts per
    operation, and for a module without floating-point tensors."""
    dtype = module_dtype(module)
    if dtype is None or any(torch.is_autocast_enabled(x.device.type) for x in images):
        return images
    return tuple(x if x.dtype == dtype else x.to(dtype) for x in images)
