"""Optimizer defaults, the linear learning-rate decay, and steps that Lightning does not count."""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch.optim import Optimizer

LR_SCHEDULES = ("constant", "linear_decay")


def adam_2e4(params: Iterable[torch.nn.Parameter]) -> Optimizer:
    """Adam with lr 2e-4 and betas (0.5, 0.999): pix2pix's, SPADE's and the paper's default."""
    return torch.optim.Adam(params, lr=2e-4, betas=(0.5, 0.999))


class LinearDecay:
    """Learning-rate factor: 1 for the first ``decay_start`` fraction of ``total_steps``, then
    linear to 0 at ``total_steps`` (pix2pix and SPADE decay over the second half of training)."""

    def __init__(self, total_steps: int, decay_start: float = 0.5) -> None:
        if total_steps < 1:
            raise ValueError(f"total_steps: expected a positive integer, got {total_steps}")
        if not 0.0 <= decay_start < 1.0:
            raise ValueError(f"lr_decay_start: expected a fraction in [0, 1), got {decay_start}")
        self.total_steps = int(total_steps)
        self.start = int(decay_start * total_steps)

    def __call__(self, step: int) -> float:
        if step < self.start:
            return 1.0
        return max(0.0, 1.0 - (step - self.start) / max(1, self.total_steps - self.start))


def step_uncounted(optimizer: Optimizer, scaler: torch.amp.GradScaler | None) -> None:
    """Step a raw optimizer without Lightning's step counter (nor its ``scaler.update()``).

    The generator's optimizer is stepped through Lightning last in each iteration: that one step
    advances ``global_step`` (so ``max_steps`` counts iterations) and updates the gradient
    scaler once for all optimizers, as torch's AMP recipe for several optimizers prescribes.
    """
    if scaler is not None:
        scaler.step(optimizer)
    else:
        optimizer.step()


def clip_gradients(optimizer: Optimizer, max_norm: float) -> None:
    """Clip the gradient norm of all of ``optimizer``'s parameters together to ``max_norm``."""
    params = [p for group in optimizer.param_groups for p in group["params"]]
    torch.nn.utils.clip_grad_norm_(params, float(max_norm))
