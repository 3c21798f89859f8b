"""A dataset's own random stream for augmentations, resumable mid-epoch.

Datasets that crop, flip or degrade at random draw from ``AugmentationRandom.generator``, never
from torch's global RNG. Each process (main, or each DataLoader worker) seeds its stream from
``torch.initial_seed()``, which ``seed_everything(workers=True)`` makes deterministic, and the
stream's state is part of ``state_dict()``: torchdata's ``StatefulDataLoader`` saves it in every
worker, so a run resumed in the middle of an epoch redraws exactly the same augmentations.
"""

from __future__ import annotations

from typing import Any

import torch


class AugmentationRandom:
    """Lazily seeded ``torch.Generator`` with ``state_dict``/``load_state_dict``."""

    def __init__(self, seed: int | None = None) -> None:
        self.seed = seed
        self._generator: torch.Generator | None = None

    @property
    def generator(self) -> torch.Generator:
        if self._generator is None:
            worker_seed = torch.initial_seed()
            seed = worker_seed if self.seed is None else (self.seed * 1_000_003 + worker_seed)
            self._generator = torch.Generator().manual_seed(seed % (2**63))
        return self._generator

    def uniform(self) -> float:
        """One float in ``[0, 1)``."""
        return float(torch.rand((), generator=self.generator))

    def randint(self, high: int) -> int:
        """One integer in ``[0, high)``; 0 when ``high <= 1``."""
        return int(torch.randint(max(high, 1), (), generator=self.generator))

    def state_dict(self) -> dict[str, Any]:
        return {"generator": None if self._generator is None else self._generator.get_state()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state.get("generator") is not None:
            self.generator.set_state(state["generator"])
