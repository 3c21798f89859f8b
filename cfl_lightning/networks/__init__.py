"""Networks: feature extractors, critic heads, generators and discriminators (plain nn.Modules)."""

from cfl_lightning.networks.conv_encoder import ConvEncoderFeatures
from cfl_lightning.networks.critic_head import make_critic_head
from cfl_lightning.networks.discriminator import MultiscaleDiscriminator, PatchDiscriminator
from cfl_lightning.networks.frozen import FrozenFeatureExtractor
from cfl_lightning.networks.luminance_passthrough import LuminancePassthrough
from cfl_lightning.networks.pix2pixhd import Pix2PixHDGenerator
from cfl_lightning.networks.residual_sr import ResidualSRGenerator
from cfl_lightning.networks.resnet import RESNET_LAYERS, ResNetFeatures
from cfl_lightning.networks.spade import SPADEGenerator
from cfl_lightning.networks.unet import UNetGenerator
from cfl_lightning.networks.vgg import DEFAULT_CFL_LAYERS, VGG19_LAYERS, VGG19Features
from cfl_lightning.networks.weights import (
    imagenet_cache_path,
    imagenet_vgg19_cache_path,
    load_torchvision_state_dict,
    load_vgg19_state_dict,
)

__all__ = [
    "DEFAULT_CFL_LAYERS",
    "RESNET_LAYERS",
    "VGG19_LAYERS",
    "ConvEncoderFeatures",
    "FrozenFeatureExtractor",
    "LuminancePassthrough",
    "MultiscaleDiscriminator",
    "PatchDiscriminator",
    "Pix2PixHDGenerator",
    "ResNetFeatures",
    "ResidualSRGenerator",
    "SPADEGenerator",
    "UNetGenerator",
    "VGG19Features",
    "imagenet_cache_path",
    "imagenet_vgg19_cache_path",
    "load_torchvision_state_dict",
    "load_vgg19_state_dict",
    "make_critic_head",
]
