"""Gradient accumulation for modules that optimise manually (Lightning's ``accumulate_grad_batches``
applies to automatic optimization only)."""

from __future__ import annotations

import math
from collections.abc import Iterable
from contextlib import AbstractContextManager, nullcontext
from typing import Any

import torch
from pytorch_lightning.strategies import ParallelStrategy


def check_accumulate_grad_batches(value: int) -> int:
    """``value`` if it is an integer >= 1, else ``ValueError`` naming the argument."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"accumulate_grad_batches: expected an integer >= 1, got {value!r}")
    return value


def ends_accumulation(trainer: Any, batch_idx: int, batches: int) -> bool:
    """Whether the optimizers step after batch ``batch_idx`` (0-based, within the epoch) when
    gradients are summed over ``batches`` batches: after every ``batches``-th batch of the epoch
    and after its last batch, as Lightning's own ``accumulate_grad_batches`` does."""
    if batches == 1 or (batch_idx + 1) % batches == 0:
        return True
    if batch_idx + 1 == trainer.num_training_batches:
        return True
    return bool(trainer.fit_loop.epoch_loop.batch_progress.is_last_batch)


def backward_sync(strategy: Any, sync: bool) -> AbstractContextManager:
    """The context for a backward pass of an accumulating step: with ``sync`` (the step's last
    batch) gradients are all-reduced across processes as usual; without it, under a parallel
    strategy (DDP), they only add up locally (``DistributedDataParallel.no_sync``), and the last
    batch's backward all-reduces the sums. Without a parallel strategy it does nothing."""
    if sync or not isinstance(strategy, ParallelStrategy):
        return nullcontext()
    return strategy.block_backward_sync()


def optimizer_steps(trainer: Any, batches: int) -> float:
    """The run's number of optimizer steps when each sums the gradients of ``batches`` batches
    (Lightning's ``estimated_stepping_batches`` counts batches when it does not accumulate)."""
    total = trainer.estimated_stepping_batches
    if batches == 1 or total == float("inf"):
        return total
    limits = []
    if trainer.max_steps is not None and trainer.max_steps >= 0:
        limits.append(trainer.max_steps)
    if trainer.max_epochs is not None and trainer.max_epochs >= 0:
        limits.append(trainer.max_epochs * math.ceil(trainer.num_training_batches / batches))
    return min(limits) if limits else total


def validation_inside_steps(trainer: Any, batches: int) -> str | None:
    """A warning when validation, every ``trainer.val_check_interval`` batches, falls between
    the batches of one optimizer step (the checkpoints it writes then miss that step's partial
    gradients), else None."""
    interval = trainer.val_check_interval
    if batches == 1 or not isinstance(interval, int) or interval % batches == 0:
        return None
    return (
        f"accumulate_grad_batches={batches}: validation every {interval} batches falls inside "
        "optimizer steps; a checkpoint written there misses the step's partial gradients, so a "
        f"run resumed from it is not exact; use a val_check_interval that {batches} divides"
    )


class GradientStash:
    """A copy of some parameters' accumulated gradients, kept apart while other backward passes
    write into their ``.grad`` (the generator's GAN term reaches the discriminator's parameters).

    ``add(params)`` adds the current ``.grad`` to the stash; ``restore(params)`` puts the sum
    back into ``.grad`` (``None`` where nothing was stashed) and empties the stash; with nothing
    stashed it leaves ``.grad`` as it is.
    """

    def __init__(self) -> None:
        self._grads: list[torch.Tensor | None] | None = None

    def add(self, params: Iterable[torch.nn.Parameter]) -> None:
        grads = [None if p.grad is None else p.grad.detach().clone() for p in params]
        if self._grads is None:
            self._grads = grads
            return
        for index, grad in enumerate(grads):
            held = self._grads[index]
            if held is None:
                self._grads[index] = grad
            elif grad is not None:
                held.add_(grad)

    def restore(self, params: Iterable[torch.nn.Parameter]) -> None:
        if self._grads is None:
            return
        for param, grad in zip(params, self._grads, strict=True):
            param.grad = grad
        self._grads = None

    @property
    def empty(self) -> bool:
        return self._grads is None
