"""Local feature statistics for the contrastive feature loss: each layer's features averaged over
``k x k`` neighbourhoods (stride 1) before the patches are sampled, one odd kernel per layer."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F


def check_feature_pooling(feature_pooling: int | Sequence[int]) -> None:
    """``ValueError`` unless ``feature_pooling`` is an odd kernel size >= 1 or a sequence of them
    (checked before any network is built; the count per layer is :func:`pooling_kernels`')."""
    kernels = (
        list(feature_pooling)
        if isinstance(feature_pooling, Sequence) and not isinstance(feature_pooling, str)
        else [feature_pooling]
    )
    if any(isinstance(k, bool) or not isinstance(k, int) or k < 1 or k % 2 == 0 for k in kernels):
        raise ValueError(
            "feature_pooling: expected an odd kernel size >= 1, or one per layer, got "
            f"{feature_pooling!r}"
        )


def pooling_kernels(feature_pooling: int | Sequence[int], layers: Sequence[str]) -> dict[str, int]:
    """``feature_pooling`` as one odd kernel size >= 1 per layer of ``layers``: an int applies to
    every layer, a sequence gives one per layer in their order. ``ValueError`` otherwise."""
    check_feature_pooling(feature_pooling)
    if isinstance(feature_pooling, int):
        return dict.fromkeys(layers, feature_pooling)
    kernels = list(feature_pooling)
    if len(kernels) != len(layers):
        raise ValueError(
            f"feature_pooling: expected one kernel per layer of {list(layers)} "
            f"({len(layers)}), got {len(kernels)}: {feature_pooling!r}"
        )
    return dict(zip(layers, kernels))


def pooled_features(
    features: dict[str, torch.Tensor], kernels: dict[str, int]
) -> dict[str, torch.Tensor]:
    """The layers of ``kernels`` from ``features`` (each ``(B, C, h, w)``), averaged over their
    kernel's squared neighbourhoods; at a border over the cells inside the map (same shapes).
    A kernel of 1 returns the layer's tensor itself."""
    return {
        name: features[name]
        if k == 1
        else F.avg_pool2d(features[name], k, 1, k // 2, count_include_pad=False)
        for name, k in kernels.items()
    }
