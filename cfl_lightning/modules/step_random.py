"""The LightningModule's own random draws (CFL patch locations), keyed by (seed, rank, step).

A generator per stream and device is re-seeded at every training step from ``(run seed, stream,
rank, global_step)``: ranks draw different locations, a resumed run draws exactly what the
uninterrupted run drew, and re-seeding a device generator involves no host-device sync.
"""

from __future__ import annotations

import torch

from cfl_lightning.seeding import derive_seed, global_seed


class StepRandom:
    """Per-step generators.

    Args:
        seed: the run seed; None: ``seed_everything``'s seed when one was set, else one draw from
            the global RNG at first use (so ``torch.manual_seed`` also makes runs repeatable).
    """

    def __init__(self, seed: int | None = None) -> None:
        self.seed = seed
        self._generators: dict[tuple[str, torch.device], torch.Generator] = {}

    def resolve_seed(self) -> int:
        """The run seed (fixed at first use)."""
        if self.seed is None:
            seed = global_seed()
            self.seed = int(torch.randint(2**62, ())) if seed is None else seed
        return self.seed

    def generator(self, stream: str, rank: int, step: int, device: torch.device) -> torch.Generator:
        """The generator of ``stream`` on ``device``, seeded for ``(rank, step)``."""
        key = (stream, device)
        if key not in self._generators:
            self._generators[key] = torch.Generator(device=device)
        generator = self._generators[key]
        generator.manual_seed(derive_seed(self.resolve_seed(), stream, rank, step))
        return generator
