"""Task modules know how many channels their generator reads, so their networks can be given
without that number: as modules, or as factories that the module calls with it."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from torch import nn

from cfl_lightning.modules.image_prediction import ImagePredictionModule

NetworkFactory = Callable[[int], nn.Module]
"""``channels -> nn.Module``: a network class with its first argument left open (in a config, a
``class_path`` whose ``init_args`` leave it out, as optimizers leave out ``params``)."""

IMAGE_CHANNELS = 3


def declared_input_channels(network: nn.Module) -> int | None:
    """The input channel count a network states (``label_channels`` or ``input_channels``
    attribute), or None."""
    for name in ("label_channels", "input_channels"):
        value = getattr(network, name, None)
        if isinstance(value, int):
            return value
    return None


def build_network(
    network: nn.Module | NetworkFactory, channels: int, argument: str, owner: str
) -> nn.Module:
    """``network`` itself, after checking the input channels it declares against ``channels``,
    or ``network(channels)`` when it is a factory. Errors name ``argument`` and ``owner``."""
    if isinstance(network, nn.Module):
        declared = declared_input_channels(network)
        if declared is not None and declared != channels:
            raise ValueError(
                f"{argument}: {type(network).__name__} takes {declared} input channels, but "
                f"{owner} gives it {channels}; leave the channel count out of its arguments "
                "(give it as a factory) or fix it"
            )
        return network
    if not callable(network):
        raise TypeError(
            f"{argument}: expected an nn.Module or a factory channels -> nn.Module, got "
            f"{type(network).__name__}"
        )
    try:
        built = network(channels)
    except TypeError as error:
        raise ValueError(
            f"{argument}: calling its factory with the input channels of {owner} ({channels}) "
            f"failed ({error}); a factory leaves the channel count, its first argument, out"
        ) from error
    if not isinstance(built, nn.Module):
        raise TypeError(
            f"{argument}: the factory returned {type(built).__name__}, expected an nn.Module"
        )
    return built


class TaskModule(ImagePredictionModule):
    """An ``ImagePredictionModule`` whose generator reads ``input_channels`` channels.

    ``generator`` and ``discriminator`` are modules or factories (``NetworkFactory``). A factory
    is called with its input channel count: ``input_channels`` for the generator; for the
    discriminator the condition's channels plus the image's, ``input_channels + 3``, or ``3``
    with ``conditional_discriminator=False``. So a config gives
    ``{class_path: cfl_lightning.networks.MultiscaleDiscriminator, init_args: {n_layers: 4}}``
    and never a channel count. A module that states its input channels (an ``input_channels``
    or ``label_channels`` attribute) is checked against them.

    Args:
        generator: module or factory, ``(B, input_channels, H, W) -> (B, 3, H, W)``.
        input_channels: channels of the generator's input.
        discriminator: module, factory, or None (no GAN).
        conditional_discriminator: the discriminator also sees the condition (the generator's
            input, resized to the image) concatenated before the image; default True.
        **kwargs: the other ``ImagePredictionModule`` arguments.
    """

    def __init__(
        self,
        generator: nn.Module | NetworkFactory,
        input_channels: int,
        discriminator: nn.Module | NetworkFactory | None = None,
        conditional_discriminator: bool = True,
        **kwargs: Any,
    ) -> None:
        if not isinstance(input_channels, int) or input_channels < 1:
            raise ValueError(f"input_channels: expected an integer >= 1, got {input_channels!r}")
        owner = f"{type(self).__name__} (input_channels={input_channels})"
        generator = build_network(generator, input_channels, "generator", owner)
        if discriminator is not None:
            channels = IMAGE_CHANNELS + (input_channels if conditional_discriminator else 0)
            discriminator = build_network(
                discriminator,
                channels,
                "discriminator",
                f"{owner} with conditional_discriminator={conditional_discriminator}",
            )
        super().__init__(
            generator,
            discriminator=discriminator,
            conditional_discriminator=conditional_discriminator,
            **kwargs,
        )
        self.input_channels = input_channels
        if not takes_input_channels(type(self)):
            # The task fixes the channels (colorization reads 1): kept in the hyperparameters, the
            # value would reach its __init__ twice when a checkpoint is loaded.
            for hparams in (self._hparams, self._hparams_initial):
                hparams.pop("input_channels", None)


def takes_input_channels(module_class: type) -> bool:
    """Whether ``module_class``'s own ``__init__`` (before ``TaskModule``'s) names an
    ``input_channels`` argument, rather than passing a fixed count on."""
    for cls in module_class.__mro__:
        if cls is TaskModule:
            return True
        init = cls.__dict__.get("__init__")
        if init is not None:
            return "input_channels" in inspect.signature(init).parameters
    return True
