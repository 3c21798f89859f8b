"""Temporarily stop gradients into one module's parameters."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from torch import nn


@contextmanager
def no_param_grads(module: nn.Module | None) -> Iterator[None]:
    """Within the block, ``module``'s parameters do not require grad (their flags are restored).

    Used for the discriminator during the generator's step, so the generator's backward does not
    compute discriminator gradients. Only this module is touched: unlike Lightning's
    ``toggle_optimizer``, the critic's parameters keep receiving gradients.
    """
    if module is None:
        yield
        return
    flags = [(p, p.requires_grad) for p in module.parameters()]
    for p, _ in flags:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p, flag in flags:
            p.requires_grad_(flag)
