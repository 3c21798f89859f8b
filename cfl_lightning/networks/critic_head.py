"""The CFL critic's projection heads: one small network per feature layer."""

from __future__ import annotations

import torch
from torch import nn

HEAD_KINDS = ("mlp", "linear", "identity")


def make_critic_head(kind: str, in_channels: int, dim: int = 256) -> nn.Module:
    """Head mapping ``(..., in_channels)`` feature vectors to ``(..., D)`` embeddings.

    ``"mlp"``: ``Linear(C, dim) -> ReLU -> Linear(dim, dim)`` (the paper's); ``"linear"``: one
    ``Linear(C, dim)``; ``"identity"``: no parameters, ``D = C``. Output is not yet normalised.
    """
    if kind == "mlp":
        return nn.Sequential(nn.Linear(in_channels, dim), nn.ReLU(), nn.Linear(dim, dim))
    if kind == "linear":
        return nn.Linear(in_channels, dim)
    if kind == "identity":
        return nn.Identity()
    raise ValueError(f"head: expected one of {HEAD_KINDS}, got {kind!r}")


def l2_normalize(x: torch.Tensor, eps: float = 1e-7) -> torch.Tensor:
    """``x / (||x||_2 + eps)`` along the last dimension."""
    return x / (x.norm(p=2, dim=-1, keepdim=True) + eps)
