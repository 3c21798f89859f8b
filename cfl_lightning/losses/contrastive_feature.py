"""The contrastive feature loss (CFL): PatchNCE in a learned embedding of frozen features."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import torch
from torch import nn

from cfl_lightning.losses.checks import check_feature_size, check_image_pair
from cfl_lightning.losses.patch_nce import patch_nce
from cfl_lightning.networks.critic_head import HEAD_KINDS, l2_normalize, make_critic_head
from cfl_lightning.networks.vgg import DEFAULT_CFL_LAYERS, VGG19Features


def sample_locations(
    num_locations: int, num_patches: int, device: torch.device, generator: torch.Generator | None
) -> torch.Tensor:
    """``min(num_patches, num_locations)`` distinct indices into ``range(num_locations)``, on
    ``device``.

    Drawn from ``generator`` (on its own device, then moved), else from ``device``'s global RNG
    (reproducible under ``seed_everything``), so no host-device copy stalls the GPU.
    """
    if num_patches >= num_locations:
        return torch.arange(num_locations, device=device)
    if generator is not None:
        order = torch.randperm(num_locations, generator=generator, device=generator.device)
        return order[:num_patches].to(device)
    return torch.randperm(num_locations, device=device)[:num_patches]


class ContrastiveFeatureLoss(nn.Module):
    """Contrastive feature loss of Andonian et al. (2021) between predictions and targets.

    ``forward(pred, target) -> scalar``: features of both images from a frozen ``extractor``; at
    ``min(num_patches, h*w)`` random locations per layer (the same for prediction, target and every
    image of the batch) each feature vector goes through the layer's critic head and is
    L2-normalised; the layer loss is ``patch_nce(pred, target)`` plus, with ``bidirectional``,
    ``patch_nce(target, pred)``; the result is the weighted mean over layers. Multiply by your loss
    weight (the reference implementation's setting is 1.6 times this value).

    The critic heads are trainable: give ``critic_parameters()`` to an optimizer (Adam, lr 2e-4,
    betas (0.5, 0.999) in the paper) and step it after each backward of the generator's loss.

    Args:
        extractor: a module returning ``{layer: (B, C, h, w)}`` and declaring ``channels`` (and
            optionally ``strides``); default a ``VGG19Features(layers, weights, input_range,
            normalize_input)``.
        weights: VGG19 weights when ``extractor`` is None: ``"imagenet"``, ``"random"`` or a path.
        layers: layers to use; default ``relu2_1, relu3_1, relu4_1, relu5_1`` for VGG19, all of
            ``extractor.channels`` otherwise.
        layer_weights: one non-negative weight per layer (normalised to sum 1); default uniform.
        num_patches: locations sampled per layer, at least 2; default 256.
        temperature: PatchNCE temperature, > 0; default 0.07.
        head: ``"mlp"`` (default), ``"linear"`` or ``"identity"``; ``head_dim`` its width (256).
        bidirectional: add the target-as-query term (trains the heads on target features too).
        query_negatives: also use the other prediction patches as negatives.
        input_range: value range of ``pred`` and ``target``; default ``(-1, 1)``.
        normalize_input: ImageNet mean/std normalisation inside the default VGG19.
        validate_inputs: check shapes, finiteness and range on every call (one device sync).
    """

    def __init__(
        self,
        extractor: nn.Module | None = None,
        weights: str | Path = "imagenet",
        layers: Sequence[str] | None = None,
        layer_weights: Sequence[float] | None = None,
        num_patches: int = 256,
        temperature: float = 0.07,
        head: str = "mlp",
        head_dim: int = 256,
        bidirectional: bool = True,
        query_negatives: bool = True,
        input_range: tuple[float, float] = (-1.0, 1.0),
        normalize_input: bool = True,
        validate_inputs: bool = True,
    ) -> None:
        super().__init__()
        if not isinstance(num_patches, int) or num_patches < 2:
            raise ValueError(f"num_patches: expected an integer >= 2, got {num_patches!r}")
        if not temperature > 0:
            raise ValueError(f"temperature: expected a value > 0, got {temperature}")
        if head not in HEAD_KINDS:
            raise ValueError(f"head: expected one of {HEAD_KINDS}, got {head!r}")
        if head_dim < 1:
            raise ValueError(f"head_dim: expected a positive integer, got {head_dim}")
        if extractor is None:
            extractor = VGG19Features(
                layers=tuple(layers) if layers is not None else DEFAULT_CFL_LAYERS,
                weights=weights,
                input_range=input_range,
                normalize_input=normalize_input,
            )
        channels = getattr(extractor, "channels", None)
        if not isinstance(channels, dict) or not channels:
            raise ValueError(
                "extractor: expected a module declaring `channels: dict[str, int]` (layer name "
                f"to channel count), got {type(extractor).__name__} without it"
            )
        layers = tuple(layers) if layers is not None else tuple(channels)
        unknown = [name for name in layers if name not in channels]
        if unknown:
            raise ValueError(
                f"layers: unknown layer(s) {unknown}; the extractor provides {list(channels)}"
            )
        if layer_weights is None:
            layer_weights = [1.0] * len(layers)
        layer_weights = [float(w) for w in layer_weights]
        if len(layer_weights) != len(layers) or min(layer_weights) < 0 or sum(layer_weights) <= 0:
            raise ValueError(
                f"layer_weights: expected {len(layers)} non-negative weights with a positive sum "
                f"(one per layer of {list(layers)}), got {layer_weights}"
            )
        total = sum(layer_weights)

        self.extractor = extractor
        self.layers = layers
        self.layer_weights = {name: w / total for name, w in zip(layers, layer_weights)}
        self.num_patches = num_patches
        self.temperature = temperature
        self.bidirectional = bidirectional
        self.query_negatives = query_negatives
        self.input_range = (float(input_range[0]), float(input_range[1]))
        self.validate_inputs = validate_inputs
        self.heads = nn.ModuleDict(
            {name: make_critic_head(head, channels[name], head_dim) for name in layers}
        )

    def critic_parameters(self) -> Iterator[nn.Parameter]:
        """The trainable parameters of the critic: every head, plus the extractor's own parameters
        if it is trainable (``requires_grad``), as for an encoder trained from scratch."""
        yield from self.heads.parameters()
        yield from (p for p in self.extractor.parameters() if p.requires_grad)

    def _extractor_is_trainable(self) -> bool:
        return any(p.requires_grad for p in self.extractor.parameters())

    def _pick(self, features: torch.Tensor, locations: torch.Tensor) -> torch.Tensor:
        """``(B, C, h, w)`` features at ``locations`` (``(N,)`` flat indices) -> ``(B, N, C)``."""
        return features.flatten(2).index_select(2, locations).transpose(1, 2)

    def forward(
        self, pred: torch.Tensor, target: torch.Tensor, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """``pred``, ``target``: ``(B, 3, H, W)`` in ``input_range``. Returns a scalar (float32).

        ``generator``: a ``torch.Generator`` for the patch locations (default: the global RNG of
        ``pred``'s device).
        """
        if self.validate_inputs:
            check_image_pair(pred, target, self.input_range)
            check_feature_size(pred, getattr(self.extractor, "strides", None))
        pred_features = self.extractor(pred)
        with torch.set_grad_enabled(torch.is_grad_enabled() and self._extractor_is_trainable()):
            target_features = self.extractor(target.detach())

        sizes = []
        for name in self.layers:
            height, width = pred_features[name].shape[-2:]
            if height * width < 2:
                raise ValueError(
                    f"pred: layer {name} has a {height}x{width} feature map for a "
                    f"{pred.shape[-2]}x{pred.shape[-1]} image; at least 2 locations are needed, "
                    "use larger images or drop this layer"
                )
            sizes.append(height * width)
        locations = [sample_locations(n, self.num_patches, pred.device, generator) for n in sizes]

        total = pred.new_zeros((), dtype=torch.float32)
        for name, where in zip(self.layers, locations):
            # One head call for prediction and target: (2B, N, D), prediction first.
            picked = torch.cat(
                [self._pick(pred_features[name], where), self._pick(target_features[name], where)]
            )
            embedding = l2_normalize(self.heads[name](picked).float())
            pred_embedding, target_embedding = embedding.chunk(2)
            if self.bidirectional:
                # NCE(pred -> target) + NCE(target -> pred) as one call on the stacked batch: the
                # mean over 2B images of the sum's two halves, hence the factor 2.
                keys = torch.cat([target_embedding, pred_embedding])
                layer_loss = 2 * patch_nce(embedding, keys, self.temperature, self.query_negatives)
            else:
                layer_loss = patch_nce(
                    pred_embedding, target_embedding, self.temperature, self.query_negatives
                )
            total = total + self.layer_weights[name] * layer_loss
        return total
