"""PatchNCE: the InfoNCE loss between corresponding patches of two images.

The math lives in :func:`paired_patch_nce`, which computes both directions (prediction patches as
queries against the target's, and the reverse) from one product of the stacked embeddings: a few
large kernels instead of many small ones. :func:`patch_nce` is the one-directional form.
"""

from __future__ import annotations

import functools

import torch
from torch import nn

REDUCTIONS = ("mean", "none")
# ``query_negatives``: all other query patches (the paper's), none, or those more alike than the
# other image's patches at the same two locations (see :func:`paired_patch_nce`).
QUERY_NEGATIVES = (True, False, "above_target")


def check_query_negatives(query_negatives: bool | str) -> bool | str:
    """``query_negatives`` if it is one of ``QUERY_NEGATIVES``, else ``ValueError``."""
    if query_negatives is True or query_negatives is False or query_negatives == "above_target":
        return query_negatives
    raise ValueError(f"query_negatives: expected one of {QUERY_NEGATIVES}, got {query_negatives!r}")


@functools.lru_cache(maxsize=32)
def _cached_pair_constants(
    n: int, query_negatives: bool, groups: int, device: torch.device, inference: bool
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    # ``inference``: constants made under ``torch.inference_mode`` (validation) are inference
    # tensors, which autograd refuses to save: they are cached apart from the training ones.
    other_image, excluded, positive = pair_constants(n, query_negatives, device)
    return other_image, excluded, _flat_positive(positive, groups)


def _flat_positive(positive: torch.Tensor, groups: int) -> torch.Tensor:
    """``(groups, 2n)``: the index of each row's positive in its group's flattened logits."""
    rows = torch.arange(positive.shape[0], device=positive.device)
    return (rows * positive.shape[0] + positive).expand(groups, -1).contiguous()


def pair_constants(
    n: int, query_negatives: bool, device: torch.device | str
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The constants of :func:`paired_patch_nce` for ``N = n`` patches per image.

    Returns ``(other_image, excluded, positive)``: ``(2n, 2n)`` bool, True where row and column
    are patches of different images (one of the prediction, one of the target); ``(2n, 2n)``
    bool, the logits left out (self-similarities, and all pairs within the prediction and within
    the target when ``query_negatives`` is off); ``(2n,)`` int64, the column of each row's
    positive (``i <-> n + i``).
    """
    index = torch.arange(2 * n, device=device)
    half = index // n
    other_image = half[:, None] != half[None, :]
    if query_negatives:
        excluded = torch.eye(2 * n, dtype=torch.bool, device=device)
    else:
        excluded = ~other_image
    return other_image, excluded, (index + n) % (2 * n)


NORMALIZE_EPS = 1e-7  # as ``l2_normalize``: x / (||x|| + eps)


class _PairedPatchNCE(torch.autograd.Function):
    """Per-row PatchNCE losses ``(G, 2N)`` of embeddings ``(G, 2N, D)`` (see
    :func:`paired_patch_nce`) as one autograd node with its gradient written out.

    Forward: ``y = x / (||x|| + eps)`` (with ``normalize``), logits ``y y^T / tau`` with the
    excluded ones at -inf, turned in place into log-probabilities (the row's loss is minus its
    positive's) and then probabilities, which are saved: one ``(G, 2N, 2N)`` buffer in the
    forward pass. With ``above_target`` the logits within each image half are also left out where
    they are not above the other half's at the same two locations (a mask made from the logits,
    through which no gradient flows). Backward, in one more: ``dlogits = g (p - onehot)``; every
    row's query gets ``dlogits y``, and a column gets gradient only from rows of its own image
    half (query negatives), as the other half is the detached key. Autograd through a detached
    and an attached product, a cross-entropy and a normalisation records three times as many
    operators and holds more such buffers at once.
    """

    @staticmethod
    def forward(ctx, x, scale, other_image, excluded, positive, shape, normalize, above_target):  # type: ignore[override]
        if normalize:
            norm = torch.linalg.vector_norm(x, dim=-1, keepdim=True)
            y = x / (norm + NORMALIZE_EPS)
        else:
            norm, y = None, x
        logits = torch.bmm(y, y.transpose(1, 2)).mul_(scale)
        if above_target:
            n = logits.shape[-1] // 2
            own_pred, own_target = logits[:, :n, :n], logits[:, n:, n:]
            pred_not_above = own_pred <= own_target
            own_target.masked_fill_(own_target <= own_pred, float("-inf"))
            own_pred.masked_fill_(pred_not_above, float("-inf"))
        if excluded.dim() <= 2:
            logits.masked_fill_(excluded, float("-inf"))
        else:  # a mask per leading index (e.g. per layer) on the (..., 2N, 2N) view
            logits.view(shape).masked_fill_(excluded, float("-inf"))
        logits.sub_(torch.logsumexp(logits, dim=-1, keepdim=True))  # log-probabilities
        losses = logits.view(logits.shape[0], -1).gather(1, positive).neg_()
        probabilities = logits.exp_()
        ctx.save_for_backward(y, other_image, norm, probabilities, positive)
        ctx.scale = scale
        return losses

    @staticmethod
    def backward(ctx, grad):  # type: ignore[override]
        y, other_image, norm, probabilities, positive = ctx.saved_tensors
        with torch.autocast(device_type=grad.device.type, enabled=False):
            # d loss_r / d logit_rc = p_rc - [c is r's positive], times the row's gradient.
            dlogits = probabilities * grad.unsqueeze(-1)
            dlogits.view(dlogits.shape[0], -1).scatter_add_(1, positive, grad.neg())
            # d/dy_r: sum_c g_rc y_c (rows); d/dy_c: sum_r g_rc y_r over rows r of c's own half.
            grad_y = torch.bmm(dlogits, y)
            own_half = dlogits.masked_fill_(other_image, 0.0)
            grad_y = grad_y.baddbmm_(own_half.transpose(1, 2), y).mul_(ctx.scale)
            if norm is None:
                return grad_y, None, None, None, None, None, None, None
            # y = x / (n + eps): dx = dy / (n + eps) - y (y . dy) / n (0 where x = 0, as y = 0).
            along = (y * grad_y).sum(-1, keepdim=True) / norm.clamp_min(torch.finfo(y.dtype).tiny)
            grad_x = torch.addcmul(grad_y / (norm + NORMALIZE_EPS), y, along, value=-1.0)
        return grad_x, None, None, None, None, None, None, None


def paired_patch_nce(
    embeddings: torch.Tensor,
    temperature: float = 0.07,
    query_negatives: bool | str = True,
    excluded: torch.Tensor | None = None,
    row_weights: torch.Tensor | None = None,
    normalize: bool = False,
) -> torch.Tensor:
    """PatchNCE of both directions for stacked prediction and target embeddings.

    ``embeddings``: ``(..., 2N, D)``, L2-normalised along ``D`` (or normalised here as
    ``x / (||x|| + 1e-7)`` with ``normalize``, in the same autograd node); rows ``0 .. N-1`` are the
    prediction's patches ``p``, rows ``N .. 2N-1`` the target's ``t`` at the same locations (one
    group of ``2N`` rows per image: negatives never come from another group).

    Returns ``(..., 2N)`` per-row losses. Row ``i < N`` is the cross-entropy of
    ``[p_i.t_i, p_i.t_j (j != i), p_i.p_j (j != i, with query_negatives)] / temperature`` with the
    positive first: :func:`patch_nce` with ``p`` as query and ``t`` as (detached) key. Row ``N + i``
    is the same with ``p`` and ``t`` swapped. Gradients of the rows of ``p`` flow into ``p`` only,
    those of ``t`` into ``t`` only, as if each direction were computed alone with a detached key.

    ``query_negatives``: True (default), False, or ``"above_target"``, which keeps ``p_i.p_j`` only
    where it is above ``t_i.t_j`` (and ``t_i.t_j`` only where above ``p_i.p_j``): a query patch
    repels the other queries only while the pair is more alike than the pair of keys at the same
    two locations, so the repulsion asks for the key image's variety and no more.

    ``excluded``: optional bool mask broadcastable to ``(..., 2N, 2N)``, True for the logits to
    leave out, replacing the default (self-similarities, and with ``query_negatives`` off all
    similarities within ``p`` and within ``t``); it lets a caller ignore padding patches. Every
    row must keep its positive.
    ``row_weights``: optional ``(..., 2N)`` weights; then the result is the scalar
    ``sum(row_weights * losses)`` (one dot product; a caller's means and layer weights).

    One batched product of the embeddings with themselves gives every logit, in one autograd node
    (see ``_PairedPatchNCE``). Logits are computed in float32 (float64 inputs stay float64)
    whatever autocast is active.
    """
    n2 = embeddings.shape[-2]
    if embeddings.dim() < 3 or n2 % 2 or n2 < 4:
        raise ValueError(
            "embeddings: expected a (..., 2N, D) tensor with N >= 2 (prediction rows, then "
            f"target rows), got shape {tuple(embeddings.shape)}"
        )
    if not temperature > 0:
        raise ValueError(f"temperature: expected a value > 0, got {temperature}")
    check_query_negatives(query_negatives)
    above_target = query_negatives == "above_target"
    query_negatives = bool(query_negatives)
    n = n2 // 2
    lead = embeddings.shape[:-2]
    groups = lead.numel()
    if torch.compiler.is_compiling():
        other_image, default_excluded, positive = pair_constants(
            n, query_negatives, embeddings.device
        )
        positive = _flat_positive(positive, groups)
    else:
        other_image, default_excluded, positive = _cached_pair_constants(
            n, query_negatives, groups, embeddings.device, torch.is_inference_mode_enabled()
        )
    dtype = torch.float64 if embeddings.dtype == torch.float64 else torch.float32
    with torch.autocast(device_type=embeddings.device.type, enabled=False):
        e = embeddings if embeddings.dtype == dtype else embeddings.to(dtype)
        if e.dim() != 3:
            e = e.reshape(groups, n2, e.shape[-1])
        losses = _PairedPatchNCE.apply(
            e,
            1.0 / temperature,
            other_image,
            default_excluded if excluded is None else excluded,
            positive,
            (*lead, n2, n2),
            normalize,
            above_target,
        )  # (G, 2N)
        if row_weights is not None:
            weights = row_weights if row_weights.dim() == 1 else row_weights.reshape(-1)
            weights = weights if weights.dtype == dtype else weights.to(dtype)
            return torch.dot(losses.view(-1), weights)
    return losses.view(*lead, n2)


def patch_nce(
    query: torch.Tensor,
    key: torch.Tensor,
    temperature: float = 0.07,
    query_negatives: bool | str = True,
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
        query_negatives: also use the other queries of the same image as negatives (True,
            default), or only those more alike than the keys at the same two locations,
            ``q_i . q_j > k_i . k_j`` (``"above_target"``).
        reduction: ``"mean"`` (scalar over all ``B * N`` patches) or ``"none"`` (``(B, N)``).

    Logits are computed in float32 (float64 inputs stay float64) whatever autocast is active.
    The rows of :func:`paired_patch_nce` whose queries are ``query``.
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
    check_query_negatives(query_negatives)
    dtype = torch.float64 if query.dtype == torch.float64 else torch.float32
    with torch.autocast(device_type=query.device.type, enabled=False):
        stacked = torch.cat([query.to(dtype), key.detach().to(dtype)], dim=1)
    loss = paired_patch_nce(stacked, temperature, query_negatives)[:, : query.shape[1]]
    return loss.mean() if reduction == "mean" else loss


class PatchNCELoss(nn.Module):
    """Module form of :func:`patch_nce` (no parameters)."""

    def __init__(
        self,
        temperature: float = 0.07,
        query_negatives: bool | str = True,
        reduction: str = "mean",
    ) -> None:
        super().__init__()
        if not temperature > 0:
            raise ValueError(f"temperature: expected a value > 0, got {temperature}")
        if reduction not in REDUCTIONS:
            raise ValueError(f"reduction: expected one of {REDUCTIONS}, got {reduction!r}")
        self.temperature = temperature
        self.query_negatives = check_query_negatives(query_negatives)
        self.reduction = reduction

    def forward(self, query: torch.Tensor, key: torch.Tensor) -> torch.Tensor:
        return patch_nce(query, key, self.temperature, self.query_negatives, self.reduction)
