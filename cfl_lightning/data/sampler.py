"""A shuffling sampler whose order is a pure function of (seed, epoch)."""

from __future__ import annotations

from collections.abc import Iterator, Sized

import torch
from torch.utils.data import RandomSampler


class EpochShuffleSampler(RandomSampler):
    """Visit every index once per epoch in an order drawn from ``(seed, epoch)`` alone.

    Lightning calls ``set_epoch`` at the start of every epoch (also when it resumes a run), and
    ``StatefulDataLoader`` skips the batches already seen: together they replay exactly the order
    an uninterrupted run would have had. Without Lightning the epoch advances after each full pass.
    Being a ``RandomSampler``, it is replaced by a shuffling ``DistributedSampler`` under DDP.
    """

    def __init__(self, data_source: Sized, seed: int = 0) -> None:
        super().__init__(data_source)
        self.seed = int(seed)
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __iter__(self) -> Iterator[int]:
        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
        order = torch.randperm(len(self.data_source), generator=generator).tolist()
        yield from order
        self.epoch += 1
