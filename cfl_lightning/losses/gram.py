"""Gram matrices of feature maps and a scale-free distance between them (texture statistics)."""

from __future__ import annotations

from collections.abc import Mapping

import torch

from cfl_lightning.losses.patch_nce import NORMALIZE_EPS


def gram_matrices(features: torch.Tensor) -> torch.Tensor:
    """``(B, C, h, w)`` -> ``(B, C, C)`` float32: ``F F^T / (h w)`` per image, ``F`` its
    features as ``C x hw`` (the second moments of the channels over locations, wherever in the
    image they are)."""
    flat = features.float().flatten(2)
    return torch.bmm(flat, flat.transpose(1, 2)) / flat.shape[-1]


def relative_gram_distance(
    pred_features: Mapping[str, torch.Tensor],
    target_features: Mapping[str, torch.Tensor],
    layer_weights: Mapping[str, float],
) -> torch.Tensor:
    """``sum_l w_l mean|G_l(pred) - G_l(target)| / mean|G_l(target)|`` over the layers of
    ``layer_weights`` (a float32 scalar). Features ``(B, C_l, h_l, w_l)`` per layer; the
    target's side is detached (gradient to ``pred_features`` only); dividing by the target's
    mean magnitude makes each layer's term free of its feature scale."""
    total = torch.zeros((), dtype=torch.float32, device=next(iter(pred_features.values())).device)
    for name, weight in layer_weights.items():
        pred_gram = gram_matrices(pred_features[name])
        target_gram = gram_matrices(target_features[name].detach())
        scale = target_gram.abs().mean() + NORMALIZE_EPS
        total = total + weight * (pred_gram - target_gram).abs().mean() / scale
    return total
