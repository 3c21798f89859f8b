"""Networks: frozen feature extractors, critic heads, generators and discriminators."""

from cfl_lightning.networks.critic_head import make_critic_head
from cfl_lightning.networks.frozen import FrozenFeatureExtractor
from cfl_lightning.networks.vgg import DEFAULT_CFL_LAYERS, VGG19_LAYERS, VGG19Features
from cfl_lightning.networks.weights import imagenet_vgg19_cache_path, load_vgg19_state_dict

__all__ = [
    "DEFAULT_CFL_LAYERS",
    "VGG19_LAYERS",
    "FrozenFeatureExtractor",
    "VGG19Features",
    "imagenet_vgg19_cache_path",
    "load_vgg19_state_dict",
    "make_critic_head",
]
