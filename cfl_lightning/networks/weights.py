"""Loading of torchvision ImageNet weights (VGG19, ResNet) through its cache, or of a local file."""

from __future__ import annotations

import os
import urllib.error
from pathlib import Path
from typing import Any

import torch
from torch.hub import get_dir
from torchvision.models import VGG19_Weights, WeightsEnum


def imagenet_cache_path(imagenet_weights: WeightsEnum) -> Path:
    """Path of a torchvision weights file in its cache (``$TORCH_HOME/hub/checkpoints``)."""
    filename = os.path.basename(imagenet_weights.url)
    return Path(get_dir()) / "checkpoints" / filename


def imagenet_vgg19_cache_path() -> Path:
    """Path of the VGG19 ImageNet file in torchvision's cache (``$TORCH_HOME/hub/checkpoints``)."""
    return imagenet_cache_path(VGG19_Weights.IMAGENET1K_V1)


def load_torchvision_state_dict(
    weights: str | os.PathLike[str], imagenet_weights: WeightsEnum, model_name: str
) -> dict[str, Any]:
    """Return a state dict for ``weights`` = ``"imagenet"`` or a file path.

    ``"imagenet"`` goes through torchvision's weights API (``imagenet_weights``, e.g.
    ``ResNet18_Weights.IMAGENET1K_V1``), which loads the cached file if present and downloads it
    otherwise. Offline without the file, the error names the file, the folder it belongs in and the
    ``weights="random"`` alternative. A file may hold the state dict itself or
    ``{"state_dict": ...}``. ``model_name`` (``"VGG19"``) appears in the messages.
    """
    if isinstance(weights, str) and weights == "imagenet":
        target = imagenet_cache_path(imagenet_weights)
        try:
            return imagenet_weights.get_state_dict(progress=False, check_hash=True)
        except (urllib.error.URLError, OSError, RuntimeError) as error:
            if target.is_file():
                raise
            raise RuntimeError(
                f"weights='imagenet': the {model_name} ImageNet file {target.name} is not in the "
                f"cache and could not be downloaded ({error}). Download "
                f"{imagenet_weights.url} on a machine with internet access and put it "
                f"at {target} (folder: {target.parent}, set TORCH_HOME to move it), pass "
                "weights='<path to a state dict>', or use weights='random' (no pretrained "
                "features: a different loss; for CFL use the random-features recipe of "
                "configs/loss/cfl_random_weights.yaml, README 'Offline use and pretrained "
                "weights')."
            ) from error
    path = Path(weights)
    if not path.is_file():
        raise ValueError(
            f"weights: expected 'imagenet', 'random' or a path to a state-dict file, got "
            f"{str(weights)!r} (no such file)"
        )
    state = torch.load(path, map_location="cpu", weights_only=True)
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise ValueError(f"weights: {str(path)!r} does not hold a state dict (got {type(state)})")
    return state


def load_vgg19_state_dict(weights: str | os.PathLike[str]) -> dict[str, Any]:
    """Return a VGG19 state dict for ``weights`` = ``"imagenet"`` or a file path.

    ``"imagenet"`` goes through torchvision's weights API (``VGG19_Weights.IMAGENET1K_V1``), which
    loads the cached file if present and downloads it otherwise. Offline without the file, the error
    names the file, the folder it belongs in and the ``weights="random"`` alternative.
    """
    return load_torchvision_state_dict(weights, VGG19_Weights.IMAGENET1K_V1, "VGG19")
