"""Frozen VGG19 feature extractor returning named ReLU activations."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
from torch import nn

from cfl_lightning.networks.deferred_weights import DeferredWeights
from cfl_lightning.networks.frozen import FrozenFeatureExtractor
from cfl_lightning.networks.weights import load_vgg19_state_dict

# Position of every ReLU in torchvision's ``vgg19().features`` and its output channels and stride.
VGG19_LAYERS: dict[str, tuple[int, int, int]] = {
    "relu1_1": (1, 64, 1),
    "relu1_2": (3, 64, 1),
    "relu2_1": (6, 128, 2),
    "relu2_2": (8, 128, 2),
    "relu3_1": (11, 256, 4),
    "relu3_2": (13, 256, 4),
    "relu3_3": (15, 256, 4),
    "relu3_4": (17, 256, 4),
    "relu4_1": (20, 512, 8),
    "relu4_2": (22, 512, 8),
    "relu4_3": (24, 512, 8),
    "relu4_4": (26, 512, 8),
    "relu5_1": (29, 512, 16),
    "relu5_2": (31, 512, 16),
    "relu5_3": (33, 512, 16),
    "relu5_4": (35, 512, 16),
}
# torchvision's configuration "E": channel counts, "M" for max pooling.
_VGG19_CONFIG: tuple[int | str, ...] = (
    64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M",
    512, 512, 512, 512, "M",
)  # fmt: skip
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
DEFAULT_CFL_LAYERS = ("relu2_1", "relu3_1", "relu4_1", "relu5_1")


def _vgg19_trunk(last_index: int) -> nn.Sequential:
    """The first ``last_index + 1`` modules of torchvision's ``vgg19().features`` (same indices)."""
    modules: list[nn.Module] = []
    in_channels = 3
    for item in _VGG19_CONFIG:
        if item == "M":
            modules.append(nn.MaxPool2d(kernel_size=2, stride=2))
        else:
            modules.append(nn.Conv2d(in_channels, int(item), kernel_size=3, padding=1))
            modules.append(nn.ReLU(inplace=False))
            in_channels = int(item)
    return nn.Sequential(*modules[: last_index + 1])


class VGG19Features(DeferredWeights, FrozenFeatureExtractor):
    """Frozen VGG19 returning ``{layer_name: (B, C_l, H / stride_l, W / stride_l)}``.

    Only the convolutional trunk up to the deepest requested layer is built (no classifier).

    Args:
        layers: ReLU names such as ``"relu2_1"`` (see ``VGG19_LAYERS``).
        weights: ``"imagenet"`` (torchvision's ``VGG19_Weights.IMAGENET1K_V1`` through its cache in
            ``$TORCH_HOME/hub/checkpoints``), ``"random"`` (Kaiming initialisation from ``seed``),
            or a path to a state dict (torchvision's keys ``features.N.weight``, or ``N.weight``).
            Inside ``deferred_pretrained_weights()`` (loading a checkpoint) the file is not read:
            the checkpoint's state dict provides the weights (see
            :mod:`cfl_lightning.networks.deferred_weights`).
        input_range: ``(low, high)`` of the images given to ``forward``; mapped to ``[0, 1]``.
        normalize_input: subtract the ImageNet mean and divide by its std after that mapping.
        seed: seed of the ``"random"`` initialisation.
    """

    def __init__(
        self,
        layers: Sequence[str] = DEFAULT_CFL_LAYERS,
        weights: str | Path = "imagenet",
        input_range: tuple[float, float] = (-1.0, 1.0),
        normalize_input: bool = True,
        seed: int = 0,
    ) -> None:
        layers = tuple(layers)
        if not layers:
            raise ValueError("layers: expected at least one VGG19 layer name, got an empty list")
        unknown = [name for name in layers if name not in VGG19_LAYERS]
        if unknown:
            raise ValueError(
                f"layers: unknown VGG19 layer(s) {unknown}; expected names from "
                f"{list(VGG19_LAYERS)}"
            )
        if len(set(layers)) != len(layers):
            raise ValueError(f"layers: expected distinct names, got {list(layers)}")
        low, high = (float(v) for v in input_range)
        if not high > low:
            raise ValueError(
                f"input_range: expected (low, high) with high > low, got {input_range}"
            )
        super().__init__(
            channels={name: VGG19_LAYERS[name][1] for name in layers},
            strides={name: VGG19_LAYERS[name][2] for name in layers},
        )
        self.layers = layers
        self.input_range = (low, high)
        self.normalize_input = normalize_input
        self._index_to_name = {VGG19_LAYERS[name][0]: name for name in layers}
        self.features = _vgg19_trunk(max(self._index_to_name))
        if not self.defer_weights(weights):
            self._load_weights(weights, seed)
        self.freeze()

        mean = torch.tensor(IMAGENET_MEAN) if normalize_input else torch.zeros(3)
        std = torch.tensor(IMAGENET_STD) if normalize_input else torch.ones(3)
        # x_net = (x - low) / (high - low) then (x_net - mean) / std, folded into one affine map.
        scale = 1.0 / ((high - low) * std)
        shift = (-low / (high - low) - mean) / std
        self.register_buffer("_scale", scale.view(1, 3, 1, 1), persistent=False)
        self.register_buffer("_shift", shift.view(1, 3, 1, 1), persistent=False)

    def _load_weights(self, weights: str | Path, seed: int) -> None:
        if isinstance(weights, str) and weights == "random":
            generator = torch.Generator().manual_seed(seed)
            for module in self.features:
                if isinstance(module, nn.Conv2d):
                    fan_out = module.out_channels * module.kernel_size[0] * module.kernel_size[1]
                    std = (2.0 / fan_out) ** 0.5
                    with torch.no_grad():
                        module.weight.copy_(torch.randn(module.weight.shape, generator=generator))
                        module.weight.mul_(std)
                        module.bias.zero_()
            return
        state = load_vgg19_state_dict(weights)
        own = self.features.state_dict()
        picked = {}
        for key in own:
            for candidate in (f"features.{key}", key):
                if candidate in state:
                    picked[key] = state[candidate]
                    break
        missing = sorted(set(own) - set(picked))
        if missing:
            raise ValueError(
                f"weights: the state dict from {weights!r} lacks VGG19 keys {missing[:4]} "
                "(expected torchvision's 'features.N.weight' / 'features.N.bias')"
            )
        self.features.load_state_dict(picked)

    def load_pretrained(self, weights: str | Path) -> None:
        self._load_weights(weights, seed=0)

    def forward(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        """``images``: ``(B, 3, H, W)`` in ``input_range``. Returns the requested feature maps."""
        self.ensure_weights()
        x = images * self._scale.to(images.dtype) + self._shift.to(images.dtype)
        out: dict[str, torch.Tensor] = {}
        for index, module in enumerate(self.features):
            x = module(x)
            name = self._index_to_name.get(index)
            if name is not None:
                out[name] = x
        return out
