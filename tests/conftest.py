"""Fixtures shared across test folders."""

import pytest
import torch

from cfl_lightning.networks import VGG19Features


@pytest.fixture(scope="session")
def imagenet_cache(tmp_path_factory):
    """A TORCH_HOME whose cache holds a (randomly initialised) VGG19 'ImageNet' file under
    torchvision's file name, so that configs with ``weights: imagenet`` build offline."""
    home = tmp_path_factory.mktemp("torch_home")
    folder = home / "hub" / "checkpoints"
    folder.mkdir(parents=True)
    features = VGG19Features(layers=("relu5_4",), weights="random").features
    state = {f"features.{k}": v for k, v in features.state_dict().items()}
    torch.save(state, folder / "vgg19-dcbb9e9d.pth")
    return home
