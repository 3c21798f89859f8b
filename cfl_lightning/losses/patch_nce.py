"""PatchNCE: the InfoNCE loss between corresponding patches of two images."""

from __future__ import annotations

import torch
from torch import nn

REDUCTIONS = ("mean", "none")


def patch_nce(
    query: torch.Tensor,
    key: torch.Tensor,
    temperature: float = 0.07,
    query_negatives: bool = True,
    reduction: str = "mean",
) -> torch.Tensor:
    """PatchNCE loss of queries against keys, negatives from the same image only.

    For patch ``i`` of image ``b`` the positive logit is ``q_i . k_i``; the negatives are
    ``q_i . k_j`` and, with ``query_negatives``, ``q_i . q_j`` for every ``j != i``. The loss is the
    cross-entropy of ``[positive, negatives] / temperature`` with the positive as the target.

    Args:
        query: ``(B, N, D)``, L2-normalised along ``D``; gradients flow into it.
        key: ``(B, N, D)``, L2-normalised; detached (a constant).
        temperature: ``tau > 0``; default 0.07.
        query_negatives: also use the other queries of the same image as negatives.
        reduction: ``"mean"`` (scalar over all ``B * N`` patches) or ``"none"`` (``(B, N)``).

    Logits are computed in float32 (float64 inputs stay float64) whatever autocast is active.
    """
    if query.dim() != 3 or key.shape != query.shape:
        raise ValueError(
            f"query, key: expected two (B, N, D) tensors of equal shape, got {tuple(query.shape)} "
            f"and {tuple(key.shape)}"
        )
    if query.shape[1] < 2:
        raise ValueError(f"query: expected at least N=2 patches, got N={query.shape[1]}")
    if not temperature > 0:
        raise ValueError(f"temperature: expected a value > 0, got {temperature}")
    if reduction not in REDUCTIONS:
        raise ValueError(f"reduction: expected one of {REDUCTIONS}, got {reduction!r}")

    dtype = torch.float64 if query.dtype == torch.float64 else torch.float32
    with torch.autocast(device_type=query.device.type, enabled=False):
        q = query.to(dtype)
        k = key.detach().to(dtype)
        n = q.shape[1]
        # One product gives every logit: row i holds q_i.k_j (j = 1..N, the positive at j = i)
        # and, with query negatives, q_i.q_j (j = 1..N, the self-similarity q_i.q_i masked out).
        candidates = torch.cat([k, q], dim=1) if query_negatives else k
        logits = torch.bmm(q, candidates.transpose(1, 2)) / temperature  # (B, N, N or 2N)
        if query_negatives:
            self_similarity = torch.eye(n, dtype=torch.bool, device=q.device)
            mask = torch.cat([torch.zeros_like(self_similarity), self_similarity], dim=1)
            logits = logits.masked_fill(mask, float("-inf"))
        positive = logits.diagonal(dim1=1, dim2=2)  # (B, N): q_i.k_i / tau
        loss = torch.logsumexp(logits, dim=-1) - positive
    return loss.mean() if reduction == "mean" else loss


class PatchNCELoss(nn.Module):
    """Module form of :func:`patch_nce` (no parameters)."""

    def __init__(
        self, temperature: float = 0.07, query_negatives: bool = True, reduction: str = "mean"
    ) -> None:
        super().__init__()
        if not temperature > 0:
            raise ValueError(f"temperature: expected a value > 0, got {temperature}")
        if reduction not in REDUCTIONS:
            raise ValueError(f"reduction: expected one of {REDUCTIONS}, got {reduction!r}")
        self.temperature = temperature
        self.query_negatives = query_negatives
        self.reduction = reduction

    def forward(self, query: torch.Tensor, key: torch.Tensor) -> torch.Tensor:
        return patch_nce(query, key, self.temperature, self.query_negatives, self.reduction)
