from functools import partial

import pytest
from torch import nn

from cfl_lightning.modules import Pix2PixModule, TaskModule
from cfl_lightning.modules.task_module import build_network, declared_input_channels
from cfl_lightning.networks import MultiscaleDiscriminator, UNetGenerator

GAN = {"losses": {"l1": 1.0, "gan": 1.0}, "metrics": ()}


def test_a_factory_is_called_with_the_channel_count():
    seen = []

    def factory(channels):
        seen.append(channels)
        return nn.Conv2d(channels, 3, 1)

    built = build_network(factory, 5, "generator", "a module")
    assert seen == [5] and isinstance(built, nn.Conv2d) and built.in_channels == 5


def test_a_module_is_kept_and_its_declared_channels_checked():
    unet = UNetGenerator(4, num_downs=2, ngf=2)
    assert declared_input_channels(unet) == 4
    assert build_network(unet, 4, "generator", "X") is unet
    identity = nn.Identity()  # states nothing, so nothing to check
    assert build_network(identity, 9, "generator", "X") is identity
    with pytest.raises(
        ValueError, match="generator: UNetGenerator takes 4 input channels, but X gives it 3"
    ):
        build_network(unet, 3, "generator", "X")


def test_factories_that_do_not_build_modules_are_refused():
    with pytest.raises(TypeError, match=r"generator: expected an nn\.Module or a factory"):
        build_network(3, 3, "generator", "X")
    with pytest.raises(TypeError, match="discriminator: the factory returned int"):
        build_network(lambda channels: channels, 3, "discriminator", "X")
    stated_twice = partial(UNetGenerator, input_channels=3)
    with pytest.raises(
        ValueError,
        match=r"generator: calling its factory with the input channels "
        r"of X \(3\) failed .*multiple values.*leaves the channel count",
    ):
        build_network(stated_twice, 3, "generator", "X")


def test_pix2pix_discriminator_sees_input_and_image():
    module = Pix2PixModule(
        partial(UNetGenerator, num_downs=2, ngf=2),
        input_channels=2,
        discriminator=partial(MultiscaleDiscriminator, ndf=2, num_scales=1),
        **GAN,
    )
    assert isinstance(module, TaskModule)
    assert module.generator.input_channels == 2
    assert module.discriminator.input_channels == 2 + 3
    with pytest.raises(
        ValueError,
        match=r"discriminator: MultiscaleDiscriminator takes 6 input "
        r"channels, but Pix2PixModule \(input_channels=2\) with "
        r"conditional_discriminator=True gives it 5",
    ):
        Pix2PixModule(
            nn.Identity(), input_channels=2, discriminator=MultiscaleDiscriminator(6), **GAN
        )
    with pytest.raises(ValueError, match="input_channels: expected an integer >= 1, got 0"):
        Pix2PixModule(nn.Identity(), input_channels=0, **GAN)
