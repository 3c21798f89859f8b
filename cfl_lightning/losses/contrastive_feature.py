"""The contrastive feature loss (CFL): PatchNCE in a learned embedding of frozen features."""

from __future__ import annotations

import functools
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from cfl_lightning.losses.checks import ValueChecks, check_feature_size, check_image_pair
from cfl_lightning.losses.compute_dtype import cast_to_module_dtype
from cfl_lightning.losses.feature_pooling import (
    check_feature_pooling,
    pooled_features,
    pooling_kernels,
)
from cfl_lightning.losses.patch_nce import (
    NORMALIZE_EPS,
    check_query_negatives,
    pair_constants,
    paired_patch_nce,
)
from cfl_lightning.networks.critic_head import HEAD_KINDS, CriticHeads
from cfl_lightning.networks.vgg import DEFAULT_CFL_LAYERS, VGG19Features

CRITIC_OBJECTIVES = ("joint", "target_views")


def sample_locations(
    num_locations: int, num_patches: int, device: torch.device, generator: torch.Generator | None
) -> torch.Tensor:
    """``min(num_patches, num_locations)`` distinct indices into ``range(num_locations)``, on
    ``device``: all of them in order when ``num_patches >= num_locations``, else a uniform random
    subset in random order (one layer of :func:`sample_patch_locations`).

    Drawn from ``generator`` (on its own device, then moved: give one on ``device`` to avoid a
    copy), else from ``device``'s global RNG (reproducible under ``seed_everything``).
    """
    if num_patches >= num_locations:
        return torch.arange(num_locations, device=device)
    return sample_patch_locations([num_locations], num_patches, device, generator)[0]


@functools.lru_cache(maxsize=32)
def _area_constants(
    areas: tuple[int, ...], device: torch.device, inference: bool
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(L, max area)`` bool, True beyond each layer's area; ``(L, 1)`` int64 areas. Cached
    apart when made under ``torch.inference_mode`` (``inference``): autograd cannot save those."""
    area = torch.tensor(areas, device=device)[:, None]
    return torch.arange(max(areas), device=device) >= area, area


@torch.compiler.disable
def _random_keys(layers: int, locations: int, generator: torch.Generator) -> torch.Tensor:
    """Uniform keys from a ``torch.Generator``, which ``torch.compile`` cannot trace: the
    compiled loss runs this draw eagerly (one graph break; pass ``locations`` to avoid it)."""
    return torch.rand(layers, locations, generator=generator, device=generator.device)


def sample_patch_locations(
    areas: Sequence[int],
    num_patches: int,
    device: torch.device | str,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Random patch locations of every layer at once: ``(L, n)`` int64 flat indices on ``device``,
    ``n = min(num_patches, max(areas))``.

    Row ``l`` starts with ``n_l = min(num_patches, areas[l])`` distinct indices into
    ``range(areas[l])``, a uniform random subset in random order (the ``n_l`` smallest of one
    uniform key per location); when ``n_l < n`` the rest of the row is padding (valid indices
    repeated) that :class:`ContrastiveFeatureLoss` ignores. One draw of ``(L, max(areas))``
    uniform numbers from ``generator`` (on its own device; the result is then moved to
    ``device``: a generator on ``device`` avoids that copy), else from the global RNG of
    ``device`` (reproducible under ``seed_everything``).
    """
    areas = tuple(int(a) for a in areas)
    if not areas or min(areas) < 1:
        raise ValueError(f"areas: expected positive numbers of locations, got {list(areas)}")
    n = min(num_patches, max(areas))
    where = torch.device(device) if generator is None else generator.device
    if torch.compiler.is_compiling():
        beyond, area = _area_constants.__wrapped__(areas, where, False)
    else:
        beyond, area = _area_constants(areas, where, torch.is_inference_mode_enabled())
    if generator is None:
        keys = torch.rand(len(areas), max(areas), device=where)
    else:
        keys = _random_keys(len(areas), max(areas), generator)
    if min(areas) < max(areas):
        keys = keys.masked_fill(beyond, 2.0)  # after every real location of the layer
    locations = keys.topk(n, dim=1, largest=False).indices
    if min(areas) < n:
        locations = locations.remainder(area)  # padding: repeat real locations
    return locations if locations.device == torch.device(device) else locations.to(device)


class ContrastiveFeatureLoss(nn.Module):
    """Contrastive feature loss of Andonian et al. (2021) between predictions and targets.

    ``forward(pred, target) -> scalar``: features of both images from a frozen ``extractor``; at
    ``min(num_patches, h*w)`` random locations per layer (the same for prediction, target and every
    image of the batch) each feature vector goes through the layer's critic head and is
    L2-normalised; the layer loss is ``patch_nce(pred, target)`` plus, with ``bidirectional``,
    ``patch_nce(target, pred)``; the result is the weighted mean over layers. Multiply by your loss
    weight (the reference implementation's setting is 1.6 times this value).

    On a GPU the cost of a small loss is its number of kernels: the locations of all layers are
    drawn at once, the heads' ReLU and second layer and the PatchNCE of all layers (both
    directions) run as single batched calls (layers with fewer locations than others are padded
    and their padding ignored), constant masks are cached per shape and device, and no call after
    the first two waits for the device (see ``validate_inputs``). ``torch.compile(loss)`` traces it
    into one graph; give it ``locations`` (see :meth:`draw_locations`) or use the global RNG, as a
    ``torch.Generator`` argument cannot be traced.

    The critic heads are trainable: give ``critic_parameters()`` to an optimizer (Adam, lr 2e-4,
    betas (0.5, 0.999) in the paper) and step it after each backward of the generator's loss.

    What trains the heads (``critic``): with ``"joint"`` (the paper's recipe, the default) the
    heads minimise the same PatchNCE(prediction, target) as the generator. With features that do
    not already tell patches apart (random VGG19 weights) the heads can then lower the loss by
    mapping prediction and target patches together instead of discriminating them: the critic
    colludes with the generator. With ``"target_views"`` the generator's term is unchanged (same
    value, same gradient to ``pred``) but the heads receive no gradient from it; they are trained
    only by a PatchNCE between two views of the target alone: its features at the sampled
    locations against those of a copy of the target moved ``view_shift`` pixels down and right
    (reflected at the border), negatives the other locations of the same image (both directions
    with ``bidirectional``, query negatives with ``query_negatives``, as for the generator's
    term). The generator cannot influence that objective. The returned value is still the
    generator's term (the critic's is added as ``critic - critic.detach()``: zero value, its
    gradient), so the usual loop (one backward, then step the generator's and the critic's
    optimizers) trains both. The second view costs one more target image through the extractor
    and twice the rows through the heads and PatchNCE (still one batched call each: the heads'
    parameters take their gradient from the critic's rows only); it is computed only when
    gradients are on and a critic parameter is trainable (never at validation). A trainable
    extractor is part of the critic: it too is trained by the target views only.

    Args:
        extractor: a module returning ``{layer: (B, C, h, w)}`` and declaring ``channels`` (and
            optionally ``strides``, and ``in_channels``, the image channels it takes: 3 when
            absent; a :class:`ConvEncoderFeatures` takes any number); default a
            ``VGG19Features(layers, weights, input_range, normalize_input)``.
        weights: VGG19 weights when ``extractor`` is None: ``"imagenet"``, ``"random"`` or a path.
        layers: layers to use; default ``relu2_1, relu3_1, relu4_1, relu5_1`` for VGG19, all of
            ``extractor.channels`` otherwise.
        layer_weights: one non-negative weight per layer (normalised to sum 1); default uniform.
        num_patches: locations sampled per layer, at least 2; default 256.
        temperature: PatchNCE temperature, > 0; default 0.07.
        head: ``"mlp"`` (default), ``"linear"`` or ``"identity"``; ``head_dim`` its width (256).
        bidirectional: add the target-as-query term (trains the heads on target features too).
        query_negatives: also use the other prediction patches as negatives (default True,
            the paper's). They reward prediction patches for differing from each other: with
            random VGG19 weights, turning them off (False) removed the colour speckle of
            colorization but painted label -> image objects in flat colours (README, Results).
            ``"above_target"``: two prediction patches are each other's negatives only while
            their embeddings are more alike than the target's at the same two locations (and
            likewise for the target rows): the loss asks the prediction to vary as much as the
            target does, and no more (see :func:`paired_patch_nce`).
        input_range: value range of ``pred`` and ``target``; default ``(-1, 1)``.
        normalize_input: ImageNet mean/std normalisation inside the default VGG19.
        validate_inputs: when to check that ``pred`` and ``target`` are finite and inside
            ``input_range``, a check that waits for the device (one host-device sync):
            ``"first"`` (default) on the first 2 calls, ``"always"`` (or True) on every call,
            ``"never"`` (or False) not at all. Shapes are checked on every call (no sync).
        critic: what trains the critic (heads, and a trainable extractor): ``"joint"`` (default,
            the paper's) or ``"target_views"`` (see above).
        view_shift: with ``"target_views"``, the shift in pixels (an integer >= 1, smaller than
            the images) between the target's two views; default 2.
        false_negative_threshold: None (default, the paper's) or a cosine similarity in
            ``[-1, 1)``: at every layer, two sampled locations whose *target* feature vectors (the
            extractor's, before the heads) are more similar than this are not each other's
            negatives, in both directions and for the critic's views too (there the second view's
            features decide). In a flat or repeating region many target patches are identical,
            and the default loss pushes the prediction's patches there apart from each other
            (query negatives) and from keys equal to their positive: it rewards noise. With
            random VGG19 weights this put high-frequency noise into flat areas (benchmark recipe
            ``cfl-fn``, 0.99, against ``cfl-tv``; see the README's Results). A row left with its
            positive only contributes zero. Costs one ``n x n`` similarity product per layer.
        feature_pooling: an odd kernel size ``k``, default 1 (none, the paper's), or one per
            layer in the order of ``layers``: every layer's features of prediction and target are
            averaged over ``k x k`` neighbourhoods (stride 1, borders averaged over the cells
            inside) before the locations are sampled, so each patch is compared by its local
            feature statistics rather than its exact layout. With random VGG19 weights, 3 made
            CFL ask for about the targets' amount of detail where it cannot be aligned, and
            lowered PatchSWD on super-resolution but raised it on label -> image (benchmark recipe
            ``cfl-fn-aq-pool3``, README's Results): not in the recipe. Pooling only the two
            finest default layers, ``(3, 3, 1, 1)``, did the same on both tasks.
            ``self.feature_pooling`` keeps the argument, ``self.pooling_kernels`` maps each layer
            to its kernel.
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
        query_negatives: bool | str = True,
        input_range: tuple[float, float] = (-1.0, 1.0),
        normalize_input: bool = True,
        validate_inputs: bool | str = "first",
        critic: Literal["joint", "target_views"] = "joint",
        view_shift: int = 2,
        false_negative_threshold: float | None = None,
        feature_pooling: int | Sequence[int] = 1,
    ) -> None:
        super().__init__()
        if critic not in CRITIC_OBJECTIVES:
            raise ValueError(f"critic: expected one of {CRITIC_OBJECTIVES}, got {critic!r}")
        if isinstance(view_shift, bool) or not isinstance(view_shift, int) or view_shift < 1:
            raise ValueError(f"view_shift: expected an integer >= 1 (pixels), got {view_shift!r}")
        if false_negative_threshold is not None and not -1.0 <= false_negative_threshold < 1.0:
            raise ValueError(
                "false_negative_threshold: expected None or a cosine similarity in [-1, 1), got "
                f"{false_negative_threshold!r}"
            )
        check_feature_pooling(feature_pooling)
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
        image_channels = getattr(extractor, "in_channels", 3)
        if isinstance(image_channels, bool) or not isinstance(image_channels, int):
            raise ValueError(
                "extractor: expected `in_channels` (the image channels it takes) to be an int, got "
                f"{image_channels!r} on {type(extractor).__name__}"
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
        kernels = pooling_kernels(feature_pooling, layers)

        self.extractor = extractor
        self.image_channels = image_channels
        self.layers = layers
        self.layer_weights = {name: w / total for name, w in zip(layers, layer_weights)}
        self.num_patches = num_patches
        self.temperature = temperature
        self.bidirectional = bidirectional
        self.query_negatives = check_query_negatives(query_negatives)
        self.input_range = (float(input_range[0]), float(input_range[1]))
        self.value_checks = ValueChecks(validate_inputs)
        self.critic = critic
        self.view_shift = view_shift
        self.false_negative_threshold = false_negative_threshold
        self.feature_pooling = (
            feature_pooling if isinstance(feature_pooling, int) else tuple(kernels.values())
        )
        self.pooling_kernels = kernels  # layer name: kernel size
        self.heads = CriticHeads(head, {name: channels[name] for name in layers}, head_dim)
        self._constants: dict[tuple, tuple[torch.Tensor | None, torch.Tensor, torch.Tensor]] = {}

    @property
    def validate_inputs(self) -> str:
        """The value-check mode, ``"first"``, ``"always"`` or ``"never"`` (settable)."""
        return self.value_checks.mode

    @validate_inputs.setter
    def validate_inputs(self, mode: bool | str) -> None:
        self.value_checks = ValueChecks(mode)

    def critic_parameters(self) -> Iterator[nn.Parameter]:
        """The trainable parameters of the critic: every head, plus the extractor's own parameters
        if it is trainable (``requires_grad``), as for an encoder trained from scratch."""
        yield from self.heads.parameters()
        yield from (p for p in self.extractor.parameters() if p.requires_grad)

    def _extractor_is_trainable(self) -> bool:
        return any(p.requires_grad for p in self.extractor.parameters())

    def feature_sizes(self, image_size: Sequence[int]) -> list[tuple[int, int]]:
        """``(h_l, w_l)`` of every layer for images of spatial size ``(H, W)`` (or any shape
        ending with it), from the extractor's declared ``strides``; ``ValueError`` without them."""
        strides = getattr(self.extractor, "strides", None)
        if not strides or any(name not in strides for name in self.layers):
            raise ValueError(
                "extractor: feature sizes need `strides: dict[str, int]` for every layer of "
                f"{list(self.layers)}; {type(self.extractor).__name__} does not declare them"
            )
        height, width = (int(v) for v in tuple(image_size)[-2:])
        return [(height // strides[name], width // strides[name]) for name in self.layers]

    def draw_locations(
        self,
        image_size: Sequence[int],
        generator: torch.Generator | None = None,
        device: torch.device | str | None = None,
    ) -> torch.Tensor:
        """The patch locations that ``forward`` would draw for images of size ``(H, W)`` (or any
        shape ending with it): ``(L, n)`` int64 (see :func:`sample_patch_locations`), on ``device``
        (default: the generator's, else the CPU). Draw them outside a compiled region with your
        own generator and pass them as ``forward(..., locations=...)``."""
        if device is None:
            device = generator.device if generator is not None else "cpu"
        areas = [h * w for h, w in self.feature_sizes(image_size)]
        return sample_patch_locations(areas, self.num_patches, device, generator)

    def _layout(
        self, sizes: list[tuple[int, int]], batch: int, device: torch.device, views: bool = False
    ) -> tuple[torch.Tensor | None, torch.Tensor, torch.Tensor]:
        """Constants of one input layout, cached per (sizes, batch, device, views): the PatchNCE
        exclusion mask ``(L, 1, 2n, 2n)`` (None when no layer is padded), the weight of every
        row's loss ``(L * B * 2n,)`` (zero for padding, and for target rows unless bidirectional),
        and the feature-map widths ``(L, 1)``.

        With ``views`` the rows are those of ``2B`` images, ``(L, 2B, 2n)``: the generator's
        ``B`` (prediction, target) pairs, then the critic's ``B`` (target, shifted target) pairs;
        the weights are ``(2, L * 2B * 2n)``, one row per term (zero on the other's rows)."""
        caching = not torch.compiler.is_compiling()  # (a compiled graph holds its constants)
        if caching:
            key = (
                tuple(sizes),
                batch,
                device,
                views,
                torch.is_inference_mode_enabled(),  # inference tensors cannot be saved for backward
                self.num_patches,
                self.bidirectional,
                self.query_negatives,
                tuple(self.layer_weights.items()),
            )  # the attributes too, in case someone changes them after construction
            cached = self._constants.get(key)
            if cached is not None:
                return cached
        counts = [min(self.num_patches, h * w) for h, w in sizes]
        n = max(counts)
        count = torch.tensor(counts, device=device)[:, None, None]  # (L, 1, 1)
        within = torch.arange(2 * n, device=device) % n  # index inside its image's half
        real = within < count  # (L, 1, 2n): a real patch, not padding
        if not self.bidirectional:
            real_query = real & (torch.arange(2 * n, device=device) < n)
        else:
            real_query = real
        layer_weight = torch.tensor(
            [self.layer_weights[name] for name in self.layers], device=device
        )[:, None, None]
        # Sum over rows of weight * loss = sum_l w_l * (mean over B n_l rows of each direction).
        row_weights = (real_query * (layer_weight / (batch * count))).expand(-1, batch, -1)
        if views:  # (2, L, 2B, 2n): the generator's rows, then the critic's
            zeros = torch.zeros_like(row_weights)
            row_weights = torch.stack(
                [torch.cat([row_weights, zeros], 1), torch.cat([zeros, row_weights], 1)]
            ).reshape(2, -1)
        else:
            row_weights = row_weights.reshape(-1)  # (L * B * 2n,), the order of the loss rows
        excluded = None
        if min(counts) < n:
            _, default, _ = pair_constants(n, self.query_negatives, device)
            # Real rows ignore padding columns; padding rows keep every logit (finite, weight 0).
            excluded = real.unsqueeze(-1) & (default | ~real.unsqueeze(-2))
        widths = torch.tensor([w for _, w in sizes], device=device)[:, None]
        constants = (excluded, row_weights, widths)
        if caching:
            if len(self._constants) >= 16:
                self._constants.clear()
            self._constants[key] = constants
        return constants

    def forward(
        self,
        pred: torch.Tensor,
        target: torch.Tensor,
        generator: torch.Generator | None = None,
        locations: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """``pred``, ``target``: ``(B, C, H, W)`` in ``input_range``, ``C`` the extractor's
        ``in_channels`` (3 for VGG19; ``image_channels``). Returns a scalar (float32).

        ``generator``: a ``torch.Generator`` for the patch locations (default: the global RNG of
        ``pred``'s device). ``locations``: the locations to use instead of drawing them, ``(L, n)``
        int64 on ``pred``'s device as :meth:`draw_locations` returns them.

        Images of another floating dtype than the extractor's (float16 or float64 against a
        float32 loss) are cast to it, differentiably; under autocast nothing is cast.
        """
        check_image_pair(
            pred,
            target,
            self.input_range,
            channels=self.image_channels,
            values=self.value_checks.due(),
            channels_hint=self._channels_hint(),
        )
        check_feature_size(pred, getattr(self.extractor, "strides", None))
        pred, target = cast_to_module_dtype(self.extractor, pred, target)
        views = self._trains_on_views()
        trainable = self._extractor_is_trainable()
        batch = pred.shape[0]
        if views and trainable:
            pred_features = self._extract_with_constant_parameters(pred)
        else:
            pred_features = self.extractor(pred)
        target = target.detach()
        if views:  # one extractor call for the target and its shifted copy
            target = torch.cat([target, self._shifted(target)])
        with torch.set_grad_enabled(torch.is_grad_enabled() and trainable):
            target_features = self.extractor(target)
        if any(k > 1 for k in self.pooling_kernels.values()):
            pred_features = pooled_features(pred_features, self.pooling_kernels)
            target_features = pooled_features(target_features, self.pooling_kernels)

        sizes = []
        for name in self.layers:
            height, width = pred_features[name].shape[-2:]
            if height * width < 2:
                raise ValueError(
                    f"pred: layer {name} has a {height}x{width} feature map for a "
                    f"{pred.shape[-2]}x{pred.shape[-1]} image; at least 2 locations are needed, "
                    "use larger images or drop this layer"
                )
            sizes.append((int(height), int(width)))
        areas = [h * w for h, w in sizes]
        n = min(self.num_patches, max(areas))
        if locations is None:
            locations = sample_patch_locations(areas, self.num_patches, pred.device, generator)
        elif tuple(locations.shape) != (len(areas), n) or locations.dtype != torch.int64:
            raise ValueError(
                f"locations: expected an int64 tensor of shape {(len(areas), n)} (layers, "
                f"patches) for feature maps {sizes}, got {locations.dtype} of shape "
                f"{tuple(locations.shape)}"
            )
        excluded, row_weights, widths = self._layout(sizes, batch, pred.device, views)

        rows = torch.div(locations, widths, rounding_mode="floor").unbind(0)
        cols = locations.remainder(widths).unbind(0)
        if not views:
            # Per layer (B, C_l, 2n): the prediction's n feature vectors, then the target's.
            picked = [
                torch.cat([pred_features[name][:, :, y, x], target_features[name][:, :, y, x]], 2)
                for name, y, x in zip(self.layers, rows, cols)
            ]
            if self.false_negative_threshold is not None:
                excluded = self._exclude_false_negatives(picked, excluded)
            embeddings = self.heads.embed_all(picked)  # (L, B, 2n, D)
        else:
            # Per layer (2B, C_l, 2n): images 0..B-1 are the generator's (prediction, target)
            # pairs, images B..2B-1 the critic's (target, shifted target) pairs.
            picked = []
            for name, y, x in zip(self.layers, rows, cols):
                views_l = target_features[name][:, :, y, x]  # (2B, C_l, n): target, shifted
                first = torch.cat([pred_features[name][:, :, y, x], views_l[:batch]])
                if trainable:  # the generator's term sees the target as a constant
                    views_l = torch.cat([views_l[:batch].detach(), views_l[batch:]])
                picked.append(torch.cat([first, views_l], 2))
            if self.false_negative_threshold is not None:
                excluded = self._exclude_false_negatives(picked, excluded)
            # The heads' parameters get gradient from the critic's pairs only.
            embeddings = self.heads.embed_all(picked, param_grad_from=batch)  # (L, 2B, 2n, D)
        if embeddings.dtype != torch.float32:
            embeddings = embeddings.float()
        if not views:
            # One weighted sum over the rows of all layers, images and both directions.
            return paired_patch_nce(
                embeddings,
                self.temperature,
                self.query_negatives,
                excluded,
                row_weights,
                normalize=True,
            )
        losses = paired_patch_nce(
            embeddings, self.temperature, self.query_negatives, excluded, normalize=True
        )  # (L, 2B, 2n)
        if row_weights.dtype != losses.dtype:
            row_weights = row_weights.to(losses.dtype)
        generator_term, critic_term = torch.mv(row_weights, losses.view(-1)).unbind()
        # The generator's value; the heads' gradient is the critic term's alone.
        return generator_term + (critic_term - critic_term.detach())

    def _exclude_false_negatives(
        self, picked: list[torch.Tensor], excluded: torch.Tensor | None
    ) -> torch.Tensor:
        """``excluded`` (or the default mask) plus the logits between patches whose key features
        are alike: ``(L, G, 2n, 2n)`` for ``L`` layers of features ``(G, C_l, 2n)`` (per image the
        query patches' ``n`` feature vectors, then the keys': the target's, or the shifted
        target's for the critic's views). Where the extractor's features of key patches ``i`` and
        ``j`` have a cosine similarity above ``false_negative_threshold``, rows ``i`` and ``n + i``
        lose columns ``j`` and ``n + j``: neither is a negative of the other (the queries of two
        patches of identical content no longer repel). Positives stay. No gradient flows through
        the mask."""
        n = picked[0].shape[-1] // 2
        width = max(features.shape[1] for features in picked)
        with torch.no_grad():
            # All layers at once: zero channels up to the widest layer change no cosine.
            padded = [
                F.pad(f, (0, 0, 0, width - f.shape[1])) if f.shape[1] < width else f for f in picked
            ]
            keys = torch.stack(padded)[..., n:].float()  # (L, G, C, n)
            keys = keys / (torch.linalg.vector_norm(keys, dim=2, keepdim=True) + NORMALIZE_EPS)
            keys = keys.flatten(0, 1)  # (L * G, C, n)
            similar = torch.bmm(keys.transpose(1, 2), keys).view(len(picked), -1, n, n)
            alike = similar > self.false_negative_threshold  # (L, G, n, n)
            alike.diagonal(dim1=-2, dim2=-1).fill_(False)  # a patch is its own positive
            alike = alike.repeat(1, 1, 2, 2)  # (L, G, 2n, 2n)
        if excluded is None:
            excluded = pair_constants(n, self.query_negatives, alike.device)[1]
        return alike | excluded

    def _channels_hint(self) -> str:
        """The end of the error for images with another channel count than the extractor's."""
        return (
            f"; the extractor {type(self.extractor).__name__} takes {self.image_channels}-channel "
            "images (for another number C, give an extractor declaring `in_channels`, e.g. "
            "ConvEncoderFeatures(in_channels=C), with critic='target_views' to train it)"
        )

    def _trains_on_views(self) -> bool:
        """Whether this call trains the critic on views of the target (``critic="target_views"``,
        gradients on, and some critic parameter trainable)."""
        return (
            self.critic == "target_views"
            and torch.is_grad_enabled()
            and any(p.requires_grad for p in self.critic_parameters())
        )

    def _extract_with_constant_parameters(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        """The extractor's features of ``images`` with its parameters detached (gradients reach
        ``images`` only)."""
        params = {name: p.detach() for name, p in self.extractor.named_parameters()}
        return torch.func.functional_call(self.extractor, params, (images,))

    def _shifted(self, images: torch.Tensor) -> torch.Tensor:
        """``images`` moved ``view_shift`` pixels down and right, reflected at the top and left
        borders (the critic's second view of the target)."""
        height, width = images.shape[-2:]
        shift = self.view_shift
        if shift >= min(height, width):
            raise ValueError(
                f"view_shift: expected fewer pixels than the image's height and width, got "
                f"{shift} for {height}x{width} images"
            )
        return F.pad(images, (shift, 0, shift, 0), mode="reflect")[..., :height, :width]
