"""Spectral normalisation (PyTorch's parametrization) of a convolution that can be pickled.

PyTorch refuses to pickle a parametrized module ("Serialization of parametrized modules is only
supported through state_dict()"), so a network holding one could not go to the processes of
``strategy="ddp_spawn"`` nor through ``torch.save(model)``. Here the convolution pickles as its
constructor arguments, its spectral-norm settings and its state dict, and is rebuilt from them:
same class, same state-dict keys, same values (the power iteration's ``u`` and ``v`` included).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm as _torch_spectral_norm


def _conv_arguments(conv: nn.Conv2d) -> dict[str, Any]:
    original = conv.parametrizations.weight.original
    return {
        "in_channels": conv.in_channels,
        "out_channels": conv.out_channels,
        "kernel_size": conv.kernel_size,
        "stride": conv.stride,
        "padding": conv.padding,
        "dilation": conv.dilation,
        "groups": conv.groups,
        "bias": conv.bias is not None,
        "padding_mode": conv.padding_mode,
        "device": original.device,
        "dtype": original.dtype,
    }


def rebuild_spectral_conv(
    conv_class: type[nn.Conv2d],
    arguments: dict[str, Any],
    settings: dict[str, Any],
    state: dict[str, torch.Tensor],
    training: bool,
    requires_grad: list[bool],
) -> nn.Conv2d:
    """The convolution that :func:`spectral_norm` pickled (its state, mode and grad flags). The
    random initialisation it overwrites does not consume the caller's random streams."""
    device = torch.device(arguments["device"])
    devices = [device.index or 0] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        conv = spectral_norm(conv_class(**arguments), **settings)
    conv.load_state_dict(state)
    conv.train(training)
    for parameter, flag in zip(conv.parameters(), requires_grad, strict=True):
        parameter.requires_grad_(flag)
    return conv


def _reduce(conv: nn.Conv2d, protocol: int) -> tuple[Any, tuple[Any, ...]]:
    norm = conv.parametrizations.weight[0]
    settings = {"n_power_iterations": norm.n_power_iterations, "eps": norm.eps, "dim": norm.dim}
    base = type(conv).__bases__[0]  # the class before parametrization
    return (
        rebuild_spectral_conv,
        (
            base,
            _conv_arguments(conv),
            settings,
            conv.state_dict(),
            conv.training,
            [p.requires_grad for p in conv.parameters()],
        ),
    )


def spectral_norm(module: nn.Module, **settings: Any) -> nn.Module:
    """``torch.nn.utils.parametrizations.spectral_norm(module, **settings)``; a 2-D convolution
    (``nn.Conv2d`` or a subclass) can then also be pickled (see the module's docstring)."""
    module = _torch_spectral_norm(module, **settings)
    if isinstance(module, nn.Conv2d):
        # PyTorch made a class for this module alone: the reducer applies to it only.
        type(module).__reduce_ex__ = _reduce  # type: ignore[method-assign,assignment]
    return module
