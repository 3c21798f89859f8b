"""Frozen torchvision ResNet trunk returning named stage outputs."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
from torch import nn
from torchvision.models import ResNet18_Weights, ResNet34_Weights, ResNet50_Weights, WeightsEnum
from torchvision.models.resnet import BasicBlock, Bottleneck

from cfl_lightning.networks.deferred_weights import DeferredWeights
from cfl_lightning.networks.frozen import FrozenFeatureExtractor
from cfl_lightning.networks.vgg import IMAGENET_MEAN, IMAGENET_STD
from cfl_lightning.networks.weights import load_torchvision_state_dict

# arch -> (block, blocks per stage, ImageNet weights)
_ARCHS: dict[str, tuple[type[BasicBlock | Bottleneck], tuple[int, ...], WeightsEnum]] = {
    "resnet18": (BasicBlock, (2, 2, 2, 2), ResNet18_Weights.IMAGENET1K_V1),
    "resnet34": (BasicBlock, (3, 4, 6, 3), ResNet34_Weights.IMAGENET1K_V1),
    "resnet50": (Bottleneck, (3, 4, 6, 3), ResNet50_Weights.IMAGENET1K_V1),
}
# Selectable outputs in network order: the stem's ReLU (before max pooling) and the four stages.
RESNET_LAYERS = ("relu", "layer1", "layer2", "layer3", "layer4")
_STAGE_WIDTHS = (64, 128, 256, 512)


def resnet_layer_channels(arch: str) -> dict[str, int]:
    """Output channels of every layer in ``RESNET_LAYERS`` for ``arch``."""
    expansion = _ARCHS[arch][0].expansion
    return {"relu": 64, **{f"layer{i + 1}": w * expansion for i, w in enumerate(_STAGE_WIDTHS)}}


RESNET_STRIDES = {"relu": 2, "layer1": 4, "layer2": 8, "layer3": 16, "layer4": 32}


class ResNetFeatures(DeferredWeights, FrozenFeatureExtractor):
    """Frozen ResNet returning ``{layer: (B, C_l, H / stride_l, W / stride_l)}`` (rounded up).

    Only the trunk up to the deepest requested layer is built (no pooling head, no fc); parameter
    names are torchvision's (``conv1.weight``, ``layer1.0.bn1.running_mean``, ...). Batch norms
    use their running statistics (the extractor is always in eval mode).

    Args:
        arch: ``"resnet18"``, ``"resnet34"`` or ``"resnet50"``.
        layers: names from ``RESNET_LAYERS``; channels ``64/128/256/512`` for layer1..4 of
            resnet18/34, four times that for resnet50; ``"relu"`` is the stem (64, stride 2).
        weights: ``"imagenet"`` (torchvision's ``ResNet*_Weights.IMAGENET1K_V1`` through its cache
            in ``$TORCH_HOME/hub/checkpoints``), ``"random"`` (torchvision's initialisation drawn
            from ``seed``), or a path to a state dict with torchvision's keys.
        input_range: ``(low, high)`` of the images given to ``forward``; mapped to ``[0, 1]``.
        normalize_input: subtract the ImageNet mean and divide by its std after that mapping.
        seed: seed of the ``"random"`` initialisation.
    """

    def __init__(
        self,
        arch: str = "resnet18",
        layers: Sequence[str] = ("layer1", "layer2", "layer3", "layer4"),
        weights: str | Path = "imagenet",
        input_range: tuple[float, float] = (-1.0, 1.0),
        normalize_input: bool = True,
        seed: int = 0,
    ) -> None:
        if arch not in _ARCHS:
            raise ValueError(f"arch: expected one of {list(_ARCHS)}, got {arch!r}")
        layers = tuple(layers)
        if not layers:
            raise ValueError("layers: expected at least one ResNet layer name, got an empty list")
        unknown = [name for name in layers if name not in RESNET_LAYERS]
        if unknown:
            raise ValueError(
                f"layers: unknown ResNet layer(s) {unknown}; expected names from "
                f"{list(RESNET_LAYERS)}"
            )
        if len(set(layers)) != len(layers):
            raise ValueError(f"layers: expected distinct names, got {list(layers)}")
        low, high = (float(v) for v in input_range)
        if not high > low:
            raise ValueError(
                f"input_range: expected (low, high) with high > low, got {input_range}"
            )
        all_channels = resnet_layer_channels(arch)
        super().__init__(
            channels={name: all_channels[name] for name in layers},
            strides={name: RESNET_STRIDES[name] for name in layers},
        )
        self.arch = arch
        self.layers = layers
        self.input_range = (low, high)
        self.normalize_input = normalize_input
        self._depth = max(RESNET_LAYERS.index(name) for name in layers)
        block, counts, imagenet_weights = _ARCHS[arch]

        self.conv1 = nn.Conv2d(3, 64, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU()
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        in_channels = 64
        for i in range(self._depth):
            stage = _make_stage(block, in_channels, _STAGE_WIDTHS[i], counts[i], 1 if i == 0 else 2)
            self.add_module(f"layer{i + 1}", stage)
            in_channels = _STAGE_WIDTHS[i] * block.expansion
        self._imagenet_weights = imagenet_weights
        if not self.defer_weights(weights):  # a checkpoint being loaded provides them
            self._load_weights(weights, imagenet_weights, seed)
        self.freeze()

        mean = torch.tensor(IMAGENET_MEAN) if normalize_input else torch.zeros(3)
        std = torch.tensor(IMAGENET_STD) if normalize_input else torch.ones(3)
        # x_net = (x - low) / (high - low) then (x_net - mean) / std, folded into one affine map.
        scale = 1.0 / ((high - low) * std)
        shift = (-low / (high - low) - mean) / std
        self.register_buffer("_scale", scale.view(1, 3, 1, 1), persistent=False)
        self.register_buffer("_shift", shift.view(1, 3, 1, 1), persistent=False)

    def _load_weights(self, weights: str | Path, imagenet_weights: WeightsEnum, seed: int) -> None:
        if isinstance(weights, str) and weights == "random":
            generator = torch.Generator().manual_seed(seed)
            with torch.no_grad():
                for module in self.modules():
                    if isinstance(module, nn.Conv2d):
                        nn.init.kaiming_normal_(
                            module.weight, mode="fan_out", nonlinearity="relu", generator=generator
                        )
            return
        state = load_torchvision_state_dict(weights, imagenet_weights, self.arch)
        own = self.state_dict()
        missing = sorted(key for key in own if key not in state)
        if missing:
            raise ValueError(
                f"weights: the state dict from {str(weights)!r} lacks {self.arch} keys "
                f"{missing[:4]} (expected torchvision's names such as 'conv1.weight', "
                "'layer1.0.bn1.running_mean')"
            )
        self.load_state_dict({key: state[key] for key in own})

    def load_pretrained(self, weights: str | Path) -> None:
        self._load_weights(weights, self._imagenet_weights, seed=0)

    def forward(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        """``images``: ``(B, 3, H, W)`` in ``input_range``. Returns the requested feature maps."""
        self.ensure_weights()
        x = images * self._scale.to(images.dtype) + self._shift.to(images.dtype)
        x = self.relu(self.bn1(self.conv1(x)))
        out: dict[str, torch.Tensor] = {}
        if "relu" in self.layers:
            out["relu"] = x
        x = self.maxpool(x)
        for i in range(self._depth):
            name = f"layer{i + 1}"
            x = getattr(self, name)(x)
            if name in self.layers:
                out[name] = x
        return out


def _make_stage(
    block: type[BasicBlock | Bottleneck], in_channels: int, width: int, count: int, stride: int
) -> nn.Sequential:
    """``count`` torchvision blocks of ``width`` (times ``block.expansion`` out), the first with
    ``stride`` and a 1x1 conv + batch-norm shortcut when the shape changes."""
    out_channels = width * block.expansion
    downsample = None
    if stride != 1 or in_channels != out_channels:
        downsample = nn.Sequential(
            nn.Conv2d(in_channels, out_channels, kernel_size=1, stride=stride, bias=False),
            nn.BatchNorm2d(out_channels),
        )
    blocks = [block(in_channels, width, stride, downsample)]
    blocks += [block(out_channels, width) for _ in range(count - 1)]
    return nn.Sequential(*blocks)
