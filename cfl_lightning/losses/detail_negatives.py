"""The target blurred and sharpened as negatives: a contrast of detail levels at one location.

PatchNCE's negatives are the other locations of an image; they share the coarse content only by
chance, so they say little about how much detail a patch has. The target blurred and the target
sharpened, at the query's own location, share its coarse content and differ only in detail: a
three-way contrast between the key and these two asks the prediction for the target's level of
detail, no less (blur) and no more (over-sharpening)
(``ContrastiveFeatureLoss(detail_negatives=sigma)``).
"""

import math

import torch
import torch.nn.functional as F

from cfl_lightning.losses.patch_nce import NORMALIZE_EPS


def gaussian_blur(images: torch.Tensor, sigma: float) -> torch.Tensor:
    """``images`` ``(B, C, H, W)`` blurred by a Gaussian of standard deviation ``sigma`` pixels
    (> 0): separable, ``2 * ceil(3 sigma) + 1`` taps normalised to sum 1, reflected borders (the
    radius must be smaller than ``H`` and ``W``). Same dtype and device."""
    if not sigma > 0:
        raise ValueError(f"sigma: expected a value > 0 (pixels), got {sigma!r}")
    radius = math.ceil(3 * sigma)
    height, width = images.shape[-2:]
    if radius >= min(height, width):
        raise ValueError(
            f"sigma: a Gaussian of sigma {sigma} needs a radius of {radius} pixels, expected "
            f"images larger than that, got {height}x{width}"
        )
    taps = torch.arange(-radius, radius + 1, device=images.device, dtype=torch.float64)
    kernel = torch.exp(-0.5 * (taps / sigma) ** 2)
    kernel = (kernel / kernel.sum()).to(images.dtype)
    channels = images.shape[1]
    padded = F.pad(images, (radius, radius, radius, radius), mode="reflect")
    rows = kernel.view(1, 1, 1, -1).expand(channels, 1, 1, -1)
    cols = kernel.view(1, 1, -1, 1).expand(channels, 1, -1, 1)
    return F.conv2d(F.conv2d(padded, rows, groups=channels), cols, groups=channels)


def detail_copies(images: torch.Tensor, sigma: float) -> tuple[torch.Tensor, torch.Tensor]:
    """``(blurred, sharpened)`` copies of ``images`` ``(B, C, H, W)``: a Gaussian blur of
    ``sigma`` pixels, and the unsharp mask ``images + (images - blurred)`` (the same detail
    added once more; not clamped, so it may leave the images' value range)."""
    blurred = gaussian_blur(images, sigma)
    return blurred, 2 * images - blurred


def add_detail_contrast(
    losses: torch.Tensor,
    embeddings: torch.Tensor,
    temperature: float,
    left_out: torch.Tensor | None = None,
) -> torch.Tensor:
    """Per-row PatchNCE losses plus, in each query row, a contrast of detail levels.

    ``losses``: ``(..., 2n)`` per-row losses of :func:`paired_patch_nce` (rows ``0 .. n-1`` the
    queries, ``n .. 2n-1`` the keys as queries). ``embeddings``: ``(..., 4n, D)``, not normalised:
    the queries, the keys at the same locations, the blurred target there, then the sharpened
    target there. Query row ``i`` gains the cross-entropy of the logits
    ``[q_i . k_i, q_i . b_i, q_i . s_i] / temperature`` with the key as the positive: weight 1,
    its own softmax (among PatchNCE's hundreds of negatives two more would carry almost no
    weight). Embeddings are L2-normalised as ``x / (||x|| + 1e-7)``; keys and copies are detached
    (gradient flows into the query, as for PatchNCE). ``left_out``: optional bool
    ``(2, ..., n)`` (blurred, sharpened), True where that copy is left out (alike the key: a
    false negative); a row with both left out gains zero. Rows ``n .. 2n-1`` are unchanged.
    """
    n = losses.shape[-1] // 2
    if embeddings.shape[-2] != 4 * n or embeddings.shape[:-2] != losses.shape[:-1]:
        raise ValueError(
            f"embeddings: expected shape (..., {4 * n}, D) matching losses {tuple(losses.shape)}, "
            f"got {tuple(embeddings.shape)}"
        )
    unit = embeddings.to(losses.dtype)
    unit = unit / (torch.linalg.vector_norm(unit, dim=-1, keepdim=True) + NORMALIZE_EPS)
    query = unit[..., :n, :]
    others = unit[..., n:, :].detach().unflatten(-2, (3, n))  # (..., 3, n, D): key, blur, sharp
    logits = (query.unsqueeze(-3) * others).sum(-1) / temperature  # (..., 3, n)
    if left_out is not None:
        mask = torch.cat([torch.zeros_like(left_out[:1]), left_out]).movedim(0, -2)
        logits = logits.masked_fill(mask, float("-inf"))
    contrast = torch.logsumexp(logits, dim=-2) - logits.select(-2, 0)  # (..., n)
    return torch.cat([losses[..., :n] + contrast, losses[..., n:]], -1)
